// Reverse proxies: a listener with x_forwarded believes X-Forwarded-For only from trusted_proxies
// (the address recorded for the device, as whois shows it), on both databases.
import { expect, test } from "bun:test";
import { registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

describeOnBackends("X-Forwarded-For", (backend) => {
  const ctx = fixture<{ s: TestServer; behindProxy: string; wrongProxy: string; direct: string }>(async (ctx) => {
    ctx.s = await startTestServer({
      backend,
      config: {
        listeners: [
          { bind_address: "127.0.0.1", port: 0 },
          { bind_address: "127.0.0.1", port: 0, x_forwarded: true, trusted_proxies: ["127.0.0.1/32"] },
          { bind_address: "127.0.0.1", port: 0, x_forwarded: true, trusted_proxies: ["10.0.0.0/8"] },
        ],
      },
    });
    [ctx.direct, ctx.behindProxy, ctx.wrongProxy] = ctx.s.hs.listeners.map((l) => l.url) as [string, string, string];
  });

  const seenFrom = async (admin: TestClient, userId: string) => {
    const w = await admin.ok("GET", `/_synapse/admin/v1/whois/${encodeURIComponent(userId)}`);
    return Object.values(w.devices as Record<string, { sessions: Array<{ connections: Array<{ ip: string }> }> }>).flatMap((d) => d.sessions.flatMap((x) => x.connections.map((c) => c.ip)));
  };

  test("trusted proxy: the client's address; untrusted or no x_forwarded: the peer's", async () => {
    const admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "pw", true);
    for (const [url, expected] of [
      [ctx.behindProxy, "198.51.100.7"],
      [ctx.wrongProxy, "127.0.0.1"],
      [ctx.direct, "127.0.0.1"],
    ] as const) {
      const u = await registerUser(ctx.s, uniqueLocalpart("fwd"));
      const c = new TestClient(url, u.accessToken);
      // A client-supplied entry on the left is ignored: the proxy appended the real one.
      expect((await c.request("GET", "/_matrix/client/v3/account/whoami", undefined, { "X-Forwarded-For": "6.6.6.6, 198.51.100.7", "X-Forwarded-Proto": "https" })).status).toBe(200);
      const ips = await seenFrom(admin, u.userId!);
      expect(ips).toContain(expected);
      expect(ips).not.toContain("6.6.6.6");
      if (expected === "127.0.0.1") expect(ips).not.toContain("198.51.100.7");
    }
  });
});
