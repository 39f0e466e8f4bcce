// Event filters (client-server API "Filtering"; definitions/{event_filter,room_event_filter,
// sync_filter}.yaml): parsing with clear errors, and matching stored events.
import { globMatch } from "../../core/glob.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { EventRow } from "../../storage/repos/rooms.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

export interface RoomEventFilter extends EventFilter {
  rooms?: string[];
  not_rooms?: string[];
  contains_url?: boolean;
  lazy_load_members?: boolean;
  include_redundant_members?: boolean;
  unread_thread_notifications?: boolean;
}

export interface SyncFilter {
  event_fields?: string[];
  event_format?: "client" | "federation";
  presence?: EventFilter;
  account_data?: EventFilter;
  room?: {
    rooms?: string[];
    not_rooms?: string[];
    include_leave?: boolean;
    timeline?: RoomEventFilter;
    state?: RoomEventFilter;
    ephemeral?: RoomEventFilter;
    account_data?: RoomEventFilter;
  };
}


function strings(v: unknown, path: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new MatrixError("M_BAD_JSON", `${path} must be an array of strings`);
  return v as string[];
}

/** A list of IDs with this sigil (room IDs "!", user IDs "@"), as Synapse's filter schema checks. */
function ids(v: unknown, path: string, sigil: "!" | "@"): string[] | undefined {
  const list = strings(v, path);
  const bad = list?.find((x) => !x.startsWith(sigil) || x.length < 2);
  if (bad !== undefined) throw new MatrixError("M_BAD_JSON", `${path} must list ${sigil === "!" ? "room" : "user"} IDs; got ${JSON.stringify(bad)}`);
  return list;
}

function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new MatrixError("M_BAD_JSON", `${path} must be a boolean`);
  return v;
}

export function parseEventFilter(v: unknown, path: string): EventFilter | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new MatrixError("M_BAD_JSON", `${path} must be an object`);
  const f: EventFilter = {};
  if (v.limit !== undefined) {
    if (!Number.isInteger(v.limit) || (v.limit as number) < 0) throw new MatrixError("M_BAD_JSON", `${path}.limit must be a non-negative integer`);
    f.limit = v.limit as number;
  }
  f.types = strings(v.types, `${path}.types`);
  f.not_types = strings(v.not_types, `${path}.not_types`);
  f.senders = ids(v.senders, `${path}.senders`, "@");
  f.not_senders = ids(v.not_senders, `${path}.not_senders`, "@");
  return f;
}

export function parseRoomEventFilter(v: unknown, path: string): RoomEventFilter | undefined {
  const base = parseEventFilter(v, path);
  if (!base) return undefined;
  const o = v as Record<string, unknown>;
  return {
    ...base,
    rooms: ids(o.rooms, `${path}.rooms`, "!"),
    not_rooms: ids(o.not_rooms, `${path}.not_rooms`, "!"),
    contains_url: bool(o.contains_url, `${path}.contains_url`),
    lazy_load_members: bool(o.lazy_load_members, `${path}.lazy_load_members`),
    include_redundant_members: bool(o.include_redundant_members, `${path}.include_redundant_members`),
    unread_thread_notifications: bool(o.unread_thread_notifications, `${path}.unread_thread_notifications`),
  };
}

export function parseSyncFilter(v: unknown): SyncFilter {
  if (!isObject(v)) throw new MatrixError("M_BAD_JSON", "filter must be an object");
  const f: SyncFilter = {};
  f.event_fields = strings(v.event_fields, "event_fields");
  if (v.event_format !== undefined) {
    if (v.event_format !== "client" && v.event_format !== "federation") throw new MatrixError("M_BAD_JSON", "event_format must be client or federation");
    f.event_format = v.event_format;
  }
  f.presence = parseEventFilter(v.presence, "presence");
  f.account_data = parseEventFilter(v.account_data, "account_data");
  if (v.room !== undefined) {
    if (!isObject(v.room)) throw new MatrixError("M_BAD_JSON", "room must be an object");
    const r = v.room;
    f.room = {
      rooms: ids(r.rooms, "room.rooms", "!"),
      not_rooms: ids(r.not_rooms, "room.not_rooms", "!"),
      include_leave: bool(r.include_leave, "room.include_leave"),
      timeline: parseRoomEventFilter(r.timeline, "room.timeline"),
      state: parseRoomEventFilter(r.state, "room.state"),
      ephemeral: parseRoomEventFilter(r.ephemeral, "room.ephemeral"),
      account_data: parseRoomEventFilter(r.account_data, "room.account_data"),
    };
  }
  return f;
}

/** Glob match where `*` matches any sequence (filter types and senders). */
function matchesPattern(value: string, pattern: string): boolean {
  if (!pattern.includes("*")) return value === pattern;
  return globMatch(pattern, value, { questionMark: false });
}

/** Whether an event of this type and sender passes an EventFilter (limit aside). */
export function eventFilterMatches(f: EventFilter | undefined, type: string, sender?: string): boolean {
  if (!f) return true;
  if (f.not_types?.some((p) => matchesPattern(type, p))) return false;
  if (f.types && !f.types.some((p) => matchesPattern(type, p))) return false;
  if (sender !== undefined) {
    if (f.not_senders?.includes(sender)) return false;
    if (f.senders && !f.senders.includes(sender)) return false;
  }
  return true;
}

export function roomAllowed(f: { rooms?: string[]; not_rooms?: string[] } | undefined, roomId: string): boolean {
  if (!f) return true;
  if (f.not_rooms?.includes(roomId)) return false;
  if (f.rooms && !f.rooms.includes(roomId)) return false;
  return true;
}

/** Stored events passing a RoomEventFilter (types, senders, rooms, contains_url). */
export function applyRoomEventFilter(rows: readonly EventRow[], f: RoomEventFilter | undefined): EventRow[] {
  if (!f) return [...rows];
  return rows.filter((r) => {
    if (!eventFilterMatches(f, r.type, r.sender) || !roomAllowed(f, r.room_id)) return false;
    if (f.contains_url !== undefined) {
      const hasUrl = (JSON.parse(r.json) as { content?: Record<string, unknown> }).content?.["url"] !== undefined;
      if (hasUrl !== f.contains_url) return false;
    }
    return true;
  });
}
