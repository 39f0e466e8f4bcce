// The admin console's time series (GET /_hs/admin/v1/server/stats: samples of accounts,
// registrations, active users, rooms, messages, sizes, memory, requests and latency, federation)
// and its risky-settings banner (GET /_hs/admin/v1/server/warnings), on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ServerStats } from "../../src/services/admin/stats.ts";
import { ServerStatsRepo } from "../../src/storage/repos/server-stats.ts";
import { Histogram } from "../../src/util/metrics.ts";
import { databaseSizeBytes } from "../../src/storage/engines/db-size.ts";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const STATS = "/_hs/admin/v1/server/stats";
const WARNINGS = "/_hs/admin/v1/server/warnings";

for (const backend of BACKENDS) {
  describe(`server statistics and warnings [${backend}]`, () => {
    let s: TestServer;
    let admin: TestClient;
    let alice: TestClient;
    beforeAll(async () => {
      s = await startTestServer({ backend, config: { registration: { mode: "open" }, federation: { verify_tls: false } } });
      admin = await registerUser(s, "admin", "password", true);
      alice = await registerUser(s, "alice");
    });
    afterAll(() => s.stop());

    test("admins only", async () => {
      for (const path of [STATS, WARNINGS]) {
        expectError(await alice.request("GET", path), 403, "M_FORBIDDEN");
        const anon = await fetch(`${s.url}${path}`);
        expect(anon.status).toBe(401);
      }
    });

    test("a sample counts registrations and messages since the previous one, users, rooms, active users, sizes, requests", async () => {
      const stats = s.hs.services.adminStats;
      const repo = new ServerStatsRepo(s.hs.db);
      const roomId = await createRoom(alice, { preset: "public_chat" });
      const a = await stats.sample();
      await registerUser(s, "bob");
      for (const m of ["one", "two", "three"]) await send(alice, roomId, m);
      for (let i = 0; i < 5; i++) await alice.ok("GET", "/_matrix/client/v3/account/whoami");
      await admin.ok("GET", "/_matrix/client/v3/account/whoami");
      const row = await stats.sample();
      // The server's own sampler may have taken one in between: the samples after `a` add up.
      const between = (await repo.listSince(a.ts + 1)).filter((r) => r.ts <= row.ts);
      const sum = (f: "registrations" | "messages" | "local_messages" | "requests") => between.reduce((n, r) => n + r[f], 0);
      expect(sum("registrations")).toBe(1);
      expect(sum("messages")).toBe(3);
      expect(sum("local_messages")).toBe(3);
      expect(sum("requests")).toBeGreaterThanOrEqual(9);
      const busiest = between.reduce((x, y) => (y.requests > x.requests ? y : x));
      expect(busiest.latency_p95_us).toBeGreaterThanOrEqual(busiest.latency_p50_us);
      expect(busiest.latency_p50_us).toBeGreaterThan(0);
      expect(row.users).toBe(3);
      expect(row.rooms).toBe(1);
      expect(row.rss_bytes).toBeGreaterThan(0);
      if (backend === "postgres") expect(row.database_bytes).toBeGreaterThan(0);

      // Active users (alice and the admin; bob has not used his token) come from user_ips.
      const dau = await eventually(async () => {
        const r = await stats.sample();
        return r.daily_active_users === 2 ? r : undefined;
      }, 10000, "active users counted");
      expect(dau.monthly_active_users).toBe(2);
      expect(dau.messages).toBe(0); // nothing sent since the previous sample
      expect(dau.registrations).toBe(0);

      const series = await admin.ok("GET", `${STATS}?days=1`);
      expect(series.interval_seconds).toBe(300);
      expect(series.memory_target_bytes).toBe(8192 * 1024 * 1024);
      const last = series.samples.find((x: { ts: number }) => x.ts === dau.ts);
      expect(last.users).toBe(3);
      expect(last.daily_active_users).toBe(2);
      expect(typeof last.latency_p50_ms).toBe("number");
      expect(last.max_stream).toBeUndefined();
      expect(series.samples.reduce((n: number, x: { messages: number }) => n + x.messages, 0)).toBeGreaterThanOrEqual(3);
      const ts = series.samples.map((x: { ts: number }) => x.ts);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
    });

    test("days: 1 to 31", async () => {
      expect((await admin.ok("GET", STATS)).samples.length).toBeGreaterThan(0); // 7 by default
      for (const bad of ["0", "32", "x", "-1"]) expectError(await admin.request("GET", `${STATS}?days=${bad}`), 400, "M_INVALID_PARAM");
    });

    test("samples older than 31 days are dropped", async () => {
      let now = Date.now() - 40 * 86_400_000;
      const repo = new ServerStatsRepo(s.hs.db);
      const clock = new ServerStats({ repo, databaseSizeBytes: (p) => databaseSizeBytes(s.hs.db, p), config: s.hs.services.config, requests: new Histogram("h", "h", []), now: () => now });
      await clock.sample();
      expect((await repo.listSince(now - 1)).some((r) => r.ts === now)).toBe(true);
      const old = now;
      now = Date.now() + 60_000;
      await clock.sample();
      expect((await repo.listSince(0)).some((r) => r.ts === old)).toBe(false);
    });

    test("long periods merge samples into at most 720 points: counts added up, levels the last, latency weighted by requests", async () => {
      const repo = new ServerStatsRepo(s.hs.db);
      const now = Date.now();
      const base = { users: 3, registrations: 0, daily_active_users: 1, monthly_active_users: 2, rooms: 1, messages: 0, local_messages: 0, max_stream: 0, database_bytes: 1, media_bytes: 0, rss_bytes: 1, heap_bytes: 1, requests: 0, latency_p50_us: 0, latency_p95_us: 0, federation_destinations: 0, federation_failing: 0, federation_queue: 0 };
      // Three days, one sample every 5 minutes, from 3 days ago (plus a minute) to a day ago.
      for (let t = now - 3 * 86_400_000 + 60_000, i = 0; t < now - 86_400_000; t += 300_000, i++) {
        await repo.insert({ ...base, ts: t, messages: 2, registrations: i % 100 === 0 ? 1 : 0, requests: 10, latency_p50_us: i % 2 ? 1000 : 3000, latency_p95_us: 9000, rooms: i });
      }
      const rows = await repo.listSince(now - 3 * 86_400_000);
      const series = await admin.ok("GET", `${STATS}?days=3`);
      expect(series.interval_seconds).toBe(600); // 864 intervals → 2 per point
      expect(series.samples.length).toBeLessThanOrEqual(720);
      const total = (xs: Array<Record<string, number>>, f: string) => xs.reduce((a, x) => a + x[f]!, 0);
      expect(total(series.samples, "messages")).toBe(total(rows as unknown as Array<Record<string, number>>, "messages"));
      expect(total(series.samples, "registrations")).toBe(total(rows as unknown as Array<Record<string, number>>, "registrations"));
      // A merged point of two samples: 20 requests, the median the mean of 1 and 3 ms, rooms the later sample's.
      const merged = series.samples.find((x: { ts: number; requests: number }) => x.ts < now - 86_400_000 && x.requests === 20);
      expect(merged.latency_p50_ms).toBe(2);
      expect(merged.latency_p95_ms).toBe(9);
      const later = rows.find((r) => r.ts === merged.ts)!;
      expect(merged.rooms).toBe(later.rooms);
      expect(rows.find((r) => r.ts === merged.ts - 300_000)?.rooms).toBe(later.rooms - 1);
    });

    test("warnings: open registration without token or CAPTCHA, federation without TLS checks", async () => {
      const w = (await admin.ok("GET", WARNINGS)).warnings as Array<{ id: string; severity: string; setting: string; message: string }>;
      const ids = w.map((x) => x.id);
      expect(ids).toContain("open_registration");
      expect(ids).toContain("federation_no_tls_verify");
      expect(w.find((x) => x.id === "open_registration")!.severity).toBe("danger");
      expect(w.find((x) => x.id === "federation_no_tls_verify")!.setting).toBe("federation.verify_tls");
      for (const x of w) expect(x.message.length).toBeGreaterThan(20);
    });
  });
}

test("warnings: a server with safe settings has none of those", async () => {
  const s = await startTestServer({ config: { registration: { mode: "token" } } });
  try {
    const admin = await registerUser(s, "admin", "password", true);
    const ids = ((await admin.ok("GET", WARNINGS)).warnings as Array<{ id: string }>).map((x) => x.id);
    expect(ids).not.toContain("open_registration");
    expect(ids).not.toContain("federation_no_tls_verify");
  } finally {
    await s.stop();
  }
});
