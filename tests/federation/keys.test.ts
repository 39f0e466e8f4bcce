// Server keys over real HTTPS between hs servers: publishing (GET /_matrix/key/v2/server), fetching
// and caching by the KeyRing, refetching after expiry, and the notary (GET/POST /_matrix/key/v2/query).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkJsonSignature } from "../../src/core/signing.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { expectError, TestClient } from "../helpers/client.ts";
import { startFederatingServers, testCertificate, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

/** fetch against a TLS federation listener, trusting the test certificate. */
async function fedFetch(server: FederatingServer, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(server.federationUrl + path, { ...init, tls: { ca: readFileSync(testCertificate().certPath, "utf8"), serverName: "localhost" } } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describeOnBackends("server keys", (backend) => {
  const ctx = fixture<{ a: FederatingServer; b: FederatingServer }>(async (ctx) => {
    // B publishes keys valid for 3 s only, so that A has to refetch them.
    [ctx.a, ctx.b] = (await startFederatingServers(2, { backend, config: (i) => (i === 1 ? { key_validity_period: 3 } : {}) })) as [FederatingServer, FederatingServer];
  });

  test("GET /_matrix/key/v2/server: our key, self-signed, valid for key_validity_period, matching the spec", async () => {
    const before = Date.now();
    const r = await fedFetch(ctx.a, "/_matrix/key/v2/server");
    expect(r.status).toBe(200);
    assertMatchesSpec("server-server/keys_server", "GET", "/server", 200, r.body);
    const key = ctx.a.hs.signingKey;
    expect(r.body.server_name).toBe(ctx.a.serverName);
    expect(r.body.verify_keys).toEqual({ [key.keyId]: { key: key.publicKeyBase64 } });
    expect(r.body.old_verify_keys).toEqual({});
    expect(r.body.valid_until_ts).toBeGreaterThanOrEqual(before + 86400_000 - 1000);
    expect(r.body.valid_until_ts).toBeLessThanOrEqual(Date.now() + 86400_000);
    expect(checkJsonSignature(r.body, ctx.a.serverName, key.keyId, key.verifyKey)).toEqual({ ok: true });
    // The deprecated form with a key ID answers the same.
    const old = await fedFetch(ctx.a, `/_matrix/key/v2/server/${encodeURIComponent(key.keyId)}`);
    expect(old.body).toEqual(r.body);
    // Served on the federation resource, not on the client listener.
    expectError(await new TestClient(ctx.a.url).get("/_matrix/key/v2/server"), 404, "M_UNRECOGNIZED");
  });

  test("A fetches B's keys over HTTPS, verifies them and caches them (memory and database)", async () => {
    const ring = ctx.a.hs.services.federation.keyRing;
    const bKey = ctx.b.hs.signingKey;
    const fetches = ring.stats.directFetches;
    const k = await ring.getVerifyKey(ctx.b.serverName, bKey.keyId, Date.now());
    expect(k?.base64).toBe(bKey.publicKeyBase64);
    expect(ring.stats.directFetches).toBe(fetches + 1);
    expect(await ring.getVerifyKey(ctx.b.serverName, bKey.keyId, Date.now())).toBe(k);
    expect(ring.stats.directFetches).toBe(fetches + 1);
    const rows = await ctx.a.hs.db.all<{ key_id: string; verify_key: string; from_server: string; valid_until_ts: number }>(
      "SELECT key_id, verify_key, from_server, valid_until_ts FROM server_keys WHERE server_name = ?",
      [ctx.b.serverName],
    );
    expect(rows.map((r) => [r.key_id, r.verify_key, r.from_server])).toEqual([[bKey.keyId, bKey.publicKeyBase64, ctx.b.serverName]]);
    expect(rows[0]!.valid_until_ts).toBeLessThanOrEqual(Date.now() + 3000);
    const stored = await ctx.a.hs.db.get<{ key_json: string }>("SELECT key_json FROM server_key_responses WHERE server_name = ?", [ctx.b.serverName]);
    expect(JSON.parse(stored!.key_json).signatures[ctx.b.serverName][bKey.keyId]).toBeString();
    // Unknown key IDs are not found (and not refetched right away).
    expect(await ring.getVerifyKey(ctx.b.serverName, "ed25519:nope", Date.now())).toBeUndefined();
    expect(ring.stats.directFetches).toBe(fetches + 1);
  });

  test("A refetches B's keys once B's response has expired", async () => {
    const ring = ctx.a.hs.services.federation.keyRing;
    const bKey = ctx.b.hs.signingKey;
    await ring.getVerifyKey(ctx.b.serverName, bKey.keyId, Date.now());
    const fetches = ring.stats.directFetches;
    const firstRow = await ctx.a.hs.db.get<{ fetched_ts: number }>("SELECT fetched_ts FROM server_keys WHERE server_name = ?", [ctx.b.serverName]);
    await Bun.sleep(3200);
    expect((await ring.getVerifyKey(ctx.b.serverName, bKey.keyId, Date.now()))?.base64).toBe(bKey.publicKeyBase64);
    expect(ring.stats.directFetches).toBe(fetches + 1);
    const row = await ctx.a.hs.db.get<{ fetched_ts: number; valid_until_ts: number }>("SELECT fetched_ts, valid_until_ts FROM server_keys WHERE server_name = ?", [ctx.b.serverName]);
    expect(Number(row!.fetched_ts)).toBeGreaterThan(Number(firstRow!.fetched_ts));
    expect(Number(row!.valid_until_ts)).toBeGreaterThan(Date.now());
  });

  test("notary: GET /_matrix/key/v2/query/{serverName} through A about B, signed by both", async () => {
    const r = await fedFetch(ctx.a, `/_matrix/key/v2/query/${encodeURIComponent(ctx.b.serverName)}?minimum_valid_until_ts=${Date.now()}`);
    expect(r.status).toBe(200);
    assertMatchesSpec("server-server/keys_query", "GET", "/query/{serverName}", 200, r.body);
    expect(r.body.server_keys.length).toBe(1);
    const entry = r.body.server_keys[0];
    expect(entry.server_name).toBe(ctx.b.serverName);
    expect(entry.verify_keys[ctx.b.hs.signingKey.keyId].key).toBe(ctx.b.hs.signingKey.publicKeyBase64);
    expect(checkJsonSignature(entry, ctx.b.serverName, ctx.b.hs.signingKey.keyId, ctx.b.hs.signingKey.verifyKey).ok).toBe(true);
    expect(checkJsonSignature(entry, ctx.a.serverName, ctx.a.hs.signingKey.keyId, ctx.a.hs.signingKey.verifyKey).ok).toBe(true);
    // About itself: its own response.
    const self = await fedFetch(ctx.a, `/_matrix/key/v2/query/${encodeURIComponent(ctx.a.serverName)}`);
    expect(self.body.server_keys[0].server_name).toBe(ctx.a.serverName);
  });

  test("notary: POST /_matrix/key/v2/query with several servers and criteria", async () => {
    const r = await fedFetch(ctx.a, "/_matrix/key/v2/query", {
      method: "POST",
      body: JSON.stringify({
        server_keys: {
          [ctx.b.serverName]: { [ctx.b.hs.signingKey.keyId]: { minimum_valid_until_ts: Date.now() } },
          [ctx.a.serverName]: {},
          "unreachable.invalid": {},
        },
      }),
    });
    expect(r.status).toBe(200);
    assertMatchesSpec("server-server/keys_query", "POST", "/query", 200, r.body);
    expect(r.body.server_keys.map((k: any) => k.server_name).sort()).toEqual([ctx.a.serverName, ctx.b.serverName].sort());
    for (const k of r.body.server_keys) expect(checkJsonSignature(k, ctx.a.serverName, ctx.a.hs.signingKey.keyId, ctx.a.hs.signingKey.verifyKey).ok).toBe(true);
    // No servers: an empty list. Malformed: 400.
    expect((await fedFetch(ctx.a, "/_matrix/key/v2/query", { method: "POST", body: JSON.stringify({ server_keys: {} }) })).body).toEqual({ server_keys: [] });
    expect((await fedFetch(ctx.a, "/_matrix/key/v2/query", { method: "POST", body: JSON.stringify({}) })).status).toBe(400);
    expect((await fedFetch(ctx.a, "/_matrix/key/v2/query", { method: "POST", body: JSON.stringify({ server_keys: { x: 1 } }) })).status).toBe(400);
  });

  test("a third server gets B's keys through the notary A while B is down", async () => {
    const [c] = await startFederatingServers(1, { backend, config: { federation: { trusted_key_servers: [ctx.a.serverName] } } });
    try {
      // A has B's keys cached; now B goes away.
      await ctx.a.hs.services.federation.keyRing.getVerifyKey(ctx.b.serverName, ctx.b.hs.signingKey.keyId, 0);
      const bKey = ctx.b.hs.signingKey;
      const bName = ctx.b.serverName;
      await ctx.b.stop();
      const ring = c!.hs.services.federation.keyRing;
      const k = await ring.getVerifyKey(bName, bKey.keyId, 0);
      expect(k?.base64).toBe(bKey.publicKeyBase64);
      expect(ring.stats.notaryQueries).toBe(1);
      const row = await c!.hs.db.get<{ from_server: string }>("SELECT from_server FROM server_keys WHERE server_name = ?", [bName]);
      expect(row?.from_server).toBe(ctx.a.serverName);
      // C trusted A's signature with A's own keys, fetched directly.
      expect((await ring.knownKeys(ctx.a.serverName)).has(ctx.a.hs.signingKey.keyId)).toBe(true);
    } finally {
      await c!.stop();
    }
  });
});
