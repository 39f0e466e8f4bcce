// SQL for leases held by one hs process at a time (process_leases): a destination's federation
// queue, the background jobs. Taking a lease is one atomic upsert: it succeeds when nobody holds
// the name, when the caller already holds it (a renewal), or when the holder let it lapse.
import type { Db } from "../engines/db.ts";

export class ProcessLeasesRepo {
  constructor(private readonly db: Db) {}

  /** Takes or renews `name` for `owner` until `expiresTs`; false when another live holder has it. */
  async acquire(name: string, owner: string, expiresTs: number, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `INSERT INTO process_leases (name, owner, expires_ts) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_ts = excluded.expires_ts
       WHERE process_leases.owner = excluded.owner OR process_leases.expires_ts < ?`,
      [name, owner, expiresTs, now],
    );
    return changed > 0;
  }

  /** Extends every lease `owner` still holds (one statement however many it holds); the names it still holds. */
  async renewAll(owner: string, expiresTs: number): Promise<string[]> {
    return (await this.db.all<{ name: string }>("UPDATE process_leases SET expires_ts = ? WHERE owner = ? RETURNING name", [expiresTs, owner])).map((r) => r.name);
  }

  /** Gives a lease up (only if `owner` holds it). */
  async release(name: string, owner: string): Promise<void> {
    await this.db.run("DELETE FROM process_leases WHERE name = ? AND owner = ?", [name, owner]);
  }

  /** Gives up every lease of `owner` (clean shutdown: others take over at once). */
  async releaseAll(owner: string): Promise<void> {
    await this.db.run("DELETE FROM process_leases WHERE owner = ?", [owner]);
  }

  /** Live leases whose name starts with `prefix` → holder. */
  async liveHolders(prefix: string, now: number): Promise<Map<string, string>> {
    const rows = await this.db.all<{ name: string; owner: string }>("SELECT name, owner FROM process_leases WHERE name LIKE ? ESCAPE '\\' AND expires_ts >= ?", [
      `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
      now,
    ]);
    return new Map(rows.map((r) => [r.name, r.owner]));
  }

  /** The holder of a live lease, if any. */
  async holder(name: string, now: number): Promise<string | undefined> {
    return (await this.db.get<{ owner: string }>("SELECT owner FROM process_leases WHERE name = ? AND expires_ts >= ?", [name, now]))?.owner;
  }
}
