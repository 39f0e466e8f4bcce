// SQL for profile fields: one row per (user, field), the value stored as JSON text.
import type { Db, Queryable } from "../engines/db.ts";

export class ProfilesRepo {
  constructor(private readonly db: Db) {}

  /** All fields of a user's profile, parsed. */
  async getProfile(userId: string, q: Queryable = this.db): Promise<Record<string, unknown>> {
    const rows = await q.all<{ field: string; value: string }>("SELECT field, value FROM profiles WHERE user_id = ? ORDER BY field", [userId]);
    const out: Record<string, unknown> = {};
    for (const r of rows) out[r.field] = JSON.parse(r.value);
    return out;
  }

  async upsertField(q: Queryable, userId: string, field: string, valueJson: string): Promise<void> {
    await q.run(
      "INSERT INTO profiles (user_id, field, value) VALUES (?, ?, ?) ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value",
      [userId, field, valueJson],
    );
  }

  /** True when the field existed. */
  async deleteField(q: Queryable, userId: string, field: string): Promise<boolean> {
    return (await q.run("DELETE FROM profiles WHERE user_id = ? AND field = ?", [userId, field])) > 0;
  }

  async deleteProfile(q: Queryable, userId: string): Promise<void> {
    await q.run("DELETE FROM profiles WHERE user_id = ?", [userId]);
  }
}
