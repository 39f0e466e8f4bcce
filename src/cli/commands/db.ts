// `hs db check` and `hs db vacuum`: the database's health and housekeeping, without migrating it.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import type { Db } from "../../storage/engines/db.ts";
import { databaseSizeBytes } from "../../storage/engines/db-size.ts";
import { checkDatabase } from "../../storage/engines/integrity.ts";
import { vacuum } from "../../storage/engines/maintenance.ts";
import { openPostgres } from "../../storage/engines/postgres.ts";
import { openSqlite } from "../../storage/engines/sqlite.ts";
import { configureLogging } from "../../util/log.ts";
import { looseModes } from "../../util/private-files.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";
import { defaultConfigPath } from "./serve.ts";

/** Opens the configured database as it is (no migrations); an absent SQLite file is an error. */
export function openExistingDatabase(config: Config): Db {
  if (config.database.backend === "postgres") return openPostgres(config.database.url, 2);
  const path = config.database.path;
  if (path !== ":memory:" && !existsSync(path)) throw new RunError(`no database at ${path} (start hs serve once to create it)`);
  return openSqlite(path);
}

/** Data files and directories that other local users can read (they should be 0600 / 0700). */
export function fileModeWarnings(config: Config): string[] {
  const paths: string[] = [];
  if (config.database.backend === "sqlite" && config.database.path !== ":memory:") {
    const p = config.database.path;
    paths.push(dirname(p), p, `${p}-wal`, `${p}-shm`);
  }
  paths.push(config.signing_key_path, config.media.store_path, join(config.media.store_path, "content"));
  return looseModes([...new Set(paths)]);
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

const sizeOf = (db: Db, config: Config): Promise<number> => databaseSizeBytes(db, config.database.path);

registerCommand({
  name: "db",
  summary: "Database health: db check (integrity and hs's invariants), db vacuum (reclaim space)",
  usage: "hs db check [--config PATH] [--json]\n       hs db vacuum [--config PATH]",
  help: [
    "  -c, --config PATH    The config file naming the database (default ./homeserver.toml, or $HS_CONFIG)",
    "  --json               check: print {ok, problems, notes} as JSON",
    "  check also warns about data files other local users can read (want 0600 files, 0700 directories).",
    "  check exits 1 when it finds a problem. Both work while the server runs (vacuum then waits for",
    "  a quiet moment on SQLite); neither migrates the database.",
  ].join("\n"),
  options: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
  allowPositionals: 1,
  async run({ values, positionals }) {
    const [action] = positionals;
    if (action !== "check" && action !== "vacuum") throw new UsageError(action ? `unknown db action '${action}' (check or vacuum)` : "expected: db check|vacuum");
    if (action === "vacuum" && values.json) throw new UsageError("db vacuum takes no option --json");
    const { config } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
    configureLogging({ level: "warn", file: "", pretty: true });
    const db = openExistingDatabase(config);
    try {
      if (action === "check") {
        const r = await checkDatabase(db, config.server_name);
        const warnings = fileModeWarnings(config);
        if (values.json) process.stdout.write(JSON.stringify({ ok: r.problems.length === 0, ...r, warnings }) + "\n");
        else {
          for (const n of r.notes) process.stdout.write(`  ${n}\n`);
          for (const w of warnings) process.stdout.write(`WARNING: ${w}\n`);
          for (const p of r.problems) process.stdout.write(`PROBLEM: ${p}\n`);
          process.stdout.write(r.problems.length === 0 ? "Database OK\n" : `${r.problems.length} problem(s) found\n`);
        }
        return r.problems.length === 0 ? 0 : 1;
      }
      const before = await sizeOf(db, config);
      const start = performance.now();
      await vacuum(db);
      const after = await sizeOf(db, config);
      process.stdout.write(`Vacuumed in ${((performance.now() - start) / 1000).toFixed(1)} s: ${mb(before)} → ${mb(after)}\n`);
    } catch (e) {
      if (e instanceof RunError) throw e;
      throw new RunError(`${action} failed: ${(e as Error).message}`);
    } finally {
      await db.close();
    }
  },
});
