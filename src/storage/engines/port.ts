// Moving a server's database from SQLite to PostgreSQL (`hs port-db`, Synapse's
// synapse_port_db): the target gets the schema at the source's version, then every table is
// copied in creation (migration) order from one consistent snapshot of the source, and the row
// counts are compared. Tables that exist on one engine only (SQLite's full-text index, the
// PostgreSQL tsvector table) are rebuilt on the target from the copied rows by the statements of
// the migration that created them.
import { Database } from "bun:sqlite";
import type { Db, SqlParam } from "./db.ts";
import { currentSchemaVersion, migrate, splitStatements } from "./migrate.ts";
import { MIGRATIONS } from "./migrations.ts";
import { listTables, quoteIdent } from "./schema-info.ts";

export class PortError extends Error {}

export interface PortedTable {
  name: string;
  rows: number;
}

export interface PortResult {
  schemaVersion: number;
  tables: PortedTable[];
  /** Tables of the source left out (engine-specific), and target tables rebuilt. */
  notes: string[];
}

/** Parameters per INSERT statement (PostgreSQL allows 65535). */
const MAX_PARAMS = 20000;

export async function portSqliteToPostgres(sourcePath: string, target: Db, opts: { progress?: (table: string, rows: number) => void } = {}): Promise<PortResult> {
  if (target.dialect !== "postgres") throw new PortError("the target must be a PostgreSQL database");
  let src: Database;
  try {
    src = new Database(sourcePath, { readonly: true });
  } catch (e) {
    throw new PortError(`cannot open ${sourcePath}: ${(e as Error).message}`);
  }
  const notes: string[] = [];
  try {
    src.exec("PRAGMA busy_timeout = 10000");
    // One read transaction: every table is read from the same snapshot.
    src.exec("BEGIN");
    const hasVersion = src.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
    if (!hasVersion) throw new PortError(`${sourcePath} is not an hs database (no schema_version table)`);
    const version = Number((src.query("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null }).v ?? 0);
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    if (version > latest) throw new PortError(`${sourcePath} has schema version ${version}, newer than this hs knows (${latest}): use a newer hs`);
    if (version === 0) throw new PortError(`${sourcePath} has no schema yet`);

    const existing = await listTables(target);
    if (existing.length > 0) {
      throw new PortError(`the target database is not empty (${existing.length} tables, e.g. ${existing[0]!.name}): create a new, empty database for hs`);
    }
    const migrations = MIGRATIONS.filter((m) => m.version <= version);
    await migrate(target, migrations);
    if ((await currentSchemaVersion(target)) !== version) throw new PortError("the target did not reach the source's schema version");
    const targetCols = new Map((await listTables(target)).map((t) => [t.name, t.columns]));

    // Source tables in creation order, without SQLite internals, virtual tables and their shadows.
    const master = src.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid").all() as Array<{ name: string; sql: string | null }>;
    const virtual = master.filter((t) => /^CREATE VIRTUAL TABLE/i.test(t.sql ?? "")).map((t) => t.name);
    const isShadow = (name: string) => virtual.some((v) => name.startsWith(`${v}_`));
    const tables: PortedTable[] = [];
    const copied = new Set<string>(["schema_version"]);
    for (const { name } of master) {
      if (name.startsWith("sqlite_") || name === "schema_version" || isShadow(name)) continue;
      if (virtual.includes(name)) {
        notes.push(`${name}: SQLite-only index, rebuilt on PostgreSQL`);
        continue;
      }
      const tcols = targetCols.get(name);
      if (!tcols) {
        notes.push(`${name}: not in the PostgreSQL schema, left out`);
        continue;
      }
      const scols = (src.query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).all(name) as Array<{ name: string }>).map((c) => c.name);
      const cols = scols.filter((c) => tcols.includes(c));
      const list = cols.map(quoteIdent).join(", ");
      const perBatch = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, cols.length)));
      const rowSql = `(${cols.map(() => "?").join(", ")})`;
      let rows = 0;
      await target.transaction(async (tx) => {
        // Rows the migrations seeded (e.g. one-row state tables) give way to the source's.
        await tx.run(`DELETE FROM ${quoteIdent(name)}`);
        let batch: SqlParam[] = [];
        let n = 0;
        const flush = async () => {
          if (n === 0) return;
          await tx.run(`INSERT INTO ${quoteIdent(name)} (${list}) VALUES ${Array(n).fill(rowSql).join(", ")}`, batch);
          rows += n;
          opts.progress?.(name, rows);
          batch = [];
          n = 0;
        };
        for (const row of src.query(`SELECT ${list} FROM ${quoteIdent(name)}`).iterate() as IterableIterator<Record<string, SqlParam>>) {
          for (const c of cols) batch.push(row[c] ?? null);
          if (++n >= perBatch) await flush();
        }
        await flush();
      });
      copied.add(name);
      tables.push({ name, rows });
    }

    // Tables only the target's engine has: rebuild them from the copied rows.
    for (const name of targetCols.keys()) {
      if (copied.has(name)) continue;
      const fill = migrations.flatMap((m) => splitStatements(m.postgres)).filter((s) => new RegExp(`^INSERT\\s+INTO\\s+${name}\\b`, "i").test(s.trim()));
      for (const stmt of fill) await target.run(stmt);
      const n = Number((await target.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdent(name)}`))?.n ?? 0);
      notes.push(`${name}: PostgreSQL-only, rebuilt from the copied data (${n} rows)`);
    }

    // Row counts must match, table by table.
    for (const t of tables) {
      const s = Number((src.query(`SELECT COUNT(*) AS n FROM ${quoteIdent(t.name)}`).get() as { n: number }).n);
      const d = Number((await target.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdent(t.name)}`))?.n ?? -1);
      if (s !== d || s !== t.rows) throw new PortError(`row counts differ for ${t.name}: ${s} in SQLite, ${d} in PostgreSQL`);
    }
    src.exec("COMMIT");
    return { schemaVersion: version, tables, notes };
  } finally {
    src.close();
  }
}
