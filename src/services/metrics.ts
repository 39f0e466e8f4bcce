// The server's Prometheus metrics (served at /_hs/metrics on listeners with the `metrics`
// resource): HTTP requests by route template and status with latency histograms, events
// persisted, /sync long-polls waiting, the federation queue and failures per destination, database
// query times, process memory and CPU, and cache hit rates and sizes.
import type { FederationOutboxRepo } from "../storage/repos/federation-outbox.ts";
import type { QueryObserver } from "../storage/engines/instrumented.ts";
import { cacheFactor, cacheStats } from "../util/lru.ts";
import { MetricsRegistry, type Counter, type Histogram } from "../util/metrics.ts";
import type { Notifier } from "./notifier.ts";
import type { RoomEvents } from "./rooms/events.ts";

const startTime = Date.now() / 1000;

export class HsMetrics {
  readonly registry = new MetricsRegistry();
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;
  readonly dbDuration: Histogram;
  readonly eventsPersisted: Counter;
  private inFlight = 0;

  constructor() {
    const r = this.registry;
    this.httpRequests = r.counter("hs_http_requests_total", "HTTP requests answered, by method, route template and status code.", ["method", "route", "status"]);
    this.httpDuration = r.histogram("hs_http_request_duration_seconds", "Time to answer HTTP requests, by method and route template.", ["method", "route"]);
    r.gauge("hs_http_requests_in_flight", "HTTP requests being answered now.", [], () => [[{}, this.inFlight]]);
    this.dbDuration = r.histogram("hs_db_query_duration_seconds", "Database call durations by statement (a stable name: verb_table_hash) and operation (tx_* inside transactions).", ["query", "op"]);
    this.eventsPersisted = r.counter("hs_events_persisted_total", "Room events persisted into timelines, by origin (local or remote).", ["origin"]);
    r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [], () => [[{}, process.memoryUsage().rss]]);
    r.gauge("hs_js_heap_bytes", "JavaScript heap in use and allocated, in bytes.", ["kind"], () => {
      const m = process.memoryUsage();
      return [
        [{ kind: "used" }, m.heapUsed],
        [{ kind: "total" }, m.heapTotal],
        [{ kind: "external" }, m.external],
      ];
    });
    r.counterFrom("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", [], () => {
      const c = process.cpuUsage();
      return [[{}, (c.user + c.system) / 1e6]];
    });
    r.gauge("process_start_time_seconds", "Start time of the process since the epoch, in seconds.", [], () => [[{}, startTime]]);
    r.counterFrom("hs_cache_hits_total", "Cache lookups that found their entry, per cache.", ["cache"], () => cacheStats().map((s) => [{ cache: s.name }, s.hits]));
    r.counterFrom("hs_cache_misses_total", "Cache lookups that missed, per cache.", ["cache"], () => cacheStats().map((s) => [{ cache: s.name }, s.misses]));
    r.counterFrom("hs_cache_evictions_total", "Entries dropped to respect a cache's capacity, per cache.", ["cache"], () => cacheStats().map((s) => [{ cache: s.name }, s.evictions]));
    r.gauge("hs_cache_size", "Entries held, per cache.", ["cache"], () => cacheStats().map((s) => [{ cache: s.name }, s.size]));
    r.gauge("hs_cache_capacity", "Largest number of entries, per cache ([caches] memory_target_mb scales it).", ["cache"], () =>
      cacheStats().map((s) => [{ cache: s.name }, s.capacity]),
    );
    r.gauge("hs_cache_factor", "The factor every cache's default capacity is multiplied by.", [], () => [[{}, cacheFactor()]]);
  }

  /** Times database calls (instrumentDb): every call is observed in hs_db_query_duration_seconds. */
  readonly observeQuery: QueryObserver = (op, seconds, query) => this.dbDuration.observe({ query, op }, seconds);

  requestStarted(): void {
    this.inFlight++;
  }

  /** One answered request; `route` is the route template (never the raw path). */
  requestFinished(method: string, route: string, status: number, seconds: number): void {
    this.inFlight--;
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  /** Collectors that read the running server: sync waiters, federation queues, events persisted. */
  attach(d: { outbox: FederationOutboxRepo; notifier: Notifier; events: RoomEvents; serverName: string }): void {
    const r = this.registry;
    r.gauge("hs_sync_waiters", "/sync requests waiting for something new (long-polls).", [], () => [[{}, d.notifier.waiting]]);
    r.gauge("hs_federation_queue_depth", "PDUs and EDUs queued for each destination server.", ["destination"], async () =>
      (await d.outbox.depths()).map((x) => [{ destination: x.destination }, x.n]),
    );
    r.gauge("hs_federation_destination_failures", "Consecutive failed deliveries to each destination server (0 once one succeeds).", ["destination"], async () =>
      (await d.outbox.failures()).map((x) => [{ destination: x.destination }, x.failures]),
    );
    r.gauge("hs_federation_destination_retry_after_seconds", "When each failing destination is tried again (seconds since the epoch).", ["destination"], async () =>
      (await d.outbox.retryTimes()).map((x) => [{ destination: x.destination }, x.retry_after_ts / 1000]),
    );
    const suffix = `:${d.serverName}`;
    d.events.effects.set("afterPersist", "metrics.count", (ev) => this.eventsPersisted.inc({ origin: ev.sender.endsWith(suffix) ? "local" : "remote" }));
  }
}
