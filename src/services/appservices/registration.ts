// Application service registration files (spec: application-service-api.md "Registration",
// data/api/application-service/definitions/registration.yaml), listed in [appservices] config_files.
// YAML and JSON are both accepted (JSON is YAML). Every problem is a start-up error naming the
// file and the field.
//
// Namespace regexes are matched like Synapse does (Python's re.match): anchored at the start of
// the user ID, alias or room ID, not at the end. Python's `(?P<name>` groups are accepted.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../../config/load.ts";
import { isValidUserLocalpart, parseUserId } from "../../protocol/ids.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

export interface Namespace {
  regex: RegExp;
  /** The regex as written in the file. */
  source: string;
  exclusive: boolean;
}

export interface Namespaces {
  users: Namespace[];
  aliases: Namespace[];
  rooms: Namespace[];
}

export class ApplicationService {
  constructor(
    readonly id: string,
    /** Where transactions and queries go; null: the service wants no traffic. */
    readonly url: string | null,
    readonly asToken: string,
    readonly hsToken: string,
    readonly senderLocalpart: string,
    /** @sender_localpart:server_name. */
    readonly sender: string,
    readonly namespaces: Namespaces,
    /** Requests of masqueraded users are rate-limited (the sender never is). */
    readonly rateLimited: boolean,
    readonly protocols: readonly string[],
    /** receive_ephemeral (MSC2409): typing, receipts and to-device messages to its users in transactions. */
    readonly receiveEphemeral: boolean,
    /**
     * org.matrix.msc3202: device list changes, one-time key counts and unused fallback key types
     * of its users' devices in transactions (end-to-end encryption without /sync).
     */
    readonly msc3202: boolean,
    /** The file it came from. */
    readonly file: string,
  ) {}

  private static matches(list: readonly Namespace[], value: string, exclusiveOnly = false): boolean {
    return list.some((n) => (!exclusiveOnly || n.exclusive) && n.regex.test(value));
  }

  /** The user ID lies in one of the users namespaces. */
  isUserInNamespace(userId: string): boolean {
    return ApplicationService.matches(this.namespaces.users, userId);
  }

  /** The sender or a user in its users namespaces: users the service may act as. */
  isInterestedInUser(userId: string): boolean {
    return userId === this.sender || this.isUserInNamespace(userId);
  }

  isExclusiveUser(userId: string): boolean {
    return userId === this.sender || ApplicationService.matches(this.namespaces.users, userId, true);
  }

  isAliasInNamespace(alias: string): boolean {
    return ApplicationService.matches(this.namespaces.aliases, alias);
  }

  isExclusiveAlias(alias: string): boolean {
    return ApplicationService.matches(this.namespaces.aliases, alias, true);
  }

  isRoomInNamespace(roomId: string): boolean {
    return ApplicationService.matches(this.namespaces.rooms, roomId);
  }
}


function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Compiles a namespace regex the way Synapse matches it (anchored at the start only). */
export function compileNamespaceRegex(source: string): RegExp {
  const js = source.replace(/\(\?P</g, "(?<").replace(/\\Z/g, "$");
  return new RegExp(`^(?:${js})`, "u");
}

/**
 * Validates one parsed registration document. `where` names it in errors (the file path).
 * Throws ConfigError("<where>: <field>: expected ..., found ...").
 */
export function parseRegistration(doc: unknown, where: string, serverName: string): ApplicationService {
  const fail = (field: string, expected: string, found: unknown): never => {
    throw new ConfigError(`${where}: ${field}: expected ${expected}, found ${describe(found)}`);
  };
  if (!isObject(doc)) fail("(top level)", "a mapping of registration fields", doc);
  const d = doc as Record<string, unknown>;
  const str = (key: string): string => {
    const v = d[key];
    if (typeof v !== "string" || v === "") fail(key, "a non-empty string", v);
    return v as string;
  };
  const id = str("id");
  const asToken = str("as_token");
  const hsToken = str("hs_token");
  if (asToken === hsToken) throw new ConfigError(`${where}: hs_token: must differ from as_token`);
  const senderLocalpart = str("sender_localpart");
  if (!isValidUserLocalpart(senderLocalpart)) fail("sender_localpart", "a user ID localpart (a-z, 0-9, ._=-/+)", senderLocalpart);
  const sender = `@${senderLocalpart}:${serverName}`;
  if (!parseUserId(sender)) fail("sender_localpart", "a localpart that makes a valid user ID", senderLocalpart);

  if (!("url" in d)) fail("url", "an http(s) URL or null", undefined);
  let url: string | null = null;
  if (d.url !== null) {
    if (typeof d.url !== "string") fail("url", "an http(s) URL or null", d.url);
    try {
      const u = new URL(d.url as string);
      if (u.protocol !== "http:" && u.protocol !== "https:") fail("url", "an http(s) URL or null", d.url);
    } catch {
      fail("url", "an http(s) URL or null", d.url);
    }
    url = (d.url as string).replace(/\/+$/, "");
  }

  const boolField = (key: string, def: boolean): boolean => {
    const v = d[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") fail(key, "true or false", v);
    return v as boolean;
  };
  const rateLimited = boolField("rate_limited", true);
  // MSC2409's unstable names first, then the stable one (spec v1.13).
  const receiveEphemeral =
    boolField("de.sorunome.msc2409.push_ephemeral", false) || boolField("push_ephemeral", false) || boolField("receive_ephemeral", false);
  // MSC3202 (as Synapse and the mautrix bridges name it); no stable name yet.
  const msc3202 = boolField("org.matrix.msc3202", false);

  let protocols: string[] = [];
  if (d.protocols !== undefined && d.protocols !== null) {
    if (!Array.isArray(d.protocols)) fail("protocols", "a list of protocol names", d.protocols);
    protocols = (d.protocols as unknown[]).map((p, i) => {
      if (typeof p !== "string" || p === "" || p.includes("/")) fail(`protocols[${i}]`, "a protocol name (a string without /)", p);
      return p as string;
    });
  }

  if (!isObject(d.namespaces)) fail("namespaces", "a mapping with users, aliases and rooms lists", d.namespaces);
  const ns = d.namespaces as Record<string, unknown>;
  const list = (kind: "users" | "aliases" | "rooms"): Namespace[] => {
    const v = ns[kind];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail(`namespaces.${kind}`, "a list of {regex, exclusive}", v);
    return (v as unknown[]).map((entry, i) => {
      const field = `namespaces.${kind}[${i}]`;
      if (!isObject(entry)) fail(field, "a mapping with regex and exclusive", entry);
      const e = entry as Record<string, unknown>;
      if (typeof e.regex !== "string" || e.regex === "") fail(`${field}.regex`, "a regular expression (string)", e.regex);
      if (typeof e.exclusive !== "boolean") fail(`${field}.exclusive`, "true or false", e.exclusive);
      let regex: RegExp;
      try {
        regex = compileNamespaceRegex(e.regex as string);
      } catch (err) {
        throw new ConfigError(`${where}: ${field}.regex: expected a valid regular expression, found ${JSON.stringify(e.regex)} (${(err as Error).message})`);
      }
      return { regex, source: e.regex as string, exclusive: e.exclusive as boolean };
    });
  };
  const namespaces: Namespaces = { users: list("users"), aliases: list("aliases"), rooms: list("rooms") };
  return new ApplicationService(id, url, asToken, hsToken, senderLocalpart, sender, namespaces, rateLimited, protocols, receiveEphemeral, msc3202, where);
}

/** Parses a registration file's text (YAML or JSON). */
export function parseRegistrationText(text: string, where: string, serverName: string): ApplicationService {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid YAML or JSON: ${(e as Error).message}`);
  }
  return parseRegistration(doc, where, serverName);
}

/**
 * Reads every file of [appservices] config_files (relative paths against the config's directory)
 * and checks that IDs, as_tokens and sender users are unique across services.
 */
export function loadRegistrations(files: readonly string[], configDir: string, serverName: string): ApplicationService[] {
  const out: ApplicationService[] = [];
  for (const f of files) {
    const path = resolve(configDir, f);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new ConfigError(`appservices.config_files: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const as = parseRegistrationText(text, path, serverName);
    for (const other of out) {
      if (other.id === as.id) throw new ConfigError(`${path}: id: ${JSON.stringify(as.id)} is already used by ${other.file}`);
      if (other.asToken === as.asToken) throw new ConfigError(`${path}: as_token: already used by ${other.file}`);
      if (other.sender === as.sender) throw new ConfigError(`${path}: sender_localpart: ${as.sender} is already the sender of ${other.file}`);
    }
    out.push(as);
  }
  return out;
}
