// SQL behind /notifications (event_push_actions with the matched actions, 0011), mutual rooms
// (local_memberships × current_state) and a user's account data in one room (initialSync).
import type { Db, SqlParam } from "../engines/db.ts";
import { chunks, type EventRow } from "./rooms.ts";

export interface NotificationRow {
  room_id: string;
  event_id: string;
  stream_ordering: number;
  thread_id: string;
  highlight: number;
  actions: string | null;
  received_ts: number;
}

export class RoomExtrasRepo {
  constructor(private readonly db: Db) {}

  /** A user's push actions, newest first, below a stream position. */
  async notifications(userId: string, opts: { before?: number; limit: number; onlyHighlight: boolean }): Promise<NotificationRow[]> {
    const params: SqlParam[] = [userId];
    let where = "p.user_id = ?";
    if (opts.before !== undefined) {
      where += " AND p.stream_ordering < ?";
      params.push(opts.before);
    }
    if (opts.onlyHighlight) where += " AND p.highlight = 1";
    params.push(opts.limit);
    const rows = await this.db.all<NotificationRow>(
      `SELECT p.room_id, p.event_id, p.stream_ordering, p.thread_id, p.highlight, p.actions, e.received_ts
       FROM event_push_actions p JOIN events e ON e.event_id = p.event_id
       WHERE ${where} ORDER BY p.stream_ordering DESC LIMIT ?`,
      params,
    );
    for (const r of rows) {
      r.stream_ordering = Number(r.stream_ordering);
      r.highlight = Number(r.highlight);
      r.received_ts = Number(r.received_ts);
    }
    return rows;
  }

  /** Rooms both users are joined to (`userId` local), by room ID after `after`, and how many in all. */
  async mutualRooms(userId: string, other: string, after: string | undefined, limit: number): Promise<{ rooms: string[]; count: number }> {
    const base = `FROM local_memberships lm JOIN current_state cs
        ON cs.room_id = lm.room_id AND cs.type = 'm.room.member' AND cs.state_key = ? AND cs.membership = 'join'
      WHERE lm.user_id = ? AND lm.membership = 'join'`;
    const count = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n ${base}`, [other, userId]);
    const rows = await this.db.all<{ room_id: string }>(
      `SELECT lm.room_id ${base}${after !== undefined ? " AND lm.room_id > ?" : ""} ORDER BY lm.room_id LIMIT ?`,
      after !== undefined ? [other, userId, after, limit] : [other, userId, limit],
    );
    return { rooms: rows.map((r) => r.room_id), count: Number(count?.n ?? 0) };
  }

  /** Timeline events of some rooms in (from, to], oldest first, at most `limit`. */
  async eventsInRooms(roomIds: readonly string[], fromExclusive: number, toInclusive: number, limit: number): Promise<EventRow[]> {
    const out: EventRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<EventRow>(
        `SELECT * FROM events WHERE room_id IN (${part.map(() => "?").join(", ")}) AND stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
         ORDER BY stream_ordering LIMIT ?`,
        [...part, fromExclusive, toInclusive, limit],
      );
      out.push(...rows);
    }
    out.sort((a, b) => Number(a.stream_ordering) - Number(b.stream_ordering));
    return out.slice(0, limit);
  }

  /** One global account data type of several users (user → parsed content). */
  async globalAccountData(type: string, userIds: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const part of chunks(userIds, 400)) {
      const rows = await this.db.all<{ user_id: string; content: string }>(
        `SELECT user_id, content FROM account_data WHERE room_id = '' AND type = ? AND user_id IN (${part.map(() => "?").join(", ")})`,
        [type, ...part],
      );
      for (const r of rows) out.set(r.user_id, JSON.parse(r.content) as Record<string, unknown>);
    }
    return out;
  }

  /** A user's account data in one room. */
  async roomAccountData(userId: string, roomId: string): Promise<Array<{ type: string; content: string }>> {
    return this.db.all<{ type: string; content: string }>("SELECT type, content FROM account_data WHERE user_id = ? AND room_id = ? ORDER BY type", [userId, roomId]);
  }
}
