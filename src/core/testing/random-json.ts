// Test-only: a seeded PRNG and generators of awkward JSON values and events for differential tests.
// Deterministic for a given seed, so a failure can be reproduced by its seed and index.

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** mulberry32: uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

// Characters chosen to stress escaping and code-point ordering: controls, quotes, backslash, DEL,
// Latin-1, U+2028/2029, CJK, private use and U+E000–U+FFFF (which sort *before* astral characters by
// code point but *after* them by UTF-16 unit), BOM, noncharacters and astral characters.
const CHAR_POOL: readonly string[] = [
  ..."abcxyzABCXYZ0129 _-.:/@!$#+=~",
  '"',
  "\\",
  "\u0000",
  "\u0001",
  "\b",
  "\t",
  "\n",
  "\u000b",
  "\f",
  "\r",
  "\u001f",
  "\u007f",
  "\u0080",
  "\u00e9",
  "\u00ff",
  "\u2028",
  "\u2029",
  "\u65e5",
  "\u672c",
  "\ud7ff",
  "\ue000",
  "\uf8ff",
  "\ufeff",
  "\ufffd",
  "\ufffe",
  "\uffff",
  "\u{10000}",
  "\u{1f600}",
  "\u{1f47e}",
  "\u{2070e}",
  "\u{10ffff}",
];

export function randomString(rng: Rng, maxLen = 12): string {
  const n = rng.int(0, maxLen);
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick(CHAR_POOL);
  return s;
}

/** Keys that share prefixes, so that ordering decisions fall on the interesting characters. */
function randomKey(rng: Rng): string {
  if (rng.bool(0.1)) return "";
  const prefix = rng.pick(["", "a", "ab", "m.room", "\u{1f600}", "\uffff"]);
  return prefix + randomString(rng, 4);
}

const EDGE_INTS = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53 - 2, 1e15, 1e10];

export function randomInt(rng: Rng): number {
  if (rng.bool(0.3)) return rng.pick(EDGE_INTS);
  const magnitude = rng.pick([10, 1000, 2 ** 31, 2 ** 53 - 1]);
  return Math.floor((rng.next() * 2 - 1) * magnitude);
}

/** A random valid (strict canonical JSON) value. */
export function randomJson(rng: Rng, depth = 4): unknown {
  const r = rng.next();
  if (depth <= 0 || r < 0.45) {
    const k = rng.int(0, 5);
    if (k === 0) return null;
    if (k === 1) return rng.bool();
    if (k === 2) return randomInt(rng);
    return randomString(rng);
  }
  if (r < 0.65) {
    const n = rng.int(0, 5);
    const a: unknown[] = [];
    for (let i = 0; i < n; i++) a.push(randomJson(rng, depth - 1));
    return a;
  }
  return randomObject(rng, depth);
}

export function randomObject(rng: Rng, depth = 4): Record<string, unknown> {
  const n = rng.int(0, 7);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) o[randomKey(rng)] = randomJson(rng, depth - 1);
  return o;
}

/** A random finite non-integer double across many magnitudes. */
export function randomFloat(rng: Rng): number {
  const special = [0.5, -0.5, 0.1, 0.1 + 0.2, 1.5e-7, 1e-5, 1e-4, 123.456, 5e-324, 2.5e-308, 1e15 + 0.5, 2 ** 51 + 0.5];
  if (rng.bool(0.2)) return rng.pick(special);
  for (;;) {
    const x = (rng.next() * 2 - 1) * 10 ** rng.int(-12, 15);
    if (!Number.isInteger(x)) return x;
  }
}

/** A number that strict canonical JSON must reject. */
export function randomInvalidNumber(rng: Rng): number {
  if (rng.bool(0.5)) return randomFloat(rng);
  return rng.pick([2 ** 53, -(2 ** 53), 2 ** 53 + 2, 2 ** 63, -(2 ** 64), 1e20, 1e21, 1.5e300, -1e25]);
}

/** Puts `value` somewhere inside `root` (a random path), returning the new root. */
export function plant(rng: Rng, root: unknown, value: unknown): unknown {
  if (typeof root !== "object" || root === null || rng.bool(0.3)) {
    return rng.bool() ? { ["v" + randomKey(rng)]: value, x: root } : [root, value];
  }
  if (Array.isArray(root)) {
    const copy = [...root];
    const i = rng.int(0, copy.length);
    copy.splice(i, 0, i < root.length ? plant(rng, root[i], value) : value);
    return copy;
  }
  const copy = { ...(root as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length > 0 && rng.bool(0.6)) {
    const k = rng.pick(keys);
    copy[k] = plant(rng, copy[k], value);
  } else {
    copy["z" + randomKey(rng)] = value;
  }
  return copy;
}

/**
 * Serialises a JS value as JSON for another process without loss: integral numbers as exact decimal
 * digits (never `1e+21`), other numbers in shortest round-trip form, lone surrogates as `\uXXXX`
 * escapes (JSON.stringify does that for strings).
 */
export function toLosslessJson(v: unknown): string {
  switch (typeof v) {
    case "number":
      if (!Number.isFinite(v)) throw new Error("non-finite number");
      return Number.isInteger(v) ? BigInt(v).toString() : String(v);
    case "bigint":
      return v.toString();
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "object":
      if (v === null) return "null";
      if (Array.isArray(v)) return "[" + v.map(toLosslessJson).join(",") + "]";
      return (
        "{" +
        Object.entries(v)
          .filter(([, x]) => x !== undefined)
          .map(([k, x]) => JSON.stringify(k) + ":" + toLosslessJson(x))
          .join(",") +
        "}"
      );
    default:
      throw new Error(`cannot serialise ${typeof v}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Events

const EVENT_TYPES = [
  "m.room.member",
  "m.room.create",
  "m.room.join_rules",
  "m.room.power_levels",
  "m.room.aliases",
  "m.room.history_visibility",
  "m.room.redaction",
  "m.room.message",
  "m.room.name",
  "org.example.custom",
] as const;

/** Content keys that some redaction algorithm keeps, plus noise. */
function randomContent(rng: Rng, type: string): Record<string, unknown> {
  const c = rng.bool(0.3) ? randomObject(rng, 3) : {};
  const maybe = (k: string, v: () => unknown) => {
    if (rng.bool(0.6)) c[k] = v();
  };
  switch (type) {
    case "m.room.member":
      maybe("membership", () => rng.pick(["join", "invite", "leave", "ban", "knock"]));
      maybe("join_authorised_via_users_server", () => "@auth:other.example");
      maybe("displayname", () => randomString(rng));
      maybe("third_party_invite", () =>
        rng.pick([
          { signed: { mxid: "@a:b", token: "t", signatures: {} }, display_name: "x" },
          { display_name: "no signed" },
          "not an object",
          { signed: "odd" },
        ]),
      );
      break;
    case "m.room.create":
      maybe("creator", () => "@creator:example.org");
      maybe("room_version", () => "9");
      maybe("m.federate", () => false);
      maybe("additional_creators", () => ["@b:example.org"]);
      break;
    case "m.room.join_rules":
      maybe("join_rule", () => "restricted");
      maybe("allow", () => [{ type: "m.room_membership", room_id: "!a:b" }]);
      break;
    case "m.room.power_levels":
      for (const k of ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default", "invite", "notifications"]) {
        maybe(k, () => (k === "users" || k === "events" || k === "notifications" ? { "@a:b": 50 } : rng.int(0, 100)));
      }
      break;
    case "m.room.aliases":
      maybe("aliases", () => ["#a:b"]);
      break;
    case "m.room.history_visibility":
      maybe("history_visibility", () => "shared");
      break;
    case "m.room.redaction":
      maybe("redacts", () => "$abc");
      maybe("reason", () => "spam");
      break;
    default:
      maybe("body", () => randomString(rng, 40));
  }
  return c;
}

/**
 * A random event (not necessarily valid for any room version) exercising every key that some
 * redaction algorithm treats specially. `withEventId` adds a v1-style `event_id`.
 */
export function randomEvent(rng: Rng, withEventId: boolean): Record<string, unknown> {
  const type = rng.pick(EVENT_TYPES);
  const e: Record<string, unknown> = {
    type,
    room_id: "!room:example.org",
    sender: "@alice:example.org",
    content: randomContent(rng, type),
    origin_server_ts: 1_700_000_000_000 + rng.int(0, 1e9),
    depth: rng.int(1, 1000),
    prev_events: ["$prev" + rng.int(0, 99)],
    auth_events: [],
    hashes: { sha256: "AAAA" },
    signatures: { "example.org": { "ed25519:x": "sig" } },
  };
  if (withEventId) e.event_id = `$${rng.int(0, 1e6)}:example.org`;
  if (rng.bool(0.5) || type !== "m.room.message") e.state_key = rng.bool(0.7) ? "" : "@bob:example.org";
  if (rng.bool(0.5)) e.unsigned = { age_ts: 5, other: randomJson(rng, 2) };
  if (rng.bool(0.4)) e.origin = "example.org";
  if (rng.bool(0.3)) e.membership = "join";
  if (rng.bool(0.2)) e.prev_state = [];
  if (rng.bool(0.3)) e.redacts = "$target";
  if (rng.bool(0.3)) e["org.example.extra"] = randomJson(rng, 2);
  if (rng.bool(0.1)) delete e.content;
  if (rng.bool(0.05)) e.content = "not an object";
  return e;
}
