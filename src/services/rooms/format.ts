// Room events as clients see them (the ClientEvent format): redactions applied with
// `unsigned.redacted_because`, `unsigned.age`, `prev_content` for state events,
// `transaction_id` for the device that sent the event, and bundled aggregations
// (`unsigned["m.relations"]`, computed for the whole batch by RoomEvents.bundleAggregations).
import { redactEvent } from "../../core/redaction.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import type { EventRow } from "../../storage/repos/rooms.ts";
import { rowToEvent, type RoomEvents } from "./events.ts";

export interface ClientEvent {
  event_id: string;
  type: string;
  content: JsonObject;
  sender: string;
  origin_server_ts: number;
  room_id?: string;
  state_key?: string;
  redacts?: string;
  unsigned?: JsonObject;
}

export interface Viewer {
  userId: string;
  deviceId?: string;
}

/** Client format of one stored event. `withRoomId` false for /sync's room-scoped lists. */
export async function toClientEvents(
  events: RoomEvents,
  rows: readonly EventRow[],
  viewer: Viewer | undefined,
  opts: {
    withRoomId?: boolean;
    now?: number;
    bundle?: boolean;
    /** The viewer's membership at every one of the rows, when the caller knows it (not looked up). */
    membership?: string;
  } = {},
): Promise<ClientEvent[]> {
  const now = opts.now ?? Date.now();
  // Bundled aggregations (client-server API "Aggregations of child events"); never for state events.
  const bundles =
    opts.bundle !== false && viewer && events.bundleAggregations && rows.some((r) => r.state_key === null)
      ? await events.bundleAggregations(rows.filter((r) => r.state_key === null), viewer)
      : undefined;
  const extraIds: string[] = [];
  for (const r of rows) {
    if (r.redacted_by) extraIds.push(r.redacted_by);
    if (r.replaces_state) extraIds.push(r.replaces_state);
  }
  const extra = extraIds.length ? await events.loadEvents(extraIds) : new Map<string, RoomEvent>();
  const versions = new Map<string, RoomVersion>();
  for (const r of rows) if (!versions.has(r.room_id)) versions.set(r.room_id, await events.versionOf(r.room_id));
  // unsigned.membership (v1.11): the viewer's membership at each event, from the state after it.
  const memberships =
    opts.membership !== undefined ? new Map(rows.map((r) => [r.event_id, opts.membership!])) : viewer ? await events.membershipsAtEvents(viewer.userId, rows) : undefined;
  // Erased users' events are redacted for whoever was not in the room when they were sent.
  const erased = events.erasedSenders ? await events.erasedSenders(new Set(rows.map((r) => r.sender))) : undefined;
  return rows.map((row) => {
    const rv = versions.get(row.room_id)!;
    let ev = rowToEvent(row);
    const unsigned: JsonObject = {};
    const membership = memberships?.get(row.event_id);
    if (erased?.has(row.sender) && membership !== "join" && !row.redacted_by) {
      ev = { ...(redactEvent(ev, rv) as RoomEvent), event_id: row.event_id };
    }
    if (row.redacted_by) {
      ev = { ...(redactEvent(ev, rv) as RoomEvent), event_id: row.event_id };
      // redacted_by as Synapse gives it beside the spec's redacted_because (older clients read it).
      unsigned.redacted_by = row.redacted_by;
      const because = extra.get(row.redacted_by);
      if (because) unsigned.redacted_because = clientFormat(because, { withRoomId: true, now }) as unknown as JsonObject;
    }
    if (row.replaces_state) {
      const prev = extra.get(row.replaces_state);
      if (prev) {
        unsigned.prev_content = prev.content;
        unsigned.replaces_state = prev.event_id;
        unsigned.prev_sender = prev.sender;
      }
    }
    if (row.txn_id && viewer && row.sender === viewer.userId && row.device_id === viewer.deviceId) {
      unsigned.transaction_id = row.txn_id;
    }
    if (membership !== undefined) unsigned.membership = membership;
    const relations = bundles?.get(row.event_id);
    if (relations) unsigned["m.relations"] = relations;
    return clientFormat(ev, { withRoomId: opts.withRoomId ?? true, now, unsigned, roomId: row.room_id });
  });
}

/** The client format of a (possibly already redacted) event. */
export function clientFormat(
  ev: RoomEvent,
  opts: { withRoomId?: boolean; now?: number; unsigned?: JsonObject; roomId?: string } = {},
): ClientEvent {
  const out: ClientEvent = {
    event_id: ev.event_id,
    type: ev.type,
    content: ev.content ?? {},
    sender: ev.sender,
    origin_server_ts: Number(ev.origin_server_ts),
  };
  // v12 create events carry no room_id; clients always get one.
  const roomId = ev.room_id ?? opts.roomId;
  if (opts.withRoomId !== false && roomId) out.room_id = roomId;
  if (ev.state_key !== undefined) out.state_key = ev.state_key;
  if (ev.type === "m.room.redaction") {
    const r = (ev.content?.["redacts"] as string | undefined) ?? ev.redacts;
    if (typeof r === "string") out.redacts = r;
  }
  const unsigned: JsonObject = { ...(opts.unsigned ?? {}) };
  unsigned.age = Math.max(0, (opts.now ?? Date.now()) - out.origin_server_ts);
  out.unsigned = unsigned;
  return out;
}
