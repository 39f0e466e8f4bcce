// One `hs serve` per SQLite database: the server holds an exclusive SQLite lock on `<database>.lock`
// for as long as it runs. The lock is the kernel's (fcntl, as SQLite takes it), so it disappears
// with the process however it ends (SIGKILL, crash, container stop): a stale lock file never
// blocks, and the file itself may stay on disk.
import { Database } from "bun:sqlite";
import { dirname } from "node:path";
import { ensurePrivateDir, ensurePrivateFile } from "../../util/private-files.ts";
import { sqliteFileProblem } from "./open.ts";

export class SqliteInUseError extends Error {}

export interface ServeLock {
  readonly path: string;
  release(): void;
}

/** Takes the lock or throws SqliteInUseError at once (no waiting). `holders` names who has it, for the message. */
export function acquireServeLock(dbPath: string, holders: () => string = () => ""): ServeLock {
  const path = `${dbPath}.lock`;
  let db: Database;
  try {
    ensurePrivateDir(dirname(path));
    // Created (0600) before SQLite opens it, as the database itself: a permission problem comes back as EACCES.
    ensurePrivateFile(path);
    db = new Database(path, { create: true });
  } catch (e) {
    throw sqliteFileProblem(dbPath, e);
  }
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("PRAGMA journal_mode = DELETE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS hs_serve_lock (x INTEGER)");
    db.exec("COMMIT");
    // locking_mode=EXCLUSIVE keeps the lock after the commit until the connection closes.
  } catch (e) {
    db.close();
    if (/locked|busy/i.test((e as Error).message)) {
      const who = holders();
      throw new SqliteInUseError(
        `the SQLite database ${dbPath} is already served by another hs process${who ? ` (${who})` : ""}: ` +
          `SQLite supports one hs process per database (it holds ${path}). Stop the other process first, ` +
          `or move to PostgreSQL (hs port-db) to run several processes on one database (docs/SCALING.md).`,
      );
    }
    throw sqliteFileProblem(dbPath, e);
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      db.close();
    },
  };
}
