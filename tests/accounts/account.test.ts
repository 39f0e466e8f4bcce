// POST /account/password, POST /account/deactivate, and the third-party identifier endpoints.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient, uniqueLocalpart, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const PASSWORD = "/_matrix/client/v3/account/password";
const DEACTIVATE = "/_matrix/client/v3/account/deactivate";
const WHOAMI = "/_matrix/client/v3/account/whoami";

describeOnBackends("account management", (backend) => {
  const ctx = fixture<{ s: TestServer; anon: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { registration: { enabled: true } } });
    ctx.anon = new TestClient(ctx.s.url);
  });

  test("password change: UIA with the old password, other devices logged out", async () => {
    const name = uniqueLocalpart("pw");
    const me = await registerUser(ctx.s, name, "old-pw");
    const other = await loginUser(ctx.s, name, "old-pw");
    const first = await me.post(PASSWORD, { new_password: "new-pw" });
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/password_management", "POST", "/account/password", 401, first.body);
    const wrong = await me.post(PASSWORD, {
      new_password: "new-pw",
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "bad", session: first.body.session },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");
    const ok = await withPasswordAuth(me, "POST", PASSWORD, { new_password: "new-pw" }, "old-pw");
    expect(ok.status).toBe(200);
    assertMatchesSpec("client-server/password_management", "POST", "/account/password", 200, ok.body);
    expect((await me.get(WHOAMI)).status).toBe(200);
    expectError(await other.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    expect((await me.ok("GET", "/_matrix/client/v3/devices")).devices).toHaveLength(1);
    expectError(await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", user: name, password: "old-pw" }), 403, "M_FORBIDDEN");
    expect((await loginUser(ctx.s, name, "new-pw")).accessToken).toBeDefined();
  });

  test("password change with logout_devices: false keeps the other sessions", async () => {
    const name = uniqueLocalpart("pw2");
    const me = await registerUser(ctx.s, name, "old-pw");
    const other = await loginUser(ctx.s, name, "old-pw");
    expect((await withPasswordAuth(me, "POST", PASSWORD, { new_password: "new-pw", logout_devices: false }, "old-pw")).status).toBe(200);
    expect((await other.get(WHOAMI)).status).toBe(200);
  });

  test("password change input errors and authentication", async () => {
    const me = await registerUser(ctx.s, uniqueLocalpart());
    expectError(await withPasswordAuth(me, "POST", PASSWORD, {}), 400, "M_MISSING_PARAM");
    expectError(await me.post(PASSWORD, { new_password: 5 }), 400, "M_BAD_JSON");
    expectError(await me.post(PASSWORD, { new_password: "x".repeat(513) }), 400, "M_INVALID_PARAM");
    expectError(await ctx.anon.post(PASSWORD, { new_password: "x" }), 401, "M_MISSING_TOKEN");
  });

  test("deactivation: UIA, every token revoked, profile erased, ID never reusable", async () => {
    const name = uniqueLocalpart("gone");
    const me = await registerUser(ctx.s, name, "pw");
    const other = await loginUser(ctx.s, name, "pw");
    await me.ok("PUT", `/_matrix/client/v3/profile/${me.userId}/avatar_url`, { avatar_url: "mxc://localhost/abc" });
    const hooked: string[] = [];
    ctx.s.hs.services.accounts.onDeactivated.push(async (userId) => void hooked.push(userId));
    const first = await me.post(DEACTIVATE, {});
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/account_deactivation", "POST", "/account/deactivate", 401, first.body);
    const r = await withPasswordAuth(me, "POST", DEACTIVATE, { erase: true }, "pw");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/account_deactivation", "POST", "/account/deactivate", 200, r.body);
    expect(r.body).toEqual({ id_server_unbind_result: "success" });
    expect(hooked).toEqual([me.userId!]);
    expectError(await me.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    expectError(await other.get(WHOAMI), 401, "M_UNKNOWN_TOKEN");
    expectError(await ctx.anon.get(`/_matrix/client/v3/profile/${me.userId}`), 404, "M_NOT_FOUND");
    const login = await ctx.anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "pw" });
    expectError(login, 403, "M_USER_DEACTIVATED");
    assertMatchesSpec("client-server/login", "POST", "/login", 403, login.body);
    expectError(await ctx.anon.post("/_matrix/client/v3/register", { username: name, password: "pw" }), 400, "M_USER_IN_USE");
    expectError(await ctx.anon.get(`/_matrix/client/v3/register/available?username=${name}`), 400, "M_USER_IN_USE");
  });

  test("third-party identifiers: none stored, changes refused with the spec's codes", async () => {
    const me = await registerUser(ctx.s, uniqueLocalpart());
    const list = await me.get("/_matrix/client/v3/account/3pid");
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ threepids: [] });
    assertMatchesSpec("client-server/administrative_contact", "GET", "/account/3pid", 200, list.body);

    const post = await me.post("/_matrix/client/v3/account/3pid", { three_pid_creds: { client_secret: "s", id_server: "id.example", id_access_token: "t", sid: "1" } });
    expectError(post, 403, "M_SERVER_NOT_TRUSTED");
    assertMatchesSpec("client-server/administrative_contact", "POST", "/account/3pid", 403, post.body);
    expectError(await me.post("/_matrix/client/v3/account/3pid/bind", { client_secret: "s", id_server: "id.example", id_access_token: "t", sid: "1" }), 403, "M_SERVER_NOT_TRUSTED");
    expectError(await me.post("/_matrix/client/v3/account/3pid/bind", {}), 400, "M_MISSING_PARAM");
    expectError(await me.post("/_matrix/client/v3/account/3pid/add", { client_secret: "s", sid: "1" }), 403, "M_FORBIDDEN");
    expectError(await me.post("/_matrix/client/v3/account/3pid/delete", { medium: "email", address: "a@example.org" }), 400, "M_THREEPID_NOT_FOUND");
    expectError(await me.post("/_matrix/client/v3/account/3pid/unbind", { medium: "msisdn", address: "447700900001" }), 400, "M_THREEPID_NOT_FOUND");
    expectError(await me.post("/_matrix/client/v3/account/3pid/delete", { medium: "fax", address: "1" }), 400, "M_INVALID_PARAM");

    const email = await ctx.anon.post("/_matrix/client/v3/account/3pid/email/requestToken", { client_secret: "secret", email: "a@example.org", send_attempt: 1 });
    expectError(email, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED");
    assertMatchesSpec("client-server/administrative_contact", "POST", "/account/3pid/email/requestToken", 400, email.body);
    expectError(await ctx.anon.post("/_matrix/client/v3/account/3pid/msisdn/requestToken", { client_secret: "secret", country: "GB", phone_number: "1", send_attempt: 1 }), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED");
    const reset = await ctx.anon.post("/_matrix/client/v3/account/password/email/requestToken", { client_secret: "secret", email: "a@example.org", send_attempt: 1 });
    expectError(reset, 403, "M_THREEPID_DENIED");
    assertMatchesSpec("client-server/password_management", "POST", "/account/password/email/requestToken", 403, reset.body);
    expectError(await ctx.anon.post("/_matrix/client/v3/account/password/msisdn/requestToken", { client_secret: "bad secret!", country: "GB", phone_number: "1", send_attempt: 1 }), 400, "M_INVALID_PARAM");
  });
});
