// Stored /sync filters: small integer IDs per user, JSON kept as uploaded.
import type { Db } from "../engines/db.ts";

export class FiltersRepo {
  constructor(private readonly db: Db) {}

  /** Stores a filter and returns its ID (the next free number for this user). */
  async insert(userId: string, json: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction(async (tx) => {
          const r = await tx.get<{ m: number | null }>("SELECT MAX(filter_id) AS m FROM filters WHERE user_id = ?", [userId]);
          const id = r?.m === null || r?.m === undefined ? 0 : Number(r.m) + 1;
          await tx.run("INSERT INTO filters (user_id, filter_id, json) VALUES (?, ?, ?)", [userId, id, json]);
          return id;
        });
      } catch (e) {
        // Two concurrent uploads (PostgreSQL) may pick the same ID: retry.
        if (attempt >= 5) throw e;
      }
    }
  }

  async find(userId: string, filterId: number): Promise<string | undefined> {
    const r = await this.db.get<{ json: string }>("SELECT json FROM filters WHERE user_id = ? AND filter_id = ?", [userId, filterId]);
    return r?.json;
  }
}
