// Writing imported rows into hs's own tables (`hs import-synapse`): batched multi-row INSERTs in
// transactions, for the tables and columns listed in IMPORT_TABLES only, and the read-backs the
// verification pass needs. The rows themselves are built by services/synapse-import.
import type { Db, Queryable, SqlParam } from "../engines/db.ts";

/** Every table the importer writes, with the columns it fills (in row order). */
export const IMPORT_TABLES = {
  users: ["user_id", "password_hash", "is_admin", "is_guest", "user_type", "deactivated", "created_ts", "shadow_banned"],
  devices: ["user_id", "device_id", "display_name", "last_seen_ip", "last_seen_ts", "last_seen_user_agent", "created_ts"],
  refresh_tokens: ["token_hash", "user_id", "device_id", "prev_token_hash", "next_token_hash", "created_ts"],
  access_tokens: ["token_hash", "user_id", "device_id", "created_ts", "expires_ts", "refresh_token_hash", "used"],
  user_ips: ["user_id", "device_id", "ip", "user_agent", "last_seen_ts"],
  profiles: ["user_id", "field", "value"],
  account_data: ["user_id", "room_id", "type", "content", "stream_id"],
  pushers: [
    "user_id",
    "app_id",
    "pushkey",
    "kind",
    "app_display_name",
    "device_display_name",
    "profile_tag",
    "lang",
    "data",
    "device_id",
    "pushkey_ts",
    "last_stream_ordering",
    "failing_since_ts",
  ],
  filters: ["user_id", "filter_id", "json"],
  registration_tokens: ["token", "uses_allowed", "pending", "completed", "expiry_time", "created_ts"],
  erased_users: ["user_id", "erased_ts"],
  rooms: ["room_id", "room_version", "creator", "created_ts", "current_state_group", "is_public"],
  blocked_rooms: ["room_id", "user_id", "created_ts"],
  state_groups: ["id", "room_id", "prev_group", "chain_length"],
  state_group_entries: ["group_id", "type", "state_key", "event_id"],
  events: [
    "event_id",
    "room_id",
    "stream_ordering",
    "depth",
    "type",
    "state_key",
    "sender",
    "origin_server_ts",
    "received_ts",
    "json",
    "outlier",
    "soft_failed",
    "rejected_reason",
    "state_group",
    "redacted_by",
    "replaces_state",
    "txn_id",
    "device_id",
  ],
  event_edges: ["event_id", "prev_event_id"],
  event_auth_edges: ["event_id", "auth_event_id"],
  event_txn_ids: ["user_id", "device_id", "txn_id", "room_id", "event_id", "created_ts"],
  forward_extremities: ["room_id", "event_id"],
  backward_extremities: ["room_id", "event_id"],
  current_state: ["room_id", "type", "state_key", "event_id", "membership"],
  local_memberships: ["user_id", "room_id", "membership", "event_id", "stream_ordering", "forgotten"],
  remote_invites: ["room_id", "user_id", "event_id", "room_version", "invite_room_state", "received_ts"],
  room_aliases: ["alias", "room_id", "creator", "created_ts"],
  appservice_room_list: ["as_id", "network_id", "room_id"],
  receipts: ["room_id", "receipt_type", "user_id", "thread_id", "event_id", "ts", "stream_id", "event_stream_ordering"],
  event_push_actions: ["room_id", "event_id", "user_id", "stream_ordering", "thread_id", "notify", "highlight", "actions"],
  appservice_states: ["as_id", "stream_ordering", "next_txn_id"],
  event_reports: ["id", "received_ts", "room_id", "event_id", "user_id", "reason", "score"],
  e2e_device_keys: ["user_id", "device_id", "key_json", "ts"],
  e2e_one_time_keys: ["user_id", "device_id", "algorithm", "key_id", "key_json", "seq"],
  e2e_fallback_keys: ["user_id", "device_id", "algorithm", "key_id", "key_json", "used"],
  e2e_cross_signing_keys: ["user_id", "key_type", "public_key", "key_json"],
  e2e_cross_signing_signatures: ["target_user_id", "target_key_id", "signer_user_id", "signer_key_id", "signature"],
  e2e_room_keys_versions: ["user_id", "version", "algorithm", "auth_data", "etag", "deleted"],
  e2e_room_keys: ["user_id", "version", "room_id", "session_id", "first_message_index", "forwarded_count", "is_verified", "session_data"],
  dehydrated_devices: ["user_id", "device_id", "device_data", "created_ts"],
  device_inbox: ["user_id", "device_id", "stream_id", "sender", "type", "content"],
  device_list_changes: ["stream_id", "user_id"],
  media: [
    "origin",
    "media_id",
    "user_id",
    "content_type",
    "upload_name",
    "sha256",
    "size",
    "created_ts",
    "last_access_ts",
    "quarantined_by",
    "protected",
    "url_preview",
  ],
  media_thumbnails: ["origin", "media_id", "req_width", "req_height", "method", "animated", "width", "height", "content_type", "sha256", "size", "created_ts"],
  federation_destinations: ["destination", "failures", "retry_after_ts"],
} as const satisfies Record<string, readonly string[]>;

export type ImportTable = keyof typeof IMPORT_TABLES;

/** Parameters per INSERT statement (SQLite allows 32766, PostgreSQL 65535). */
const MAX_PARAMS = 16000;

/** Inserts rows (values in IMPORT_TABLES column order); rows that already exist are left alone. */
export async function insertRows(q: Queryable, table: ImportTable, rows: readonly SqlParam[][]): Promise<void> {
  const cols = IMPORT_TABLES[table];
  const per = Math.max(1, Math.floor(MAX_PARAMS / cols.length));
  const one = `(${cols.map(() => "?").join(", ")})`;
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const params: SqlParam[] = [];
    for (const r of part) {
      if (r.length !== cols.length) throw new Error(`${table}: a row of ${r.length} values for ${cols.length} columns`);
      params.push(...r);
    }
    await q.run(`INSERT INTO ${table} (${cols.join(", ")}) VALUES ${Array(part.length).fill(one).join(", ")} ON CONFLICT DO NOTHING`, params);
  }
}

/**
 * Settings for the import's bulk writes, on SQLite: no fsync until finishImport (an interrupted
 * import is redone with --force), and a 32 MiB page cache for the writer (the indexes of a large
 * events table, whose event IDs arrive in random order, outgrow the default 2 MB).
 */
export async function tuneForImport(db: Db): Promise<void> {
  if (db.dialect !== "sqlite") return;
  await db.run("PRAGMA cache_size = -32768");
  await db.run("PRAGMA synchronous = OFF");
}

/** After the import's writes: the usual durability again, and the WAL checkpointed (and synced) into the database file. */
export async function finishImport(db: Db): Promise<void> {
  if (db.dialect !== "sqlite") return;
  await db.run("PRAGMA synchronous = NORMAL");
  await db.run("PRAGMA wal_checkpoint(TRUNCATE)");
}

/**
 * Search index entries of imported events, many per statement (storage/search.ts writes one event
 * at a time with two statements; over PostgreSQL that is a round trip per event). The target is
 * empty (or emptied by --force), so there is nothing to replace.
 */
export async function insertSearchEntries(
  q: Queryable,
  dialect: Db["dialect"],
  rows: ReadonlyArray<{ eventId: string; roomId: string; key: string; stream: number; text: string }>,
): Promise<void> {
  const per = Math.floor(MAX_PARAMS / 5);
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const params: SqlParam[] = [];
    if (dialect === "sqlite") {
      for (const r of part) params.push(r.stream, r.text, r.eventId, r.roomId, r.key);
      await q.run(`INSERT INTO event_search (rowid, value, event_id, room_id, key) VALUES ${Array(part.length).fill("(?, ?, ?, ?, ?)").join(", ")}`, params);
    } else {
      for (const r of part) params.push(r.eventId, r.roomId, r.key, r.stream, r.text);
      await q.run(
        `INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector) VALUES ${Array(part.length).fill("(?, ?, ?, ?, to_tsvector('simple', ?))").join(", ")} ON CONFLICT (event_id) DO NOTHING`,
        params,
      );
    }
  }
}

/** Rows per hs table (the verification pass). */
export async function countRows(db: Queryable, table: ImportTable): Promise<number> {
  const r = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(r?.n ?? 0);
}

/** Tables holding data that would be overwritten by an import (the target must be empty). */
export async function nonEmptyTables(db: Queryable): Promise<Array<{ table: string; rows: number }>> {
  const out: Array<{ table: string; rows: number }> = [];
  for (const t of ["users", "rooms", "events", "media"] as const) {
    const n = await countRows(db, t);
    if (n > 0) out.push({ table: t, rows: n });
  }
  return out;
}

/** Empties every table the importer writes (--force over a non-empty hs database). */
export async function clearImportTables(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    for (const t of Object.keys(IMPORT_TABLES)) await tx.run(`DELETE FROM ${t}`);
    for (const t of ["event_relations", "event_search", "user_directory", "user_directory_public_rooms"]) await tx.run(`DELETE FROM ${t}`);
    await tx.run("DELETE FROM threads");
    await tx.run("UPDATE relations_backfill SET done = 0");
  });
}

/** Sets the state group whose state the room's current_state rows are. */
export async function setCurrentStateGroup(q: Queryable, roomId: string, group: number): Promise<void> {
  await q.run("UPDATE rooms SET current_state_group = ? WHERE room_id = ?", [group, roomId]);
}

/** Timeline events per room (outliers excluded), for the verification table. */
export async function eventCountsByRoom(db: Queryable): Promise<Map<string, number>> {
  const rows = await db.all<{ room_id: string; n: number }>("SELECT room_id, COUNT(*) AS n FROM events WHERE outlier = 0 GROUP BY room_id");
  return new Map(rows.map((r) => [r.room_id, Number(r.n)]));
}

/** The current state of every room as sorted (type, state_key, event_id) triples. */
export async function currentStateByRoom(db: Queryable): Promise<Map<string, Array<[string, string, string]>>> {
  const rows = await db.all<{ room_id: string; type: string; state_key: string; event_id: string }>(
    "SELECT room_id, type, state_key, event_id FROM current_state ORDER BY room_id, type, state_key",
  );
  const out = new Map<string, Array<[string, string, string]>>();
  for (const r of rows) {
    let l = out.get(r.room_id);
    if (!l) out.set(r.room_id, (l = []));
    l.push([r.type, r.state_key, r.event_id]);
  }
  return out;
}

/** Events whose state_group points at no state group (must be none after an import). */
export async function danglingStateGroups(db: Queryable): Promise<number> {
  const r = await db.get<{ n: number }>(
    "SELECT COUNT(*) AS n FROM events e WHERE e.state_group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_groups g WHERE g.id = e.state_group)",
  );
  return Number(r?.n ?? 0);
}
