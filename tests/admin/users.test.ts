// Synapse's user admin API over HTTP, on both databases: list (filters, order, pagination), query,
// create or modify, deactivate (erase), reset password, admin flag, joined rooms, memberships,
// devices, login as user; every endpoint refuses non-admins with 403 M_FORBIDDEN.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const enc = encodeURIComponent;

describeOnBackends("user admin API", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; alice: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "adminpw", true);
    ctx.alice = await registerUser(ctx.s, uniqueLocalpart("alice"), "alicepw");
  });

  test("non-admins get 403 M_FORBIDDEN everywhere; no token is 401", async () => {
    const u = enc(ctx.alice.userId!);
    const calls: Array<[string, string, unknown?]> = [
      ["GET", "/_synapse/admin/v2/users"],
      ["GET", `/_synapse/admin/v2/users/${u}`],
      ["PUT", `/_synapse/admin/v2/users/${u}`, { admin: true }],
      ["POST", `/_synapse/admin/v1/deactivate/${u}`, {}],
      ["POST", `/_synapse/admin/v1/reset_password/${u}`, { new_password: "x" }],
      ["GET", `/_synapse/admin/v1/users/${u}/admin`],
      ["PUT", `/_synapse/admin/v1/users/${u}/admin`, { admin: true }],
      ["GET", `/_synapse/admin/v1/users/${u}/joined_rooms`],
      ["GET", `/_synapse/admin/v2/users/${u}/devices`],
      ["POST", `/_synapse/admin/v2/users/${u}/delete_devices`, { devices: [] }],
      ["POST", `/_synapse/admin/v1/users/${enc(ctx.admin.userId!)}/login`, {}],
      ["GET", "/_synapse/admin/v1/rooms"],
      ["GET", "/_synapse/admin/v1/background_updates/status"],
    ];
    for (const [method, path, body] of calls) {
      expectError(await ctx.alice.request(method, path, body), 403, "M_FORBIDDEN");
      expectError(await new TestClient(ctx.s.url).request(method, path, body), 401, "M_MISSING_TOKEN");
    }
    // Alice is still not an admin.
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/users/${u}/admin`)).admin).toBe(false);
    // server_version needs no token (as in Synapse).
    const v = await new TestClient(ctx.s.url).ok("GET", "/_synapse/admin/v1/server_version");
    expect(typeof v.server_version).toBe("string");
  });

  test("create with PUT (201), modify (200), query", async () => {
    const name = uniqueLocalpart("carol");
    const id = `@${name}:${ctx.s.serverName}`;
    const created = await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { password: "carolpw", displayname: "Carol", admin: false, user_type: "bot" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: id, displayname: "Carol", admin: false, deactivated: false, erased: false, is_guest: false, user_type: "bot", threepids: [], locked: false });
    expect(typeof created.body.creation_ts).toBe("number");
    const carol = await loginUser(ctx.s, name, "carolpw");

    const modified = await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { displayname: "Carol C.", admin: true, user_type: null, password: "newpw", logout_devices: false });
    expect(modified.status).toBe(200);
    expect(modified.body).toMatchObject({ name: id, displayname: "Carol C.", admin: true, user_type: null });
    // logout_devices: false kept the session; the new password works, the old one does not.
    expect((await carol.get("/_matrix/client/v3/account/whoami")).status).toBe(200);
    await loginUser(ctx.s, name, "newpw");
    expect((await new TestClient(ctx.s.url).post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "carolpw" })).status).toBe(403);
    // The display name reached the profile API, and Carol is an admin now.
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/profile/${enc(id)}`)).displayname).toBe("Carol C.");
    expect((await carol.get("/_synapse/admin/v2/users")).status).toBe(200);

    const q = await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(id)}`);
    expect(q).toMatchObject({ name: id, displayname: "Carol C.", admin: true, deactivated: false });
    expect(typeof q.last_seen_ts).toBe("number");

    // Errors: unknown user 404, remote user 400, bad types 400.
    expectError(await ctx.admin.get(`/_synapse/admin/v2/users/${enc(`@nobody:${ctx.s.serverName}`)}`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.get(`/_synapse/admin/v2/users/${enc("@x:elsewhere.org")}`), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get(`/_synapse/admin/v2/users/not-a-user-id`), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { admin: "yes" }), 400, "M_BAD_JSON");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { password: 5 }), 400, "M_BAD_JSON");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(`@long:${ctx.s.serverName}`)}`, { displayname: "x".repeat(300) }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { threepids: [{ medium: "email", address: "c@example.org" }] }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, "[1]"), 400, "M_NOT_JSON");
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(`@UPPER:${ctx.s.serverName}`)}`, { password: "x" }), 400, "M_INVALID_USERNAME");
    // An admin cannot demote themselves.
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(ctx.admin.userId!)}`, { admin: false }), 400, "M_UNKNOWN");
  });

  test("list: filters, order, direction, pagination with next_token and total", async () => {
    const tag = uniqueLocalpart("zz").replace(/_/g, "");
    const ids: string[] = [];
    for (const [i, dn] of ["Banana", "Apple", "Cherry"].entries()) {
      const id = `@${tag}${i}:${ctx.s.serverName}`;
      ids.push(id);
      expect((await ctx.admin.put(`/_synapse/admin/v2/users/${enc(id)}`, { password: "pw", displayname: `${dn} ${tag}` })).status).toBe(201);
    }
    const page1 = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}&limit=2`);
    expect(page1.total).toBe(3);
    expect(page1.users.map((u: { name: string }) => u.name)).toEqual(ids.slice(0, 2));
    expect(page1.next_token).toBe("2");
    const page2 = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}&limit=2&from=${page1.next_token}`);
    expect(page2.users.map((u: { name: string }) => u.name)).toEqual([ids[2]]);
    expect(page2.next_token).toBeUndefined();
    // Display names match case-insensitively; order_by displayname and dir=b.
    const byName = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${enc(`cherry ${tag}`.toUpperCase())}`);
    expect(byName.users.map((u: { name: string }) => u.name)).toEqual([ids[2]]);
    const ordered = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}&order_by=displayname`);
    expect(ordered.users.map((u: { displayname: string }) => u.displayname.split(" ")[0])).toEqual(["Apple", "Banana", "Cherry"]);
    const reversed = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}&order_by=name&dir=b`);
    expect(reversed.users.map((u: { name: string }) => u.name)).toEqual([...ids].reverse());
    expect(reversed.users[0]).toMatchObject({ is_guest: false, admin: false, deactivated: false, erased: false, shadow_banned: false, locked: false, user_type: null });
    // user_id filter; deactivated users appear only with deactivated=true (v2) or only them (v3).
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users?user_id=${enc(`${tag}1`)}`)).users.map((u: { name: string }) => u.name)).toEqual([ids[1]]);
    await ctx.admin.ok("POST", `/_synapse/admin/v1/deactivate/${enc(ids[0]!)}`, {});
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}`)).total).toBe(2);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users?name=${tag}&deactivated=true`)).total).toBe(3);
    const v3 = await ctx.admin.ok("GET", `/_synapse/admin/v3/users?user_id=${tag}&deactivated=true`);
    expect(v3.users.map((u: { name: string }) => u.name)).toEqual([ids[0]]);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v3/users?user_id=${tag}`)).total).toBe(3);
    // admins filter.
    const admins = await ctx.admin.ok("GET", `/_synapse/admin/v2/users?admins=true&limit=1000`);
    expect(admins.users.every((u: { admin: boolean }) => u.admin)).toBe(true);
    expect(admins.users.map((u: { name: string }) => u.name)).toContain(ctx.admin.userId);
    // Bad parameters.
    expectError(await ctx.admin.get("/_synapse/admin/v2/users?from=-1"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v2/users?limit=abc"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v2/users?guests=maybe"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v2/users?order_by=password"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v2/users?dir=up"), 400, "M_INVALID_PARAM");
  });

  test("deactivate with erase; reactivate with a password", async () => {
    const name = uniqueLocalpart("dave");
    const dave = await registerUser(ctx.s, name, "davepw");
    const room = (await dave.ok("POST", "/_matrix/client/v3/createRoom", { name: "dave's" })).room_id;
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/users/${enc(dave.userId!)}/joined_rooms`))).toEqual({ joined_rooms: [room], total: 1 });
    expectError(await ctx.admin.post(`/_synapse/admin/v1/deactivate/${enc(dave.userId!)}`, { erase: "yes" }), 400, "M_BAD_JSON");
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/deactivate/${enc(dave.userId!)}`, { erase: true })).toEqual({ id_server_unbind_result: "success" });
    expectError(await dave.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    const q = await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(dave.userId!)}`);
    expect(q).toMatchObject({ deactivated: true, erased: true, displayname: null });
    // Deactivation left the room.
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/users/${enc(dave.userId!)}/joined_rooms`)).total).toBe(0);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/users/${enc(dave.userId!)}/memberships`)).memberships).toEqual({ [room]: "leave" });
    // Reactivation needs a password.
    expectError(await ctx.admin.put(`/_synapse/admin/v2/users/${enc(dave.userId!)}`, { deactivated: false }), 400, "M_UNKNOWN");
    const back = await ctx.admin.put(`/_synapse/admin/v2/users/${enc(dave.userId!)}`, { deactivated: false, password: "again" });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ deactivated: false, erased: false });
    await loginUser(ctx.s, name, "again");
    // Deactivating through PUT.
    expect((await ctx.admin.put(`/_synapse/admin/v2/users/${enc(dave.userId!)}`, { deactivated: true })).body.deactivated).toBe(true);
    expectError(await ctx.admin.post(`/_synapse/admin/v1/deactivate/${enc(`@ghost:${ctx.s.serverName}`)}`, {}), 404, "M_NOT_FOUND");
  });

  test("reset password logs out devices unless logout_devices is false", async () => {
    const name = uniqueLocalpart("erin");
    const erin = await registerUser(ctx.s, name, "erinpw");
    const path = `/_synapse/admin/v1/reset_password/${enc(erin.userId!)}`;
    expectError(await ctx.admin.post(path, {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.admin.post(path, { new_password: "" }), 400, "M_INVALID_PARAM");
    expect(await ctx.admin.ok("POST", path, { new_password: "second", logout_devices: false })).toEqual({});
    expect((await erin.get("/_matrix/client/v3/account/whoami")).status).toBe(200);
    expect(await ctx.admin.ok("POST", path, { new_password: "third" })).toEqual({});
    expectError(await erin.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    await loginUser(ctx.s, name, "third");
  });

  test("admin flag get and put", async () => {
    const frank = await registerUser(ctx.s, uniqueLocalpart("frank"), "pw");
    const path = `/_synapse/admin/v1/users/${enc(frank.userId!)}/admin`;
    expect(await ctx.admin.ok("GET", path)).toEqual({ admin: false });
    expectError(await frank.get("/_synapse/admin/v2/users"), 403, "M_FORBIDDEN");
    expect(await ctx.admin.ok("PUT", path, { admin: true })).toEqual({});
    expect(await ctx.admin.ok("GET", path)).toEqual({ admin: true });
    // The change applies to the user's current session at once.
    expect((await frank.get("/_synapse/admin/v2/users")).status).toBe(200);
    expectError(await ctx.admin.put(path, { admin: "true" }), 400, "M_MISSING_PARAM");
    expectError(await ctx.admin.put(`/_synapse/admin/v1/users/${enc(ctx.admin.userId!)}/admin`, { admin: false }), 400, "M_UNKNOWN");
  });

  test("devices: list, get, create, rename, delete, delete_devices", async () => {
    const name = uniqueLocalpart("gina");
    const gina = await registerUser(ctx.s, name, "pw");
    const second = await loginUser(ctx.s, name, "pw");
    const base = `/_synapse/admin/v2/users/${enc(gina.userId!)}/devices`;
    const list = await ctx.admin.ok("GET", base);
    expect(list.total).toBe(2);
    expect(list.devices.map((d: { device_id: string }) => d.device_id).sort()).toEqual([gina.deviceId, second.deviceId].sort());
    expect(list.devices[0]).toMatchObject({ user_id: gina.userId, dehydrated: false });
    expect(await ctx.admin.ok("POST", base, { device_id: "ADMINMADE" })).toEqual({});
    expect(await ctx.admin.ok("PUT", `${base}/ADMINMADE`, { display_name: "made by admin" })).toEqual({});
    expect(await ctx.admin.ok("GET", `${base}/ADMINMADE`)).toMatchObject({ device_id: "ADMINMADE", display_name: "made by admin", user_id: gina.userId });
    expectError(await ctx.admin.get(`${base}/NOSUCH`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.put(`${base}/NOSUCH`, { display_name: "x" }), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.post(base, {}), 400, "M_MISSING_PARAM");
    // Deleting a device revokes its token.
    expect(await ctx.admin.ok("DELETE", `${base}/${second.deviceId}`)).toEqual({});
    expectError(await second.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v2/users/${enc(gina.userId!)}/delete_devices`, { devices: [gina.deviceId, "ADMINMADE"] })).toEqual({});
    expect((await ctx.admin.ok("GET", base)).total).toBe(0);
    expectError(await gina.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    expectError(await ctx.admin.post(`/_synapse/admin/v2/users/${enc(gina.userId!)}/delete_devices`, { devices: "all" }), 400, "M_MISSING_PARAM");
  });

  test("login as a user: a device-less token, optionally expiring", async () => {
    const hank = await registerUser(ctx.s, uniqueLocalpart("hank"), "pw");
    const path = `/_synapse/admin/v1/users/${enc(hank.userId!)}/login`;
    const { access_token } = await ctx.admin.ok("POST", path, {});
    const puppet = new TestClient(ctx.s.url, access_token);
    expect((await puppet.ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe(hank.userId);
    // Not a new device of the user.
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(hank.userId!)}/devices`)).total).toBe(1);
    const expiring = await ctx.admin.ok("POST", path, { valid_until_ms: Date.now() + 60_000 });
    expect((await new TestClient(ctx.s.url, expiring.access_token).get("/_matrix/client/v3/account/whoami")).status).toBe(200);
    expectError(await ctx.admin.post(path, { valid_until_ms: Date.now() - 1000 }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.post(path, { valid_until_ms: "soon" }), 400, "M_BAD_JSON");
    expectError(await ctx.admin.post(`/_synapse/admin/v1/users/${enc(ctx.admin.userId!)}/login`, {}), 400, "M_UNKNOWN");
    // Logging the token out ends it.
    await puppet.ok("POST", "/_matrix/client/v3/logout", {});
    expectError(await puppet.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
  });

  test("whois and background updates", async () => {
    const w = await ctx.admin.ok("GET", `/_synapse/admin/v1/whois/${enc(ctx.alice.userId!)}`);
    expect(w.user_id).toBe(ctx.alice.userId);
    expect(Object.keys(w.devices)).toContain(ctx.alice.deviceId!);
    expect(await ctx.admin.ok("GET", "/_synapse/admin/v1/background_updates/status")).toEqual({ enabled: true, current_updates: {} });
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/username_available?username=${uniqueLocalpart("free")}`))).toEqual({ available: true });
    expectError(await ctx.admin.get(`/_synapse/admin/v1/username_available?username=${enc(ctx.alice.userId!.slice(1).split(":")[0]!)}`), 400, "M_USER_IN_USE");
  });
});
