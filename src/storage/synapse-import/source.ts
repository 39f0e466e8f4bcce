// Reading a stopped Synapse's database (SQLite or PostgreSQL) for `hs import-synapse`. Only SELECTs:
// the Synapse database is never written. Rows come out as Synapse stores them (the service maps
// them to hs rows); large tables are streamed in batches, never loaded whole.
//
// Supported: Synapse's database schema versions SUPPORTED_MIN..SUPPORTED_MAX (72 is what Synapse
// 1.67 writes, and what is tested; the tables read here are the same from 69 on). Other versions are
// refused with the version found.
import { Database } from "bun:sqlite";
import postgres from "postgres";

export const SUPPORTED_MIN = 69;
export const SUPPORTED_MAX = 72;

export class SynapseSourceError extends Error {}

export type SynapseRow = Record<string, unknown>;

export interface SynapseSource {
  readonly dialect: "sqlite" | "postgres";
  /** Where the data comes from (for messages), without a password. */
  readonly description: string;
  all(sql: string, params?: unknown[]): Promise<SynapseRow[]>;
  /** The rows of a query in batches (streamed). */
  batches(sql: string, size?: number): AsyncIterable<SynapseRow[]>;
  close(): Promise<void>;
}

class SqliteSource implements SynapseSource {
  readonly dialect = "sqlite";
  constructor(
    private readonly db: Database,
    readonly description: string,
  ) {}
  async all(sql: string, params: unknown[] = []): Promise<SynapseRow[]> {
    return this.db.query(sql).all(...(params as never[])) as SynapseRow[];
  }
  async *batches(sql: string, size = 2000): AsyncIterable<SynapseRow[]> {
    let batch: SynapseRow[] = [];
    for (const row of this.db.query(sql).iterate() as IterableIterator<SynapseRow>) {
      batch.push(row);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
  async close(): Promise<void> {
    try {
      this.db.exec("COMMIT");
    } catch {
      // no read transaction open
    }
    this.db.close();
  }
}

class PostgresSource implements SynapseSource {
  readonly dialect = "postgres";
  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- postgres.js generics
    private readonly sql: postgres.Sql<any>,
    readonly description: string,
  ) {}
  private pg(text: string): string {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  }
  async all(text: string, params: unknown[] = []): Promise<SynapseRow[]> {
    return [...(await this.sql.unsafe(this.pg(text), params as never[]))] as SynapseRow[];
  }
  async *batches(text: string, size = 2000): AsyncIterable<SynapseRow[]> {
    for await (const rows of this.sql.unsafe(this.pg(text)).cursor(size)) yield [...rows] as SynapseRow[];
  }
  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

/** Opens a Synapse database: `sqlite:PATH` / a file path, or a postgres:// URL. Read-only. */
export async function openSynapseSource(spec: string): Promise<SynapseSource> {
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const u = new URL(spec);
    const host = u.searchParams.get("host");
    const sql = postgres(spec, {
      max: 1,
      onnotice: () => {},
      ...(host ? { host } : {}),
      types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    });
    const description = `${u.hostname}${u.port ? ":" + u.port : ""}${u.pathname}`;
    const src = new PostgresSource(sql, `PostgreSQL ${description}`);
    try {
      await src.all("SELECT 1");
    } catch (e) {
      await src.close().catch(() => {});
      throw new SynapseSourceError(`cannot connect to the Synapse database ${description}: ${(e as Error).message}`);
    }
    return src;
  }
  const path = spec.startsWith("sqlite:") ? spec.slice("sqlite:".length) : spec;
  let db: Database;
  try {
    db = new Database(path, { readonly: true });
  } catch (e) {
    throw new SynapseSourceError(`cannot open the Synapse database ${path}: ${(e as Error).message}`);
  }
  db.exec("PRAGMA busy_timeout = 2000");
  const src = new SqliteSource(db, `SQLite ${path}`);
  try {
    // One read transaction: every table is read from the same snapshot.
    db.exec("BEGIN");
    db.query("SELECT COUNT(*) FROM sqlite_master").get();
  } catch (e) {
    await src.close().catch(() => {});
    throw new SynapseSourceError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return src;
}

/** Synapse's schema version, or an error when the database is not Synapse's or is of an unsupported version. */
export async function synapseSchemaVersion(src: SynapseSource): Promise<number> {
  const has =
    src.dialect === "sqlite"
      ? await src.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
      : await src.all("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_version'");
  if (has.length === 0) throw new SynapseSourceError(`${src.description} is not a Synapse database (no schema_version table)`);
  if (!(await tableExists(src, "event_json")) || !(await tableExists(src, "state_groups_state"))) {
    throw new SynapseSourceError(`${src.description} is not a Synapse database (no event_json or state_groups_state table)`);
  }
  const rows = await src.all("SELECT version FROM schema_version");
  if (rows.length === 0) throw new SynapseSourceError(`${src.description} is not a Synapse database (empty schema_version)`);
  const v = Number(rows[0]!.version);
  if (v < SUPPORTED_MIN || v > SUPPORTED_MAX) {
    throw new SynapseSourceError(
      `${src.description} has Synapse schema version ${v}; hs import-synapse supports schema ${SUPPORTED_MIN}-${SUPPORTED_MAX} (72 is Synapse 1.67's)` +
        (v < SUPPORTED_MIN ? ": upgrade Synapse to 1.67 first, start and stop it once, then import" : ""),
    );
  }
  return v;
}

export async function tableColumns(src: SynapseSource, table: string): Promise<string[]> {
  const rows =
    src.dialect === "sqlite"
      ? await src.all("SELECT name FROM pragma_table_info(?)", [table])
      : await src.all("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?", [table]);
  return rows.map((r) => String(r.name));
}

/** Other sessions connected to the same PostgreSQL database (a running Synapse). */
export async function otherPostgresSessions(src: SynapseSource): Promise<Array<{ application_name: string; client_addr: string | null }>> {
  if (src.dialect !== "postgres") return [];
  const rows = await src.all(
    "SELECT application_name, client_addr::text AS client_addr FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
  );
  return rows.map((r) => ({ application_name: String(r.application_name ?? ""), client_addr: r.client_addr === null ? null : String(r.client_addr) }));
}

/**
 * Whether the SQLite database is being written right now (a running Synapse in a write). False
 * when that cannot be told (e.g. the file is read-only for this user).
 */
export function sqliteWriteLocked(path: string): boolean {
  let db: Database | undefined;
  try {
    db = new Database(path, { readonly: false });
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return false;
  } catch (e) {
    const code = String((e as { code?: unknown }).code ?? "");
    return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
  } finally {
    db?.close();
  }
}

export async function count(src: SynapseSource, table: string, where = ""): Promise<number> {
  if (!(await tableExists(src, table))) return 0;
  const r = await src.all(`SELECT COUNT(*) AS n FROM ${table}${where ? " WHERE " + where : ""}`);
  return Number(r[0]?.n ?? 0);
}

export async function tableExists(src: SynapseSource, table: string): Promise<boolean> {
  return (await tableColumns(src, table)).length > 0;
}

/**
 * The queries the importer runs, one per Synapse table (or join). Kept together so that the whole
 * of what is read from Synapse is in one place.
 */
export const SYNAPSE_QUERIES = {
  users: "SELECT name, password_hash, creation_ts, admin, is_guest, user_type, deactivated, shadow_banned, appservice_id FROM users ORDER BY name",
  devices: "SELECT user_id, device_id, display_name, last_seen, ip, user_agent, hidden FROM devices ORDER BY user_id, device_id",
  refreshTokens: "SELECT id, user_id, device_id, token, next_token_id, expiry_ts FROM refresh_tokens ORDER BY id",
  accessTokens: "SELECT id, user_id, device_id, token, valid_until_ms, last_validated, refresh_token_id, used, puppets_user_id FROM access_tokens ORDER BY id",
  userIps: "SELECT user_id, device_id, ip, user_agent, MAX(last_seen) AS last_seen FROM user_ips GROUP BY user_id, device_id, ip, user_agent",
  profiles: "SELECT user_id, displayname, avatar_url FROM profiles",
  accountData: "SELECT user_id, account_data_type, content FROM account_data",
  roomAccountData: "SELECT user_id, room_id, account_data_type, content FROM room_account_data",
  roomTags: "SELECT user_id, room_id, tag, content FROM room_tags ORDER BY user_id, room_id, tag",
  pushRules: "SELECT user_name, rule_id, priority_class, priority, conditions, actions FROM push_rules ORDER BY user_name, priority_class DESC, priority DESC",
  pushRulesEnable: "SELECT user_name, rule_id, enabled FROM push_rules_enable",
  pushers:
    "SELECT p.user_name, p.access_token, p.profile_tag, p.kind, p.app_id, p.app_display_name, p.device_display_name, p.pushkey, p.ts, p.lang, p.data, p.last_stream_ordering, p.failing_since, t.device_id AS token_device_id FROM pushers p LEFT JOIN access_tokens t ON t.id = p.access_token",
  filters: "SELECT user_id, filter_id, filter_json FROM user_filters",
  registrationTokens: "SELECT token, uses_allowed, pending, completed, expiry_time FROM registration_tokens",
  erasedUsers: "SELECT user_id FROM erased_users",
  rooms: "SELECT r.room_id, r.is_public, r.creator, r.room_version FROM rooms r ORDER BY r.room_id",
  createEvents: "SELECT room_id, sender, origin_server_ts FROM events WHERE type = 'm.room.create' AND state_key = ''",
  blockedRooms: "SELECT room_id, user_id FROM blocked_rooms",
  stateGroupEdges: "SELECT state_group, prev_state_group FROM state_group_edges",
  stateGroups: "SELECT id, room_id FROM state_groups ORDER BY id",
  stateGroupsState: "SELECT state_group, type, state_key, event_id FROM state_groups_state ORDER BY state_group",
  /** Redactions with what is needed to decide whether Synapse applied them. */
  redactions:
    "SELECT r.event_id, r.redacts, e.sender, j.internal_metadata, rj.reason AS rejected FROM redactions r JOIN events e ON e.event_id = r.event_id JOIN event_json j ON j.event_id = r.event_id LEFT JOIN rejections rj ON rj.event_id = r.event_id",
  events:
    "SELECT e.stream_ordering, e.topological_ordering, e.depth, e.event_id, e.type, e.room_id, e.state_key, e.sender, e.origin_server_ts, e.received_ts, e.outlier, " +
    "j.json, j.internal_metadata, j.format_version, rj.reason AS rejected_reason, sg.state_group, se.prev_state, t.txn_id AS txn_id, at.device_id AS txn_device_id " +
    "FROM events e JOIN event_json j ON j.event_id = e.event_id LEFT JOIN rejections rj ON rj.event_id = e.event_id " +
    "LEFT JOIN event_to_state_groups sg ON sg.event_id = e.event_id LEFT JOIN state_events se ON se.event_id = e.event_id " +
    "LEFT JOIN event_txn_id t ON t.event_id = e.event_id LEFT JOIN access_tokens at ON at.id = t.token_id ORDER BY e.stream_ordering",
  forwardExtremities: "SELECT room_id, event_id FROM event_forward_extremities ORDER BY room_id",
  backwardExtremities: "SELECT room_id, event_id FROM event_backward_extremities",
  currentState: "SELECT room_id, type, state_key, event_id, membership FROM current_state_events ORDER BY room_id",
  localMemberships:
    "SELECT m.room_id, m.user_id, m.event_id, m.membership, e.stream_ordering, e.outlier, rm.forgotten FROM local_current_membership m JOIN events e ON e.event_id = m.event_id LEFT JOIN room_memberships rm ON rm.event_id = m.event_id",
  roomAliases: "SELECT room_alias, room_id, creator FROM room_aliases",
  appserviceRoomList: "SELECT appservice_id, network_id, room_id FROM appservice_room_list",
  receipts: "SELECT r.room_id, r.receipt_type, r.user_id, r.event_id, r.data, e.stream_ordering FROM receipts_linearized r LEFT JOIN events e ON e.event_id = r.event_id",
  /** Push actions (unread counts), with the thread of threaded events. */
  pushActions:
    "SELECT a.room_id, a.event_id, a.user_id, a.actions, a.stream_ordering, a.notif, a.highlight, er.relates_to_id AS thread_root FROM event_push_actions a LEFT JOIN event_relations er ON er.event_id = a.event_id AND er.relation_type = 'm.thread'",
  eventReports: "SELECT id, received_ts, room_id, event_id, user_id, reason, content FROM event_reports",
  deviceKeys: "SELECT user_id, device_id, ts_added_ms, key_json FROM e2e_device_keys_json",
  oneTimeKeys: "SELECT user_id, device_id, algorithm, key_id, ts_added_ms, key_json FROM e2e_one_time_keys_json ORDER BY user_id, device_id, ts_added_ms, key_id",
  fallbackKeys: "SELECT user_id, device_id, algorithm, key_id, key_json, used FROM e2e_fallback_keys_json",
  /** The latest cross-signing key of each type per user. */
  crossSigningKeys:
    "SELECT k.user_id, k.keytype, k.keydata FROM e2e_cross_signing_keys k WHERE k.stream_id = (SELECT MAX(k2.stream_id) FROM e2e_cross_signing_keys k2 WHERE k2.user_id = k.user_id AND k2.keytype = k.keytype)",
  crossSigningSignatures: "SELECT user_id, key_id, target_user_id, target_device_id, signature FROM e2e_cross_signing_signatures",
  roomKeyVersions: "SELECT user_id, version, algorithm, auth_data, deleted, etag FROM e2e_room_keys_versions",
  roomKeys: "SELECT user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys",
  dehydratedDevices: "SELECT user_id, device_id, device_data FROM dehydrated_devices",
  deviceInbox: "SELECT user_id, device_id, stream_id, message_json FROM device_inbox ORDER BY stream_id",
  localMedia:
    "SELECT media_id, media_type, media_length, created_ts, upload_name, user_id, quarantined_by, url_cache, last_access_ts, safe_from_quarantine FROM local_media_repository",
  remoteMedia: "SELECT media_origin, media_id, media_type, created_ts, upload_name, media_length, filesystem_id, last_access_ts, quarantined_by FROM remote_media_cache",
  /** Appservices Synapse knew: with a state (one that was down once), a transaction, or users it registered. */
  appserviceStates:
    "SELECT as_id FROM application_services_state UNION SELECT as_id FROM application_services_txns UNION SELECT appservice_id AS as_id FROM users WHERE appservice_id IS NOT NULL",
  appservicePosition: "SELECT stream_ordering FROM appservice_stream_position",
  appserviceMaxTxn: "SELECT COALESCE(MAX(txn_id), 0) AS m FROM application_services_txns",
  /** PostgreSQL only: Synapse's transaction ID sequence (shared by every appservice). */
  appserviceTxnSequence: "SELECT last_value AS m FROM application_services_txn_id_seq",
  destinations: "SELECT destination, retry_last_ts, retry_interval, failure_ts FROM destinations WHERE retry_interval > 0",
  maxStreamOrdering: "SELECT MAX(stream_ordering) AS m FROM events",
  roomsWithState: "SELECT DISTINCT room_id FROM current_state_events",
  eventJson: "SELECT json FROM event_json WHERE event_id = ?",
  currentStateOrdered: "SELECT room_id, type, state_key, event_id FROM current_state_events ORDER BY room_id, type, state_key",
} as const;

/** Timeline (non-outlier) events per room in a Synapse database (the import's verification). */
export function timelineCountsQuery(dialect: SynapseSource["dialect"]): string {
  return "SELECT room_id, COUNT(*) AS n FROM events WHERE outlier = " + (dialect === "postgres" ? "false" : "0") + " GROUP BY room_id";
}
