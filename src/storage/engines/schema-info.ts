// What tables and columns a database has, on either engine (room purges, hs port-db, hs db check).
import type { Db, Queryable } from "./db.ts";

export interface TableInfo {
  name: string;
  columns: string[];
}

/**
 * The tables hs created (schema_version included), in creation order on SQLite (which follows the
 * migrations) and alphabetically on PostgreSQL. SQLite's internal tables are left out.
 */
export async function listTables(db: Queryable & { dialect: Db["dialect"] }): Promise<TableInfo[]> {
  if (db.dialect === "sqlite") {
    const tables = await db.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    );
    const out: TableInfo[] = [];
    for (const t of tables) {
      const cols = await db.all<{ name: string }>(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, [t.name]);
      out.push({ name: t.name, columns: cols.map((c) => c.name) });
    }
    return out;
  }
  const rows = await db.all<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
     ORDER BY c.table_name, c.ordinal_position`,
  );
  const byTable = new Map<string, string[]>();
  for (const r of rows) {
    let cols = byTable.get(r.table_name);
    if (!cols) byTable.set(r.table_name, (cols = []));
    cols.push(r.column_name);
  }
  return [...byTable.entries()].map(([name, columns]) => ({ name, columns }));
}

/** Double-quotes an identifier (table and column names come from the catalogue, never from users). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
