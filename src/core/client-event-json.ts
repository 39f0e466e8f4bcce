// What a client (or this server on a client's behalf) may put into an event it builds: the one place
// that decides it, used by every path that creates a local event (sends, state, createRoom with its
// creation_content / initial_state / power_level_content_override, redactions, membership changes
// carrying profile data, room upgrades, appservice and admin APIs).
//
// The rule: the event's `content` (and its `type` and `state_key`) must be strict canonical JSON
// whatever the room version (appendices.md "Canonical JSON"; v6-canonical-json.md): integers in
// [-(2^53)+1, 2^53-1], no floats, no NaN/Infinity, no lone surrogates in strings or keys, nesting
// within the canonical bound — and no U+0000 in any string or key: canonical JSON allows it, but
// PostgreSQL cannot store it in the text columns events are indexed by (type, state key, relations,
// member display names), so it is refused on both databases alike. Lenient canonical JSON (room versions 1–5) exists only to accept other
// servers' events; this server never creates one. The event must also fit the 65,536-byte PDU limit
// (client-server-api "Size limits"), checked here on the content (exactly, with the event's other
// fields, once built: pdu.ts checkPduSize). Duplicate keys cannot reach this point: request bodies are
// parsed once, and the last value of a repeated key wins (src/http/app.ts).
import { CanonicalJsonError, canonicalJson, utf8Length } from "./canonical-json.ts";
import { MAX_PDU_BYTES } from "./pdu.ts";

export interface ClientEventJsonIssue {
  /** M_BAD_JSON for values canonical JSON cannot carry, M_TOO_LARGE past the PDU size limit. */
  readonly errcode: "M_BAD_JSON" | "M_TOO_LARGE";
  /** Where, from the event's top level: `content.info.mimetype`, `state_key`. */
  readonly path: string;
  readonly message: string;
}

export interface ClientEventFields {
  readonly type?: unknown;
  readonly state_key?: unknown;
  readonly content: unknown;
}

/** The first reason the event fields cannot go into an event, or null. */
export function clientEventJsonIssue(fields: ClientEventFields): ClientEventJsonIssue | null {
  const ev: Record<string, unknown> = { content: fields.content };
  if (fields.type !== undefined) ev.type = fields.type;
  if (fields.state_key !== undefined) ev.state_key = fields.state_key;
  let json: string;
  try {
    json = canonicalJson(ev);
  } catch (e) {
    if (!(e instanceof CanonicalJsonError)) throw e;
    return { errcode: "M_BAD_JSON", path: e.path, message: `Invalid JSON at ${e.path || "content"}: ${e.reason}` };
  }
  // Canonical JSON writes U+0000 as \u0000; only then is the value walked to find where it is.
  if (json.includes("\\u0000")) {
    const at = nulPath(ev, "");
    if (at !== null) return { errcode: "M_BAD_JSON", path: at, message: `Invalid JSON at ${at}: U+0000 (NUL) is not allowed in events` };
  }
  if (utf8Length(json) > MAX_PDU_BYTES) {
    return { errcode: "M_TOO_LARGE", path: "content", message: `Event too large: content is over ${MAX_PDU_BYTES} bytes of canonical JSON` };
  }
  return null;
}

/** Path of the first string or key holding U+0000 (the value is known to be canonical JSON: bounded depth). */
function nulPath(v: unknown, path: string): string | null {
  if (typeof v === "string") return v.includes("\u0000") ? path : null;
  if (v === null || typeof v !== "object") return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nulPath(v[i], `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  for (const [k, x] of Object.entries(v)) {
    const here = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path ? path + "." : ""}${k}` : `${path}[${JSON.stringify(k)}]`;
    if (k.includes("\u0000")) return here;
    const p = nulPath(x, here);
    if (p !== null) return p;
  }
  return null;
}
