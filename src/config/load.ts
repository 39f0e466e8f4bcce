// Loading and validating homeserver.toml against SCHEMA.
// Unknown keys are warnings naming the nearest known key; wrong types or values are errors naming
// the file, the key, what was expected and what was found.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { SCHEMA, type Config, type Field, type Node } from "./schema.ts";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function nearest(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = levenshtein(key.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array ${JSON.stringify(v).slice(0, 60)}`;
  if (v === null) return "null";
  if (typeof v === "object") return "a table";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v === "number" ? (Number.isInteger(v) ? "the integer" : "the number") : `the ${typeof v}`} ${String(v)}`;
}

function expected(f: Field): string {
  switch (f.kind) {
    case "string":
      return "a string";
    case "bool":
      return "true or false";
    case "int":
      return `an integer${f.min !== undefined ? ` ≥ ${f.min}` : ""}${f.max !== undefined ? ` ≤ ${f.max}` : ""}`;
    case "strings":
      return "an array of strings";
    case "enum":
      return `one of ${f.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
}

function checkField(file: string, key: string, f: Field, raw: unknown): unknown {
  const fail = (what = expected(f)) =>
    new ConfigError(`${file}: ${key}: expected ${what}, found ${describe(raw)}`);
  let v: unknown = raw;
  switch (f.kind) {
    case "string":
      if (typeof raw !== "string") throw fail();
      break;
    case "bool":
      if (typeof raw !== "boolean") throw fail();
      break;
    case "int": {
      // smol-toml gives integers as number (or bigint beyond 2^53).
      if (typeof raw === "bigint") throw fail();
      if (typeof raw !== "number" || !Number.isInteger(raw)) throw fail();
      if ((f.min !== undefined && raw < f.min) || (f.max !== undefined && raw > f.max)) throw fail();
      break;
    }
    case "strings":
      if (!Array.isArray(raw) || raw.some((x) => typeof x !== "string")) throw fail();
      v = [...(raw as string[])];
      break;
    case "enum":
      if (typeof raw !== "string" || !f.values.includes(raw)) throw fail();
      break;
  }
  const problem = (f.check as ((x: unknown) => string | undefined) | undefined)?.(v);
  if (problem) throw fail(problem);
  return v;
}

function fillFields(
  file: string,
  prefix: string,
  fields: Record<string, Field>,
  raw: Record<string, unknown>,
  warnings: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(fields)) {
    out[k] = k in raw ? checkField(file, prefix + k, f, raw[k]) : structuredClone(f.default);
  }
  for (const k of Object.keys(raw)) {
    if (!(k in fields)) {
      const near = nearest(k, Object.keys(fields));
      warnings.push(`${file}: unknown key ${prefix}${k}${near ? ` (did you mean ${prefix}${near}?)` : ""}`);
    }
  }
  return out;
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * [registration] mode, or the older enabled/requires_token pair: fills all three consistently.
 * A mode that contradicts an explicit enabled/requires_token is an error naming both.
 */
function resolveRegistrationMode(file: string, raw: Record<string, unknown>, reg: { mode: string; enabled: boolean; requires_token: boolean }, warnings: string[]): void {
  if ("mode" in raw) {
    const enabled = reg.mode !== "closed";
    const requiresToken = reg.mode === "token";
    if ("enabled" in raw && reg.enabled !== enabled)
      throw new ConfigError(`${file}: registration.enabled = ${reg.enabled} contradicts registration.mode = "${reg.mode}": remove enabled (mode says it all)`);
    if ("requires_token" in raw && reg.requires_token !== requiresToken)
      throw new ConfigError(`${file}: registration.requires_token = ${reg.requires_token} contradicts registration.mode = "${reg.mode}": remove requires_token (mode says it all)`);
    reg.enabled = enabled;
    reg.requires_token = requiresToken;
    return;
  }
  reg.mode = !reg.enabled ? "closed" : reg.requires_token ? "token" : "open";
  if (reg.requires_token && !reg.enabled)
    warnings.push(`${file}: registration.requires_token = true has no effect while registration is closed (enabled = false): set [registration] mode = "token" to let people sign up with a token`);
}

/** Validate a parsed TOML document. `file` names it in messages; relative paths resolve against `baseDir`. */
export function validateConfig(doc: Record<string, unknown>, file: string, baseDir: string): LoadedConfig {
  const warnings: string[] = [];
  const out: Record<string, unknown> = {};
  const schema = SCHEMA as unknown as Record<string, Node>;
  for (const [key, node] of Object.entries(schema)) {
    const raw = doc[key];
    if (node.kind === "section") {
      if (raw !== undefined && !isTable(raw)) throw new ConfigError(`${file}: [${key}]: expected a table, found ${describe(raw)}`);
      out[key] = fillFields(file, `${key}.`, node.fields, raw ?? {}, warnings);
    } else if (node.kind === "array") {
      let entries: unknown = raw ?? node.default;
      if (isTable(entries)) entries = [entries];
      if (!Array.isArray(entries) || entries.some((e) => !isTable(e)))
        throw new ConfigError(`${file}: [[${key}]]: expected an array of tables, found ${describe(raw)}`);
      out[key] = (entries as Record<string, unknown>[]).map((e, i) => fillFields(file, `${key}[${i}].`, node.fields, e, warnings));
    } else {
      out[key] = raw === undefined ? structuredClone(node.default) : checkField(file, key, node, raw);
    }
  }
  for (const k of Object.keys(doc)) {
    if (!(k in schema)) {
      const near = nearest(k, Object.keys(schema));
      warnings.push(`${file}: unknown key ${k}${near ? ` (did you mean ${near}?)` : ""}`);
    }
  }

  const c = out as Record<string, any>;
  resolveRegistrationMode(file, isTable(doc.registration) ? doc.registration : {}, c.registration, warnings);
  if (!c.server_name) throw new ConfigError(`${file}: server_name: expected a server name like example.org, found nothing`);
  if (!c.public_baseurl) c.public_baseurl = `https://${c.server_name}/`;
  if (!c.public_baseurl.endsWith("/")) c.public_baseurl += "/";
  if (!c.well_known.client) c.well_known.client = c.public_baseurl;
  if (!c.media.quota_info_uri) c.media.quota_info_uri = c.public_baseurl;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  c.signing_key_path = abs(c.signing_key_path || `${c.server_name}.signing.key`);
  c.database.path = abs(c.database.path || "homeserver.db");
  c.media.store_path = abs(c.media.store_path || "media");
  if (c.logging.file) c.logging.file = abs(c.logging.file);
  if (c.tls.certificate_path) c.tls.certificate_path = abs(c.tls.certificate_path);
  if (c.tls.private_key_path) c.tls.private_key_path = abs(c.tls.private_key_path);
  c.appservices.config_files = c.appservices.config_files.map(abs);
  c.federation.ca_files = c.federation.ca_files.map(abs);
  c.http_client.ca_files = c.http_client.ca_files.map(abs);
  for (const [where, files] of [["federation.ca_files", c.federation.ca_files], ["http_client.ca_files", c.http_client.ca_files]] as const) {
    (files as string[]).forEach((f, i) => {
      let pem: string;
      try {
        pem = readFileSync(f, "utf8");
      } catch (e) {
        throw new ConfigError(`${file}: ${where}[${i}]: cannot read ${f}: ${(e as Error).message}`);
      }
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`${file}: ${where}[${i}]: ${f} holds no PEM certificate`);
    });
  }
  if (c.database.backend === "postgres" && !c.database.url)
    throw new ConfigError(`${file}: database.url: expected a postgres:// URL when database.backend = "postgres", found nothing`);
  if (c.database.backend !== "postgres" && c.worker.roles.length < 5) {
    const missing = ["client", "federation_inbound", "federation_sender", "media", "background"].filter((r) => !c.worker.roles.includes(r));
    throw new ConfigError(`${file}: worker.roles: with SQLite hs runs as one process, which must play every role (missing: ${missing.join(", ")}); dedicating processes needs database.backend = "postgres"`);
  }
  c.listeners.forEach((l: { tls: boolean }, i: number) => {
    if (l.tls && (!c.tls.certificate_path || !c.tls.private_key_path))
      throw new ConfigError(`${file}: listeners[${i}].tls: a TLS listener needs [tls] certificate_path and private_key_path`);
  });
  if (c.listeners.length === 0) throw new ConfigError(`${file}: listeners: expected at least one [[listeners]] table, found none`);
  c.config_dir = baseDir;
  return { config: c as Config, warnings };
}

/**
 * "hs.toml:12:5: invalid TOML: illegal character in key", then the line itself and a caret under
 * the column (smol-toml knows both; its message repeats them in its own layout).
 */
export function tomlSyntaxError(path: string, text: string, e: unknown): string {
  const err = e as Error & { line?: number; column?: number };
  const what = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
  if (typeof err.line !== "number" || typeof err.column !== "number") return `${path}: invalid TOML: ${what}`;
  const src = (text.split(/\r?\n/)[err.line - 1] ?? "").replace(/\t/g, " ");
  const prefix = `${err.line} | `;
  return `${path}:${err.line}:${err.column}: invalid TOML: ${what}\n${prefix}${src}\n${" ".repeat(prefix.length + Math.max(0, err.column - 1))}^`;
}

/** Read, parse and validate a config file. Throws ConfigError with a one-line message. */
export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === "ENOENT"
        ? `${path}: no such config file (create one with: hs generate-config --server-name example.org)`
        : `${path}: cannot read config: ${(e as Error).message}`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(tomlSyntaxError(path, text, e));
  }
  return validateConfig(doc, path, dirname(resolve(path)));
}
