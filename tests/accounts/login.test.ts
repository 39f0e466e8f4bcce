// GET/POST /login (password and token types), /account/whoami, access token extraction,
// /logout, /logout/all, refresh tokens and soft logout, /login/get_token.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient, uniqueLocalpart, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const LOGIN = "/_matrix/client/v3/login";
const WHOAMI = "/_matrix/client/v3/account/whoami";

const passwordLogin = (user: string, password: string, extra: Record<string, unknown> = {}) => ({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password,
  ...extra,
});

describeOnBackends("login", (backend) => {
  const ctx = fixture<{ s: TestServer; anon: TestClient; alice: TestClient; aliceLocal: string }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { auth: { access_token_lifetime: 1 } } });
    ctx.anon = new TestClient(ctx.s.url);
    ctx.aliceLocal = uniqueLocalpart("alice");
    ctx.alice = await registerUser(ctx.s, ctx.aliceLocal, "alice-pw");
  });

  test("GET /login lists password and token logins", async () => {
    const r = await ctx.anon.get(LOGIN);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/login", "GET", "/login", 200, r.body);
    expect(r.body.flows).toContainEqual({ type: "m.login.password" });
    expect(r.body.flows).toContainEqual({ type: "m.login.token", get_login_token: true });
  });

  test("password login by localpart, full user ID, any case, and the legacy `user` field", async () => {
    for (const body of [
      passwordLogin(ctx.aliceLocal, "alice-pw"),
      passwordLogin(`@${ctx.aliceLocal}:${ctx.s.serverName}`, "alice-pw"),
      passwordLogin(ctx.aliceLocal.toUpperCase(), "alice-pw"),
      { type: "m.login.password", user: ctx.aliceLocal, password: "alice-pw" },
    ]) {
      const r = await ctx.anon.post(LOGIN, body);
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/login", "POST", "/login", 200, r.body);
      expect(r.body.user_id).toBe(ctx.alice.userId);
      expect(r.body.home_server).toBe(ctx.s.serverName);
      expect(r.body.refresh_token).toBeUndefined();
      expect(r.body.expires_in_ms).toBeUndefined();
      const who = await new TestClient(ctx.s.url, r.body.access_token).get(WHOAMI);
      expect(who.body).toEqual({ user_id: ctx.alice.userId, device_id: r.body.device_id, is_guest: false });
      assertMatchesSpec("client-server/whoami", "GET", "/account/whoami", 200, who.body);
    }
  });

  test("wrong password or unknown user → 403 M_FORBIDDEN; bad requests → 400", async () => {
    const wrong = await ctx.anon.post(LOGIN, passwordLogin(ctx.aliceLocal, "nope"));
    expectError(wrong, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/login", "POST", "/login", 403, wrong.body);
    expectError(await ctx.anon.post(LOGIN, passwordLogin("nobody-here", "x")), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(LOGIN, passwordLogin(`@${ctx.aliceLocal}:other.example`, "alice-pw")), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(LOGIN, { type: "m.login.password", identifier: { type: "m.id.thirdparty", medium: "email", address: "a@b.c" }, password: "x" }), 403, "M_FORBIDDEN");
    const bad = await ctx.anon.post(LOGIN, { type: "m.login.magic" });
    expectError(bad, 400, "M_UNKNOWN");
    assertMatchesSpec("client-server/login", "POST", "/login", 400, bad.body);
    expectError(await ctx.anon.post(LOGIN, {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.anon.post(LOGIN, { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.aliceLocal } }), 400, "M_MISSING_PARAM");
    expectError(await ctx.anon.post(LOGIN, "not json"), 400, "M_NOT_JSON");
  });

  test("device_id reuse replaces the device's token and keeps its name; initial_device_display_name", async () => {
    const first = await ctx.anon.ok("POST", LOGIN, passwordLogin(ctx.aliceLocal, "alice-pw", { device_id: "REUSEDDEV", initial_device_display_name: "Laptop" }));
    expect(first.device_id).toBe("REUSEDDEV");
    const second = await ctx.anon.ok("POST", LOGIN, passwordLogin(ctx.aliceLocal, "alice-pw", { device_id: "REUSEDDEV", initial_device_display_name: "Ignored" }));
    expect(second.device_id).toBe("REUSEDDEV");
    expect(second.access_token).not.toBe(first.access_token);
    const old = await new TestClient(ctx.s.url, first.access_token).get(WHOAMI);
    expectError(old, 401, "M_UNKNOWN_TOKEN");
    expect(old.body.soft_logout).toBeUndefined();
    const c = new TestClient(ctx.s.url, second.access_token);
    expect((await c.ok("GET", "/_matrix/client/v3/devices/REUSEDDEV")).display_name).toBe("Laptop");
  });

  test("access tokens: Bearer header or access_token query; missing/unknown/malformed → 401", async () => {
    const viaQuery = await ctx.anon.get(`${WHOAMI}?access_token=${encodeURIComponent(ctx.alice.accessToken!)}`);
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.body.user_id).toBe(ctx.alice.userId);
    const missing = await ctx.anon.get(WHOAMI);
    expectError(missing, 401, "M_MISSING_TOKEN");
    expectError(await new TestClient(ctx.s.url, "hs_not_a_real_token").get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    const unknown = await ctx.anon.get(`${WHOAMI}?access_token=nope`);
    expectError(unknown, 401, "M_UNKNOWN_TOKEN");
    assertMatchesSpec("client-server/whoami", "GET", "/account/whoami", 401, unknown.body);
    expectError(await ctx.anon.request("GET", WHOAMI, undefined, { Authorization: "Basic abc" }), 401, "M_MISSING_TOKEN");
    expectError(await ctx.alice.get(`${WHOAMI}?access_token=${ctx.alice.accessToken}`), 401, "M_MISSING_TOKEN");
  });

  test("POST /logout deletes the device and its token", async () => {
    const c = await loginUser(ctx.s, ctx.aliceLocal, "alice-pw");
    const r = await c.post("/_matrix/client/v3/logout");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/logout", "POST", "/logout", 200, r.body);
    expectError(await c.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    const devices = (await ctx.alice.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: { device_id: string }) => d.device_id);
    expect(devices).not.toContain(c.deviceId);
  });

  test("POST /logout/all ends every session of the user", async () => {
    const name = uniqueLocalpart("bob");
    const b1 = await registerUser(ctx.s, name);
    const b2 = await loginUser(ctx.s, name);
    const r = await b2.post("/_matrix/client/v3/logout/all");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/logout", "POST", "/logout/all", 200, r.body);
    expectError(await b1.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    expectError(await b2.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    const again = await loginUser(ctx.s, name);
    expect((await again.ok("GET", "/_matrix/client/v3/devices")).devices).toHaveLength(1);
  });

  test("refresh tokens: expiring access tokens, soft logout, rotation", async () => {
    const login = await ctx.anon.ok("POST", LOGIN, passwordLogin(ctx.aliceLocal, "alice-pw", { refresh_token: true }));
    assertMatchesSpec("client-server/login", "POST", "/login", 200, login);
    expect(typeof login.refresh_token).toBe("string");
    expect(login.expires_in_ms).toBe(1000);
    const c = new TestClient(ctx.s.url, login.access_token);
    expect((await c.get(WHOAMI)).status).toBe(200);
    await Bun.sleep(1100);
    const expired = await c.get(WHOAMI);
    expectError(expired, 401, "M_UNKNOWN_TOKEN");
    expect(expired.body.soft_logout).toBe(true);

    const r1 = await ctx.anon.post("/_matrix/client/v3/refresh", { refresh_token: login.refresh_token });
    expect(r1.status).toBe(200);
    assertMatchesSpec("client-server/refresh", "POST", "/refresh", 200, r1.body);
    expect(r1.body.expires_in_ms).toBe(1000);
    expect(r1.body.refresh_token).not.toBe(login.refresh_token);
    // Until the new tokens are used the old refresh token still works (and replaces them).
    const r2 = await ctx.anon.ok("POST", "/_matrix/client/v3/refresh", { refresh_token: login.refresh_token });
    expectError(await new TestClient(ctx.s.url, r1.body.access_token).get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    // Using the new access token revokes the old refresh token.
    const who = await new TestClient(ctx.s.url, r2.access_token).get(WHOAMI);
    expect(who.body).toMatchObject({ user_id: ctx.alice.userId, device_id: login.device_id });
    const reused = await ctx.anon.post("/_matrix/client/v3/refresh", { refresh_token: login.refresh_token });
    expectError(reused, 401, "M_UNKNOWN_TOKEN");
    assertMatchesSpec("client-server/refresh", "POST", "/refresh", 401, reused.body);
    // The new refresh token works; using it also retires its predecessor chain.
    const r3 = await ctx.anon.ok("POST", "/_matrix/client/v3/refresh", { refresh_token: r2.refresh_token });
    expect((await new TestClient(ctx.s.url, r3.access_token).get(WHOAMI)).status).toBe(200);
    expectError(await ctx.anon.post("/_matrix/client/v3/refresh", { refresh_token: "hsr_unknown" }), 401, "M_UNKNOWN_TOKEN");
    expectError(await ctx.anon.post("/_matrix/client/v3/refresh", {}), 400, "M_MISSING_PARAM");
    // An expired token can still log out.
    await Bun.sleep(1100);
    const c3 = new TestClient(ctx.s.url, r3.access_token);
    expect((await c3.get(WHOAMI)).body.soft_logout).toBe(true);
    expect((await c3.post("/_matrix/client/v3/logout")).status).toBe(200);
    expectError(await ctx.anon.post("/_matrix/client/v3/refresh", { refresh_token: r3.refresh_token }), 401, "M_UNKNOWN_TOKEN");
  });

  test("m.login.token from POST /login/get_token: UIA, single use", async () => {
    const GET_TOKEN = "/_matrix/client/v1/login/get_token";
    const first = await ctx.alice.post(GET_TOKEN, {});
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/login_token", "POST", "/login/get_token", 401, first.body);
    expect(first.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const wrong = await ctx.alice.post(GET_TOKEN, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.alice.userId }, password: "wrong", session: first.body.session },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");
    const ok = await withPasswordAuth(ctx.alice, "POST", GET_TOKEN, {}, "alice-pw");
    expect(ok.status).toBe(200);
    assertMatchesSpec("client-server/login_token", "POST", "/login/get_token", 200, ok.body);
    expect(ok.body.expires_in_ms).toBe(120000);
    const login = await ctx.anon.post(LOGIN, { type: "m.login.token", token: ok.body.login_token });
    expect(login.status).toBe(200);
    expect(login.body.user_id).toBe(ctx.alice.userId);
    expectError(await ctx.anon.post(LOGIN, { type: "m.login.token", token: ok.body.login_token }), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(LOGIN, { type: "m.login.token", token: "hsl_bogus" }), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.post(LOGIN, { type: "m.login.token" }), 400, "M_MISSING_PARAM");
  });
});

describeOnBackends("login settings", (backend) => {
  test("get_token disabled by config; no refresh tokens without a lifetime", async () => {
    const s = await startTestServer({ backend, config: { auth: { login_via_existing_session: false } } });
    try {
      const u = await registerUser(s, uniqueLocalpart());
      expect((await u.ok("GET", LOGIN)).flows).toContainEqual({ type: "m.login.token" });
      expectError(await u.post("/_matrix/client/v1/login/get_token", {}), 403, "M_FORBIDDEN");
      const caps = await u.ok("GET", "/_matrix/client/v3/capabilities");
      expect(caps.capabilities["m.get_login_token"]).toEqual({ enabled: false });
      const l = await new TestClient(s.url).ok("POST", LOGIN, passwordLogin(u.userId!, "password", { refresh_token: true }));
      expect(l.refresh_token).toBeUndefined();
      expect(l.expires_in_ms).toBeUndefined();
    } finally {
      await s.stop();
    }
  });

  test("rate limits: M_LIMIT_EXCEEDED with retry_after_ms and Retry-After", async () => {
    const s = await startTestServer({
      backend,
      config: { ratelimit: { enabled: true, login_per_minute: 1, login_burst: 100, failed_login_per_minute: 1, failed_login_burst: 2, registration_burst: 1, registration_per_minute: 1 }, registration: { enabled: true } },
    });
    try {
      const anon = new TestClient(s.url);
      const name = uniqueLocalpart("limited");
      await registerUser(s, name, "right");
      // Two failures are allowed, then the account backs off, even for the right password.
      expectError(await anon.post(LOGIN, passwordLogin(name, "wrong")), 403, "M_FORBIDDEN");
      expectError(await anon.post(LOGIN, passwordLogin(name, "wrong")), 403, "M_FORBIDDEN");
      const limited = await anon.post(LOGIN, passwordLogin(name, "right"));
      expectError(limited, 429, "M_LIMIT_EXCEEDED");
      assertMatchesSpec("client-server/login", "POST", "/login", 429, limited.body);
      expect(limited.body.retry_after_ms).toBeGreaterThan(0);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get("access-control-allow-origin")).toBe("*");
      // Registrations: one per minute per address.
      expect((await anon.post("/_matrix/client/v3/register", { username: uniqueLocalpart(), password: "pw", auth: { type: "m.login.dummy" } })).status).toBe(200);
      const reg = await anon.post("/_matrix/client/v3/register", { username: uniqueLocalpart(), password: "pw", auth: { type: "m.login.dummy" } });
      expectError(reg, 429, "M_LIMIT_EXCEEDED");
      assertMatchesSpec("client-server/registration", "POST", "/register", 429, reg.body);
      expect(reg.headers.get("retry-after")).not.toBeNull();
    } finally {
      await s.stop();
    }
  });
});
