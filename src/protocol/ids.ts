// Matrix identifiers: server names, user IDs, room IDs, event IDs, room aliases, device IDs.
// Spec: content/appendices.md "Identifier Grammar" (Server Name, Common Identifier Format, User
// Identifiers, Historical User IDs, Room IDs, Room Aliases, Event IDs, Opaque Identifiers, Common
// Namespaced Identifier Grammar).
//
// Two levels of strictness for user IDs:
//  - the strict grammar (`[a-z0-9._=\-/+]+` localparts), required for users this server creates;
//  - the historical grammar, which servers "MUST accept" on receipt: any non-surrogate code points
//    except `:` and NUL, including the empty string. Such IDs are "non-compliant" when the localpart is
//    empty or has characters outside U+0021–U+007E.
// Every identifier (sigil and domain included) is limited to 255 bytes of UTF-8.
//
// Pure: no imports. Version-specific forms (event IDs with or without a domain, room IDs with or
// without one) are selected by the caller; core/pdu.ts maps room-version flags onto them.

/** "MUST NOT exceed 255 bytes" — user IDs, room IDs, event IDs, aliases (measured in UTF-8 bytes). */
export const MAX_ID_BYTES = 255;

declare const idBrand: unique symbol;
/**
 * A string that passed an identifier grammar. Only this module makes one (the parsers' `id`, the
 * `isValid*` type guards, makeUserId, serverNameOf); everything else receives or passes them on.
 * A branded ID is still a string: it goes anywhere a string does.
 */
export type Branded<Kind extends string> = string & { readonly [idBrand]: Kind };
export type ServerName = Branded<"ServerName">;
export type UserId = Branded<"UserId">;
export type RoomId = Branded<"RoomId">;
export type EventId = Branded<"EventId">;

/** Raised by the throwing helpers (localpartOf, serverNameOf, makeUserId) on malformed input. */
export class InvalidIdError extends Error {
  override name = "InvalidIdError";
}

/** Length of `s` in UTF-8 bytes. */
export function utf8ByteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function fitsIdLimit(s: string): boolean {
  // Every UTF-16 unit is at least one UTF-8 byte and at most three.
  if (s.length > MAX_ID_BYTES) return false;
  return s.length * 3 <= MAX_ID_BYTES || utf8ByteLength(s) <= MAX_ID_BYTES;
}

// ---------------------------------------------------------------------------------------------------
// Server names

export type HostKind = "dns" | "ipv4" | "ipv6";

export interface ServerNameParts {
  readonly id: ServerName;
  /** The hostname as written; IPv6 literals keep their brackets (`[::1]`). */
  readonly host: string;
  readonly kind: HostKind;
  readonly port: number | undefined;
}

const DNS_NAME_RE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PORT_RE = /^[0-9]{1,5}$/;
const HEX_GROUP_RE = /^[0-9A-Fa-f]{1,4}$/;

function isIPv4(s: string): boolean {
  const m = IPV4_RE.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** RFC 3513 §2.2 text forms (no zone IDs): 8 groups, one `::`, optional trailing dotted quad. */
export function isIPv6Address(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let str = s;
  if (s.includes(".")) {
    const lastColon = s.lastIndexOf(":");
    if (lastColon < 0 || !isIPv4(s.slice(lastColon + 1))) return false;
    str = s.slice(0, lastColon + 1) + "0:0"; // the dotted quad stands for two groups
  }
  const dbl = str.indexOf("::");
  if (dbl >= 0) {
    if (str.indexOf("::", dbl + 1) >= 0) return false;
    const left = str.slice(0, dbl);
    const right = str.slice(dbl + 2);
    const groups = [...(left === "" ? [] : left.split(":")), ...(right === "" ? [] : right.split(":"))];
    return groups.length <= 7 && groups.every((g) => HEX_GROUP_RE.test(g));
  }
  const groups = str.split(":");
  return groups.length === 8 && groups.every((g) => HEX_GROUP_RE.test(g));
}

/**
 * Parses `hostname [":" port]` (appendix "Server Name"). Hostnames are IPv4 literals, bracketed IPv6
 * literals, or DNS names made of non-empty labels of letters, digits and hyphens (the prose's
 * "conventional restrictions", as Synapse enforces them). Ports are 1–5 digits, at most 65535.
 * Case is preserved: server names are case-sensitive. Returns null when invalid.
 */
export function parseServerName(s: string): ServerNameParts | null {
  if (s.length === 0 || s.length > MAX_ID_BYTES) return null;
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) return null;
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return null;
      portStr = rest.slice(1);
    }
    if (!isIPv6Address(host.slice(1, -1))) return null;
  } else {
    const colon = s.lastIndexOf(":");
    if (colon >= 0) {
      host = s.slice(0, colon);
      portStr = s.slice(colon + 1);
    } else {
      host = s;
    }
    if (host.length > 255 || !DNS_NAME_RE.test(host)) return null;
  }
  let port: number | undefined;
  if (portStr !== undefined) {
    if (!PORT_RE.test(portStr)) return null;
    port = Number(portStr);
    if (port > 65535) return null;
  }
  const kind: HostKind = host.startsWith("[") ? "ipv6" : isIPv4(host) ? "ipv4" : "dns";
  return { id: s as ServerName, host, kind, port };
}

export function isValidServerName(s: string): s is ServerName {
  return parseServerName(s) !== null;
}

// ---------------------------------------------------------------------------------------------------
// Localparts shared by the `&localpart:domain` identifiers

const STRICT_LOCALPART_RE = /^[a-z0-9._=\-/+]+$/;
const COMPLIANT_LOCALPART_RE = /^[\x21-\x7e]+$/;

/** Any non-surrogate code points except `:` and NUL (historical user IDs, aliases, room IDs). */
function isOpaqueLocalpart(s: string): boolean {
  return !s.includes(":") && !s.includes("\0") && s.isWellFormed();
}

/** Splits `<sigil>localpart:domain` at the first colon and validates the domain; null if malformed. */
function splitSigilled(s: string, sigil: string): { localpart: string; serverName: ServerName } | null {
  if (!s.startsWith(sigil) || !fitsIdLimit(s)) return null;
  const colon = s.indexOf(":");
  if (colon < 0) return null;
  const serverName = s.slice(colon + 1);
  if (!isValidServerName(serverName)) return null;
  return { localpart: s.slice(1, colon), serverName };
}

// ---------------------------------------------------------------------------------------------------
// User IDs

/**
 * How well a user ID conforms: `strict` is the current grammar; `compliant` is historical but
 * printable ASCII and non-empty; `historical` is everything else servers must still accept.
 */
export type UserIdGrammar = "strict" | "compliant" | "historical";

export interface UserIdParts {
  readonly id: UserId;
  readonly localpart: string;
  readonly serverName: ServerName;
  readonly grammar: UserIdGrammar;
}

/** Parses a user ID under the historical grammar (what must be accepted on receipt); null if invalid. */
export function parseUserId(s: string): UserIdParts | null {
  const parts = splitSigilled(s, "@");
  if (parts === null || !isOpaqueLocalpart(parts.localpart)) return null;
  const grammar: UserIdGrammar = STRICT_LOCALPART_RE.test(parts.localpart)
    ? "strict"
    : COMPLIANT_LOCALPART_RE.test(parts.localpart)
      ? "compliant"
      : "historical";
  return { id: s as UserId, ...parts, grammar };
}

/** Valid under the historical grammar: accept these in events and from other servers. */
export function isValidUserId(s: string): s is UserId {
  return parseUserId(s) !== null;
}

/** Valid under the strict grammar: required for users this server creates. */
export function isStrictUserId(s: string): s is UserId {
  return parseUserId(s)?.grammar === "strict";
}

/** Not strict, but printable ASCII and non-empty: still "compliant" per "Historical User IDs". */
export function isCompliantUserId(s: string): s is UserId {
  const g = parseUserId(s)?.grammar;
  return g === "strict" || g === "compliant";
}

/** A localpart allowed for new users: non-empty, only `a-z 0-9 . _ = - / +`. */
export function isValidUserLocalpart(localpart: string): boolean {
  return STRICT_LOCALPART_RE.test(localpart);
}

/** Builds a user ID for a new local user; throws InvalidIdError unless it is strict and ≤ 255 bytes. */
export function makeUserId(localpart: string, serverName: string): UserId {
  if (!isValidUserLocalpart(localpart)) throw new InvalidIdError(`invalid user ID localpart ${JSON.stringify(localpart)}`);
  if (!isValidServerName(serverName)) throw new InvalidIdError(`invalid server name ${JSON.stringify(serverName)}`);
  const id = `@${localpart}:${serverName}`;
  if (utf8ByteLength(id) > MAX_ID_BYTES) throw new InvalidIdError("user ID longer than 255 bytes");
  return id as UserId;
}

/** The localpart of a (historical-grammar) user ID; throws InvalidIdError. */
export function localpartOf(userId: string): string {
  const p = parseUserId(userId);
  if (p === null) throw new InvalidIdError(`invalid user ID ${JSON.stringify(userId)}`);
  return p.localpart;
}

// ---------------------------------------------------------------------------------------------------
// Room IDs

/** `domain`: `!opaque:server` (room versions 1–11). `hash`: `!` + 43 URL-safe Base64 characters (12+). */
export type RoomIdForm = "domain" | "hash";

export interface RoomIdParts {
  readonly id: RoomId;
  readonly opaque: string;
  /** Null for the domain-less (hash) form. */
  readonly serverName: ServerName | null;
}

const HASH_URL_RE = /^[A-Za-z0-9_-]{43}$/;
const HASH_STD_RE = /^[A-Za-z0-9+/]{43}$/;

/**
 * Parses a room ID of either form (or only `form`). The domain form needs a non-empty opaque part
 * without `:` or NUL and a valid server name; the hash form is the create event's ID with sigil `!`.
 */
export function parseRoomId(s: string, form?: RoomIdForm): RoomIdParts | null {
  if (!s.startsWith("!") || !fitsIdLimit(s)) return null;
  if (s.includes(":")) {
    if (form === "hash") return null;
    const parts = splitSigilled(s, "!");
    if (parts === null || parts.localpart === "" || !isOpaqueLocalpart(parts.localpart)) return null;
    return { id: s as RoomId, opaque: parts.localpart, serverName: parts.serverName };
  }
  if (form === "domain") return null;
  const opaque = s.slice(1);
  return HASH_URL_RE.test(opaque) ? { id: s as RoomId, opaque, serverName: null } : null;
}

export function isValidRoomId(s: string, form?: RoomIdForm): s is RoomId {
  return parseRoomId(s, form) !== null;
}

/**
 * A room ID as the appendix's general form has it, `!opaque_id` (at most 255 bytes, no NUL), for
 * places where it is only a key and no room need exist, e.g. a user's key backup (clients back
 * up keys of rooms whose ID this server would not mint, and Synapse takes any).
 */
export function isOpaqueRoomId(s: string): boolean {
  return s.length > 1 && s.startsWith("!") && !s.includes("\0") && fitsIdLimit(s);
}

// ---------------------------------------------------------------------------------------------------
// Event IDs

/**
 * `domain`: `$opaque:server` (room versions 1–2). `base64`: `$` + 43 standard Base64 characters, the
 * reference hash (room 3). `base64url`: the same in URL-safe Base64 (rooms 4+).
 */
export type EventIdForm = "domain" | "base64" | "base64url";

export interface EventIdParts {
  readonly id: EventId;
  readonly opaque: string;
  readonly serverName: ServerName | null;
  readonly form: EventIdForm;
}

/** Parses an event ID of any form (or only `form`); null if invalid. */
export function parseEventId(s: string, form?: EventIdForm): EventIdParts | null {
  if (!s.startsWith("$") || !fitsIdLimit(s)) return null;
  if (s.includes(":")) {
    if (form !== undefined && form !== "domain") return null;
    const parts = splitSigilled(s, "$");
    if (parts === null || parts.localpart === "" || !isOpaqueLocalpart(parts.localpart)) return null;
    return { id: s as EventId, opaque: parts.localpart, serverName: parts.serverName, form: "domain" };
  }
  const opaque = s.slice(1);
  // A hash made only of letters and digits is valid in both alphabets.
  if ((form === undefined || form === "base64url") && HASH_URL_RE.test(opaque)) {
    return { id: s as EventId, opaque, serverName: null, form: "base64url" };
  }
  if ((form === undefined || form === "base64") && HASH_STD_RE.test(opaque)) {
    return { id: s as EventId, opaque, serverName: null, form: "base64" };
  }
  return null;
}

export function isValidEventId(s: string, form?: EventIdForm): s is EventId {
  return parseEventId(s, form) !== null;
}

// ---------------------------------------------------------------------------------------------------
// Room aliases

export interface RoomAliasParts {
  readonly localpart: string;
  readonly serverName: ServerName;
}

/** `#localpart:server`: non-empty localpart of non-surrogate code points except `:` and NUL. */
export function parseRoomAlias(s: string): RoomAliasParts | null {
  const parts = splitSigilled(s, "#");
  if (parts === null || parts.localpart === "" || !isOpaqueLocalpart(parts.localpart)) return null;
  return parts;
}

export function isValidRoomAlias(s: string): boolean {
  return parseRoomAlias(s) !== null;
}

// ---------------------------------------------------------------------------------------------------
// Any sigilled ID

/**
 * The server name of a user ID, domain-form room ID, domain-form event ID or room alias: everything
 * after the first `:`. Throws InvalidIdError for IDs without a (valid) domain — including room
 * version 12 room IDs and v3+ event IDs, which have none.
 */
export function serverNameOf(id: string): ServerName {
  const s = findServerNameOf(id);
  if (s === null) throw new InvalidIdError(`no server name in ${JSON.stringify(id)}`);
  return s;
}

/** Like serverNameOf but null instead of throwing. */
export function findServerNameOf(id: string): ServerName | null {
  switch (id[0]) {
    case "@":
      return parseUserId(id)?.serverName ?? null;
    case "!":
      return parseRoomId(id, "domain")?.serverName ?? null;
    case "$":
      return parseEventId(id, "domain")?.serverName ?? null;
    case "#":
      return parseRoomAlias(id)?.serverName ?? null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// Device IDs and other opaque identifiers

/**
 * Device IDs have no grammar in the spec (clients may choose them at login). Our policy: non-empty, at
 * most 255 bytes, well-formed Unicode, no control characters (C0 and DEL) — so they are safe in logs,
 * URLs once encoded, and database keys.
 */
export function isValidDeviceId(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return s.length > 0 && fitsIdLimit(s) && s.isWellFormed() && !/[\x00-\x1f\x7f]/.test(s);
}

const OPAQUE_ID_RE = /^[0-9A-Za-z\-._~]{1,255}$/;
/** Appendix "Opaque Identifiers": 1–255 of `[0-9A-Za-z-._~]` (e.g. transaction IDs, session IDs). */
export function isValidOpaqueId(s: string): boolean {
  return OPAQUE_ID_RE.test(s);
}

const NAMESPACED_ID_RE = /^[a-z][a-z0-9\-_.]{0,254}$/;
/** Appendix "Common Namespaced Identifier Grammar": 1–255 chars, `[a-z]` then `[a-z0-9-_.]`. */
export function isValidNamespacedId(s: string): boolean {
  return NAMESPACED_ID_RE.test(s);
}
