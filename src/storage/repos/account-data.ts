// Global and per-room account data (room_id '' for global). Each write takes a position in the
// global stream so /sync can deliver changes since a token.
import type { Db, Queryable } from "../engines/db.ts";

export interface AccountDataRow {
  room_id: string;
  type: string;
  content: string;
  stream_id: number;
}

export class AccountDataRepo {
  constructor(private readonly db: Db) {}

  async upsert(q: Queryable, userId: string, roomId: string, type: string, content: string, stream: number): Promise<void> {
    await q.run(
      `INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id`,
      [userId, roomId, type, content, stream],
    );
  }

  async find(userId: string, roomId: string, type: string, q: Queryable = this.db): Promise<string | undefined> {
    const r = await q.get<{ content: string }>("SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?", [userId, roomId, type]);
    return r?.content;
  }

  /** A user's account data changed in (from, to]; everything up to `to` when from is undefined. */
  async list(userId: string, fromExclusive: number | undefined, toInclusive: number): Promise<AccountDataRow[]> {
    const rows = await this.db.all<AccountDataRow>(
      "SELECT room_id, type, content, stream_id FROM account_data WHERE user_id = ? AND stream_id > ? AND stream_id <= ? ORDER BY stream_id",
      [userId, fromExclusive ?? -1, toInclusive],
    );
    for (const r of rows) r.stream_id = Number(r.stream_id);
    return rows;
  }
}
