// Forward-only schema migrations, applied at start-up, each inside a transaction.
import { logger } from "../../util/log.ts";
import type { Db } from "./db.ts";
import { MIGRATIONS, type Migration } from "./migrations.ts";

const log = logger("db");

export class SchemaTooNewError extends Error {}

export async function currentSchemaVersion(db: Db): Promise<number> {
  await db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = await db.get<{ version: number }>("SELECT MAX(version) AS version FROM schema_version");
  return Number(row?.version ?? 0);
}

/** Applies pending migrations; refuses a database written by a newer hs. Returns versions applied. */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const latest = migrations.at(-1)?.version ?? 0;
  const current = await currentSchemaVersion(db);
  if (current > latest) {
    throw new SchemaTooNewError(
      `the database has schema version ${current}, but this hs only knows up to ${latest}: it was written by a newer hs; upgrade hs or restore a backup`,
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    const script = db.dialect === "sqlite" ? m.sqlite : m.postgres;
    await db.transaction(async (tx) => {
      // Postgres runs DDL transactionally; on SQLite, exec() inside BEGIN IMMEDIATE is transactional too.
      for (const stmt of splitStatements(script)) await tx.run(stmt);
      await tx.run("INSERT INTO schema_version (version) VALUES (?)", [m.version]);
    });
    log.debug("applied database migration", { migration: m.name });
    applied.push(m.version);
  }
  // One line at info level (a new database applies every migration: the list is at debug level).
  if (applied.length > 0) log.info(current === 0 ? "created the database schema" : "updated the database schema", { from_version: current, to_version: applied[applied.length - 1], migrations: applied.length });
  return applied;
}

/** Splits a script on semicolons that end a line, ignoring `--` comment lines. */
export function splitStatements(script: string): string[] {
  const stmts: string[] = [];
  let cur: string[] = [];
  for (const line of script.split("\n")) {
    const t = line.trim();
    if (t.startsWith("--") || t === "") continue;
    cur.push(line);
    if (t.endsWith(";")) {
      stmts.push(cur.join("\n").trim().replace(/;$/, ""));
      cur = [];
    }
  }
  if (cur.length) stmts.push(cur.join("\n").trim());
  return stmts.filter((s) => s.length > 0);
}
