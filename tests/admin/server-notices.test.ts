// Server notices ([server_notices], POST/PUT /_synapse/admin/v1/send_server_notice) on both
// databases: the notices user and room, the invite that cannot be rejected
// (M_CANNOT_LEAVE_SERVER_NOTICE_ROOM), the m.server_notice tag, idempotent PUT, a new room after
// the user left, state notices (pinned events), and the admin API's errors.
import { expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture } from "../helpers/suite.ts";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { enc, sync } from "../helpers/sync.ts";

describeOnBackends("server notices", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; alice: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({
      backend,
      config: { server_notices: { system_mxid_localpart: "notices", room_name: "Server Notices", room_topic: "From the admins", system_mxid_display_name: "The Admins" } },
    });
    ctx.admin = await registerUser(ctx.s, "admin", "password", true);
    ctx.alice = await registerUser(ctx.s, "alice");
  });

  const notice = (body: string) => ({ msgtype: "m.server_notice", body, server_notice_type: "org.example.announcement" });
  const sendNotice = (c: TestClient, body: unknown) => c.post("/_synapse/admin/v1/send_server_notice", body);

  test("a user who blocks invites still gets their notices room, once; it shows when they unblock", async () => {
    const carol = await registerUser(ctx.s, "carol_blocks");
    await carol.ok("PUT", `/_matrix/client/v3/user/${enc(carol.userId!)}/account_data/m.invite_permission_config`, { default_action: "block" });
    const n1 = await ctx.admin.ok("POST", "/_synapse/admin/v1/send_server_notice", { user_id: carol.userId, content: notice("one") });
    const n2 = await ctx.admin.ok("POST", "/_synapse/admin/v1/send_server_notice", { user_id: carol.userId, content: notice("two") });
    // Other invites stay blocked.
    const other = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(other)}/invite`, { user_id: carol.userId }), 403, "M_INVITE_BLOCKED");
    // While blocked, no invite is listed; unblocked, exactly one notices room with both notices.
    expect(Object.keys((await sync(carol)).rooms?.invite ?? {})).toEqual([]);
    await carol.ok("PUT", `/_matrix/client/v3/user/${enc(carol.userId!)}/account_data/m.invite_permission_config`, {});
    const invites = Object.keys((await sync(carol)).rooms.invite);
    expect(invites).toHaveLength(1);
    await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(invites[0]!)}/join`, {});
    const ids = (await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(invites[0]!)}/messages?dir=b&limit=20`)).chunk.map((e: any) => e.event_id);
    expect(ids).toContain(n1.event_id);
    expect(ids).toContain(n2.event_id);
  });

  test("the first notice invites the user to a tagged room they cannot reject; later ones reuse it", async () => {
    const first = await sendNotice(ctx.admin, { user_id: ctx.alice.userId, content: notice("Maintenance tonight") });
    expect(first.status).toBe(200);
    expect(first.body.event_id).toMatch(/^\$/);

    const s1 = await sync(ctx.alice);
    const invites = Object.entries(s1.rooms.invite) as Array<[string, any]>;
    expect(invites).toHaveLength(1);
    const [roomId, inv] = invites[0]!;
    const stripped = inv.invite_state.events;
    expect(stripped.find((e: any) => e.type === "m.room.name").content.name).toBe("Server Notices");
    expect(stripped.find((e: any) => e.type === "m.room.member" && e.state_key === ctx.alice.userId).sender).toBe("@notices:localhost");
    const tags = await ctx.alice.ok("GET", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/rooms/${enc(roomId)}/tags`);
    expect(Object.keys(tags.tags)).toEqual(["m.server_notice"]);

    // The invite cannot be rejected.
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {}), 403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const msgs = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20`);
    const n = msgs.chunk.find((e: any) => e.event_id === first.body.event_id);
    expect(n.sender).toBe("@notices:localhost");
    expect(n.content).toEqual(notice("Maintenance tonight"));
    const state = (await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`)) as any[];
    expect(state.find((e) => e.type === "m.room.create").content["m.federate"]).toBe(false);
    expect(state.find((e) => e.type === "m.room.topic").content.topic).toBe("From the admins");
    // The user cannot write in it.
    expectError(await ctx.alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: "m.text", body: "hi" }), 403, "M_FORBIDDEN");
    // The notices user has its profile.
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/profile/${enc("@notices:localhost")}`)).displayname).toBe("The Admins");

    // The next notice goes to the same room; PUT with a transaction ID is idempotent.
    const a = await ctx.admin.ok("PUT", "/_synapse/admin/v1/send_server_notice/txn1", { user_id: ctx.alice.userId, content: notice("second") });
    const b = await ctx.admin.ok("PUT", "/_synapse/admin/v1/send_server_notice/txn1", { user_id: ctx.alice.userId, content: notice("second") });
    expect(b.event_id).toBe(a.event_id);
    const after = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20`);
    expect(after.chunk.filter((e: any) => e.content?.msgtype === "m.server_notice").map((e: any) => e.content.body)).toEqual(["second", "Maintenance tonight"]);

    // A state notice: the active notice pinned.
    await ctx.admin.ok("POST", "/_synapse/admin/v1/send_server_notice", {
      user_id: ctx.alice.userId,
      type: "m.room.pinned_events",
      state_key: "",
      content: { pinned: [a.event_id] },
    });
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.pinned_events`)).pinned).toEqual([a.event_id]);

    // Once joined, leaving is allowed; the next notice opens a new room.
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    await sendNotice(ctx.admin, { user_id: ctx.alice.userId, content: notice("third") });
    const s2 = await sync(ctx.alice);
    const newRooms = Object.keys(s2.rooms.invite);
    expect(newRooms).toHaveLength(1);
    expect(newRooms[0]).not.toBe(roomId);
  });

  test("admin API errors", async () => {
    expectError(await sendNotice(ctx.alice, { user_id: ctx.alice.userId, content: notice("x") }), 403, "M_FORBIDDEN");
    expectError(await sendNotice(ctx.admin, { content: notice("x") }), 400, "M_MISSING_PARAM");
    expectError(await sendNotice(ctx.admin, { user_id: ctx.alice.userId }), 400, "M_MISSING_PARAM");
    expectError(await sendNotice(ctx.admin, { user_id: ctx.alice.userId, content: "hello" }), 400, "M_BAD_JSON");
    expectError(await sendNotice(ctx.admin, { user_id: 7, content: notice("x") }), 400, "M_BAD_JSON");
    expectError(await sendNotice(ctx.admin, { user_id: "@bob:elsewhere.example", content: notice("x") }), 400, "M_UNKNOWN");
    expectError(await sendNotice(ctx.admin, { user_id: "@nobody:localhost", content: notice("x") }), 404, "M_NOT_FOUND");
    expectError(await sendNotice(ctx.admin, { user_id: "@notices:localhost", content: notice("x") }), 400, "M_UNKNOWN");
  });
});

describeOnBackends("server notices disabled", (backend) => {
  const ctx = serverFixture({ backend });

  test("the admin API says so", async () => {
    const admin = await registerUser(ctx.s, "admin", "password", true);
    const r = await admin.post("/_synapse/admin/v1/send_server_notice", { user_id: admin.userId, content: { msgtype: "m.text", body: "x" } });
    expectError(r, 400, "M_UNKNOWN");
    expect(r.body.error).toContain("not enabled");
  });
});
