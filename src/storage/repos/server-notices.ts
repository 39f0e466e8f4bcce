// SQL for server notices: each local user's server notices room (server_notice_rooms from 0011),
// and the notices user's account and profile.
import type { Db } from "../engines/db.ts";

export class ServerNoticesRepo {
  constructor(private readonly db: Db) {}

  async findRoom(userId: string): Promise<string | undefined> {
    return (await this.db.get<{ room_id: string }>("SELECT room_id FROM server_notice_rooms WHERE user_id = ?", [userId]))?.room_id;
  }

  async setRoom(userId: string, roomId: string, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO server_notice_rooms (user_id, room_id, created_ts) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id, created_ts = excluded.created_ts`,
      [userId, roomId, now],
    );
  }

  /** Whether `roomId` is (or was) the server notices room of `userId`. */
  async isNoticeRoom(roomId: string, userId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 AS x FROM server_notice_rooms WHERE user_id = ? AND room_id = ?", [userId, roomId])) !== undefined;
  }

  /** Creates the notices user (no password: nobody logs in as it) with its profile, once. */
  async ensureSystemUser(userId: string, profile: { displayname?: string; avatar_url?: string }, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO users (user_id, password_hash, is_admin, is_guest, user_type, deactivated, created_ts) VALUES (?, NULL, 0, 0, 'support', 0, ?)
         ON CONFLICT (user_id) DO NOTHING`,
        [userId, now],
      );
      for (const [field, value] of Object.entries(profile)) {
        if (value === undefined) continue;
        await tx.run(
          "INSERT INTO profiles (user_id, field, value) VALUES (?, ?, ?) ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value",
          [userId, field, JSON.stringify(value)],
        );
      }
    });
  }
}
