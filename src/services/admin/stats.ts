// The admin console's time series (GET /_hs/admin/v1/server/stats): every few minutes the server
// samples its figures — accounts and registrations, daily and monthly active users, rooms, messages,
// database and media size, memory, HTTP requests and their latency, federation destinations and
// queue — into server_stats_samples, and keeps 31 days of them. The console draws them as charts.
import type { Config } from "../../config/schema.ts";
import type { ServerStatsRepo, StatsSampleRow } from "../../storage/repos/server-stats.ts";
import { logger } from "../../util/log.ts";
import type { Histogram } from "../../util/metrics.ts";

const log = logger("admin");

/** How often a sample is taken, and how long samples are kept. */
export const STATS_INTERVAL_MS = 5 * 60_000;
export const STATS_RETENTION_DAYS = 31;
/** The most points a series is served with (longer periods merge samples). */
export const MAX_POINTS = 720;
const DAY = 86_400_000;

/** Long-polls (they wait up to their timeout by design) are left out of the latency figures. */
const LONG_POLL = /\/sync$|\/v3\/events$|\/sync\/|\/unstable\/org\.matrix\.simplified_msc3575\/sync/;

/** A point of the served series: a stored sample without its bookkeeping, latencies in ms. */
export type StatsSample = Omit<StatsSampleRow, "max_stream" | "latency_p50_us" | "latency_p95_us"> & {
  latency_p50_ms: number;
  latency_p95_ms: number;
};

export interface StatsSeries {
  /** Seconds each point covers (the sampling interval, or a multiple of it for long periods). */
  interval_seconds: number;
  /** [caches] memory_target_mb, in bytes (the memory chart's line). */
  memory_target_bytes: number;
  samples: StatsSample[];
}

/**
 * The q-quantile of observations from cumulative bucket counts (`counts[i]` observations ≤
 * `bounds[i]`, `total` in all), interpolated within the bucket as Prometheus's histogram_quantile does.
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[], total: number): number {
  if (total <= 0) return 0;
  const target = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! >= target) {
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      return inBucket > 0 ? lo + ((bounds[i]! - lo) * (target - below)) / inBucket : bounds[i]!;
    }
  }
  return bounds[bounds.length - 1] ?? 0;
}

export class ServerStats {
  private lastRequests: { counts: number[]; count: number } | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly d: {
      repo: ServerStatsRepo;
      /** The database's size in bytes (repos.stats.databaseSizeBytes). */
      databaseSizeBytes: (sqlitePath: string) => Promise<number>;
      config: Config;
      /** The HTTP request duration histogram (hs_http_request_duration_seconds). */
      requests: Histogram;
      now?: () => number;
      memory?: () => { rss: number; heapUsed: number };
    },
  ) {}

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /** Takes a sample now, stores it and drops samples past the retention. One at a time. */
  sample(): Promise<StatsSampleRow> {
    const run = this.running.then(() => this.takeSample());
    this.running = run.catch(() => undefined);
    return run;
  }

  private async takeSample(): Promise<StatsSampleRow> {
    const ts = this.now();
    const r = this.d.repo;
    const prev = await r.latest();
    const since = prev?.ts ?? ts - STATS_INTERVAL_MS;
    const maxStream = await r.maxStream();
    // The first sample counts the messages of the last interval only (not the whole history).
    const fromStream = prev ? Math.min(prev.max_stream, maxStream) : maxStream;
    const [users, [dau, mau], rooms, messages, dbBytes, mediaBytes, fed] = await Promise.all([
      r.users(since),
      r.activeUsers([ts - DAY, ts - 30 * DAY]),
      r.rooms(),
      r.messagesBetween(fromStream, maxStream, `:${this.d.config.server_name}`),
      this.d.databaseSizeBytes(this.d.config.database.path),
      r.localMediaBytes(this.d.config.server_name),
      r.federation(),
    ]);
    const totals = this.d.requests.totals((l) => !LONG_POLL.test(l["route"] ?? ""));
    const before = this.lastRequests ?? { counts: totals.counts.map(() => 0), count: 0 };
    this.lastRequests = totals;
    const deltaCounts = totals.counts.map((c, i) => c - before.counts[i]!);
    const deltaCount = totals.count - before.count;
    const us = (q: number) => Math.round(quantile(q, this.d.requests.buckets, deltaCounts, deltaCount) * 1e6);
    const mem = (this.d.memory ?? process.memoryUsage)();
    const row: StatsSampleRow = {
      ts,
      users: users.total,
      registrations: users.created,
      daily_active_users: dau!,
      monthly_active_users: mau!,
      rooms,
      messages: messages.all,
      local_messages: messages.local,
      max_stream: maxStream,
      database_bytes: dbBytes,
      media_bytes: mediaBytes,
      rss_bytes: mem.rss,
      heap_bytes: mem.heapUsed,
      requests: deltaCount,
      latency_p50_us: us(0.5),
      latency_p95_us: us(0.95),
      federation_destinations: fed.destinations,
      federation_failing: fed.failing,
      federation_queue: fed.queued,
    };
    await r.insert(row);
    await r.prune(ts - STATS_RETENTION_DAYS * DAY);
    return row;
  }

  /**
   * The samples of the last `days` days, oldest first, merged into at most MAX_POINTS buckets of
   * whole intervals (a month is 8,928 samples): counts since the previous sample are added up,
   * levels (totals, sizes, memory, federation) are the bucket's last, latencies the mean weighted
   * by requests (an approximation of the bucket's percentiles).
   */
  async series(days: number): Promise<StatsSeries> {
    const rows = await this.d.repo.listSince(this.now() - days * DAY);
    const per = Math.max(1, Math.ceil((days * DAY) / STATS_INTERVAL_MS / MAX_POINTS));
    const bucketMs = per * STATS_INTERVAL_MS;
    const out: StatsSample[] = [];
    let cur: { key: number; rows: StatsSampleRow[] } | undefined;
    const flush = () => {
      if (!cur) return;
      const last = cur.rows[cur.rows.length - 1]!;
      const sum = (f: "registrations" | "messages" | "local_messages" | "requests") => cur!.rows.reduce((a, r) => a + r[f], 0);
      const requests = sum("requests");
      const latency = (f: "latency_p50_us" | "latency_p95_us") =>
        requests > 0 ? cur!.rows.reduce((a, r) => a + r[f] * r.requests, 0) / requests : cur!.rows.reduce((a, r) => Math.max(a, r[f]), 0);
      const { max_stream: _, latency_p50_us: _50, latency_p95_us: _95, ...levels } = last;
      out.push({
        ...levels,
        registrations: sum("registrations"),
        messages: sum("messages"),
        local_messages: sum("local_messages"),
        requests,
        latency_p50_ms: Math.round(latency("latency_p50_us")) / 1000,
        latency_p95_ms: Math.round(latency("latency_p95_us")) / 1000,
      });
    };
    for (const r of rows) {
      const key = Math.floor(r.ts / bucketMs);
      if (cur?.key !== key) {
        flush();
        cur = { key, rows: [] };
      }
      cur.rows.push(r);
    }
    flush();
    return {
      interval_seconds: bucketMs / 1000,
      memory_target_bytes: this.d.config.caches.memory_target_mb * 1024 * 1024,
      samples: out,
    };
  }

  /** Samples at start-up and then every interval; the returned function stops it (waiting for a running sample). */
  start(intervalMs = STATS_INTERVAL_MS): () => Promise<void> {
    const tick = () => void this.sample().catch((e: unknown) => log.warn("could not sample the server's statistics", { error: (e as Error).message }));
    const first = setTimeout(tick, 1000);
    const timer = setInterval(tick, intervalMs);
    first.unref?.();
    timer.unref?.();
    return async () => {
      clearTimeout(first);
      clearInterval(timer);
      await this.running;
    };
  }
}
