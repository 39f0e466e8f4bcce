// `hs db check`: the engine's own consistency checks (SQLite integrity_check and foreign_key_check;
// PostgreSQL amcheck's B-tree checks when the extension is installed, and a full read of every
// table) plus invariants of hs's own tables that no constraint enforces.
import type { Db } from "./db.ts";
import { currentSchemaVersion } from "./migrate.ts";
import { MIGRATIONS } from "./migrations.ts";
import { listTables, quoteIdent } from "./schema-info.ts";

export interface CheckResult {
  /** Problems found (an empty list: the database is consistent). */
  problems: string[];
  /** What was checked, and checks that could not run. */
  notes: string[];
}

interface Invariant {
  what: string;
  /** Tables the check reads; skipped when one is missing. */
  tables: string[];
  /** `FROM` clause (tables, joins and `WHERE`) selecting the rows that break the invariant. */
  rows: string;
  /** Column expression naming one such row (a key to look at). */
  key: string;
}

/** Invariants of hs's tables (orphans and dangling references no foreign key catches). */
function invariants(serverName: string): Invariant[] {
  const local = `%:${serverName.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
  return [
    {
      what: "events of rooms that do not exist",
      tables: ["events", "rooms"],
      key: "e.event_id",
      rows: "events e WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.room_id = e.room_id)",
    },
    {
      what: "current state entries naming missing events",
      tables: ["current_state", "events"],
      key: "c.room_id",
      rows: "current_state c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = c.event_id)",
    },
    {
      what: "rooms whose current state group is missing",
      tables: ["rooms", "state_groups"],
      key: "r.room_id",
      rows: "rooms r WHERE r.current_state_group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_groups g WHERE g.id = r.current_state_group)",
    },
    {
      what: "state groups whose previous group is missing",
      tables: ["state_groups"],
      key: "CAST(g.id AS TEXT)",
      rows: "state_groups g WHERE g.prev_group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_groups p WHERE p.id = g.prev_group)",
    },
    {
      what: "state group entries of missing groups",
      tables: ["state_group_entries", "state_groups"],
      key: "CAST(s.group_id AS TEXT)",
      rows: "state_group_entries s WHERE NOT EXISTS (SELECT 1 FROM state_groups g WHERE g.id = s.group_id)",
    },
    {
      what: "events whose state group is missing",
      tables: ["events", "state_groups"],
      key: "e.event_id",
      rows: "events e WHERE e.state_group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_groups g WHERE g.id = e.state_group)",
    },
    {
      what: "forward extremities naming missing events",
      tables: ["forward_extremities", "events"],
      key: "f.room_id",
      rows: "forward_extremities f WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = f.event_id)",
    },
    {
      what: "rooms with members but no forward extremity",
      tables: ["rooms", "forward_extremities", "current_state"],
      key: "r.room_id",
      rows: "rooms r WHERE r.current_state_group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM forward_extremities f WHERE f.room_id = r.room_id)",
    },
    {
      what: "memberships of local users that do not exist",
      tables: ["local_memberships", "users"],
      key: "m.user_id",
      rows: "local_memberships m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id)",
    },
    {
      what: "devices of users that do not exist",
      tables: ["devices", "users"],
      key: "d.user_id",
      rows: "devices d WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = d.user_id)",
    },
    {
      what: "access tokens of users that do not exist",
      tables: ["access_tokens", "users"],
      key: "t.user_id",
      rows: "access_tokens t WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = t.user_id)",
    },
    {
      what: "access tokens of devices that do not exist",
      tables: ["access_tokens", "devices"],
      key: "t.user_id",
      rows: "access_tokens t WHERE t.device_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = t.user_id AND d.device_id = t.device_id)",
    },
    {
      what: "deactivated users who still have access tokens",
      tables: ["access_tokens", "users"],
      key: "t.user_id",
      rows: "access_tokens t JOIN users u ON u.user_id = t.user_id WHERE u.deactivated = 1",
    },
    {
      what: "local room aliases pointing to rooms that do not exist",
      tables: ["room_aliases", "rooms"],
      key: "a.alias",
      rows: `room_aliases a WHERE a.alias LIKE '${local.replace(/'/g, "''")}' ESCAPE '\\' AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.room_id = a.room_id)`,
    },
    {
      what: "event edges of events that do not exist",
      tables: ["event_edges", "events"],
      key: "x.event_id",
      rows: "event_edges x WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = x.event_id)",
    },
  ];
}

export async function checkDatabase(db: Db, serverName: string): Promise<CheckResult> {
  const problems: string[] = [];
  const notes: string[] = [];
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  const version = await currentSchemaVersion(db);
  if (version > latest) problems.push(`schema version ${version} is newer than this hs knows (${latest}): use a newer hs`);
  else if (version < latest) notes.push(`schema version ${version} (this hs would migrate it to ${latest} at start-up)`);
  else notes.push(`schema version ${version} (current)`);

  if (db.dialect === "sqlite") {
    const rows = await db.all<{ integrity_check: string }>("PRAGMA integrity_check");
    const bad = rows.map((r) => r.integrity_check).filter((r) => r !== "ok");
    for (const b of bad.slice(0, 20)) problems.push(`SQLite integrity_check: ${b}`);
    if (bad.length > 20) problems.push(`SQLite integrity_check: ${bad.length - 20} more problems`);
    notes.push("SQLite integrity_check: every page, index and constraint read");
    const fk = await db.all<{ table: string; parent: string }>("PRAGMA foreign_key_check");
    for (const f of fk.slice(0, 20)) problems.push(`SQLite foreign_key_check: a row of ${f.table} references a missing row of ${f.parent}`);
  } else {
    const amcheck = await db.get("SELECT 1 AS x FROM pg_extension WHERE extname = 'amcheck'");
    if (amcheck) {
      const idx = await db.all<{ name: string }>(
        `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.amname = 'btree' AND n.nspname = current_schema()`,
      );
      for (const { name } of idx) {
        try {
          await db.get(`SELECT bt_index_check(${"'" + quoteIdent(name).replace(/'/g, "''") + "'"}::regclass)`);
        } catch (e) {
          problems.push(`PostgreSQL amcheck: index ${name}: ${(e as Error).message}`);
        }
      }
      notes.push(`PostgreSQL amcheck: ${idx.length} B-tree indexes checked`);
    } else {
      notes.push("PostgreSQL: the amcheck extension is not installed (CREATE EXTENSION amcheck as a superuser to check indexes too)");
    }
  }

  // Every table must read back in full (catches unreadable pages on either engine).
  const tables = await listTables(db);
  const names = new Set(tables.map((t) => t.name));
  let rows = 0;
  for (const t of tables) {
    try {
      const r = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteIdent(t.name)}`);
      rows += Number(r?.n ?? 0);
    } catch (e) {
      problems.push(`table ${t.name} cannot be read: ${(e as Error).message}`);
    }
  }
  notes.push(`${tables.length} tables, ${rows} rows read`);

  for (const inv of invariants(serverName)) {
    if (!inv.tables.every((t) => names.has(t))) continue;
    const n = Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${inv.rows}`))?.n ?? 0);
    if (n > 0) {
      const k = (await db.get<{ k: string }>(`SELECT ${inv.key} AS k FROM ${inv.rows} LIMIT 1`))?.k;
      problems.push(`${n} ${inv.what}${k ? ` (e.g. ${k})` : ""}`);
    }
  }
  notes.push(`${invariants(serverName).length} invariants of hs's tables checked`);
  return { problems, notes };
}
