// The request body of simplified sliding sync as Synapse accepts it at
// /_matrix/client/unstable/org.matrix.simplified_msc3575/sync (MSC4186): `conn_id`, `lists`
// (`ranges`, `required_state` as [type, state_key] pairs, `timeline_limit`, `filters`),
// `room_subscriptions` and `extensions`; `pos`, `timeout` and `set_presence` come as query
// parameters (the body forms of later MSC drafts are accepted too). Unknown fields and unknown
// extensions are ignored; wrong types are 400 M_BAD_JSON naming the field.
import type { StatePair } from "../../core/required-state.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

/** The most timeline events per room (Synapse's limit). */
export const MAX_TIMELINE_LIMIT = 1000;
const MAX_LISTS = 100;
const MAX_LIST_KEY = 64;
const MAX_CONN_ID = 200;
const MAX_REQUIRED_STATE = 1000;
const MAX_SUBSCRIPTIONS = 1000;

export interface RoomConfig {
  timelineLimit: number;
  requiredState: StatePair[];
}

export interface ListFilters {
  is_dm?: boolean;
  is_encrypted?: boolean;
  is_invite?: boolean;
  /** null stands for rooms without a type. */
  room_types?: Array<string | null>;
  not_room_types?: Array<string | null>;
  spaces?: string[];
  tags?: string[];
  not_tags?: string[];
}

export interface ListConfig extends RoomConfig {
  /** Inclusive index ranges; undefined: the whole list. */
  ranges?: Array<[number, number]>;
  filters?: ListFilters;
}

/** `lists`/`rooms` of the room-scoped extensions ("*": every list, every room). */
export interface RoomScopedExtension {
  enabled: boolean;
  lists: string[];
  rooms: string[];
}

export interface Extensions {
  toDevice?: { enabled: boolean; since?: string; limit: number };
  e2ee?: { enabled: boolean };
  accountData?: RoomScopedExtension;
  receipts?: RoomScopedExtension;
  typing?: RoomScopedExtension;
  threads?: { enabled: boolean; limit: number; includeRoots: boolean };
}

export interface SlidingSyncBody {
  connId: string;
  lists: Map<string, ListConfig>;
  subscriptions: Map<string, RoomConfig>;
  extensions: Extensions;
  /** Body forms of `pos` and `timeout` (later MSC drafts); the query parameters win. */
  pos?: string;
  timeout?: number;
  setPresence?: string;
}

const bad = (field: string, what: string) => new MatrixError("M_BAD_JSON", `'${field}' ${what}`);

function optBool(o: Record<string, unknown>, k: string, field: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw bad(`${field}.${k}`, "must be a boolean");
  return v;
}

function optStrings(o: Record<string, unknown>, k: string, field: string, allowNull = false): Array<string | null> | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => !(typeof x === "string" || (allowNull && x === null)))) {
    throw bad(`${field}.${k}`, allowNull ? "must be a list of strings or nulls" : "must be a list of strings");
  }
  return v as Array<string | null>;
}

function nonNegativeInt(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw bad(field, "must be a non-negative integer");
  return v;
}

function parseRequiredState(v: unknown, field: string): StatePair[] {
  if (v === undefined || v === null) return [];
  const out: StatePair[] = [];
  if (Array.isArray(v)) {
    if (v.length > MAX_REQUIRED_STATE) throw bad(field, `may list at most ${MAX_REQUIRED_STATE} entries`);
    for (const [i, p] of v.entries()) {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || typeof p[1] !== "string") {
        throw bad(`${field}[${i}]`, "must be a [type, state_key] pair of strings");
      }
      out.push([p[0], p[1]]);
    }
    return out;
  }
  // The object form of later drafts: {include: [{type?, state_key?}], lazy_members}.
  if (isObject(v)) {
    const include = v.include ?? [];
    if (!Array.isArray(include)) throw bad(`${field}.include`, "must be a list");
    for (const e of include) {
      if (!isObject(e)) throw bad(`${field}.include`, "must list objects");
      const t = e.type ?? "*";
      const k = e.state_key ?? "*";
      if (typeof t !== "string" || typeof k !== "string") throw bad(`${field}.include`, "type and state_key must be strings");
      out.push([t, k]);
    }
    if (v.lazy_members === true) out.push(["m.room.member", "$LAZY"]);
    return out;
  }
  throw bad(field, "must be a list of [type, state_key] pairs");
}

function parseRoomConfig(v: unknown, field: string): RoomConfig {
  if (!isObject(v)) throw bad(field, "must be an object");
  const tl = v.timeline_limit;
  const timelineLimit = tl === undefined || tl === null ? 0 : Math.min(nonNegativeInt(tl, `${field}.timeline_limit`), MAX_TIMELINE_LIMIT);
  return { timelineLimit, requiredState: parseRequiredState(v.required_state, `${field}.required_state`) };
}

function parseRange(v: unknown, field: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw bad(field, "must be a [start, end] pair");
  return [nonNegativeInt(v[0], field), nonNegativeInt(v[1], field)];
}

function parseFilters(v: unknown, field: string): ListFilters | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(field, "must be an object");
  const f: ListFilters = {};
  const isDm = optBool(v, "is_dm", field);
  if (isDm !== undefined) f.is_dm = isDm;
  const enc = optBool(v, "is_encrypted", field);
  if (enc !== undefined) f.is_encrypted = enc;
  // is_invite (Synapse), is_invited (later drafts).
  const inv = optBool(v, "is_invite", field) ?? optBool(v, "is_invited", field);
  if (inv !== undefined) f.is_invite = inv;
  const rt = optStrings(v, "room_types", field, true);
  if (rt) f.room_types = rt;
  const nrt = optStrings(v, "not_room_types", field, true);
  if (nrt) f.not_room_types = nrt;
  const spaces = optStrings(v, "spaces", field);
  if (spaces) f.spaces = spaces as string[];
  const tags = optStrings(v, "tags", field);
  if (tags) f.tags = tags as string[];
  const notTags = optStrings(v, "not_tags", field);
  if (notTags) f.not_tags = notTags as string[];
  return f;
}

function parseList(v: unknown, field: string): ListConfig {
  const base = parseRoomConfig(v, field);
  const o = v as Record<string, unknown>;
  const list: ListConfig = { ...base };
  if (o.ranges !== undefined && o.ranges !== null) {
    if (!Array.isArray(o.ranges)) throw bad(`${field}.ranges`, "must be a list of [start, end] pairs");
    list.ranges = o.ranges.map((r, i) => parseRange(r, `${field}.ranges[${i}]`));
  } else if (o.range !== undefined && o.range !== null) {
    list.ranges = [parseRange(o.range, `${field}.range`)];
  }
  if (o.slow_get_all_rooms === true) list.ranges = undefined;
  const filters = parseFilters(o.filters, `${field}.filters`);
  if (filters) list.filters = filters;
  return list;
}

function enabledOf(o: Record<string, unknown>, field: string): boolean {
  return optBool(o, "enabled", field) ?? false;
}

function parseRoomScoped(v: unknown, field: string): RoomScopedExtension | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(field, "must be an object");
  return {
    enabled: enabledOf(v, field),
    lists: (optStrings(v, "lists", field) as string[] | undefined) ?? ["*"],
    rooms: (optStrings(v, "rooms", field) as string[] | undefined) ?? ["*"],
  };
}

function parseExtensions(v: unknown): Extensions {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw bad("extensions", "must be an object");
  const out: Extensions = {};
  const td = v.to_device;
  if (td !== undefined && td !== null) {
    if (!isObject(td)) throw bad("extensions.to_device", "must be an object");
    const since = td.since;
    if (since !== undefined && since !== null && (typeof since !== "string" || !/^\d{1,15}$/.test(since))) {
      throw bad("extensions.to_device.since", "is invalid (should look like an int)");
    }
    const limit = td.limit === undefined || td.limit === null ? 100 : nonNegativeInt(td.limit, "extensions.to_device.limit");
    out.toDevice = { enabled: enabledOf(td, "extensions.to_device"), limit, ...(typeof since === "string" ? { since } : {}) };
  }
  const e2ee = v.e2ee;
  if (e2ee !== undefined && e2ee !== null) {
    if (!isObject(e2ee)) throw bad("extensions.e2ee", "must be an object");
    out.e2ee = { enabled: enabledOf(e2ee, "extensions.e2ee") };
  }
  const ad = parseRoomScoped(v.account_data, "extensions.account_data");
  if (ad) out.accountData = ad;
  const rc = parseRoomScoped(v.receipts, "extensions.receipts");
  if (rc) out.receipts = rc;
  const ty = parseRoomScoped(v.typing, "extensions.typing");
  if (ty) out.typing = ty;
  const th = v.threads ?? v["io.element.msc4360.threads"];
  if (th !== undefined && th !== null) {
    if (!isObject(th)) throw bad("extensions.threads", "must be an object");
    const limit = th.limit === undefined || th.limit === null ? 100 : Math.min(nonNegativeInt(th.limit, "extensions.threads.limit"), 1000);
    out.threads = { enabled: enabledOf(th, "extensions.threads"), limit, includeRoots: optBool(th, "include_roots", "extensions.threads") ?? false };
  }
  return out;
}

export function parseSlidingSyncBody(body: unknown): SlidingSyncBody {
  if (body === undefined || body === null) body = {};
  if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "The body must be a JSON object");
  const connId = body.conn_id ?? "";
  if (typeof connId !== "string") throw bad("conn_id", "must be a string");
  if (connId.length > MAX_CONN_ID) throw bad("conn_id", `must be at most ${MAX_CONN_ID} characters`);
  const lists = new Map<string, ListConfig>();
  if (body.lists !== undefined && body.lists !== null) {
    if (!isObject(body.lists)) throw bad("lists", "must be an object");
    const entries = Object.entries(body.lists);
    if (entries.length > MAX_LISTS) throw bad("lists", `may have at most ${MAX_LISTS} lists`);
    for (const [k, v] of entries) {
      if (k.length > MAX_LIST_KEY) throw bad("lists", `keys must be at most ${MAX_LIST_KEY} characters`);
      lists.set(k, parseList(v, `lists.${k}`));
    }
  }
  const subscriptions = new Map<string, RoomConfig>();
  if (body.room_subscriptions !== undefined && body.room_subscriptions !== null) {
    if (!isObject(body.room_subscriptions)) throw bad("room_subscriptions", "must be an object");
    const entries = Object.entries(body.room_subscriptions);
    if (entries.length > MAX_SUBSCRIPTIONS) throw bad("room_subscriptions", `may have at most ${MAX_SUBSCRIPTIONS} rooms`);
    for (const [roomId, v] of entries) subscriptions.set(roomId, parseRoomConfig(v, `room_subscriptions.${roomId}`));
  }
  const out: SlidingSyncBody = { connId, lists, subscriptions, extensions: parseExtensions(body.extensions) };
  if (typeof body.pos === "string") out.pos = body.pos;
  if (body.timeout !== undefined && body.timeout !== null) out.timeout = nonNegativeInt(body.timeout, "timeout");
  if (typeof body.set_presence === "string") out.setPresence = body.set_presence;
  return out;
}
