// Opens the configured database and brings its schema up to date.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../../config/schema.ts";
import { logger } from "../../util/log.ts";
import { ensurePrivateDir, ensurePrivateFile, runningAs } from "../../util/private-files.ts";
import type { Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { openPostgres } from "./postgres.ts";
import { openSqlite } from "./sqlite.ts";

const log = logger("db");

/**
 * A SQLite file problem in words an operator can act on: the path, the account hs runs as, and what
 * to check (SQLite and the file system only say "unable to open database file" or "EACCES").
 */
export function sqliteFileProblem(path: string, e: unknown): Error {
  const msg = (e as Error).message ?? String(e);
  const code = (e as { code?: string }).code ?? "";
  const dir = dirname(path);
  const who = runningAs();
  let advice: string;
  if (/readonly|EROFS|read-only/i.test(msg + code)) {
    advice = `it is read-only for ${who}: check the owner and mode of ${path} and of ${dir} (SQLite also writes ${path}-wal and -shm there), e.g. chown -R <hs user> ${dir}`;
  } else if (/full|ENOSPC/i.test(msg + code)) {
    advice = `the disk holding ${dir} is full: free space (df -h ${dir})`;
  } else if (code === "ENOENT" || code === "ENOTDIR" || !existsSync(dir)) {
    advice = `the directory ${dir} does not exist and could not be created as ${who}: create it (owned by that user) or fix database.path`;
  } else if (code === "EACCES" || code === "EPERM" || /unable to open|permission|access/i.test(msg)) {
    advice = `${who} may not open it: check that ${dir} exists and that this user owns it or may write to it (owner, mode), and that ${path} is owned by this user`;
  } else {
    advice = `check the owner and mode of ${path} and ${dir} (hs runs as ${who}) and the free disk space`;
  }
  return new Error(`SQLite database ${path}: ${msg}; ${advice}`);
}

export async function openDatabase(cfg: Config["database"]): Promise<Db> {
  let db: Db;
  if (cfg.backend === "postgres") {
    db = openPostgres(cfg.url, cfg.max_connections);
  } else {
    try {
      if (cfg.path !== ":memory:") {
        if (!existsSync(cfg.path)) log.info("creating SQLite database", { path: cfg.path });
        ensurePrivateDir(dirname(cfg.path));
        // Created 0600 before SQLite opens it; SQLite gives -wal and -shm the database's mode.
        ensurePrivateFile(cfg.path);
      }
      db = openSqlite(cfg.path);
    } catch (e) {
      throw sqliteFileProblem(cfg.path, e);
    }
  }
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    if (cfg.backend === "sqlite" && /readonly|unable to open|disk I\/O|database or disk is full/i.test((e as Error).message)) throw sqliteFileProblem(cfg.path, e);
    throw e;
  }
  return db;
}
