// How much space the database takes: PostgreSQL's own figure, or the SQLite file and its WAL.
import { existsSync, statSync } from "node:fs";
import type { Db } from "./db.ts";

export async function databaseSizeBytes(db: Db, sqlitePath: string): Promise<number> {
  if (db.dialect === "postgres") return Number((await db.get<{ n: number }>("SELECT pg_database_size(current_database()) AS n"))?.n ?? 0);
  if (sqlitePath === ":memory:") return 0;
  return [sqlitePath, `${sqlitePath}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
}

/**
 * Whether any account can log in (not deactivated, not a guest): one index probe, where
 * serverCounts counts every event (a full scan of the largest table, seconds on a big database).
 */
export async function hasLoginUsers(db: Db): Promise<boolean> {
  return (await db.get<{ one: number }>("SELECT 1 AS one FROM users WHERE deactivated = 0 AND is_guest = 0 LIMIT 1")) !== undefined;
}

/** Row counts for an overview (users that can log in, rooms, events, local media). */
export async function serverCounts(db: Db, serverName: string): Promise<{ users: number; rooms: number; events: number; localMediaBytes: number; localMediaFiles: number }> {
  const n = async (sql: string, params: Array<string | number> = []) => Number((await db.get<{ n: number | null }>(sql, params))?.n ?? 0);
  const [users, rooms, events, media] = await Promise.all([
    n("SELECT COUNT(*) AS n FROM users WHERE deactivated = 0 AND is_guest = 0"),
    n("SELECT COUNT(*) AS n FROM rooms"),
    n("SELECT COUNT(*) AS n FROM events WHERE outlier = 0"),
    db.get<{ bytes: number | null; files: number }>("SELECT SUM(size) AS bytes, COUNT(*) AS files FROM media WHERE origin = ? AND url_preview = 0", [serverName]),
  ]);
  return { users, rooms, events, localMediaBytes: Number(media?.bytes ?? 0), localMediaFiles: Number(media?.files ?? 0) };
}
