// Wire shapes of room events (PDUs) as they appear in the Server-Server API.
// Events are kept as plain JSON objects so that signed content survives byte-for-byte; these
// types describe the fields the server reads, and every other field is preserved untouched.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
/**
 * A JSON object whose members are not checked yet (received JSON before its schema, a stored blob):
 * read a member, then check its type. The one alias for Record<string, unknown> over JSON.
 */
export type JsonRecord = Record<string, unknown>;

/** An event reference in room versions 1–2: [event_id, {sha256: hash}]. */
export type EventRefV1 = [string, { sha256?: string }];

/** A persistent data unit, any room version. */
export interface Pdu {
  /** Present in v1–v2 events only; v3+ IDs are computed from the reference hash. */
  event_id?: string;
  /** Absent from the m.room.create event in room version 12+. */
  room_id?: string;
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
  origin_server_ts: number;
  depth: number;
  prev_events: string[] | EventRefV1[];
  auth_events: string[] | EventRefV1[];
  hashes: { sha256: string };
  signatures: Record<string, Record<string, string>>;
  unsigned?: JsonObject;
  /** Top-level in redactions before room version 11. */
  redacts?: string;
  /** Legacy top-level field (pre-v11 redaction algorithms keep it). */
  origin?: string;
  /** Legacy top-level field (pre-v11 redaction algorithms keep it). */
  membership?: string;
  prev_state?: unknown;
  [key: string]: unknown;
}

/** A PDU together with its event ID (computed or carried), as the core algorithms consume it. */
export interface RoomEvent extends Pdu {
  event_id: string;
}

/** A JSON object: not null, not an array, not bytes (the check every parser of request and event JSON needs). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A JSON object with unchecked members: not null, not an array. */
export const isJsonRecord = (v: unknown): v is JsonRecord => typeof v === "object" && v !== null && !Array.isArray(v);

/** The event IDs referenced by `prev_events` or `auth_events`, whatever the format. */
export function refIds(refs: string[] | EventRefV1[]): string[] {
  return refs.map((r) => (typeof r === "string" ? r : r[0]));
}
