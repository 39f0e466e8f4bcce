// Whole-database operations for the command line: a connection check, VACUUM, and consistent
// SQLite snapshots (backups).
import { Database } from "bun:sqlite";
import type { Db } from "./db.ts";

/** Throws when the database cannot be reached (a first query, before anything is copied). */
export async function ping(db: Db): Promise<void> {
  await db.get("SELECT 1 AS one");
}

/** Gives free space back to the system: VACUUM (and a WAL checkpoint and PRAGMA optimize on SQLite). */
export async function vacuum(db: Db): Promise<void> {
  if (db.dialect === "sqlite") {
    await db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    await db.exec("VACUUM");
    await db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    await db.exec("PRAGMA optimize");
  } else {
    await db.exec("VACUUM (ANALYZE)");
  }
}

/** Writes a consistent copy of the SQLite database at `path` to `file` (VACUUM INTO; the server may be running). */
export function sqliteSnapshot(path: string, file: string): void {
  const src = new Database(path, { readonly: true });
  try {
    src.exec("PRAGMA busy_timeout = 10000");
    src.query("VACUUM INTO ?").run(file);
  } finally {
    src.close();
  }
}

/** The schema version recorded in an SQLite database file (0 when none). */
export function sqliteFileSchemaVersion(file: string): number {
  const snap = new Database(file, { readonly: true });
  try {
    return Number((snap.query("SELECT MAX(version) AS v FROM schema_version").get() as { v: number } | null)?.v ?? 0);
  } finally {
    snap.close();
  }
}
