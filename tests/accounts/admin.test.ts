// Synapse-compatible admin APIs: shared-secret registration and registration tokens.
import { expect, test } from "bun:test";
import { sharedSecretMac } from "../../src/services/registration.ts";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const REG = "/_synapse/admin/v1/register";
const TOKENS = "/_synapse/admin/v1/registration_tokens";

test("the shared-secret MAC (server and hs register-user) is Synapse's", () => {
  // Known answer: HMAC-SHA1("secret", "abc\0bob\0pw\0notadmin").
  const expected = new Bun.CryptoHasher("sha1", "secret").update("abc\0bob\0pw\0notadmin").digest("hex");
  expect(sharedSecretMac("secret", "abc", "bob", "pw", false)).toBe(expected);
  const withType = new Bun.CryptoHasher("sha1", "secret").update("abc\0bob\0pw\0admin\0bot").digest("hex");
  expect(sharedSecretMac("secret", "abc", "bob", "pw", true, "bot")).toBe(withType);
});

describeOnBackends("shared-secret registration", (backend) => {
  const secret = "test-shared-secret";
  const ctx = fixture<{ s: TestServer; anon: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.anon = new TestClient(ctx.s.url);
  });

  const nonce = async () => (await ctx.anon.ok<{ nonce: string }>("GET", REG)).nonce;

  test("nonce, HMAC, admin flag, display name, lower-cased username", async () => {
    const n = await nonce();
    expect(n).toMatch(/^[0-9a-f]{128}$/);
    const name = uniqueLocalpart("Shared");
    const r = await ctx.anon.post(REG, {
      nonce: n,
      username: name,
      password: "pw",
      admin: true,
      displayname: "Shared User",
      mac: sharedSecretMac(secret, n, name, "pw", true),
    });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(`@${name.toLowerCase()}:${ctx.s.serverName}`);
    expect(r.body.home_server).toBe(ctx.s.serverName);
    expect(typeof r.body.access_token).toBe("string");
    expect(typeof r.body.device_id).toBe("string");
    const c = new TestClient(ctx.s.url, r.body.access_token);
    expect((await c.ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe(r.body.user_id);
    expect((await ctx.anon.ok("GET", `/_matrix/client/v3/profile/${r.body.user_id}/displayname`)).displayname).toBe("Shared User");
    // The admin flag works: the admin API answers.
    expect((await c.get(TOKENS)).status).toBe(200);
  });

  test("user_type takes part in the MAC", async () => {
    const n = await nonce();
    const name = uniqueLocalpart("bot");
    const r = await ctx.anon.post(REG, { nonce: n, username: name, password: "pw", user_type: "bot", mac: sharedSecretMac(secret, n, name, "pw", false, "bot") });
    expect(r.status).toBe(200);
    const n2 = await nonce();
    const bad = await ctx.anon.post(REG, { nonce: n2, username: uniqueLocalpart(), password: "pw", user_type: "bot", mac: sharedSecretMac(secret, n2, "x", "pw", false) });
    expectError(bad, 403, "M_FORBIDDEN");
    const n3 = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n3, username: "x", password: "pw", user_type: "wizard", mac: "00" }), 400, "M_UNKNOWN");
  });

  test("wrong HMAC → 403; nonces are single use even after a failure", async () => {
    const n = await nonce();
    const name = uniqueLocalpart();
    expectError(await ctx.anon.post(REG, { nonce: n, username: name, password: "pw", admin: false, mac: sharedSecretMac("wrong", n, name, "pw", false) }), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(REG, { nonce: n, username: name, password: "pw", admin: false, mac: sharedSecretMac(secret, n, name, "pw", false) }), 400, "M_UNKNOWN");
    // Claiming admin with a MAC made for notadmin fails.
    const n2 = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n2, username: name, password: "pw", admin: true, mac: sharedSecretMac(secret, n2, name, "pw", false) }), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(REG, { nonce: "made-up", username: name, password: "pw", mac: "x" }), 400, "M_UNKNOWN");
  });

  test("missing fields, bad usernames, taken usernames", async () => {
    expectError(await ctx.anon.post(REG, { username: "a", password: "b", mac: "c" }), 400, "M_BAD_JSON");
    let n = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n, password: "b", mac: "c" }), 400, "M_BAD_JSON");
    n = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n, username: "a", mac: "c" }), 400, "M_BAD_JSON");
    n = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n, username: "a", password: "b" }), 400, "M_BAD_JSON");
    n = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n, username: "has space", password: "pw", mac: sharedSecretMac(secret, n, "has space", "pw", false) }), 400, "M_INVALID_USERNAME");
    const taken = await registerUser(ctx.s, uniqueLocalpart("taken"));
    const local = taken.userId!.slice(1).split(":")[0]!;
    n = await nonce();
    expectError(await ctx.anon.post(REG, { nonce: n, username: local, password: "pw", mac: sharedSecretMac(secret, n, local, "pw", false) }), 400, "M_USER_IN_USE");
  });

  test("inhibit_login is honoured", async () => {
    const n = await nonce();
    const name = uniqueLocalpart();
    const r = await ctx.anon.ok("POST", REG, { nonce: n, username: name, password: "pw", inhibit_login: true, mac: sharedSecretMac(secret, n, name, "pw", false) });
    expect(r.access_token).toBeUndefined();
    expect(r.user_id).toBe(`@${name}:${ctx.s.serverName}`);
  });
});

describeOnBackends("registration token admin API", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; user: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "password", true);
    ctx.user = await registerUser(ctx.s, uniqueLocalpart("user"));
  });

  test("create, get, list, update, delete in Synapse's shapes", async () => {
    const created = await ctx.admin.post(`${TOKENS}/new`, { token: "abcd", uses_allowed: 3 });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ token: "abcd", uses_allowed: 3, pending: 0, completed: 0, expiry_time: null });
    const generated = await ctx.admin.ok("POST", `${TOKENS}/new`, { length: 24 });
    expect(generated.token).toMatch(/^[A-Za-z0-9._~-]{24}$/);
    expect(generated.uses_allowed).toBeNull();
    const defaults = await ctx.admin.ok("POST", `${TOKENS}/new`, {});
    expect(defaults.token).toHaveLength(16);
    const future = Date.now() + 3_600_000;
    const expiring = await ctx.admin.ok("POST", `${TOKENS}/new`, { token: "later", expiry_time: future });
    expect(expiring.expiry_time).toBe(future);

    expect(await ctx.admin.ok("GET", `${TOKENS}/abcd`)).toEqual({ token: "abcd", uses_allowed: 3, pending: 0, completed: 0, expiry_time: null });
    const all = await ctx.admin.ok("GET", TOKENS);
    expect(all.registration_tokens.map((t: { token: string }) => t.token)).toEqual(expect.arrayContaining(["abcd", "later", generated.token, defaults.token]));

    const upd = await ctx.admin.put(`${TOKENS}/abcd`, { uses_allowed: 0 });
    expect(upd.body).toEqual({ token: "abcd", uses_allowed: 0, pending: 0, completed: 0, expiry_time: null });
    const invalid = await ctx.admin.ok("GET", `${TOKENS}?valid=false`);
    expect(invalid.registration_tokens.map((t: { token: string }) => t.token)).toEqual(["abcd"]);
    const valid = await ctx.admin.ok("GET", `${TOKENS}?valid=true`);
    expect(valid.registration_tokens.map((t: { token: string }) => t.token)).not.toContain("abcd");
    const cleared = await ctx.admin.ok("PUT", `${TOKENS}/later`, { expiry_time: null, uses_allowed: null });
    expect(cleared).toMatchObject({ expiry_time: null, uses_allowed: null });
    expect(await ctx.admin.ok("PUT", `${TOKENS}/later`, {})).toMatchObject({ token: "later" });

    expect(await ctx.admin.ok("DELETE", `${TOKENS}/abcd`)).toEqual({});
    expectError(await ctx.admin.get(`${TOKENS}/abcd`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.delete(`${TOKENS}/abcd`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.put(`${TOKENS}/abcd`, { uses_allowed: 1 }), 404, "M_NOT_FOUND");
  });

  test("invalid input → 400 M_INVALID_PARAM", async () => {
    for (const body of [
      { token: "has space" },
      { token: "" },
      { token: "x".repeat(65) },
      { token: 5 },
      { length: 0 },
      { length: 65 },
      { length: "16" },
      { uses_allowed: -1 },
      { uses_allowed: 1.5 },
      { expiry_time: "tomorrow" },
      { expiry_time: 1000 },
    ]) {
      expectError(await ctx.admin.post(`${TOKENS}/new`, body), 400, "M_INVALID_PARAM");
    }
    await ctx.admin.ok("POST", `${TOKENS}/new`, { token: "dup" });
    expectError(await ctx.admin.post(`${TOKENS}/new`, { token: "dup" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.put(`${TOKENS}/dup`, { expiry_time: 5 }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get(`${TOKENS}?valid=maybe`), 400, "M_INVALID_PARAM");
  });

  test("only server admins", async () => {
    expectError(await ctx.user.get(TOKENS), 403, "M_FORBIDDEN");
    expectError(await ctx.user.post(`${TOKENS}/new`, {}), 403, "M_FORBIDDEN");
    expectError(await new TestClient(ctx.s.url).get(TOKENS), 401, "M_MISSING_TOKEN");
  });
});

test("without a shared secret the shared-secret API is disabled", async () => {
  const s = await startTestServer({ config: { registration: { shared_secret: "" } } });
  try {
    const anon = new TestClient(s.url);
    const r = await anon.get(REG);
    expect(r.status).toBe(400);
    expect(r.body.error).toContain("not enabled");
    expect((await anon.post(REG, { nonce: "x", username: "a", password: "b", mac: "c" })).status).toBe(400);
  } finally {
    await s.stop();
  }
});
