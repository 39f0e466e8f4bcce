// Removes every trace of a room from the database (Synapse's purge_room): its events and their
// edges, state groups, current state, memberships, receipts, account data, push actions, aliases,
// and any table added later that has a room_id column. Tables keyed only by event_id or by state
// group (event_edges, state_group_entries, ...) are cleared through the room's events and groups.
// Admin bookkeeping (blocked_rooms, room_deletions) is kept. Media files are not touched.
import type { Db, Queryable } from "../engines/db.ts";
import { listTables, quoteIdent, type TableInfo } from "../engines/schema-info.ts";

/** Tables that mention rooms but must survive a purge. */
const KEEP = new Set(["blocked_rooms", "room_deletions", "schema_version"]);

export interface PurgeResult {
  /** Rows deleted per table (tables with no rows deleted are absent). */
  deleted: Record<string, number>;
}

function plan(tables: TableInfo[]): { byEvent: string[]; byGroup: string[]; byRoom: string[] } {
  const byEvent: string[] = [];
  const byGroup: string[] = [];
  const byRoom: string[] = [];
  for (const t of tables) {
    if (KEEP.has(t.name) || t.name === "events" || t.name === "state_groups") continue;
    if (t.columns.includes("room_id")) byRoom.push(t.name);
    else if (t.columns.includes("event_id")) byEvent.push(t.name);
    else if (t.columns.includes("group_id")) byGroup.push(t.name);
  }
  return { byEvent, byGroup, byRoom };
}

/** Deletes the room's rows in one transaction. Returns how many rows went from each table. */
export async function purgeRoom(db: Db, roomId: string): Promise<PurgeResult> {
  const tables = await listTables(db);
  const p = plan(tables);
  const deleted: Record<string, number> = {};
  const count = (table: string, n: number) => {
    if (n > 0) deleted[table] = (deleted[table] ?? 0) + n;
  };
  await db.transaction(async (tx: Queryable) => {
    const roomEvents = "SELECT event_id FROM events WHERE room_id = ?";
    const roomGroups = "SELECT id FROM state_groups WHERE room_id = ?";
    for (const t of p.byEvent) count(t, await tx.run(`DELETE FROM ${quoteIdent(t)} WHERE event_id IN (${roomEvents})`, [roomId]));
    for (const t of p.byGroup) count(t, await tx.run(`DELETE FROM ${quoteIdent(t)} WHERE group_id IN (${roomGroups})`, [roomId]));
    for (const t of p.byRoom) count(t, await tx.run(`DELETE FROM ${quoteIdent(t)} WHERE room_id = ?`, [roomId]));
    count("events", await tx.run("DELETE FROM events WHERE room_id = ?", [roomId]));
    count("state_groups", await tx.run("DELETE FROM state_groups WHERE room_id = ?", [roomId]));
  });
  return { deleted };
}
