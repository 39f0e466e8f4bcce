// GET /notifications (spec: client-server-api modules/push.md "Listing Notifications",
// notifications.yaml): the events a user was (or would have been) notified about, newest first,
// from the push actions written when each event was persisted (push.ts), with the actions that
// matched, whether a read receipt covers the event (unthreaded, or for the event's thread), and
// `only=highlight`. Events of users the viewer now ignores are left out.
import { MatrixError } from "../protocol/errors.ts";
import type { JsonValue } from "../protocol/events.ts";
import type { ReceiptsRepo } from "../storage/repos/receipts.ts";
import type { RoomExtrasRepo } from "../storage/repos/room-extras.ts";
import type { EventRow, RoomsRepo } from "../storage/repos/rooms.ts";
import type { RoomEvents } from "./rooms/events.ts";
import { toClientEvents, type ClientEvent, type Viewer } from "./rooms/format.ts";
import type { Visibility } from "./rooms/visibility.ts";

export const DEFAULT_NOTIFICATIONS_LIMIT = 50;
export const MAX_NOTIFICATIONS_LIMIT = 1000;

export interface Notification {
  actions: JsonValue[];
  event: ClientEvent;
  read: boolean;
  room_id: string;
  ts: number;
}

export interface NotificationsDeps {
  repo: RoomExtrasRepo;
  roomsRepo: RoomsRepo;
  receipts: ReceiptsRepo;
  events: RoomEvents;
  visibility: Visibility;
}

export class Notifications {
  constructor(private readonly d: NotificationsDeps) {}

  async list(viewer: Viewer, opts: { from?: string; limit?: number; only?: string }): Promise<{ notifications: Notification[]; next_token?: string }> {
    let before: number | undefined;
    if (opts.from !== undefined) {
      if (!/^-?\d{1,16}$/.test(opts.from)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'from' token");
      before = Number(opts.from);
    }
    if (opts.only !== undefined && opts.only !== "highlight") throw new MatrixError("M_INVALID_PARAM", "'only' must be 'highlight'");
    const limit = Math.min(opts.limit ?? DEFAULT_NOTIFICATIONS_LIMIT, MAX_NOTIFICATIONS_LIMIT);
    if (limit === 0) return { notifications: [] };
    const rows = await this.d.repo.notifications(viewer.userId, { before, limit, onlyHighlight: opts.only === "highlight" });
    const evRows = await this.d.roomsRepo.getEvents(rows.map((r) => r.event_id));
    const kept = await this.d.visibility.withoutIgnored(viewer.userId, rows.map((r) => evRows.get(r.event_id)).filter((r): r is EventRow => r !== undefined));
    const keptIds = new Set(kept.map((r) => r.event_id));
    const formatted = await toClientEvents(this.d.events, kept, viewer, { withRoomId: false });
    const byId = new Map(formatted.map((e) => [e.event_id, e]));

    // Read: a receipt (m.read or m.read.private) at or after the event, unthreaded or in its thread.
    const readTo = new Map<string, number>();
    const key = (room: string, thread: string) => `${room}\u0000${thread}`;
    for (const r of await this.d.receipts.readReceiptsOf(viewer.userId, [...new Set(rows.map((x) => x.room_id))])) {
      const k = key(r.room_id, r.thread_id);
      readTo.set(k, Math.max(readTo.get(k) ?? -Infinity, r.event_stream_ordering));
    }
    const notifications: Notification[] = [];
    for (const r of rows) {
      const event = byId.get(r.event_id);
      if (!event || !keptIds.has(r.event_id)) continue;
      const reached = Math.max(readTo.get(key(r.room_id, "")) ?? -Infinity, readTo.get(key(r.room_id, r.thread_id)) ?? -Infinity);
      notifications.push({
        actions: r.actions ? (JSON.parse(r.actions) as JsonValue[]) : r.highlight ? ["notify", { set_tweak: "highlight" }] : ["notify"],
        event,
        read: r.stream_ordering <= reached,
        room_id: r.room_id,
        ts: r.received_ts,
      });
    }
    const out: { notifications: Notification[]; next_token?: string } = { notifications };
    if (rows.length === limit) out.next_token = String(rows[rows.length - 1]!.stream_ordering);
    return out;
  }
}
