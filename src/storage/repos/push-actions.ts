// Push actions computed when events are persisted (one row per notified local user), and the
// read positions that a user's own events give. Unread counts are read from both plus receipts.
import type { Db, Queryable } from "../engines/db.ts";
import { chunks } from "./rooms.ts";

export interface PushActionRow {
  room_id: string;
  event_id: string;
  user_id: string;
  stream_ordering: number;
  thread_id: string;
  notify: number;
  highlight: number;
  /** The matched push rule actions as JSON (for /notifications). */
  actions?: string | null;
}

export class PushActionsRepo {
  constructor(private readonly db: Db) {}

  async insert(q: Queryable, rows: readonly PushActionRow[]): Promise<void> {
    for (const part of chunks(rows, 100)) {
      const values = part.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
      const params = part.flatMap((r) => [r.room_id, r.event_id, r.user_id, r.stream_ordering, r.thread_id, r.notify, r.highlight, r.actions ?? null]);
      await q.run(
        `INSERT INTO event_push_actions (room_id, event_id, user_id, stream_ordering, thread_id, notify, highlight, actions) VALUES ${values}
         ON CONFLICT (user_id, event_id) DO NOTHING`,
        params,
      );
    }
  }

  /** A user's push actions in a room after a stream position (the unread candidates). */
  async listAfter(userId: string, roomId: string, afterStream: number): Promise<Array<Pick<PushActionRow, "thread_id" | "stream_ordering" | "notify" | "highlight">>> {
    const rows = await this.db.all<{ thread_id: string; stream_ordering: number; notify: number; highlight: number }>(
      "SELECT thread_id, stream_ordering, notify, highlight FROM event_push_actions WHERE user_id = ? AND room_id = ? AND stream_ordering > ?",
      [userId, roomId, afterStream],
    );
    for (const r of rows) {
      r.stream_ordering = Number(r.stream_ordering);
      r.notify = Number(r.notify);
      r.highlight = Number(r.highlight);
    }
    return rows;
  }

  /** The joined members of a room (current state), read in the caller's transaction. */
  /** Local users (with an account) joined to a room, and their member events. */
  localJoinedMembers(q: Queryable, roomId: string): Promise<Array<{ user_id: string; event_id: string }>> {
    return q.all<{ user_id: string; event_id: string }>(
      `SELECT lm.user_id, lm.event_id FROM local_memberships lm JOIN users u ON u.user_id = lm.user_id
       WHERE lm.room_id = ? AND lm.membership = 'join'`,
      [roomId],
    );
  }

  /** How many users (local and remote) are joined to a room. */
  async joinedCount(q: Queryable, roomId: string): Promise<number> {
    const r = await q.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND membership = 'join'",
      [roomId],
    );
    return Number(r?.n ?? 0);
  }

  async upsertSentPosition(q: Queryable, userId: string, roomId: string, threadId: string, stream: number): Promise<void> {
    await q.run(
      `INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET stream_ordering = excluded.stream_ordering`,
      [userId, roomId, threadId, stream],
    );
  }

  /** The positions of a user's own latest events per room and thread. */
  /** listAfter for some users of one room at once (each row names its user). */
  async listAfterInRoom(roomId: string, userIds: readonly string[], afterStream: number): Promise<Array<Pick<PushActionRow, "user_id" | "thread_id" | "stream_ordering" | "notify" | "highlight">>> {
    const out: Array<Pick<PushActionRow, "user_id" | "thread_id" | "stream_ordering" | "notify" | "highlight">> = [];
    for (const part of chunks(userIds, 400)) {
      const rows = await this.db.all<{ user_id: string; thread_id: string; stream_ordering: number; notify: number; highlight: number }>(
        `SELECT user_id, thread_id, stream_ordering, notify, highlight FROM event_push_actions WHERE room_id = ? AND user_id IN (${part.map(() => "?").join(", ")}) AND stream_ordering > ?`,
        [roomId, ...part, afterStream],
      );
      for (const r of rows) out.push({ user_id: r.user_id, thread_id: r.thread_id, stream_ordering: Number(r.stream_ordering), notify: Number(r.notify), highlight: Number(r.highlight) });
    }
    return out;
  }

  /** sentPositions of some users in one room. */
  async sentPositionsInRoom(roomId: string, userIds: readonly string[]): Promise<Array<{ user_id: string; thread_id: string; stream_ordering: number }>> {
    const out: Array<{ user_id: string; thread_id: string; stream_ordering: number }> = [];
    for (const part of chunks(userIds, 400)) {
      const rows = await this.db.all<{ user_id: string; thread_id: string; stream_ordering: number }>(
        `SELECT user_id, thread_id, stream_ordering FROM push_read_positions WHERE room_id = ? AND user_id IN (${part.map(() => "?").join(", ")})`,
        [roomId, ...part],
      );
      for (const r of rows) out.push({ ...r, stream_ordering: Number(r.stream_ordering) });
    }
    return out;
  }

  async sentPositions(userId: string, roomIds: readonly string[]): Promise<Array<{ room_id: string; thread_id: string; stream_ordering: number }>> {
    const out: Array<{ room_id: string; thread_id: string; stream_ordering: number }> = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<{ room_id: string; thread_id: string; stream_ordering: number }>(
        `SELECT room_id, thread_id, stream_ordering FROM push_read_positions WHERE user_id = ? AND room_id IN (${part.map(() => "?").join(", ")})`,
        [userId, ...part],
      );
      for (const r of rows) out.push({ ...r, stream_ordering: Number(r.stream_ordering) });
    }
    return out;
  }
}
