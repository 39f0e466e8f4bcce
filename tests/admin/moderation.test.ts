// Account moderation (client-server-api "Account locking", "Account suspension" and the v1.18
// admin endpoints /_matrix/client/v1/admin/{lock,suspend}/{userId}), with Synapse's admin API
// equivalents (`locked` in PUT /_synapse/admin/v2/users, PUT /_synapse/admin/v1/suspend) and the
// `m.account_moderation` capability, on both databases.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, send, sync } from "../helpers/sync.ts";

const enc = encodeURIComponent;
const ADMIN_API = "client-server/admin";

describeOnBackends("account moderation", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; otherAdmin: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "adminpw", true);
    ctx.otherAdmin = await registerUser(ctx.s, uniqueLocalpart("admin2"), "adminpw", true);
  });

  test("the admin endpoints: authorisation first, then local (400), existing (404), not another admin (403), not oneself (403)", async () => {
    const user = await registerUser(ctx.s, uniqueLocalpart("target"), "pw");
    const u = enc(user.userId!);
    for (const path of ["lock", "suspend"]) {
      const flag = path === "lock" ? "locked" : "suspended";
      // Non-admins are refused before any lookup, even of users that do not exist.
      for (const target of [u, enc(`@nobody:${ctx.s.serverName}`)]) {
        expectError(await user.request("GET", `/_matrix/client/v1/admin/${path}/${target}`), 403, "M_FORBIDDEN");
        expectError(await user.request("PUT", `/_matrix/client/v1/admin/${path}/${target}`, { [flag]: true }), 403, "M_FORBIDDEN");
      }
      expectError(await new TestClient(ctx.s.url).request("GET", `/_matrix/client/v1/admin/${path}/${u}`), 401, "M_MISSING_TOKEN");

      const got = await ctx.admin.request("GET", `/_matrix/client/v1/admin/${path}/${u}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ [flag]: false });
      assertMatchesSpec(ADMIN_API, "get", `/v1/admin/${path}/{userId}`, 200, got.body);

      const remote = await ctx.admin.request("GET", `/_matrix/client/v1/admin/${path}/${enc("@x:elsewhere.example")}`);
      expectError(remote, 400, "M_INVALID_PARAM");
      assertMatchesSpec(ADMIN_API, "get", `/v1/admin/${path}/{userId}`, 400, remote.body);
      expectError(await ctx.admin.request("GET", `/_matrix/client/v1/admin/${path}/${enc(`@nobody:${ctx.s.serverName}`)}`), 404, "M_NOT_FOUND");
      expectError(await ctx.admin.request("PUT", `/_matrix/client/v1/admin/${path}/${enc(ctx.otherAdmin.userId!)}`, { [flag]: true }), 403, "M_FORBIDDEN");
      expectError(await ctx.admin.request("GET", `/_matrix/client/v1/admin/${path}/${enc(ctx.otherAdmin.userId!)}`), 403, "M_FORBIDDEN");
      expectError(await ctx.admin.request("PUT", `/_matrix/client/v1/admin/${path}/${enc(ctx.admin.userId!)}`, { [flag]: true }), 403, "M_FORBIDDEN");
      // Bad bodies.
      expectError(await ctx.admin.request("PUT", `/_matrix/client/v1/admin/${path}/${u}`, {}), 400, "M_MISSING_PARAM");
      expectError(await ctx.admin.request("PUT", `/_matrix/client/v1/admin/${path}/${u}`, { [flag]: "yes" }), 400, "M_BAD_JSON");
    }
    // A deactivated user is not found.
    const gone = await registerUser(ctx.s, uniqueLocalpart("gone"), "pw");
    await ctx.admin.ok("POST", `/_synapse/admin/v1/deactivate/${enc(gone.userId!)}`, {});
    expectError(await ctx.admin.request("PUT", `/_matrix/client/v1/admin/lock/${enc(gone.userId!)}`, { locked: true }), 404, "M_NOT_FOUND");
  });

  test("the m.account_moderation capability is offered to admins only", async () => {
    const user = await registerUser(ctx.s, uniqueLocalpart("cap"), "pw");
    expect((await ctx.admin.ok("GET", "/_matrix/client/v3/capabilities")).capabilities["m.account_moderation"]).toEqual({ suspend: true, lock: true });
    expect((await user.ok("GET", "/_matrix/client/v3/capabilities")).capabilities["m.account_moderation"]).toBeUndefined();
  });

  test("a locked account: 401 M_USER_LOCKED with soft_logout everywhere but logout; sessions survive and work again after unlocking", async () => {
    const name = uniqueLocalpart("locked");
    const bob = await registerUser(ctx.s, name, "bobpw");
    const second = await loginUser(ctx.s, name, "bobpw");
    const roomId = await createRoom(bob, { name: "before the lock" });
    const put = await ctx.admin.request("PUT", `/_matrix/client/v1/admin/lock/${enc(bob.userId!)}`, { locked: true });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ locked: true });
    assertMatchesSpec(ADMIN_API, "put", "/v1/admin/lock/{userId}", 200, put.body);
    expect(await ctx.admin.ok("GET", `/_matrix/client/v1/admin/lock/${enc(bob.userId!)}`)).toEqual({ locked: true });
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(bob.userId!)}`)).locked).toBe(true);

    for (const [method, path, body] of [
      ["GET", "/_matrix/client/v3/sync?timeout=0"],
      ["GET", "/_matrix/client/v3/account/whoami"],
      ["GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b`],
      ["PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: "m.text", body: "hi" }],
      ["GET", "/_matrix/client/v3/devices"],
    ] as Array<[string, string, unknown?]>) {
      const r = await bob.request(method, path, body);
      expectError(r, 401, "M_USER_LOCKED");
      expect(r.body.soft_logout).toBe(true);
    }
    // The right password does not open a new session either (same error, so the client keeps its state).
    const login = await new TestClient(ctx.s.url).request("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "bobpw" });
    expectError(login, 401, "M_USER_LOCKED");
    expect(login.body.soft_logout).toBe(true);
    // A wrong password still says only that (no account-state disclosure).
    expectError(await new TestClient(ctx.s.url).request("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "nope" }), 403, "M_FORBIDDEN");
    // Logout works for a locked account.
    expect((await second.request("POST", "/_matrix/client/v3/logout", {})).status).toBe(200);

    // Unlocked (through Synapse's admin API this time): the first session works again.
    const unlocked = await ctx.admin.put(`/_synapse/admin/v2/users/${enc(bob.userId!)}`, { locked: false });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body.locked).toBe(false);
    expect((await bob.ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe(bob.userId);
    await send(bob, roomId, "after the lock");
    // The logged-out session stays logged out.
    expectError(await second.request("GET", "/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    // Locking through Synapse's API works too, and admins cannot lock themselves there either.
    expect((await ctx.admin.put(`/_synapse/admin/v2/users/${enc(bob.userId!)}`, { locked: true })).body.locked).toBe(true);
    expectError(await bob.request("GET", "/_matrix/client/v3/account/whoami"), 401, "M_USER_LOCKED");
    expectError(await ctx.admin.request("PUT", `/_synapse/admin/v2/users/${enc(ctx.admin.userId!)}`, { locked: true }), 403, "M_FORBIDDEN");
    expect((await ctx.admin.ok("GET", "/_synapse/admin/v2/users?name=" + name)).users[0].locked).toBe(true);
  });

  test("a suspended account reads, leaves and redacts its own events, but cannot join, invite, send, or change its profile", async () => {
    const carol = await registerUser(ctx.s, uniqueLocalpart("carol"), "pw");
    const dave = await registerUser(ctx.s, uniqueLocalpart("dave"), "pw");
    const room = await createRoom(dave, { name: "dave's", preset: "public_chat" });
    await carol.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
    const own = await send(carol, room, "mine");
    const theirs = await send(dave, room, "theirs");
    const other = await createRoom(dave, { name: "elsewhere", preset: "public_chat" });
    const invitedTo = await createRoom(dave, { name: "invited" });
    await dave.ok("POST", `/_matrix/client/v3/rooms/${enc(invitedTo)}/invite`, { user_id: carol.userId });

    const put = await ctx.admin.request("PUT", `/_matrix/client/v1/admin/suspend/${enc(carol.userId!)}`, { suspended: true });
    expect(put.body).toEqual({ suspended: true });
    assertMatchesSpec(ADMIN_API, "put", "/v1/admin/suspend/{userId}", 200, put.body);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(carol.userId!)}`)).suspended).toBe(true);

    const refused: Array<[string, string, unknown?]> = [
      ["POST", "/_matrix/client/v3/createRoom", {}],
      ["POST", `/_matrix/client/v3/join/${enc(other)}`, {}],
      ["POST", `/_matrix/client/v3/rooms/${enc(invitedTo)}/join`, {}],
      ["POST", `/_matrix/client/v3/knock/${enc(other)}`, {}],
      ["POST", `/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: ctx.admin.userId }],
      ["PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/s1`, { msgtype: "m.text", body: "hi" }],
      ["PUT", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.topic`, { topic: "x" }],
      ["PUT", `/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(theirs)}/r1`, {}],
      ["PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.redaction/r2`, { redacts: theirs }],
      ["PUT", `/_matrix/client/v3/profile/${enc(carol.userId!)}/displayname`, { displayname: "C" }],
      ["PUT", `/_matrix/client/v3/directory/room/${enc(`#carols:${ctx.s.serverName}`)}`, { room_id: room }],
      ["POST", "/_matrix/media/v1/create"],
      ["POST", `/_matrix/client/v3/rooms/${enc(room)}/kick`, { user_id: dave.userId }],
    ];
    for (const [method, path, body] of refused) {
      const r = await carol.request(method, path, body);
      expectError(r, 403, "M_USER_SUSPENDED");
    }
    const caps = (await carol.ok("GET", "/_matrix/client/v3/capabilities")).capabilities;
    expect(caps["m.set_displayname"]).toEqual({ enabled: false });
    expect(caps["m.profile_fields"]).toEqual({ enabled: false });

    // What a suspended user may still do: read, sync, redact their own events, reject an invite, leave.
    expect((await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b`)).chunk.length).toBeGreaterThan(0);
    expect((await carol.request("GET", "/_matrix/client/v3/sync?timeout=0")).status).toBe(200);
    expect((await carol.request("PUT", `/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(own)}/r3`, {})).status).toBe(200);
    expect((await carol.request("PUT", `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(carol.userId!)}`, { typing: false })).status).toBe(200);
    expect((await carol.request("POST", `/_matrix/client/v3/rooms/${enc(invitedTo)}/leave`, {})).status).toBe(200);
    expect((await carol.request("PUT", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.member/${enc(carol.userId!)}`, { membership: "leave" })).status).toBe(200);
    // Logging in again works (the new session is suspended too).
    const again = await loginUser(ctx.s, carol.userId!, "pw");
    expectError(await again.request("POST", "/_matrix/client/v3/createRoom", {}), 403, "M_USER_SUSPENDED");

    // Synapse's suspend endpoint lifts it.
    const lifted = await ctx.admin.request("PUT", `/_synapse/admin/v1/suspend/${enc(carol.userId!)}`, { suspend: false });
    expect(lifted.status).toBe(200);
    expect(lifted.body).toEqual({ [`user_${carol.userId}_suspended`]: false });
    expect(await ctx.admin.ok("GET", `/_matrix/client/v1/admin/suspend/${enc(carol.userId!)}`)).toEqual({ suspended: false });
    expect((await again.request("POST", `/_matrix/client/v3/join/${enc(other)}`, {})).status).toBe(200);
    expectError(await ctx.admin.request("PUT", `/_synapse/admin/v1/suspend/${enc(carol.userId!)}`, { suspend: "no" }), 400, "M_BAD_JSON");
  });

  test("shadow-ban (Synapse's admin API): requests succeed, nothing reaches the room; undone by DELETE", async () => {
    const spam = await registerUser(ctx.s, uniqueLocalpart("spammer"), "pw");
    const victim = await registerUser(ctx.s, uniqueLocalpart("victim"), "pw");
    const room = await createRoom(victim, { preset: "public_chat" });
    await spam.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
    expectError(await spam.request("POST", `/_synapse/admin/v1/users/${enc(spam.userId!)}/shadow_ban`, {}), 403, "M_FORBIDDEN");
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/users/${enc(spam.userId!)}/shadow_ban`, {})).toEqual({});
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v2/users/${enc(spam.userId!)}`)).shadow_banned).toBe(true);
    expectError(await ctx.admin.request("POST", `/_synapse/admin/v1/users/${enc(`@nobody:${ctx.s.serverName}`)}/shadow_ban`, {}), 404, "M_NOT_FOUND");

    // Every answer looks normal.
    const sent = await spam.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/x1`, { msgtype: "m.text", body: "BUY NOW" });
    expect(sent.event_id).toMatch(/^\$/);
    expect((await spam.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/x1`, { msgtype: "m.text", body: "BUY NOW" })).event_id).toBe(sent.event_id);
    expect((await spam.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.topic`, { topic: "spam" })).event_id).toMatch(/^\$/);
    const other = await registerUser(ctx.s, uniqueLocalpart("target"), "pw");
    expect(await spam.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: other.userId })).toEqual({});
    const own = (await spam.ok("POST", "/_matrix/client/v3/createRoom", { invite: [other.userId] })).room_id;
    expect(await spam.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(spam.userId!)}`, { typing: true, timeout: 10000 })).toEqual({});
    // A room upgrade: refused where it would be for anyone; else a replacement room ID, and nothing changes.
    expectError(await spam.request("POST", `/_matrix/client/v3/rooms/${enc(room)}/upgrade`, { new_version: "11" }), 403, "M_FORBIDDEN");
    const replacement = (await spam.ok("POST", `/_matrix/client/v3/rooms/${enc(own)}/upgrade`, { new_version: "11" })).replacement_room;
    expect(replacement).toMatch(/^!/);
    expectError(await spam.request("GET", `/_matrix/client/v3/rooms/${enc(own)}/state/m.room.tombstone`), 404, "M_NOT_FOUND");
    expect((await spam.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).toEqual(expect.arrayContaining([room, own]));
    expect((await spam.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).not.toContain(replacement);

    // Nothing of it reached anyone.
    const msgs = (await victim.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=50`)).chunk as any[];
    expect(msgs.some((e) => e.content?.body === "BUY NOW" || e.content?.topic === "spam")).toBe(false);
    expect(msgs.some((e) => e.type === "m.room.member" && e.state_key === other.userId)).toBe(false);
    const otherSync = await sync(other);
    expect(Object.keys(otherSync.rooms?.invite ?? {})).not.toContain(own);
    expectError(await victim.request("GET", `/_matrix/client/v3/rooms/${enc(room)}/event/${enc(sent.event_id)}`), 404, "M_NOT_FOUND");
    const typing = (await sync(victim)).rooms.join[room].ephemeral.events.find((e: any) => e.type === "m.typing");
    expect(typing?.content.user_ids ?? []).not.toContain(spam.userId);

    // Lifted: the user's messages go through again.
    expect(await ctx.admin.ok("DELETE", `/_synapse/admin/v1/users/${enc(spam.userId!)}/shadow_ban`)).toEqual({});
    await send(spam, room, "sorry");
    const after = (await victim.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=5`)).chunk as any[];
    expect(after.some((e) => e.content?.body === "sorry")).toBe(true);
  });

  // The directory's upkeep (DELETE /directory/room/{alias} drops the alias from the room's
  // m.room.canonical_alias, as the deleting user) creates an event with no handler of its own:
  // the rooms service's sending policy applies to it all the same.
  for (const flag of ["shadow-banned", "suspended"] as const) {
    test(`a ${flag} user deleting an alias: the alias goes, the room's canonical alias event is not changed by them`, async () => {
      const owner = await registerUser(ctx.s, uniqueLocalpart("aliasowner"), "pw");
      const member = await registerUser(ctx.s, uniqueLocalpart("member"), "pw");
      const name = uniqueLocalpart("al");
      const alias = `#${name}:${ctx.s.serverName}`;
      const room = await createRoom(owner, { preset: "public_chat", room_alias_name: name });
      await member.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
      const stateUrl = `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.canonical_alias`;
      expect((await member.ok("GET", stateUrl)).alias).toBe(alias);
      if (flag === "shadow-banned") expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/users/${enc(owner.userId!)}/shadow_ban`, {})).toEqual({});
      else expect(await ctx.admin.ok("PUT", `/_matrix/client/v1/admin/suspend/${enc(owner.userId!)}`, { suspended: true })).toEqual({ suspended: true });

      expect(await owner.ok("DELETE", `/_matrix/client/v3/directory/room/${enc(alias)}`)).toEqual({});
      expectError(await member.request("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`), 404, "M_NOT_FOUND");
      expect((await member.ok("GET", stateUrl)).alias).toBe(alias);
      const msgs = (await member.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=50`)).chunk as any[];
      expect(msgs.filter((e) => e.type === "m.room.canonical_alias").length).toBe(1);
    });
  }
});
