// Opens the configured database and brings its schema up to date.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config/schema.ts";
import { logger } from "../util/log.ts";
import type { Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { openPostgres } from "./postgres.ts";
import { openSqlite } from "./sqlite.ts";
import { existsSync } from "node:fs";

const log = logger("db");

export async function openDatabase(cfg: Config["database"]): Promise<Db> {
  let db: Db;
  if (cfg.backend === "postgres") {
    db = openPostgres(cfg.url, cfg.max_connections);
  } else {
    if (cfg.path !== ":memory:") {
      mkdirSync(dirname(cfg.path), { recursive: true });
      if (!existsSync(cfg.path)) log.info("creating SQLite database", { path: cfg.path });
    }
    db = openSqlite(cfg.path);
  }
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    throw e;
  }
  return db;
}
