// [http_client] verify_tls and ca_files (issue 17, root cause 8): push gateways and application
// services (bridges) behind a private CA. The gateway here serves HTTPS with the self-signed test
// certificate: trusted when listed in ca_files, refused by default, accepted with verify_tls off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, tempDir, testCertificate, type TestServer } from "../helpers/server.ts";
import { createRoom, join, send } from "../helpers/sync.ts";
import { validateConfig, ConfigError } from "../../src/config/load.ts";
import { AppserviceHttp } from "../../src/services/appservices/http.ts";
import type { ApplicationService } from "../../src/services/appservices/registration.ts";

function tlsGateway() {
  const cert = testCertificate();
  const received: any[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(cert.certPath, "utf8"), key: readFileSync(cert.keyPath, "utf8") },
    fetch: async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/_matrix/push/v1/notify") {
        received.push(await req.json());
        return Response.json({ rejected: [] });
      }
      if (url.pathname.startsWith("/_matrix/app/v1/")) return Response.json({});
      return Response.json({ errcode: "M_UNRECOGNIZED" }, { status: 404 });
    },
  });
  return { server, received, base: `https://127.0.0.1:${server.port}`, certPath: cert.certPath };
}

describe("http_client trust settings", () => {
  const gw = tlsGateway();
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    gw.server.stop(true);
  });

  /** A server with these [http_client] settings; whether alice's pusher gets bob's message. */
  async function delivered(httpClient: Record<string, unknown>, label: string): Promise<boolean> {
    const s = await startTestServer({ config: { http_client: { ip_range_denylist: [], ...httpClient }, push: { retry_min_interval_ms: 50 } } });
    servers.push(s);
    const alice = await registerUser(s, "alice");
    const bob = await registerUser(s, "bob");
    const roomId = await createRoom(bob, { preset: "trusted_private_chat", invite: [alice.userId] });
    await join(alice, roomId);
    await alice.ok("POST", "/_matrix/client/v3/pushers/set", {
      kind: "http",
      app_id: "org.example.app",
      pushkey: label,
      app_display_name: "x",
      device_display_name: "y",
      lang: "en",
      data: { url: `${gw.base}/_matrix/push/v1/notify` },
    });
    const eventId = await send(bob, roomId, `hello ${label}`);
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      if (gw.received.some((b) => b.notification?.event_id === eventId)) return true;
      await Bun.sleep(50);
    }
    return false;
  }

  test("a push gateway with a private CA: delivered with ca_files, refused by default, delivered with verify_tls = false", async () => {
    expect(await delivered({ ca_files: [gw.certPath] }, "ca")).toBe(true);
    expect(await delivered({}, "default")).toBe(false);
    expect(await delivered({ verify_tls: false }, "noverify")).toBe(true);
  }, 60000);

  test("an application service (bridge) with a private CA: reached with the CA, refused without", async () => {
    const as = { id: "bridge", url: gw.base, hsToken: "hs_token" } as unknown as ApplicationService;
    const req = { method: "PUT" as const, path: "/transactions/1", body: { events: [] }, timeoutMs: 5000 };
    const pem = readFileSync(gw.certPath, "utf8");
    expect((await new AppserviceHttp(fetch, { verifyTls: true, extraCaPems: [pem] }).request(as, req)).kind).toBe("ok");
    expect((await new AppserviceHttp(fetch, { verifyTls: true }).request(as, req)).kind).toBe("network");
    expect((await new AppserviceHttp(fetch, { verifyTls: false }).request(as, req)).kind).toBe("ok");
  });

  test("ca_files that cannot be read or hold no certificate are config errors naming the key", () => {
    const dir = tempDir("ca-cfg-");
    const notPem = pathJoin(dir, "not.pem");
    writeFileSync(notPem, "hello");
    const base = { server_name: "example.org", listeners: [{ port: 0 }] };
    expect(() => validateConfig({ ...base, http_client: { ca_files: [pathJoin(dir, "missing.pem")] } }, "t.toml", dir)).toThrow(/http_client\.ca_files\[0\]: cannot read/);
    expect(() => validateConfig({ ...base, http_client: { ca_files: [notPem] } }, "t.toml", dir)).toThrow(ConfigError);
    expect(() => validateConfig({ ...base, http_client: { ca_files: [notPem] } }, "t.toml", dir)).toThrow(/holds no PEM certificate/);
    expect(validateConfig({ ...base, http_client: { ca_files: [gw.certPath] } }, "t.toml", dir).config.http_client.ca_files).toEqual([gw.certPath]);
  });
});
