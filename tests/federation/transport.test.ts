// Signed requests between real hs servers over HTTPS: request authentication (X-Matrix), TLS
// verification, the IP range deny list, domain_allowlist, error mapping, federation disabled,
// GET /_matrix/federation/v1/version, and server ACLs on a real room.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { generateSigningKey, type SigningKey } from "../../src/core/signing.ts";
import { signRequest } from "../../src/core/x-matrix.ts";
import type { App } from "../../src/http/app.ts";
import { authenticateServer } from "../../src/http/federation/auth.ts";
import { FederationError, fedPath } from "../../src/services/federation/client.ts";
import type { Services } from "../../src/services/index.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { registerUser } from "../helpers/client.ts";
import { startFederatingServers, testCertificate, type FederatingServer, type FederatingOptions } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

// Test-only endpoints behind authenticateServer.
const WHOAMI = "/_matrix/federation/v1/hs_test/whoami";
const ECHO = "/_matrix/federation/v1/hs_test/echo";
function testRoutes(app: App, svc: Services): void {
  app.get(WHOAMI, async ({ request }) => ({ origin: await authenticateServer(svc, request), query: new URL(request.url).search }));
  app.put(`${ECHO}/:id`, async ({ request, body, params }) => ({ origin: await authenticateServer(svc, request, body), id: params.id, body }));
}

async function start(n: number, opts: FederatingOptions = {}): Promise<FederatingServer[]> {
  return startFederatingServers(n, { ...opts, extraRoutes: testRoutes });
}

/** A raw request to a server's federation listener with the given Authorization header(s). */
async function raw(to: FederatingServer, method: string, path: string, auth: string[] = [], body?: unknown): Promise<{ status: number; body: any }> {
  const headers = new Headers();
  for (const h of auth) headers.append("Authorization", h);
  if (body !== undefined) headers.set("Content-Type", "application/json");
  const res = await fetch(to.federationUrl + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    tls: { ca: readFileSync(testCertificate().certPath, "utf8"), serverName: "localhost" },
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function sign(from: { serverName: string; key: SigningKey }, to: string, method: string, uri: string, content?: unknown): string {
  return signRequest({ method, uri, origin: from.serverName, destination: to, content }, from.key);
}

async function expectFedError(p: Promise<unknown>, kind: string, status?: number, errcode?: string): Promise<FederationError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FederationError);
    const fe = e as FederationError;
    expect({ kind: fe.kind, status: fe.status, errcode: fe.errcode }).toEqual({ kind, status, errcode } as never);
    return fe;
  }
  throw new Error(`expected a FederationError of kind ${kind}`);
}

describeOnBackends("federation transport", (backend) => {
  const ctx = fixture<{ a: FederatingServer; b: FederatingServer }>(async (ctx) => {
    [ctx.a, ctx.b] = (await start(2, { backend })) as [FederatingServer, FederatingServer];
  });

  test("GET /_matrix/federation/v1/version through the signed client", async () => {
    const v = await ctx.a.hs.services.federation.client.getJson<any>(ctx.b.serverName, "/_matrix/federation/v1/version");
    assertMatchesSpec("server-server/version", "GET", "/version", 200, v);
    expect(v.server.name).toBe("hs");
    expect(typeof v.server.version).toBe("string");
  });

  test("a signed GET from A is authenticated by B (query string included in the signature)", async () => {
    const client = ctx.a.hs.services.federation.client;
    const r = await client.getJson<any>(ctx.b.serverName, WHOAMI, { query: { q: "a b&c=d", list: ["x/y", "ü"] } });
    expect(r.origin).toBe(ctx.a.serverName);
    expect(r.query).toBe("?q=a%20b%26c%3Dd&list=x%2Fy&list=%C3%BC");
  });

  test("a signed PUT with a body; path segments encoded with fedPath", async () => {
    const body = { pdus: [], nested: { n: 1, s: "ünïcødé", list: [true, null] } };
    const path = fedPath`/_matrix/federation/v1/hs_test/echo/${"txn/1 #2"}`;
    expect(path).toBe(`${ECHO}/txn%2F1%20%232`);
    const r = await ctx.a.hs.services.federation.client.putJson<any>(ctx.b.serverName, path, body);
    expect(r.origin).toBe(ctx.a.serverName);
    expect(r.id).toBe("txn/1 #2");
    expect(r.body).toEqual(body);
  });

  test("unsigned, malformed, wrongly signed, tampered and misaddressed requests get 401 M_UNAUTHORIZED", async () => {
    const aKey = { serverName: ctx.a.serverName, key: ctx.a.hs.signingKey };
    const ok = await raw(ctx.b, "GET", WHOAMI, [sign(aKey, ctx.b.serverName, "GET", WHOAMI)]);
    expect(ok).toEqual({ status: 200, body: { origin: ctx.a.serverName, query: "" } });

    const cases: Array<[string, string[], string?]> = [
      ["no Authorization", []],
      ["another scheme", ["Bearer abc"]],
      ["missing sig", [`X-Matrix origin="${ctx.a.serverName}",destination="${ctx.b.serverName}",key="${ctx.a.hs.signingKey.keyId}"`]],
      // An impostor's key under A's key ID.
      ["wrong key", [sign({ serverName: ctx.a.serverName, key: generateSigningKey(ctx.a.hs.signingKey.version) }, ctx.b.serverName, "GET", WHOAMI)]],
      // Signed for another path.
      ["other uri", [sign(aKey, ctx.b.serverName, "GET", WHOAMI + "?x=1")]],
      ["other method", [sign(aKey, ctx.b.serverName, "PUT", WHOAMI)]],
      ["wrong destination", [sign(aKey, "elsewhere.example", "GET", WHOAMI)]],
      ["unknown key ID", [sign({ serverName: ctx.a.serverName, key: generateSigningKey("unknown") }, ctx.b.serverName, "GET", WHOAMI)]],
      // A server that does not exist: its keys cannot be fetched.
      ["unknown origin", [sign({ serverName: "nowhere.invalid", key: generateSigningKey("x") }, ctx.b.serverName, "GET", WHOAMI)]],
      ["two origins", [sign(aKey, ctx.b.serverName, "GET", WHOAMI), sign({ serverName: "other.invalid", key: generateSigningKey("x") }, ctx.b.serverName, "GET", WHOAMI)]],
    ];
    for (const [what, auth] of cases) {
      const r = await raw(ctx.b, "GET", WHOAMI, auth);
      expect([what, r.status, r.body?.errcode]).toEqual([what, 401, "M_UNAUTHORIZED"]);
    }

    // A PUT whose body differs from the signed content.
    const path = `${ECHO}/t1`;
    const signedPut = sign(aKey, ctx.b.serverName, "PUT", path, { a: 1 });
    expect((await raw(ctx.b, "PUT", path, [signedPut], { a: 1 })).status).toBe(200);
    const tampered = await raw(ctx.b, "PUT", path, [signedPut], { a: 2 });
    expect([tampered.status, tampered.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
  });

  test("lenient header parsing: no destination (older servers), bare values, several headers", async () => {
    const keyId = ctx.a.hs.signingKey.keyId;
    const good = sign({ serverName: ctx.a.serverName, key: ctx.a.hs.signingKey }, ctx.b.serverName, "GET", WHOAMI);
    const sig = /sig="([^"]+)"/.exec(good)![1]!;
    // The destination is always part of the signed JSON; only the header parameter is optional.
    expect((await raw(ctx.b, "GET", WHOAMI, [`X-Matrix origin=${ctx.a.serverName},key=${keyId},sig=${sig}`])).status).toBe(200);
    expect((await raw(ctx.b, "GET", WHOAMI, [`x-matrix  ORIGIN = "${ctx.a.serverName}" , Key=${keyId},sig="${sig}", extra=1`])).status).toBe(200);
    // A second header with a key B cannot find is skipped; the known one verifies.
    const unknownKey = sign({ serverName: ctx.a.serverName, key: generateSigningKey("other") }, ctx.b.serverName, "GET", WHOAMI);
    expect((await raw(ctx.b, "GET", WHOAMI, [good, unknownKey])).status).toBe(200);
  });

  test("non-2xx answers become FederationError with status and errcode", async () => {
    const client = ctx.a.hs.services.federation.client;
    await expectFedError(client.getJson(ctx.b.serverName, "/_matrix/federation/v1/no_such_endpoint"), "http", 404, "M_UNRECOGNIZED");
    const e = await expectFedError(client.putJson(ctx.b.serverName, WHOAMI, {}), "http", 405, "M_UNRECOGNIZED");
    expect(e.transient).toBe(false);
  });

  test("domain_allowlist: B refuses origins not listed (403), A refuses to send to destinations not listed", async () => {
    const [d] = await start(1, { backend, config: { federation: { domain_allowlist: ["only.example"] } } });
    try {
      await expectFedError(ctx.a.hs.services.federation.client.getJson(d!.serverName, WHOAMI), "http", 403, "M_FORBIDDEN");
      await expectFedError(d!.hs.services.federation.client.getJson(ctx.b.serverName, "/_matrix/federation/v1/version"), "denied");
    } finally {
      await d!.stop();
    }
  });

  test("TLS: certificates are verified by default (the self-signed one is refused); verify_tls = false accepts it", async () => {
    const [strict, lax] = await Promise.all([start(1, { backend, tls: "default" }), start(1, { backend, tls: "no_verify" })]);
    try {
      await expectFedError(strict[0]!.hs.services.federation.client.getJson(ctx.b.serverName, "/_matrix/federation/v1/version"), "tls");
      const v = await lax[0]!.hs.services.federation.client.getJson<any>(ctx.b.serverName, "/_matrix/federation/v1/version");
      expect(v.server.name).toBe("hs");
    } finally {
      await Promise.all([strict[0]!.stop(), lax[0]!.stop()]);
    }
  });

  test("the IP range deny list stops requests to loopback", async () => {
    const [d] = await start(1, { backend, config: { federation: { ip_range_denylist: ["127.0.0.0/8", "::1/128"] } } });
    try {
      await expectFedError(d!.hs.services.federation.client.getJson(ctx.b.serverName, "/_matrix/federation/v1/version"), "denied");
      await expectFedError(d!.hs.services.federation.client.getJson("127.0.0.1:1", "/_matrix/federation/v1/version"), "denied");
      // Key fetches go through the same client.
      expect(await d!.hs.services.federation.keyRing.getVerifyKey(ctx.b.serverName, ctx.b.hs.signingKey.keyId, 0)).toBeUndefined();
    } finally {
      await d!.stop();
    }
  });

  test("federation disabled: nothing is sent, federation endpoints refuse", async () => {
    const [off] = await start(1, { backend, config: { federation: { enabled: false } } });
    try {
      const svc = off!.hs.services.federation;
      await expectFedError(svc.client.getJson(ctx.b.serverName, "/_matrix/federation/v1/version"), "disabled");
      expect(await svc.keyRing.getVerifyKey(ctx.b.serverName, ctx.b.hs.signingKey.keyId, 0)).toBeUndefined();
      expect(svc.keyRing.stats.directFetches).toBe(0);
      expect((await raw(off!, "GET", "/_matrix/federation/v1/version")).status).toBe(404);
      const authed = await raw(off!, "GET", WHOAMI, [sign({ serverName: ctx.a.serverName, key: ctx.a.hs.signingKey }, off!.serverName, "GET", WHOAMI)]);
      expect([authed.status, authed.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      const notary = await raw(off!, "GET", `/_matrix/key/v2/query/${encodeURIComponent(ctx.b.serverName)}`);
      expect([notary.status, notary.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      // Its own keys are still published.
      expect((await raw(off!, "GET", "/_matrix/key/v2/server")).body.server_name).toBe(off!.serverName);
    } finally {
      await off!.stop();
    }
  });

  test("server ACLs of a real room", async () => {
    const alice = await registerUser(ctx.b, "acl_alice");
    const { room_id: roomId } = await alice.ok("POST", "/_matrix/client/v3/createRoom", {});
    const acls = ctx.b.hs.services.federation.acls;
    expect(await acls.isAllowed(roomId, ctx.a.serverName)).toBe(true);
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.server_acl/`, {
      allow: ["*"],
      deny: ["evil.example", "*.evil.example"],
      allow_ip_literals: false,
    });
    expect(await acls.isAllowed(roomId, ctx.a.serverName)).toBe(true);
    expect(await acls.isAllowed(roomId, "evil.example:8448")).toBe(false);
    expect(await acls.isAllowed(roomId, "sub.evil.example")).toBe(false);
    expect(await acls.isAllowed(roomId, "127.0.0.1:8448")).toBe(false);
    await expect(acls.assertAllowed(roomId, "evil.example")).rejects.toMatchObject({ errcode: "M_FORBIDDEN", status: 403 });
    // Denying localhost denies every test server, whatever its port.
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.server_acl/`, { allow: ["*"], deny: ["localhost"] });
    expect(await acls.isAllowed(roomId, ctx.a.serverName)).toBe(false);
  });
});
