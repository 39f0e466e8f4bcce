// Profiles (GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}) and GET /capabilities.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const P = "/_matrix/client/v3/profile";

describeOnBackends("profiles", (backend) => {
  const changes: Array<[string, string, unknown]> = [];
  const ctx = fixture<{ s: TestServer; me: TestClient; anon: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { registration: { enabled: true, allow_guests: true } } });
    ctx.s.hs.services.profiles.onProfileChange.push(async (u, k, v) => void changes.push([u, k, v]));
    ctx.me = await registerUser(ctx.s, uniqueLocalpart("prof"));
    ctx.anon = new TestClient(ctx.s.url);
  });

  test("displayname and avatar_url: set, read, delete", async () => {
    const put = await ctx.me.put(`${P}/${ctx.me.userId}/displayname`, { displayname: "Alice Wonderland" });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/profile", "PUT", "/profile/{userId}/{keyName}", 200, put.body);
    expect(changes).toContainEqual([ctx.me.userId!, "displayname", "Alice Wonderland"]);
    const dn = await ctx.anon.get(`${P}/${encodeURIComponent(ctx.me.userId!)}/displayname`);
    expect(dn.body).toEqual({ displayname: "Alice Wonderland" });
    assertMatchesSpec("client-server/profile", "GET", "/profile/{userId}/{keyName}", 200, dn.body);
    await ctx.me.ok("PUT", `${P}/${ctx.me.userId}/avatar_url`, { avatar_url: "mxc://localhost/avatar1" });
    const all = await ctx.anon.get(`${P}/${ctx.me.userId}`);
    expect(all.status).toBe(200);
    assertMatchesSpec("client-server/profile", "GET", "/profile/{userId}", 200, all.body);
    expect(all.body).toEqual({ displayname: "Alice Wonderland", avatar_url: "mxc://localhost/avatar1" });
    const del = await ctx.me.delete(`${P}/${ctx.me.userId}/avatar_url`);
    expect(del.status).toBe(200);
    assertMatchesSpec("client-server/profile", "DELETE", "/profile/{userId}/{keyName}", 200, del.body);
    expect(changes).toContainEqual([ctx.me.userId!, "avatar_url", undefined]);
    expectError(await ctx.anon.get(`${P}/${ctx.me.userId}/avatar_url`), 404, "M_NOT_FOUND");
    // Deleting a missing field is fine.
    expect((await ctx.me.delete(`${P}/${ctx.me.userId}/avatar_url`)).status).toBe(200);
    // An empty display name removes it (as Synapse).
    await ctx.me.ok("PUT", `${P}/${ctx.me.userId}/displayname`, { displayname: "" });
    expectError(await ctx.anon.get(`${P}/${ctx.me.userId}/displayname`), 404, "M_NOT_FOUND");
  });

  test("custom fields (v1.16) and m.tz", async () => {
    await ctx.me.ok("PUT", `${P}/${ctx.me.userId}/m.tz`, { "m.tz": "Europe/London" });
    await ctx.me.ok("PUT", `${P}/${ctx.me.userId}/org.example.job`, { "org.example.job": { title: "Engineer", since: 2020 } });
    await ctx.me.ok("PUT", `${P}/${ctx.me.userId}/org.example.nullable`, { "org.example.nullable": null });
    const all = await ctx.anon.ok("GET", `${P}/${ctx.me.userId}`);
    expect(all["m.tz"]).toBe("Europe/London");
    expect(all["org.example.job"]).toEqual({ title: "Engineer", since: 2020 });
    expect(all["org.example.nullable"]).toBeNull();
    assertMatchesSpec("client-server/profile", "GET", "/profile/{userId}", 200, all);
    expect((await ctx.anon.ok("GET", `${P}/${ctx.me.userId}/org.example.job`))["org.example.job"].title).toBe("Engineer");
    await ctx.me.ok("DELETE", `${P}/${ctx.me.userId}/org.example.job`);
    expect((await ctx.anon.ok("GET", `${P}/${ctx.me.userId}`))["org.example.job"]).toBeUndefined();
  });

  test("invalid keys and values", async () => {
    const bad = await ctx.me.put(`${P}/${ctx.me.userId}/NotNamespaced`, { NotNamespaced: 1 });
    expectError(bad, 400, "M_INVALID_PARAM");
    assertMatchesSpec("client-server/profile", "PUT", "/profile/{userId}/{keyName}", 400, bad.body);
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/nodots`, { nodots: 1 }), 400, "M_INVALID_PARAM");
    const longKey = "org.example." + "k".repeat(250);
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/${longKey}`, { [longKey]: 1 }), 400, "M_KEY_TOO_LARGE");
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/displayname`, { other: "x" }), 400, "M_MISSING_PARAM");
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/displayname`, { displayname: 42 }), 400, "M_BAD_JSON");
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/avatar_url`, { avatar_url: "https://example.org/a.png" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.me.put(`${P}/${ctx.me.userId}/displayname`, { displayname: "x".repeat(300) }), 400, "M_INVALID_PARAM");
    expectError(await ctx.me.delete(`${P}/${ctx.me.userId}/BAD`), 400, "M_INVALID_PARAM");
  });

  test("the whole profile must stay under 64 KiB: M_PROFILE_TOO_LARGE", async () => {
    const u = await registerUser(ctx.s, uniqueLocalpart("big"));
    await u.ok("PUT", `${P}/${u.userId}/org.example.a`, { "org.example.a": "a".repeat(40_000) });
    const r = await u.put(`${P}/${u.userId}/org.example.b`, { "org.example.b": "b".repeat(30_000) });
    expectError(r, 400, "M_PROFILE_TOO_LARGE");
    assertMatchesSpec("client-server/profile", "PUT", "/profile/{userId}/{keyName}", 400, r.body);
    // Replacing a field counts its new size only.
    expect((await u.put(`${P}/${u.userId}/org.example.a`, { "org.example.a": "c".repeat(60_000) })).status).toBe(200);
  });

  test("permissions: only the owner (or a server admin) changes a profile; tokens required", async () => {
    const other = await registerUser(ctx.s, uniqueLocalpart("other"));
    const r = await other.put(`${P}/${ctx.me.userId}/displayname`, { displayname: "Hacked" });
    expectError(r, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/profile", "PUT", "/profile/{userId}/{keyName}", 403, r.body);
    expectError(await other.delete(`${P}/${ctx.me.userId}/displayname`), 403, "M_FORBIDDEN");
    expectError(await ctx.anon.put(`${P}/${ctx.me.userId}/displayname`, { displayname: "x" }), 401, "M_MISSING_TOKEN");
    const admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "password", true);
    expect((await admin.put(`${P}/${other.userId}/displayname`, { displayname: "Set by admin" })).status).toBe(200);
    expect((await ctx.anon.ok("GET", `${P}/${other.userId}/displayname`)).displayname).toBe("Set by admin");
  });

  test("unknown users → 404 M_NOT_FOUND", async () => {
    const r = await ctx.anon.get(`${P}/@nobody:${ctx.s.serverName}`);
    expectError(r, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/profile", "GET", "/profile/{userId}", 404, r.body);
    expectError(await ctx.anon.get(`${P}/@nobody:${ctx.s.serverName}/displayname`), 404, "M_NOT_FOUND");
    // A remote user's profile is asked of their server (issue 17); one that cannot be reached is 502, as Synapse answers.
    expectError(await ctx.anon.get(`${P}/@someone:remote.example`), 502, "M_UNKNOWN");
    expectError(await ctx.anon.get(`${P}/not-a-user-id`), 400, "M_INVALID_PARAM");
  });

  test("GET /capabilities", async () => {
    const r = await ctx.me.get("/_matrix/client/v3/capabilities");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/capabilities", "GET", "/capabilities", 200, r.body);
    const c = r.body.capabilities;
    expect(c["m.change_password"]).toEqual({ enabled: true });
    expect(c["m.set_displayname"]).toEqual({ enabled: true });
    expect(c["m.set_avatar_url"]).toEqual({ enabled: true });
    expect(c["m.3pid_changes"]).toEqual({ enabled: false });
    expect(c["m.get_login_token"]).toEqual({ enabled: true });
    expect(c["m.profile_fields"]).toEqual({ enabled: true });
    expect(c["m.room_versions"].available[c["m.room_versions"].default]).toBe("stable");
    expectError(await ctx.anon.get("/_matrix/client/v3/capabilities"), 401, "M_MISSING_TOKEN");
    // /capabilities is not on the spec's Guest Access list (it is declared "user", not "guest").
    const guest = await ctx.anon.ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    expectError(await new TestClient(ctx.s.url, guest.access_token).get("/_matrix/client/v3/capabilities"), 403, "M_GUEST_ACCESS_FORBIDDEN");
  });
});
