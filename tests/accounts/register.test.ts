// POST /register with user-interactive authentication, /register/available, guests, registration
// tokens (the UIA stage and /validity), and the requestToken endpoints.
import { expect, test } from "bun:test";
import { validateConfig } from "../../src/config/load.ts";
import { startHomeserver } from "../../src/homeserver.ts";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const REGISTER = "/_matrix/client/v3/register";

describeOnBackends("registration", (backend) => {
  const ctx = fixture<{ s: TestServer; anon: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { registration: { enabled: true, allow_guests: true } } });
    ctx.anon = new TestClient(ctx.s.url);
  });

  test("the UIA dance: 401 with flows and session, then m.login.dummy completes", async () => {
    const name = uniqueLocalpart("reg");
    const first = await ctx.anon.post(REGISTER, { username: name, password: "secret-pw" });
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/registration", "POST", "/register", 401, first.body);
    expect(first.body.flows).toEqual([{ stages: ["m.login.dummy"] }]);
    expect(typeof first.body.session).toBe("string");
    expect(first.body.errcode).toBeUndefined();
    expect(first.body.completed).toEqual([]); // always present, as Synapse

    const done = await ctx.anon.post(REGISTER, {
      username: name,
      password: "secret-pw",
      initial_device_display_name: "My phone",
      auth: { type: "m.login.dummy", session: first.body.session },
    });
    expect(done.status).toBe(200);
    assertMatchesSpec("client-server/registration", "POST", "/register", 200, done.body);
    expect(done.body.user_id).toBe(`@${name}:${ctx.s.serverName}`);
    expect(done.body.home_server).toBe(ctx.s.serverName);
    const c = new TestClient(ctx.s.url, done.body.access_token);
    expect((await c.ok("GET", "/_matrix/client/v3/account/whoami")).device_id).toBe(done.body.device_id);
    const dev = await c.ok("GET", `/_matrix/client/v3/devices/${encodeURIComponent(done.body.device_id)}`);
    expect(dev.display_name).toBe("My phone");
    // The display name defaults to the localpart.
    expect((await ctx.anon.ok("GET", `/_matrix/client/v3/profile/${encodeURIComponent(done.body.user_id)}`)).displayname).toBe(name);
    // A finished session cannot authorise another registration.
    const replay = await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "x", auth: { type: "m.login.dummy", session: first.body.session } });
    expect(replay.status).toBe(403);
    expect(replay.body.errcode).toBe("M_FORBIDDEN");
  });

  test("retrying a completed registration returns the same user, logged in again; a wrong password does not", async () => {
    for (const username of [uniqueLocalpart("again"), undefined]) {
      const req = { ...(username ? { username } : {}), password: "sUp3rs3kr1t" };
      const first = await ctx.anon.post(REGISTER, req);
      expect(first.status).toBe(401);
      const auth = { type: "m.login.dummy", session: first.body.session };
      const done = await ctx.anon.ok("POST", REGISTER, { ...req, auth });
      const again = await ctx.anon.ok("POST", REGISTER, { ...req, auth });
      expect(again.user_id).toBe(done.user_id);
      expect(again.access_token).not.toBe(done.access_token);
      expect((await new TestClient(ctx.s.url, again.access_token).ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe(done.user_id);
      // Without the account's password the retry is an ordinary request: the name is taken, or
      // (no name) the finished session only reports its completed stages.
      const wrong = await ctx.anon.post(REGISTER, { ...req, password: "not-it", auth });
      expect(wrong.body.access_token).toBeUndefined();
      if (username) expect([wrong.status, wrong.body.errcode]).toEqual([400, "M_USER_IN_USE"]);
      else expect([wrong.status, wrong.body.completed]).toEqual([401, ["m.login.dummy"]]);
    }
  });

  test("a request without auth never succeeds, even with only a dummy stage", async () => {
    const r = await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw" });
    expect(r.status).toBe(401);
  });

  test("an empty probe gets the flows; the session keeps the parameters given first", async () => {
    const name = uniqueLocalpart("probe");
    const probe = await ctx.anon.post(REGISTER, {});
    expect(probe.status).toBe(401);
    // Auth in one go without a session: a session is created and completed at once.
    const r = await ctx.anon.post(REGISTER, { username: name, password: "pw", auth: { type: "m.login.dummy" } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(`@${name}:${ctx.s.serverName}`);
  });

  test("username checks come before authentication: M_USER_IN_USE, M_INVALID_USERNAME", async () => {
    const taken = await registerUser(ctx.s, uniqueLocalpart("taken"));
    const local = taken.userId!.slice(1).split(":")[0]!;
    expectError(await ctx.anon.post(REGISTER, { username: local, password: "pw" }), 400, "M_USER_IN_USE");
    // Case-insensitively, as usernames are lower-cased.
    expectError(await ctx.anon.post(REGISTER, { username: local.toUpperCase(), password: "pw" }), 400, "M_USER_IN_USE");
    for (const bad of ["with space", "é", "_underscore", "12345", "", "a:b", "x".repeat(260)]) {
      expectError(await ctx.anon.post(REGISTER, { username: bad, password: "pw" }), 400, "M_INVALID_USERNAME");
    }
  });

  test("upper-case usernames map to lower-case user IDs", async () => {
    const name = uniqueLocalpart("Mixed");
    const r = await ctx.anon.post(REGISTER, { username: name, password: "pw", auth: { type: "m.login.dummy" } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(`@${name.toLowerCase()}:${ctx.s.serverName}`);
  });

  test("missing password after authentication → M_MISSING_PARAM; bad types → M_BAD_JSON", async () => {
    expectError(await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), auth: { type: "m.login.dummy" } }), 400, "M_MISSING_PARAM");
    expectError(await ctx.anon.post(REGISTER, { username: 42, password: "pw" }), 400, "M_BAD_JSON");
    expectError(await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", inhibit_login: "yes" }), 400, "M_BAD_JSON");
    expectError(await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", auth: "dummy" }), 400, "M_BAD_JSON");
  });

  test("unknown auth types → M_UNRECOGNIZED; unknown sessions → 400", async () => {
    expectError(await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", auth: { type: "m.login.foo" } }), 400, "M_UNRECOGNIZED");
    const r = await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", auth: { type: "m.login.dummy", session: "nope" } });
    expect(r.status).toBe(400);
  });

  test("a session is bound to its endpoint", async () => {
    const first = await ctx.anon.post(REGISTER, {});
    const owner = await registerUser(ctx.s, uniqueLocalpart());
    const r = await owner.post("/_matrix/client/v3/account/deactivate", { auth: { type: "m.login.password", session: first.body.session, password: "password" } });
    expectError(r, 403, "M_FORBIDDEN");
  });

  test("the request completing a session may carry only auth: the first request's parameters and password are kept", async () => {
    const name = uniqueLocalpart("remember");
    const first = await ctx.anon.post(REGISTER, { username: name, password: "übers3kr1t", device_id: "XYZZY", initial_device_display_name: "my phone" });
    expect(first.status).toBe(401);
    const done = await ctx.anon.post(REGISTER, { auth: { type: "m.login.dummy", session: first.body.session } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ user_id: `@${name.toLowerCase()}:${ctx.s.serverName}`, device_id: "XYZZY" });
    // The kept password is the account's: it logs in.
    const login = await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "übers3kr1t" });
    expect(login.status).toBe(200);
    const user = new TestClient(ctx.s.url, done.body.access_token);
    expect((await user.ok("GET", "/_matrix/client/v3/devices/XYZZY")).display_name).toBe("my phone");

    // inhibit_login from the first request.
    const f3 = await ctx.anon.post(REGISTER, { username: uniqueLocalpart("remember3"), password: "pw", inhibit_login: true });
    const d3 = await ctx.anon.post(REGISTER, { auth: { type: "m.login.dummy", session: f3.body.session } });
    expect(d3.status).toBe(200);
    expect(d3.body.access_token).toBeUndefined();
    expect(d3.body.device_id).toBeUndefined();

    // A final request with parameters of its own uses them: its password wins over the kept one.
    const other = uniqueLocalpart("remember2");
    const f2 = await ctx.anon.post(REGISTER, { username: other, password: "first-pw" });
    const d2 = await ctx.anon.post(REGISTER, { username: other, password: "final-pw", auth: { type: "m.login.dummy", session: f2.body.session } });
    expect(d2.status).toBe(200);
    const byFinal = await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: other }, password: "final-pw" });
    expect(byFinal.status).toBe(200);
    const byFirst = await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: other }, password: "first-pw" });
    expect(byFirst.status).toBe(403);
  }, 30000);

  test("inhibit_login returns no token; device_id is honoured", async () => {
    const name = uniqueLocalpart("inhibit");
    const r = await ctx.anon.post(REGISTER, { username: name, password: "pw", inhibit_login: true, auth: { type: "m.login.dummy" } });
    expect(r.status).toBe(200);
    expect(r.body.access_token).toBeUndefined();
    expect(r.body.device_id).toBeUndefined();
    const d = await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", device_id: "MYDEVICE", auth: { type: "m.login.dummy" } });
    expect(d.body.device_id).toBe("MYDEVICE");
  });

  test("without a username a (numeric) user ID is generated", async () => {
    const r = await ctx.anon.post(REGISTER, { password: "pw", auth: { type: "m.login.dummy" } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toMatch(new RegExp(`^@[0-9]+:${ctx.s.serverName}$`));
  });

  test("GET /register/available", async () => {
    const free = await ctx.anon.get(`${REGISTER}/available?username=${uniqueLocalpart("free")}`);
    expect(free.status).toBe(200);
    expect(free.body).toEqual({ available: true });
    assertMatchesSpec("client-server/registration", "GET", "/register/available", 200, free.body);
    const taken = await registerUser(ctx.s, uniqueLocalpart());
    expectError(await ctx.anon.get(`${REGISTER}/available?username=${taken.userId!.slice(1).split(":")[0]}`), 400, "M_USER_IN_USE");
    expectError(await ctx.anon.get(`${REGISTER}/available?username=bad%20name`), 400, "M_INVALID_USERNAME");
    expectError(await ctx.anon.get(`${REGISTER}/available`), 400, "M_MISSING_PARAM");
  });

  test("guests: kind=guest gives a guest account limited to guest endpoints", async () => {
    const r = await ctx.anon.post(`${REGISTER}?kind=guest`, { username: "ignored", password: "ignored", initial_device_display_name: "Guest tab" });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/registration", "POST", "/register", 200, r.body);
    expect(r.body.user_id).toMatch(/^@[0-9]+:/);
    const g = new TestClient(ctx.s.url, r.body.access_token);
    const who = await g.ok("GET", "/_matrix/client/v3/account/whoami");
    expect(who.is_guest).toBe(true);
    expect((await g.ok("GET", `/_matrix/client/v3/devices/${r.body.device_id}`)).display_name).toBe("Guest tab");
    // Not on the guest list: account management.
    expectError(await g.get("/_matrix/client/v3/account/3pid"), 403, "M_GUEST_ACCESS_FORBIDDEN");
    expectError(await g.post("/_matrix/client/v3/account/password", { new_password: "x" }), 403, "M_GUEST_ACCESS_FORBIDDEN");
    // Guests may set their display name but nothing else.
    expect((await g.put(`/_matrix/client/v3/profile/${r.body.user_id}/displayname`, { displayname: "G" })).status).toBe(200);
    expectError(await g.put(`/_matrix/client/v3/profile/${r.body.user_id}/avatar_url`, { avatar_url: "mxc://x/y" }), 403, "M_GUEST_ACCESS_FORBIDDEN");
    expectError(await ctx.anon.post(`${REGISTER}?kind=admin`, {}), 400, "M_INVALID_PARAM");
  });

  test("guests upgrade to full accounts with guest_access_token", async () => {
    const r = await ctx.anon.post(`${REGISTER}?kind=guest`, {});
    const local = r.body.user_id.slice(1).split(":")[0];
    const up = await ctx.anon.post(REGISTER, {
      username: local,
      password: "upgraded-pw",
      guest_access_token: r.body.access_token,
      auth: { type: "m.login.dummy" },
    });
    expect(up.status).toBe(200);
    expect(up.body.user_id).toBe(r.body.user_id);
    const c = new TestClient(ctx.s.url, up.body.access_token);
    expect((await c.ok("GET", "/_matrix/client/v3/account/whoami")).is_guest).toBe(false);
    const login = await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: local }, password: "upgraded-pw" });
    expect(login.status).toBe(200);
    // Another guest's ID cannot be taken this way.
    const other = await ctx.anon.post(`${REGISTER}?kind=guest`, {});
    expectError(
      await ctx.anon.post(REGISTER, { username: uniqueLocalpart(), password: "pw", guest_access_token: other.body.access_token }),
      400,
      "M_INVALID_USERNAME",
    );
  });

  test("third-party registration is refused: M_THREEPID_DENIED", async () => {
    const e = await ctx.anon.post(`${REGISTER}/email/requestToken`, { client_secret: "secret", email: "a@example.org", send_attempt: 1 });
    expectError(e, 403, "M_THREEPID_DENIED");
    assertMatchesSpec("client-server/registration", "POST", "/register/email/requestToken", 403, e.body);
    expectError(await ctx.anon.post(`${REGISTER}/msisdn/requestToken`, { client_secret: "secret", country: "GB", phone_number: "07700900001", send_attempt: 1 }), 403, "M_THREEPID_DENIED");
    expectError(await ctx.anon.post(`${REGISTER}/email/requestToken`, { email: "a@example.org", send_attempt: 1 }), 400, "M_MISSING_PARAM");
  });
});

describeOnBackends("registration settings", (backend) => {
  test("registration is off by default: M_FORBIDDEN (guests too)", async () => {
    const s = await startTestServer({ backend });
    try {
      const anon = new TestClient(s.url);
      const r = await anon.post(REGISTER, { username: "someone", password: "pw" });
      expectError(r, 403, "M_FORBIDDEN");
      assertMatchesSpec("client-server/registration", "POST", "/register", 403, r.body);
      expectError(await anon.post(`${REGISTER}?kind=guest`, {}), 403, "M_FORBIDDEN");
      expectError(await anon.get(`${REGISTER}/available?username=x`), 403, "M_FORBIDDEN");
      expectError(await anon.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=abc"), 403, "M_FORBIDDEN");
    } finally {
      await s.stop();
    }
  });

  test('[registration] mode: "token" offers only the token stage, "open" the dummy one, "closed" refuses; the admin overview says what tokens need', async () => {
    for (const [mode, flows] of [
      ["token", [{ stages: ["m.login.registration_token"] }]],
      ["open", [{ stages: ["m.login.dummy"] }]],
      ["closed", undefined],
    ] as const) {
      const s = await startTestServer({ backend, config: { registration: { mode } } });
      try {
        const r = await new TestClient(s.url).post(REGISTER, { username: "modeuser", password: "pw" });
        if (flows) {
          expect(r.status).toBe(401);
          expect(r.body.flows).toEqual(flows);
        } else expectError(r, 403, "M_FORBIDDEN");
        const admin = await registerUser(s, uniqueLocalpart("admin"), "password", true);
        const o = await admin.ok("GET", "/_hs/admin/v1/server");
        expect(o.registration.mode).toBe(mode);
        if (mode === "token") expect(o.registration.token_notice).toBeUndefined();
        else expect(o.registration.token_notice).toContain(`[registration] mode = "${mode}"`);
      } finally {
        await s.stop();
      }
    }
  }, 30_000); // three servers started one after another (a database each on PostgreSQL)

  test("[password_policy]: GET /password_policy; weak passwords refused with M_WEAK_PASSWORD on register, change and admin reset", async () => {
    const s = await startTestServer({ backend, config: { registration: { mode: "open" }, password_policy: { minimum_length: 10, require_digit: true } } });
    try {
      const anon = new TestClient(s.url);
      const policy = await anon.ok("GET", "/_matrix/client/v3/password_policy");
      expect(policy).toEqual({ "m.minimum_length": 10, "m.require_digit": true, "m.require_symbol": false, "m.require_lowercase": false, "m.require_uppercase": false });
      // Refused before any authentication stage.
      const weak = await anon.post(REGISTER, { username: "weakling", password: "abcdefghij" });
      expectError(weak, 400, "M_WEAK_PASSWORD");
      expect(weak.body.error).toBe("Password too weak: it needs a digit (this server's policy: at least 10 characters and a digit)");
      expectError(await anon.post(REGISTER, { username: "weakling", password: "short1" }), 400, "M_WEAK_PASSWORD");
      const first = await anon.post(REGISTER, { username: "strong", password: "abcdefghi1" });
      expect(first.status).toBe(401);
      const ok = await anon.post(REGISTER, { username: "strong", password: "abcdefghi1", auth: { type: "m.login.dummy", session: first.body.session } });
      expect(ok.status).toBe(200);
      const user = new TestClient(s.url, ok.body.access_token);
      const change = await user.post("/_matrix/client/v3/account/password", { new_password: "tooweak", auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "strong" }, password: "abcdefghi1" } });
      expectError(change, 400, "M_WEAK_PASSWORD");
      const admin = await registerUser(s, uniqueLocalpart("admin"), "password", true);
      expectError(await admin.post(`/_synapse/admin/v1/reset_password/${encodeURIComponent(ok.body.user_id)}`, { new_password: "weak" }), 400, "M_WEAK_PASSWORD");
      expect((await admin.post(`/_synapse/admin/v1/reset_password/${encodeURIComponent(ok.body.user_id)}`, { new_password: "0123456789" })).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  test("requires_token: the m.login.registration_token stage, uses counted, /validity", async () => {
    const s = await startTestServer({ backend, config: { registration: { enabled: true, requires_token: true } } });
    try {
      const anon = new TestClient(s.url);
      const admin = await registerUser(s, uniqueLocalpart("admin"), "password", true);
      const token = (await admin.ok("POST", "/_synapse/admin/v1/registration_tokens/new", { token: "onlyonce", uses_allowed: 1 })).token;
      const VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity";
      const v = await anon.get(`${VALIDITY}?token=${token}`);
      expect(v.body).toEqual({ valid: true });
      assertMatchesSpec("client-server/registration_tokens", "GET", "/register/m.login.registration_token/validity", 200, v.body);
      expect((await anon.get(`${VALIDITY}?token=unknown`)).body).toEqual({ valid: false });
      expectError(await anon.get(VALIDITY), 400, "M_MISSING_PARAM");

      const first = await anon.post(REGISTER, { username: "tokenuser", password: "pw" });
      expect(first.status).toBe(401);
      expect(first.body.flows).toEqual([{ stages: ["m.login.registration_token"] }]);
      // The dummy stage is not offered here.
      expectError(await anon.post(REGISTER, { username: "tokenuser", password: "pw", auth: { type: "m.login.dummy", session: first.body.session } }), 400, "M_UNRECOGNIZED");
      const wrong = await anon.post(REGISTER, { username: "tokenuser", password: "pw", auth: { type: "m.login.registration_token", token: "nope", session: first.body.session } });
      expect(wrong.status).toBe(401);
      expect(wrong.body.errcode).toBe("M_UNAUTHORIZED");
      expect(wrong.body.session).toBe(first.body.session);
      assertMatchesSpec("client-server/registration", "POST", "/register", 401, wrong.body);

      // A second session that passed the token stage would exceed uses_allowed once this one is pending.
      const ok = await anon.post(REGISTER, { username: "tokenuser", password: "pw", auth: { type: "m.login.registration_token", token, session: first.body.session } });
      expect(ok.status).toBe(200);
      const info = await admin.ok("GET", `/_synapse/admin/v1/registration_tokens/${token}`);
      expect(info).toMatchObject({ pending: 0, completed: 1 });
      expect((await anon.get(`${VALIDITY}?token=${token}`)).body).toEqual({ valid: false });
      const again = await anon.post(REGISTER, { username: "tokenuser2", password: "pw", auth: { type: "m.login.registration_token", token } });
      expect(again.status).toBe(401);
      expect(again.body.errcode).toBe("M_UNAUTHORIZED");
    } finally {
      await s.stop();
    }
  });

  test("a pending token use counts against uses_allowed", async () => {
    const s = await startTestServer({ backend, config: { registration: { enabled: true, requires_token: true } } });
    try {
      const anon = new TestClient(s.url);
      const admin = await registerUser(s, uniqueLocalpart("admin"), "password", true);
      await admin.ok("POST", "/_synapse/admin/v1/registration_tokens/new", { token: "one", uses_allowed: 1 });
      // Stage completed, registration not finished (password missing): one use is pending.
      const a = await anon.post(REGISTER, { username: "pend1", auth: { type: "m.login.registration_token", token: "one" } });
      expectError(a, 400, "M_MISSING_PARAM");
      expect(await admin.ok("GET", "/_synapse/admin/v1/registration_tokens/one")).toMatchObject({ pending: 1, completed: 0 });
      const b = await anon.post(REGISTER, { username: "pend2", password: "pw", auth: { type: "m.login.registration_token", token: "one" } });
      expect(b.status).toBe(401);
      expect(b.body.errcode).toBe("M_UNAUTHORIZED");
    } finally {
      await s.stop();
    }
  });
});

test("UIA sessions survive a restart between two stages [sqlite]", async () => {
  const dir = tempDir();
  const cfg = () =>
    validateConfig(
      {
        server_name: "localhost",
        registration: { enabled: true },
        database: { backend: "sqlite", path: `${dir}/hs.db` },
        listeners: [{ bind_address: "127.0.0.1", port: 0 }],
        logging: { level: "error" },
        ratelimit: { enabled: false },
      },
      "test",
      dir,
    ).config;
  let hs = await startHomeserver(cfg());
  const first = await new TestClient(hs.listeners[0]!.url).post(REGISTER, { username: "restart", password: "pw" });
  expect(first.status).toBe(401);
  await hs.stop(1000);
  hs = await startHomeserver(cfg());
  try {
    const done = await new TestClient(hs.listeners[0]!.url).post(REGISTER, { username: "restart", password: "pw", auth: { type: "m.login.dummy", session: first.body.session } });
    expect(done.status).toBe(200);
    expect(done.body.user_id).toBe("@restart:localhost");
  } finally {
    await hs.stop(1000);
  }
});
