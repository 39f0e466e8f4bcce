// SQL behind the admin console's time series (server_stats_samples, 0021_server_stats.sql): the
// samples themselves, and the figures a sample reads — cheap queries (index probes, ranges of the
// event stream since the previous sample), never a count of the whole events table.
import type { Db } from "../engines/db.ts";

export interface StatsSampleRow {
  ts: number;
  users: number;
  registrations: number;
  daily_active_users: number;
  monthly_active_users: number;
  rooms: number;
  messages: number;
  local_messages: number;
  max_stream: number;
  database_bytes: number;
  media_bytes: number;
  rss_bytes: number;
  heap_bytes: number;
  requests: number;
  latency_p50_us: number;
  latency_p95_us: number;
  federation_destinations: number;
  federation_failing: number;
  federation_queue: number;
}

const COLS: ReadonlyArray<keyof StatsSampleRow> = [
  "ts",
  "users",
  "registrations",
  "daily_active_users",
  "monthly_active_users",
  "rooms",
  "messages",
  "local_messages",
  "max_stream",
  "database_bytes",
  "media_bytes",
  "rss_bytes",
  "heap_bytes",
  "requests",
  "latency_p50_us",
  "latency_p95_us",
  "federation_destinations",
  "federation_failing",
  "federation_queue",
];

const normalize = (r: Record<string, unknown>): StatsSampleRow => Object.fromEntries(COLS.map((c) => [c, Number(r[c] ?? 0)])) as unknown as StatsSampleRow;

export class ServerStatsRepo {
  constructor(private readonly db: Db) {}

  async insert(s: StatsSampleRow): Promise<void> {
    await this.db.run(
      `INSERT INTO server_stats_samples (${COLS.join(", ")}) VALUES (${COLS.map(() => "?").join(", ")}) ON CONFLICT (ts) DO NOTHING`,
      COLS.map((c) => s[c]),
    );
  }

  async latest(): Promise<StatsSampleRow | undefined> {
    const r = await this.db.get<Record<string, unknown>>(`SELECT ${COLS.join(", ")} FROM server_stats_samples ORDER BY ts DESC LIMIT 1`);
    return r ? normalize(r) : undefined;
  }

  /** Samples taken at or after `sinceTs`, oldest first. */
  async listSince(sinceTs: number): Promise<StatsSampleRow[]> {
    return (await this.db.all<Record<string, unknown>>(`SELECT ${COLS.join(", ")} FROM server_stats_samples WHERE ts >= ? ORDER BY ts`, [sinceTs])).map(normalize);
  }

  /** Drops samples older than `beforeTs`. */
  async prune(beforeTs: number): Promise<number> {
    return this.db.run("DELETE FROM server_stats_samples WHERE ts < ?", [beforeTs]);
  }

  // ---- the figures a sample reads

  /** Accounts that can log in, and those of them created after `sinceTs`. */
  async users(sinceTs: number): Promise<{ total: number; created: number }> {
    const r = await this.db.get<{ total: number; created: number | null }>(
      "SELECT COUNT(*) AS total, SUM(CASE WHEN created_ts > ? THEN 1 ELSE 0 END) AS created FROM users WHERE deactivated = 0 AND is_guest = 0",
      [sinceTs],
    );
    return { total: Number(r?.total ?? 0), created: Number(r?.created ?? 0) };
  }

  /** Distinct users seen (any device, any address) at or after each of the given times. */
  async activeUsers(sinceTs: readonly number[]): Promise<number[]> {
    return Promise.all(
      sinceTs.map(async (t) => Number((await this.db.get<{ n: number }>("SELECT COUNT(DISTINCT user_id) AS n FROM user_ips WHERE last_seen_ts >= ?", [t]))?.n ?? 0)),
    );
  }

  async rooms(): Promise<number> {
    return Number((await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM rooms"))?.n ?? 0);
  }

  /** The highest event stream position (0 with no events). */
  async maxStream(): Promise<number> {
    return Number((await this.db.get<{ n: number | null }>("SELECT MAX(stream_ordering) AS n FROM events"))?.n ?? 0);
  }

  /** Messages persisted in (after, upTo] of the event stream: all, and those whose sender ends with `localSuffix`. */
  async messagesBetween(after: number, upTo: number, localSuffix: string): Promise<{ all: number; local: number }> {
    const r = await this.db.get<{ n: number; local: number | null }>(
      `SELECT COUNT(*) AS n, SUM(CASE WHEN sender LIKE ? ESCAPE '\\' THEN 1 ELSE 0 END) AS local FROM events
       WHERE stream_ordering > ? AND stream_ordering <= ? AND outlier = 0 AND rejected_reason IS NULL AND type IN ('m.room.message', 'm.room.encrypted')`,
      [`%${localSuffix.replace(/[\\%_]/g, (c) => `\\${c}`)}`, after, upTo],
    );
    return { all: Number(r?.n ?? 0), local: Number(r?.local ?? 0) };
  }

  /** Bytes of local media (uploads, not URL preview images). */
  async localMediaBytes(origin: string): Promise<number> {
    return Number((await this.db.get<{ n: number | null }>("SELECT SUM(size) AS n FROM media WHERE origin = ? AND url_preview = 0", [origin]))?.n ?? 0);
  }

  /** Destinations known (sent to at least once), those backing off after failures, and rows queued. */
  async federation(): Promise<{ destinations: number; failing: number; queued: number }> {
    const [d, q] = await Promise.all([
      this.db.get<{ n: number; failing: number | null }>("SELECT COUNT(*) AS n, SUM(CASE WHEN failures > 0 THEN 1 ELSE 0 END) AS failing FROM federation_destinations"),
      this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM federation_outbox"),
    ]);
    return { destinations: Number(d?.n ?? 0), failing: Number(d?.failing ?? 0), queued: Number(q?.n ?? 0) };
  }
}
