import { describe, expect, test } from "bun:test";
import {
  cacheLifetimeMs,
  makeWellKnownFetcher,
  orderSrv,
  parseWellKnownBody,
  ServerDiscoveryError,
  ServerResolver,
  type SrvRecord,
  type WellKnownAnswer,
} from "./discovery.ts";
import type { OutboundHttp, OutboundRequest } from "./outbound-http.ts";

const enc = (o: unknown) => new TextEncoder().encode(typeof o === "string" ? o : JSON.stringify(o));

interface Fakes {
  wellKnown?: Record<string, WellKnownAnswer | "down">;
  srv?: Record<string, SrvRecord[]>;
}

function resolverWith(f: Fakes) {
  let now = 1_000_000;
  const calls = { wellKnown: [] as string[], srv: [] as string[] };
  const r = new ServerResolver({
    now: () => now,
    random: () => 0,
    async resolveSrv(name) {
      calls.srv.push(name);
      return f.srv?.[name] ?? [];
    },
    async fetchWellKnown(host) {
      calls.wellKnown.push(host);
      const a = f.wellKnown?.[host];
      if (a === "down") throw new Error("connection refused");
      return a ?? { status: 404, headers: new Headers(), body: enc("") };
    },
  });
  return { r, calls, advance: (ms: number) => (now += ms) };
}

const ok = (server: string, headers: Record<string, string> = {}): WellKnownAnswer => ({
  status: 200,
  headers: new Headers(headers),
  body: enc({ "m.server": server }),
});

describe("resolving server names", () => {
  test("1. IP literals: that address, the given port or 8448, Host = the server name", async () => {
    const { r, calls } = resolverWith({});
    expect(await r.resolve("1.2.3.4")).toMatchObject({ targets: [{ host: "1.2.3.4", port: 8448 }], hostHeader: "1.2.3.4", tlsName: "1.2.3.4", via: "ip-literal" });
    expect(await r.resolve("[2001:db8::1]:8000")).toMatchObject({
      targets: [{ host: "2001:db8::1", port: 8000 }],
      hostHeader: "[2001:db8::1]:8000",
      tlsName: "2001:db8::1",
    });
    expect(calls.wellKnown).toEqual([]);
    expect(calls.srv).toEqual([]);
  });

  test("2. explicit port: no well-known, no SRV; Host includes the port, certificate for the hostname", async () => {
    const { r, calls } = resolverWith({});
    expect(await r.resolve("example.org:1234")).toMatchObject({
      targets: [{ host: "example.org", port: 1234 }],
      hostHeader: "example.org:1234",
      tlsName: "example.org",
      via: "explicit-port",
    });
    expect(calls.wellKnown).toEqual([]);
  });

  test("3.1 delegation to an IP literal", async () => {
    const { r } = resolverWith({ wellKnown: { "example.org": ok("5.6.7.8:9000") } });
    expect(await r.resolve("example.org")).toMatchObject({
      targets: [{ host: "5.6.7.8", port: 9000 }],
      hostHeader: "5.6.7.8:9000",
      tlsName: "5.6.7.8",
      via: "well-known",
      delegatedTo: "5.6.7.8:9000",
    });
  });

  test("3.2 delegation with a port", async () => {
    const { r, calls } = resolverWith({ wellKnown: { "example.org": ok("matrix.example.org:443") } });
    expect(await r.resolve("example.org")).toMatchObject({
      targets: [{ host: "matrix.example.org", port: 443 }],
      hostHeader: "matrix.example.org:443",
      tlsName: "matrix.example.org",
    });
    expect(calls.srv).toEqual([]);
  });

  test("3.3 delegation without a port: _matrix-fed._tcp SRV of the delegated name", async () => {
    const { r, calls } = resolverWith({
      wellKnown: { "example.org": ok("matrix.example.org") },
      srv: { "_matrix-fed._tcp.matrix.example.org": [{ name: "fed.example.net", port: 8449, priority: 10, weight: 0 }] },
    });
    expect(await r.resolve("example.org")).toMatchObject({
      targets: [{ host: "fed.example.net", port: 8449 }],
      hostHeader: "matrix.example.org",
      tlsName: "matrix.example.org",
    });
    expect(calls.srv).toEqual(["_matrix-fed._tcp.matrix.example.org"]);
  });

  test("3.4 then the legacy _matrix._tcp SRV; 3.5 then port 8448", async () => {
    const legacy = resolverWith({
      wellKnown: { "example.org": ok("matrix.example.org") },
      srv: { "_matrix._tcp.matrix.example.org": [{ name: "old.example.net", port: 8450, priority: 0, weight: 0 }] },
    });
    expect(await legacy.r.resolve("example.org")).toMatchObject({ targets: [{ host: "old.example.net", port: 8450 }], hostHeader: "matrix.example.org" });
    expect(legacy.calls.srv).toEqual(["_matrix-fed._tcp.matrix.example.org", "_matrix._tcp.matrix.example.org"]);
    const plain = resolverWith({ wellKnown: { "example.org": ok("matrix.example.org") } });
    expect(await plain.r.resolve("example.org")).toMatchObject({
      targets: [{ host: "matrix.example.org", port: 8448 }],
      hostHeader: "matrix.example.org",
      tlsName: "matrix.example.org",
    });
  });

  test("4–6. no (valid) well-known: SRV of the hostname, legacy SRV, then 8448; Host = the hostname", async () => {
    const fed = resolverWith({ srv: { "_matrix-fed._tcp.example.org": [{ name: "a.example.org", port: 1, priority: 0, weight: 0 }] } });
    expect(await fed.r.resolve("example.org")).toMatchObject({ targets: [{ host: "a.example.org", port: 1 }], hostHeader: "example.org", tlsName: "example.org", via: "srv" });
    const legacy = resolverWith({ srv: { "_matrix._tcp.example.org": [{ name: "b.example.org", port: 2, priority: 0, weight: 0 }] } });
    expect(await legacy.r.resolve("example.org")).toMatchObject({ targets: [{ host: "b.example.org", port: 2 }], via: "srv-legacy" });
    const none = resolverWith({ wellKnown: { "example.org": { status: 200, headers: new Headers(), body: enc("not json") } } });
    expect(await none.r.resolve("example.org")).toMatchObject({ targets: [{ host: "example.org", port: 8448 }], hostHeader: "example.org", via: "default-port" });
  });

  test("invalid well-known bodies are ignored", () => {
    expect(parseWellKnownBody(enc({ "m.server": "ok.example.org:8448" }))).toBe("ok.example.org:8448");
    expect(parseWellKnownBody(enc({ "m.server": "bad name" }))).toBeNull();
    expect(parseWellKnownBody(enc({ "m.server": 1 }))).toBeNull();
    expect(parseWellKnownBody(enc({}))).toBeNull();
    expect(parseWellKnownBody(enc([]))).toBeNull();
    expect(parseWellKnownBody(new Uint8Array([0xff, 0xfe]))).toBeNull();
  });

  test("invalid server names are refused", async () => {
    const { r } = resolverWith({});
    await expect(r.resolve("not a server")).rejects.toBeInstanceOf(ServerDiscoveryError);
  });

  test("SRV targets by priority, then weight; '.' means no service", () => {
    const recs: SrvRecord[] = [
      { name: "c", port: 3, priority: 20, weight: 0 },
      { name: "a", port: 1, priority: 10, weight: 100 },
      { name: "b", port: 2, priority: 10, weight: 0 },
      { name: ".", port: 0, priority: 0, weight: 0 },
    ];
    expect(orderSrv(recs, () => 0).map((r) => r.name)).toEqual(["a", "b", "c"]);
    // A zero-weight record comes after the weighted ones of its priority.
    expect(orderSrv(recs, () => 0.999).map((r) => r.name)).toEqual(["a", "b", "c"]);
    const weighted: SrvRecord[] = [
      { name: "light", port: 1, priority: 0, weight: 1 },
      { name: "heavy", port: 2, priority: 0, weight: 3 },
    ];
    expect(orderSrv(weighted, () => 0).map((r) => r.name)).toEqual(["light", "heavy"]);
    expect(orderSrv(weighted, () => 0.9).map((r) => r.name)).toEqual(["heavy", "light"]);
  });
});

describe("well-known caching", () => {
  test("default 24 h: one fetch until then, refetched after", async () => {
    const { r, calls, advance } = resolverWith({ wellKnown: { "example.org": ok("m.example.org:443") } });
    await r.resolve("example.org");
    advance(23 * 3600_000);
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(1);
    advance(2 * 3600_000);
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(2);
  });

  test("Cache-Control max-age is respected within [5 min, 48 h]", async () => {
    const short = resolverWith({ wellKnown: { "example.org": ok("m.example.org:443", { "Cache-Control": "public, max-age=60" }) } });
    await short.r.resolve("example.org");
    short.advance(4 * 60_000);
    await short.r.resolve("example.org");
    expect(short.calls.wellKnown.length).toBe(1); // 60 s raised to the 5 min minimum
    short.advance(2 * 60_000);
    await short.r.resolve("example.org");
    expect(short.calls.wellKnown.length).toBe(2);

    const long = resolverWith({ wellKnown: { "example.org": ok("m.example.org:443", { "Cache-Control": "max-age=31536000" }) } });
    await long.r.resolve("example.org");
    long.advance(49 * 3600_000);
    await long.r.resolve("example.org");
    expect(long.calls.wellKnown.length).toBe(2); // capped at 48 h
  });

  test("errors are cached for an hour", async () => {
    const { r, calls, advance } = resolverWith({});
    await r.resolve("example.org");
    advance(59 * 60_000);
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(1);
    advance(2 * 60_000);
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(2);
  });

  test("a server that goes down keeps its last valid delegation for a while, retried with growing intervals", async () => {
    const f: Fakes = { wellKnown: { "example.org": ok("m.example.org:443", { "Cache-Control": "max-age=600" }) } };
    const { r, calls, advance } = resolverWith(f);
    expect((await r.resolve("example.org")).hostHeader).toBe("m.example.org:443");
    f.wellKnown!["example.org"] = "down";
    advance(11 * 60_000);
    expect((await r.resolve("example.org")).hostHeader).toBe("m.example.org:443");
    expect(calls.wellKnown.length).toBe(2);
    advance(60_000); // retry after 2 min
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(2);
    advance(61_000);
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(3);
    advance(3 * 60_000); // next retry after 4 min
    await r.resolve("example.org");
    expect(calls.wellKnown.length).toBe(3);
    // Past the grace period the delegation is dropped.
    advance(2 * 3600_000);
    expect((await r.resolve("example.org")).via).toBe("default-port");
  });

  test("concurrent resolutions share one fetch", async () => {
    const { r, calls } = resolverWith({ wellKnown: { "example.org": ok("m.example.org:443") } });
    await Promise.all([r.resolve("example.org"), r.resolve("example.org"), r.resolve("example.org")]);
    expect(calls.wellKnown.length).toBe(1);
  });

  test("cache header parsing", () => {
    const h = (o: Record<string, string>) => new Headers(o);
    expect(cacheLifetimeMs(h({}), 0)).toBeUndefined();
    expect(cacheLifetimeMs(h({ "cache-control": "max-age=3600" }), 0)).toBe(3600_000);
    expect(cacheLifetimeMs(h({ "cache-control": "no-store" }), 0)).toBe(0);
    expect(cacheLifetimeMs(h({ expires: new Date(10_000).toUTCString() }), 4000)).toBe(6000);
    expect(cacheLifetimeMs(h({ expires: "garbage" }), 0)).toBe(0);
  });
});

describe("fetching /.well-known/matrix/server", () => {
  function fakeHttp(routes: Record<string, { status: number; headers?: Record<string, string>; body?: string }>) {
    const seen: OutboundRequest[] = [];
    const http = {
      async request(req: OutboundRequest) {
        seen.push(req);
        const key = `${req.hostHeader}${req.pathAndQuery}`;
        const r = routes[key] ?? { status: 404 };
        return { status: r.status, headers: new Headers(r.headers ?? {}), body: enc(r.body ?? "") };
      },
    } as unknown as OutboundHttp;
    return { http, seen };
  }

  test("GET https://<hostname>/.well-known/matrix/server on port 443 with the hostname as Host and certificate name", async () => {
    const { http, seen } = fakeHttp({ "example.org/.well-known/matrix/server": { status: 200, body: '{"m.server":"x.org:1"}' } });
    const a = await makeWellKnownFetcher(http)("example.org");
    expect(a.status).toBe(200);
    expect(seen[0]).toMatchObject({ targets: [{ host: "example.org", port: 443 }], hostHeader: "example.org", tlsName: "example.org", method: "GET", maxResponseBytes: 50 * 1024 });
  });

  test("redirects are followed (relative and to other hosts), loops are not", async () => {
    const { http, seen } = fakeHttp({
      "example.org/.well-known/matrix/server": { status: 301, headers: { location: "/moved" } },
      "example.org/moved": { status: 302, headers: { location: "https://other.org:8443/wk" } },
      "other.org:8443/wk": { status: 200, body: '{"m.server":"x.org:1"}' },
    });
    const a = await makeWellKnownFetcher(http)("example.org");
    expect(parseWellKnownBody(a.body)).toBe("x.org:1");
    expect(seen.map((s) => `${s.targets[0]!.host}:${s.targets[0]!.port}${s.pathAndQuery}`)).toEqual([
      "example.org:443/.well-known/matrix/server",
      "example.org:443/moved",
      "other.org:8443/wk",
    ]);
    const loop = fakeHttp({
      "a.org/.well-known/matrix/server": { status: 302, headers: { location: "https://b.org/x" } },
      "b.org/x": { status: 302, headers: { location: "https://a.org/.well-known/matrix/server" } },
    });
    expect((await makeWellKnownFetcher(loop.http)("a.org")).status).toBe(302);
    expect(loop.seen.length).toBe(2);
    const toHttp = fakeHttp({ "a.org/.well-known/matrix/server": { status: 302, headers: { location: "http://a.org/x" } } });
    expect((await makeWellKnownFetcher(toHttp.http)("a.org")).status).toBe(302);
  });
});
