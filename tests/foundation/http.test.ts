// The server skeleton over HTTP: discovery endpoints, spec error shapes, CORS, body limits.
import { expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { expectError, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";

describeOnBackends("http skeleton", (backend) => {
  const ctx = fixture<{ s: TestServer; c: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({
      backend,
      config: { max_json_body_size: 65536, well_known: { server: "matrix.localhost:443" } },
    });
    ctx.c = new TestClient(ctx.s.url);
  });

  test("GET /versions lists spec versions and matches the spec schema", async () => {
    const r = await ctx.c.get("/_matrix/client/versions");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.body.versions).toContain("v1.1");
    expect(r.body.versions).toContain("v1.19");
    assertMatchesSpec("client-server/versions", "GET", "/versions", 200, r.body);
  });

  test("well-known documents come from the config", async () => {
    const client = await ctx.c.get("/.well-known/matrix/client");
    expect(client.status).toBe(200);
    expect(client.body["m.homeserver"].base_url).toBe("https://localhost");
    assertMatchesSpec("client-server/wellknown", "GET", "/matrix/client", 200, client.body);
    const server = await ctx.c.get("/.well-known/matrix/server");
    expect(server.body).toEqual({ "m.server": "matrix.localhost:443" });
  });

  test("GET /health", async () => {
    const r = await ctx.c.get("/health");
    expect(r.status).toBe(200);
    expect(r.body).toBe("OK");
  });

  test("unknown endpoint → 404 M_UNRECOGNIZED", async () => {
    expectError(await ctx.c.get("/_matrix/client/v3/nonsense"), 404, "M_UNRECOGNIZED");
    expectError(await ctx.c.get("/nonsense/at/root"), 404, "M_UNRECOGNIZED");
  });

  test("known endpoint, wrong method → 405 M_UNRECOGNIZED", async () => {
    const r = await ctx.c.request("DELETE", "/_matrix/client/versions");
    expectError(r, 405, "M_UNRECOGNIZED");
    expect(r.headers.get("allow")).toContain("GET");
    expectError(await ctx.c.post("/.well-known/matrix/client", {}), 405, "M_UNRECOGNIZED");
  });

  test("CORS headers on every response and OPTIONS preflight", async () => {
    for (const path of ["/_matrix/client/versions", "/_matrix/client/v3/nonsense"]) {
      const r = await ctx.c.get(path);
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
      expect(r.headers.get("access-control-allow-methods")).toContain("PUT");
      expect(r.headers.get("access-control-allow-headers")).toContain("Authorization");
    }
    const pre = await fetch(ctx.s.url + "/_matrix/client/v3/login", {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
  });

  test("several listeners at once, each serving its resources", async () => {
    const two = await startTestServer({
      backend: "sqlite",
      config: {
        listeners: [
          { bind_address: "127.0.0.1", port: 0, resources: ["client"] },
          { bind_address: "127.0.0.1", port: 0, resources: ["federation"] },
        ],
      },
    });
    try {
      const [client, fed] = two.hs.listeners.map((l) => new TestClient(l.url));
      expect(two.hs.listeners[0]!.port).not.toBe(two.hs.listeners[1]!.port);
      expect((await client!.get("/_matrix/client/versions")).status).toBe(200);
      expectError(await fed!.get("/_matrix/client/versions"), 404, "M_UNRECOGNIZED");
      expect((await fed!.get("/health")).status).toBe(200);
      expect((await client!.get("/health")).status).toBe(200);
    } finally {
      await two.stop();
    }
  });
});

test("a body over the largest allowed size gets a Matrix 413 with CORS headers", async () => {
  const s = await startTestServer({ config: { media: { max_upload_size: 2048 }, max_json_body_size: 65536 } });
  try {
    const r = await fetch(`${s.url}/_matrix/client/v3/login`, { method: "POST", body: "x".repeat(70000), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(413);
    expect((await r.json()).errcode).toBe("M_TOO_LARGE");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
  } finally {
    await s.stop();
  }
});

test("a slow body does not hold up other clients", async () => {
  const s = await startTestServer();
  try {
    const { connect } = await import("node:net");
    const port = Number(new URL(s.url).port);
    const sock = connect(port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
    const timer = setInterval(() => sock.write(" "), 100);
    try {
      const started = performance.now();
      for (let i = 0; i < 20; i++) expect((await fetch(`${s.url}/_matrix/client/versions`)).status).toBe(200);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      clearInterval(timer);
      sock.destroy();
    }
  } finally {
    await s.stop();
  }
});
