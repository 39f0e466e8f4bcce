// Read receipts (m.read, m.read.private) per room, user and thread ('' = unthreaded).
import type { Db, Queryable } from "../engines/db.ts";
import { chunks } from "./rooms.ts";

export interface ReceiptRow {
  room_id: string;
  receipt_type: string;
  user_id: string;
  thread_id: string;
  event_id: string;
  ts: number;
  stream_id: number;
  event_stream_ordering: number;
}

const COLS = "room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id, event_stream_ordering";

function norm(r: ReceiptRow): ReceiptRow {
  r.ts = Number(r.ts);
  r.stream_id = Number(r.stream_id);
  r.event_stream_ordering = Number(r.event_stream_ordering);
  return r;
}

export class ReceiptsRepo {
  constructor(private readonly db: Db) {}

  async find(roomId: string, type: string, userId: string, threadId: string, q: Queryable = this.db): Promise<ReceiptRow | undefined> {
    const r = await q.get<ReceiptRow>(
      `SELECT ${COLS} FROM receipts WHERE room_id = ? AND receipt_type = ? AND user_id = ? AND thread_id = ?`,
      [roomId, type, userId, threadId],
    );
    return r ? norm(r) : undefined;
  }

  async upsert(q: Queryable, r: ReceiptRow): Promise<void> {
    await q.run(
      `INSERT INTO receipts (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts,
         stream_id = excluded.stream_id, event_stream_ordering = excluded.event_stream_ordering`,
      [r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.ts, r.stream_id, r.event_stream_ordering],
    );
  }

  /** Receipts written in (from, to], any room. */
  async listBetween(fromExclusive: number, toInclusive: number): Promise<ReceiptRow[]> {
    const rows = await this.db.all<ReceiptRow>(`SELECT ${COLS} FROM receipts WHERE stream_id > ? AND stream_id <= ? ORDER BY stream_id`, [
      fromExclusive,
      toInclusive,
    ]);
    return rows.map(norm);
  }

  /** All receipts of some rooms written up to `to` (initial sync). */
  async listForRooms(roomIds: readonly string[], toInclusive: number): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<ReceiptRow>(
        `SELECT ${COLS} FROM receipts WHERE room_id IN (${part.map(() => "?").join(", ")}) AND stream_id <= ?`,
        [...part, toInclusive],
      );
      for (const r of rows) out.push(norm(r));
    }
    return out;
  }

  /** A user's read receipts (m.read and m.read.private) in some rooms. */
  /** The read receipts (public and private) of some users in one room. */
  async readReceiptsInRoom(roomId: string, userIds: readonly string[]): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    for (const part of chunks(userIds, 400)) {
      const rows = await this.db.all<ReceiptRow>(
        `SELECT ${COLS} FROM receipts WHERE room_id = ? AND user_id IN (${part.map(() => "?").join(", ")}) AND receipt_type IN ('m.read', 'm.read.private')`,
        [roomId, ...part],
      );
      for (const r of rows) out.push(norm(r));
    }
    return out;
  }

  async readReceiptsOf(userId: string, roomIds: readonly string[]): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    for (const part of chunks(roomIds, 400)) {
      const rows = await this.db.all<ReceiptRow>(
        `SELECT ${COLS} FROM receipts WHERE user_id = ? AND room_id IN (${part.map(() => "?").join(", ")}) AND receipt_type IN ('m.read', 'm.read.private')`,
        [userId, ...part],
      );
      for (const r of rows) out.push(norm(r));
    }
    return out;
  }
}
