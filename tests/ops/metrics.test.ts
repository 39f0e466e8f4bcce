// Prometheus metrics over HTTP on both databases: /_hs/metrics on its own listener (and only
// there), scraped and parsed: requests by route template and status, latency histograms, events
// persisted, sync waiters, federation queue depth and failures per destination, database query
// times, process memory and cache statistics.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format strictly enough to catch malformed output. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!.replace(/\\"/g, '"').replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return { samples, types };
}

const pick = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describeOnBackends("metrics", (backend) => {
  const ctx = fixture<{ s: TestServer; metricsUrl: string }>(async (ctx) => {
    ctx.s = await startTestServer({
      backend,
      config: {
        listeners: [
          { bind_address: "127.0.0.1", port: 0 },
          { bind_address: "127.0.0.1", port: 0, resources: ["metrics"] },
        ],
      },
    });
    ctx.metricsUrl = ctx.s.hs.listeners.find((l) => l.resources.includes("metrics"))!.url;
  });

  const scrape = async () => {
    const r = await fetch(`${ctx.metricsUrl}/_hs/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    return parseMetrics(await r.text());
  };

  test("served on the metrics listener only; the metrics listener serves nothing else", async () => {
    expectError(await new TestClient(ctx.s.url).get("/_hs/metrics"), 404, "M_UNRECOGNIZED");
    expectError(await new TestClient(ctx.metricsUrl).get("/_matrix/client/versions"), 404, "M_UNRECOGNIZED");
    expect((await fetch(`${ctx.metricsUrl}/_hs/metrics`)).status).toBe(200);
    // Prometheus' default metrics_path works too, on the metrics listener only.
    const plain = await fetch(`${ctx.metricsUrl}/metrics`);
    expect(plain.status).toBe(200);
    expect(await plain.text()).toContain("# TYPE hs_http_requests_total counter");
    expectError(await new TestClient(ctx.s.url).get("/metrics"), 404, "M_UNRECOGNIZED");
  });

  test("web-client requests are labelled web_client (not unmatched); DB timings by statement name", async () => {
    for (const path of ["/", "/index.html", "/some/client/route"]) await fetch(`${ctx.s.url}${path}`, { headers: { Accept: "text/html" } });
    const alice = await registerUser(ctx.s, uniqueLocalpart("q"));
    await alice.ok("GET", "/_matrix/client/v3/account/whoami");
    const { samples } = await scrape();
    const web = pick(samples, "hs_http_requests_total", { method: "GET", route: "web_client" }).reduce((n, x) => n + x.value, 0);
    expect(web).toBeGreaterThanOrEqual(3);
    const queries = new Set(pick(samples, "hs_db_query_duration_seconds_count").map((x) => x.labels.query));
    expect(queries.size).toBeGreaterThan(10);
    for (const q of queries) expect(q).toMatch(/^(transaction|exec|other|[a-z]+(_[a-z0-9_]+)?_[0-9a-f]{6})$/);
    expect([...queries].some((q) => q!.startsWith("insert_users_"))).toBe(true);
  });

  test("requests by route template and status, histograms, events, sync waiters, DB, memory, caches", async () => {
    const alice = await registerUser(ctx.s, uniqueLocalpart("m"));
    const rooms: string[] = [];
    for (let i = 0; i < 3; i++) rooms.push((await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id);
    for (const [i, r] of rooms.entries()) {
      await alice.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(r)}/send/m.room.message/t${i}`, { msgtype: "m.text", body: "hi" });
      await alice.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(r)}/messages?dir=b`);
    }
    expectError(await alice.get(`/_matrix/client/v3/rooms/${encodeURIComponent("!nope:localhost")}/state`), 404, "M_NOT_FOUND");

    // A long-poll waiting now.
    const first = await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    const poll = alice.get(`/_matrix/client/v3/sync?timeout=20000&since=${encodeURIComponent(first.next_batch)}`);
    const waiting = async () => {
      for (let i = 0; i < 200; i++) {
        const scraped = await scrape();
        if (pick(scraped.samples, "hs_sync_waiters")[0]?.value === 1) return scraped;
        await Bun.sleep(20);
      }
      throw new Error("the long-poll never showed up in hs_sync_waiters");
    };
    const { samples, types } = await waiting();
    // Wake the long-poll so the test ends quickly.
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(rooms[0]!)}/send/m.room.message/wake`, { msgtype: "m.text", body: "wake" });
    expect((await poll).status).toBe(200);

    const sendRoute = "/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId";
    const sends = pick(samples, "hs_http_requests_total", { method: "PUT", route: sendRoute, status: "200" });
    expect(sends).toHaveLength(1);
    expect(sends[0]!.value).toBeGreaterThanOrEqual(3);
    expect(pick(samples, "hs_http_requests_total", { route: "/_matrix/client/v3/rooms/:roomId/state", status: "404" })[0]?.value).toBeGreaterThanOrEqual(1);
    // Labels never hold raw paths (room IDs, user IDs).
    for (const x of pick(samples, "hs_http_requests_total")) expect(x.labels.route).not.toMatch(/[!@]/);
    expect(types.get("hs_http_requests_total")).toBe("counter");
    expect(types.get("hs_http_request_duration_seconds")).toBe("histogram");

    // Histogram: cumulative buckets ending in +Inf = _count.
    const buckets = pick(samples, "hs_http_request_duration_seconds_bucket", { method: "PUT", route: sendRoute });
    expect(buckets.length).toBeGreaterThan(5);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.labels.le).toBe("+Inf");
    const count = pick(samples, "hs_http_request_duration_seconds_count", { method: "PUT", route: sendRoute })[0]!.value;
    expect(buckets.at(-1)!.value).toBe(count);
    expect(pick(samples, "hs_http_request_duration_seconds_sum", { method: "PUT", route: sendRoute })[0]!.value).toBeGreaterThan(0);

    // 3 rooms × (create, member, power levels, join rules, history visibility, guest access) + 3 messages.
    expect(pick(samples, "hs_events_persisted_total", { origin: "local" })[0]!.value).toBeGreaterThanOrEqual(21);
    const dbCalls = pick(samples, "hs_db_query_duration_seconds_count").reduce((n, x) => n + x.value, 0);
    expect(dbCalls).toBeGreaterThan(50);
    expect(pick(samples, "hs_db_query_duration_seconds_count", { op: "transaction" })[0]!.value).toBeGreaterThan(0);
    expect(pick(samples, "process_resident_memory_bytes")[0]!.value).toBeGreaterThan(10 * 1024 * 1024);
    expect(pick(samples, "hs_js_heap_bytes", { kind: "used" })[0]!.value).toBeGreaterThan(0);
    const hits = pick(samples, "hs_cache_hits_total", { cache: "events" })[0]!.value;
    const misses = pick(samples, "hs_cache_misses_total", { cache: "events" })[0]!.value;
    expect(hits + misses).toBeGreaterThan(0);
    expect(pick(samples, "hs_cache_capacity", { cache: "events" })[0]!.value).toBeGreaterThanOrEqual(20000);
    expect(pick(samples, "hs_cache_factor")[0]!.value).toBe(ctx.s.config.caches.memory_target_mb / 256);
  });

  test("federation queue depth and failures per destination", async () => {
    // Queue rows and a back-off as the federation sender leaves them for an unreachable server.
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      await ctx.s.hs.db.run("INSERT INTO federation_outbox (id, destination, kind, json, created_ts) VALUES (?, ?, 'pdu', '{}', ?)", [900000 + i, "down.example.org", now]);
    }
    await ctx.s.hs.db.run("INSERT INTO federation_destinations (destination, failures, retry_after_ts) VALUES (?, 4, ?)", ["down.example.org", now + 60000]);
    const { samples } = await scrape();
    expect(pick(samples, "hs_federation_queue_depth", { destination: "down.example.org" })[0]!.value).toBe(3);
    expect(pick(samples, "hs_federation_destination_failures", { destination: "down.example.org" })[0]!.value).toBe(4);
    expect(pick(samples, "hs_federation_destination_retry_after_seconds", { destination: "down.example.org" })[0]!.value).toBeCloseTo((now + 60000) / 1000, 0);
    await ctx.s.hs.db.run("DELETE FROM federation_outbox WHERE destination = ?", ["down.example.org"]);
    await ctx.s.hs.db.run("DELETE FROM federation_destinations WHERE destination = ?", ["down.example.org"]);
    const after = await scrape();
    expect(pick(after.samples, "hs_federation_queue_depth", { destination: "down.example.org" })).toHaveLength(0);
  });
});
