// Hostile input: malformed requests to every route the server has (taken from its own route
// table), with and without a valid access token. No response may be a 5xx, every 4xx must carry a
// Matrix error body, nothing may hang, and memory must stay bounded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// A seeded PRNG so failures reproduce.
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_SEGMENTS = [
  "%zz",
  "%E0%A4%A",
  "%00",
  "a%2Fb",
  "..",
  "%2e%2e",
  "x".repeat(3000),
  "!room:",
  "$event",
  "@:",
  "@user:localhost",
  "!abc:localhost",
  "$abc:localhost",
  "#alias:localhost",
  "%F0%9F%98%80",
  "-1",
  "99999999999999999999999",
  "null",
  "%20",
  "%22%3Cscript%3E",
];

function deep(n: number): string {
  return "[".repeat(n) + "]".repeat(n);
}

const BODIES: Array<string | (() => string)> = [
  "",
  "{",
  "[]",
  "null",
  "1",
  '"string"',
  "{}",
  '{"a":1,"a":2}',
  '{"x":1.5}',
  '{"x":1e400}',
  '{"x":-9007199254740993}',
  '{"x":"\\u0000"}',
  "{\"x\":\"\u0000\"}",
  () => deep(10000),
  () => `{"x":"${"y".repeat(200_000)}"}`,
  '{"type":5,"content":[],"user_id":{},"room_id":[],"device_id":true,"password":1,"auth":"x","limit":"many","timeout":-5}',
  '{"user_id":"not an id","room_id":"!","event_id":"$","visibility":"sideways","preset":"none","initial_state":[1,2],"invite":[3]}',
  '{"identifier":{"type":"m.id.user"},"type":"m.login.password"}',
  '{"one_time_keys":{"a":5},"device_keys":"x","fallback_keys":[]}',
  '{"filter":{"room":{"timeline":{"limit":"x"}}}}',
  '{"msgtype":"m.text","body":{"nested":[[[[1]]]]}}',
];

const QUERIES = ["", "?limit=-1", "?limit=abc", "?from=%zz", "?dir=x", "?since=s-1", "?timeout=abc", "?filter=%7B", "?ts=1e99", "?access_token=" + "z".repeat(100)];

interface Route {
  method: string;
  path: string;
}

function fill(path: string, rand: () => number): string {
  return path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? HOSTILE_SEGMENTS[Math.floor(rand() * HOSTILE_SEGMENTS.length)]! : seg === "*" ? "x" : seg))
    .join("/");
}

describe("fuzzing every route", () => {
  let s: TestServer;
  let user: TestClient;
  let routes: Route[];
  beforeAll(async () => {
    s = await startTestServer({ config: { registration: { enabled: true } } });
    user = await registerUser(s, "fuzzer");
    routes = s.hs.app.routes
      .filter((r) => ["GET", "PUT", "POST", "DELETE"].includes(r.method))
      .map((r) => ({ method: r.method, path: r.path }));
  });
  afterAll(() => s.stop());

  test("malformed requests never cause a 5xx, always get a Matrix error, never hang", async () => {
    const rand = prng(0x5eed);
    const failures: string[] = [];
    let sent = 0;
    let token = user.accessToken!;
    const started = Date.now();
    const rssBefore = process.memoryUsage().rss;
    const jobs: Array<() => Promise<void>> = [];
    for (const route of routes) {
      // Deactivation and logout would end the session the rest of the run uses; they are fuzzed without a token.
      const destructive = /deactivate|logout|\/delete_devices|\/devices\/:|admin/.test(route.path);
      const variants = 150;
      for (let v = 0; v < variants; v++) {
        jobs.push(async () => {
          const withToken = !destructive && rand() < 0.7;
          const path = fill(route.path, rand) + QUERIES[Math.floor(rand() * QUERIES.length)]!;
          const b = BODIES[Math.floor(rand() * BODIES.length)]!;
          const body = route.method === "GET" ? undefined : typeof b === "function" ? b() : b;
          const headers: Record<string, string> = { "Content-Type": rand() < 0.8 ? "application/json" : "text/plain" };
          if (withToken) headers.Authorization = `Bearer ${token}`;
          const ctrl = new AbortController();
          const timer = setTimeout(() => ctrl.abort(), 15000);
          let res: Response;
          try {
            res = await fetch(s.url + path, { method: route.method, headers, body, signal: ctrl.signal });
          } catch (e) {
            failures.push(`${route.method} ${path}: ${(e as Error).name === "AbortError" ? "hung" : (e as Error).message}`);
            return;
          } finally {
            clearTimeout(timer);
          }
          sent++;
          const text = await res.text();
          // Remote media names another server: failing to reach it is an upstream error (502/504, as
          // Synapse answers), not a fault of ours — but it must still be a Matrix error.
          const upstream = /\/media\/(download|thumbnail)\/:serverName/.test(route.path) && (res.status === 502 || res.status === 504);
          if (res.status >= 500 && !(upstream && text.includes('"errcode"'))) {
            failures.push(`${route.method} ${route.path} as ${path.slice(0, 120)} body ${String(body).slice(0, 80)} → ${res.status} ${text.slice(0, 200)}`);
            return;
          }
          if (res.status >= 400) {
            let parsed: { errcode?: unknown; error?: unknown } | undefined;
            try {
              parsed = JSON.parse(text);
            } catch {
              // checked below
            }
            if (typeof parsed?.errcode !== "string" || typeof parsed?.error !== "string") {
              // UIA challenges (401 with flows) are Matrix bodies without errcode.
              if (!(res.status === 401 && text.includes('"flows"'))) {
                failures.push(`${route.method} ${route.path} → ${res.status} without a Matrix error body: ${text.slice(0, 120)}`);
              }
            }
            if (withToken && parsed?.errcode === "M_UNKNOWN_TOKEN") {
              // Something logged us out after all: log in again and carry on.
              token = (await (await fetch(`${s.url}/_matrix/client/v3/login`, { method: "POST", body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "fuzzer" }, password: "password" }) })).json()).access_token ?? token;
            }
          }
        });
      }
    }
    // Shuffle and run with bounded concurrency.
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < jobs.length) await jobs[next++]!();
      }),
    );
    Bun.gc(true);
    const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1048576;
    console.log(`fuzz: ${sent} requests to ${routes.length} routes in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failures.length} failures, RSS growth ${rssGrowthMb.toFixed(0)} MB`);
    expect(failures.slice(0, 30)).toEqual([]);
    expect(sent).toBeGreaterThan(routes.length * 140);
    expect(rssGrowthMb).toBeLessThan(500);
  }, 600_000);
});
