// SQL for simplified sliding sync (MSC4186): room recency (room_recency, migration 0014), a user's
// memberships changed in a stream range, room types and encryption from current state, receipts
// by room and event, space children and thread updates. Every query is bounded by stream
// positions, by room lists or by primary keys: none reads a room's whole history.
import type { Db, Queryable } from "../engines/db.ts";
import type { ReceiptRow } from "./receipts.ts";
import { chunks } from "./rooms.ts";

/**
 * Event types that count as activity for a room's `bump_stamp` and its place in sliding sync lists
 * (Synapse's SLIDING_SYNC_DEFAULT_BUMP_EVENT_TYPES).
 */
export const BUMP_EVENT_TYPES: ReadonlySet<string> = new Set([
  "m.room.create",
  "m.room.message",
  "m.room.encrypted",
  "m.sticker",
  "m.call.invite",
  "m.poll.start",
  "m.beacon_info",
]);

export interface RoomRecency {
  /** Latest bump event's stream position; null when the room has none. */
  bump: number | null;
  /** Latest timeline event's stream position. */
  last: number;
}

export interface MembershipRow {
  room_id: string;
  membership: string;
  event_id: string;
  stream_ordering: number;
  forgotten: number;
  /** Sender of the member event (null when the event is not stored, e.g. a remote invite). */
  sender: string | null;
}

export interface RoomMetaRow {
  room_id: string;
  /** m.room.create or m.room.encryption. */
  type: string;
  /** content.type of the create event, content.algorithm of the encryption event. */
  value: unknown;
}

export interface ThreadUpdateRow {
  room_id: string;
  thread_id: string;
  latest_event_id: string;
  latest_stream: number;
}

const placeholders = (n: number) => Array(n).fill("?").join(", ");

const RECEIPT_COLS = "room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id, event_stream_ordering";

function normReceipt(r: ReceiptRow): ReceiptRow {
  r.ts = Number(r.ts);
  r.stream_id = Number(r.stream_id);
  r.event_stream_ordering = Number(r.event_stream_ordering);
  return r;
}

export class SlidingSyncRepo {
  constructor(private readonly db: Db) {}

  // ---- connections shared by several processes (docs/SCALING.md; sql/0021_cluster)

  async findConnection(userId: string, deviceId: string, connId: string): Promise<{ data: string; updated_ts: number } | undefined> {
    const r = await this.db.get<{ data: string; updated_ts: number }>(
      "SELECT data, updated_ts FROM sliding_sync_connections WHERE user_id = ? AND device_id = ? AND conn_id = ?",
      [userId, deviceId, connId],
    );
    return r && { data: r.data, updated_ts: Number(r.updated_ts) };
  }

  async upsertConnection(userId: string, deviceId: string, connId: string, data: string, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, data, updated_ts) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id, conn_id) DO UPDATE SET data = excluded.data, updated_ts = excluded.updated_ts`,
      [userId, deviceId, connId, data, now],
    );
  }

  /** A device's connections (all of a user's without `deviceId`), or those idle since before `olderThan`. */
  async deleteConnections(f: { userId: string; deviceId?: string } | { olderThan: number }): Promise<void> {
    if ("olderThan" in f) await this.db.run("DELETE FROM sliding_sync_connections WHERE updated_ts < ?", [f.olderThan]);
    else if (f.deviceId !== undefined) await this.db.run("DELETE FROM sliding_sync_connections WHERE user_id = ? AND device_id = ?", [f.userId, f.deviceId]);
    else await this.db.run("DELETE FROM sliding_sync_connections WHERE user_id = ?", [f.userId]);
  }

  /** Records a timeline event of a room (inside the persisting transaction). */
  async recordEvent(q: Queryable, roomId: string, type: string, stream: number): Promise<void> {
    const bump = BUMP_EVENT_TYPES.has(type) ? stream : null;
    await q.run(
      `INSERT INTO room_recency (room_id, bump_stamp, last_stream) VALUES (?, ?, ?)
       ON CONFLICT (room_id) DO UPDATE SET
         last_stream = CASE WHEN excluded.last_stream > room_recency.last_stream THEN excluded.last_stream ELSE room_recency.last_stream END,
         bump_stamp = CASE WHEN excluded.bump_stamp IS NOT NULL AND (room_recency.bump_stamp IS NULL OR excluded.bump_stamp > room_recency.bump_stamp)
                           THEN excluded.bump_stamp ELSE room_recency.bump_stamp END`,
      [roomId, bump, stream],
    );
  }

  /** Recency of some rooms (rooms without a row are absent). */
  async recency(roomIds: readonly string[]): Promise<Map<string, RoomRecency>> {
    const out = new Map<string, RoomRecency>();
    for (const part of chunks(roomIds, 500)) {
      const rows = await this.db.all<{ room_id: string; bump_stamp: number | null; last_stream: number }>(
        `SELECT room_id, bump_stamp, last_stream FROM room_recency WHERE room_id IN (${placeholders(part.length)})`,
        part,
      );
      for (const r of rows) out.set(r.room_id, { bump: r.bump_stamp === null ? null : Number(r.bump_stamp), last: Number(r.last_stream) });
    }
    return out;
  }

  /**
   * A user's local memberships whose stream position is in (from, to] (all up to `to` when `from`
   * is undefined), forgotten ones included (flagged), with the sender of the member event.
   */
  async memberships(userId: string, fromExclusive: number | undefined, toInclusive: number): Promise<MembershipRow[]> {
    const rows = await this.db.all<MembershipRow>(
      `SELECT room_id, membership, event_id, stream_ordering, forgotten FROM local_memberships
       WHERE user_id = ? AND stream_ordering > ? AND stream_ordering <= ?`,
      [userId, fromExclusive ?? Number.MIN_SAFE_INTEGER, toInclusive],
    );
    // Senders matter for invites (ignored inviters) and leaves (kicks): read only those.
    const need = rows.filter((r) => r.membership === "invite" || r.membership === "leave").map((r) => r.event_id);
    const senders = new Map<string, string>();
    for (const part of chunks(need, 500)) {
      const found = await this.db.all<{ event_id: string; sender: string }>(`SELECT event_id, sender FROM events WHERE event_id IN (${placeholders(part.length)})`, part);
      for (const f of found) senders.set(f.event_id, f.sender);
    }
    for (const r of rows) {
      r.stream_ordering = Number(r.stream_ordering);
      r.forgotten = Number(r.forgotten);
      r.sender = senders.get(r.event_id) ?? null;
    }
    return rows;
  }

  /**
   * The room type (create event's content.type) and encryption algorithm (encryption event's
   * content.algorithm) of some rooms, from current state; the JSON is read by the database so
   * that a few thousand rooms cost one small row each.
   */
  async roomMeta(roomIds: readonly string[]): Promise<RoomMetaRow[]> {
    const value =
      this.db.dialect === "sqlite"
        ? "CASE cs.type WHEN 'm.room.create' THEN json_extract(e.json, '$.content.type') ELSE json_extract(e.json, '$.content.algorithm') END"
        : "CASE cs.type WHEN 'm.room.create' THEN (e.json::json -> 'content' ->> 'type') ELSE (e.json::json -> 'content' ->> 'algorithm') END";
    const out: RoomMetaRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<RoomMetaRow>(
        `SELECT cs.room_id, cs.type, ${value} AS value FROM current_state cs JOIN events e ON e.event_id = cs.event_id
         WHERE cs.room_id IN (${placeholders(part.length)}) AND cs.state_key = '' AND cs.type IN ('m.room.create', 'm.room.encryption')`,
        part,
      );
      out.push(...rows);
    }
    return out;
  }

  /** Rooms where a user wrote a receipt in (from, to], with the latest position. */
  async ownReceiptRooms(userId: string, fromExclusive: number, toInclusive: number): Promise<Map<string, number>> {
    const rows = await this.db.all<{ room_id: string; s: number }>(
      "SELECT room_id, MAX(stream_id) AS s FROM receipts WHERE stream_id > ? AND stream_id <= ? AND user_id = ? GROUP BY room_id",
      [fromExclusive, toInclusive, userId],
    );
    return new Map(rows.map((r) => [r.room_id, Number(r.s)]));
  }

  /** Receipts of a room written in (from, to]. */
  async receiptsBetween(roomId: string, fromExclusive: number, toInclusive: number): Promise<ReceiptRow[]> {
    const rows = await this.db.all<ReceiptRow>(
      `SELECT ${RECEIPT_COLS} FROM receipts WHERE room_id = ? AND stream_id > ? AND stream_id <= ?`,
      [roomId, fromExclusive, toInclusive],
    );
    return rows.map(normReceipt);
  }

  /** Receipts of any room written in (from, to] (one query for every "live" room). */
  async receiptsAllBetween(fromExclusive: number, toInclusive: number): Promise<ReceiptRow[]> {
    const rows = await this.db.all<ReceiptRow>(`SELECT ${RECEIPT_COLS} FROM receipts WHERE stream_id > ? AND stream_id <= ?`, [fromExclusive, toInclusive]);
    return rows.map(normReceipt);
  }

  /** Receipts on some events of a room, written up to `to`. */
  async receiptsOnEvents(roomId: string, eventIds: readonly string[], toInclusive: number): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    for (const part of chunks(eventIds, 400)) {
      const rows = await this.db.all<ReceiptRow>(
        `SELECT ${RECEIPT_COLS} FROM receipts WHERE room_id = ? AND event_id IN (${placeholders(part.length)}) AND stream_id <= ?`,
        [roomId, ...part, toInclusive],
      );
      for (const r of rows) out.push(normReceipt(r));
    }
    return out;
  }

  /** A user's own receipts (every type) in some rooms, written up to `to`. */
  async receiptsOfUser(userId: string, roomIds: readonly string[], toInclusive: number): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<ReceiptRow>(
        `SELECT ${RECEIPT_COLS} FROM receipts WHERE user_id = ? AND room_id IN (${placeholders(part.length)}) AND stream_id <= ?`,
        [userId, ...part, toInclusive],
      );
      for (const r of rows) out.push(normReceipt(r));
    }
    return out;
  }

  /** A user's room account data of one type (m.tag): room → content JSON. */
  async roomAccountDataOfType(userId: string, type: string): Promise<Map<string, string>> {
    const rows = await this.db.all<{ room_id: string; content: string }>(
      "SELECT room_id, content FROM account_data WHERE user_id = ? AND type = ? AND room_id <> ''",
      [userId, type],
    );
    return new Map(rows.map((r) => [r.room_id, r.content]));
  }

  /** The current m.space.child events of some spaces: (space, child room, content JSON). */
  async spaceChildren(spaceIds: readonly string[]): Promise<Array<{ room_id: string; state_key: string; json: string }>> {
    const out: Array<{ room_id: string; state_key: string; json: string }> = [];
    for (const part of chunks(spaceIds, 400)) {
      const rows = await this.db.all<{ room_id: string; state_key: string; json: string }>(
        `SELECT cs.room_id, cs.state_key, e.json FROM current_state cs JOIN events e ON e.event_id = cs.event_id
         WHERE cs.room_id IN (${placeholders(part.length)}) AND cs.type = 'm.space.child'`,
        part,
      );
      out.push(...rows);
    }
    return out;
  }

  /** Threads of some rooms whose latest event is in (from, to], newest first. */
  async threadUpdates(roomIds: readonly string[], fromExclusive: number | undefined, toInclusive: number, limit: number): Promise<ThreadUpdateRow[]> {
    const out: ThreadUpdateRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<ThreadUpdateRow>(
        `SELECT room_id, thread_id, latest_event_id, latest_stream FROM threads
         WHERE room_id IN (${placeholders(part.length)}) AND latest_stream > ? AND latest_stream <= ?
         ORDER BY latest_stream DESC LIMIT ?`,
        [...part, fromExclusive ?? Number.MIN_SAFE_INTEGER, toInclusive, limit],
      );
      for (const r of rows) out.push({ ...r, latest_stream: Number(r.latest_stream) });
    }
    out.sort((a, b) => b.latest_stream - a.latest_stream);
    return out.slice(0, limit);
  }
}
