// Synapse's room admin API over HTTP, on both databases: list (order, search, pagination), details,
// members, state, block/unblock, make room admin, and deleting rooms (v1 synchronous, v2 in the
// background with its status), with purge, block and a replacement room.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const enc = encodeURIComponent;

/** Polls until `f` returns a value (no fixed sleeps). */
async function until<T>(f: () => Promise<T | undefined>, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(20);
  }
}

describeOnBackends("room admin API", (backend) => {
  const tag = uniqueLocalpart("r").replace(/_/g, "");
  const rooms = { big: "", small: "", space: "" };
  const ctx = fixture<{ s: TestServer; admin: TestClient; alice: TestClient; bob: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "pw", true);
    ctx.alice = await registerUser(ctx.s, uniqueLocalpart("alice"), "pw");
    ctx.bob = await registerUser(ctx.s, uniqueLocalpart("bob"), "pw");
    rooms.big = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { name: `Beta ${tag}`, preset: "public_chat", room_alias_name: `big${tag}`, visibility: "public" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(rooms.big)}`, {});
    rooms.small = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { name: `Alpha ${tag}`, topic: "tiny", initial_state: [{ type: "m.room.encryption", content: { algorithm: "m.megolm.v1.aes-sha2" } }] })).room_id;
    rooms.space = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { name: `Gamma ${tag}`, creation_content: { type: "m.space", "m.federate": false }, room_version: "10" })).room_id;
  });

  test("list: search, order, direction, pagination", async () => {
    const all = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=${tag}`);
    expect(all.total_rooms).toBe(3);
    expect(all.offset).toBe(0);
    expect(all.rooms.map((r: { name: string }) => r.name)).toEqual([`Alpha ${tag}`, `Beta ${tag}`, `Gamma ${tag}`]);
    const big = all.rooms.find((r: { room_id: string }) => r.room_id === rooms.big);
    expect(big).toEqual({
      room_id: rooms.big,
      name: `Beta ${tag}`,
      canonical_alias: `#big${tag}:${ctx.s.serverName}`,
      joined_members: 2,
      joined_local_members: 2,
      version: "12",
      creator: ctx.alice.userId,
      encryption: null,
      federatable: true,
      public: true,
      join_rules: "public",
      guest_access: "forbidden",
      history_visibility: "shared",
      state_events: big.state_events,
      room_type: null,
    });
    expect(big.state_events).toBeGreaterThanOrEqual(7);
    const space = all.rooms.find((r: { room_id: string }) => r.room_id === rooms.space);
    expect(space).toMatchObject({ room_type: "m.space", federatable: false, version: "10", public: false, join_rules: "invite" });
    expect(all.rooms.find((r: { room_id: string }) => r.room_id === rooms.small).encryption).toBe("m.megolm.v1.aes-sha2");

    const bySize = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=${tag}&order_by=joined_members&limit=1`);
    expect(bySize.rooms.map((r: { room_id: string }) => r.room_id)).toEqual([rooms.big]);
    expect(bySize.next_batch).toBe(1);
    expect(bySize.total_rooms).toBe(3);
    const page2 = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=${tag}&order_by=name&dir=b&from=1&limit=1`);
    expect(page2.rooms.map((r: { name: string }) => r.name)).toEqual([`Beta ${tag}`]);
    expect(page2.prev_batch).toBe(0);
    // The alias's localpart and the room ID are searched too.
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=big${tag}`)).rooms.map((r: { room_id: string }) => r.room_id)).toEqual([rooms.big]);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=${enc(rooms.space)}`)).total_rooms).toBe(1);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms?search_term=${tag}&public_rooms=true`)).rooms.map((r: { room_id: string }) => r.room_id)).toEqual([rooms.big]);
    expectError(await ctx.admin.get("/_synapse/admin/v1/rooms?order_by=colour"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/rooms?dir=sideways"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/rooms?limit=0"), 400, "M_INVALID_PARAM");
  });

  test("details, members, state", async () => {
    const d = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(rooms.small)}`);
    expect(d).toMatchObject({ room_id: rooms.small, name: `Alpha ${tag}`, topic: "tiny", avatar: null, joined_members: 1, joined_local_members: 1, joined_local_devices: 1, forgotten: false });
    expect(await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/members`)).toEqual({ members: [ctx.alice.userId, ctx.bob.userId].sort(), total: 2 });
    const st = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/state`);
    expect(st.state.find((e: { type: string }) => e.type === "m.room.create").room_id).toBe(rooms.big);
    expect(st.state.filter((e: { type: string }) => e.type === "m.room.member").map((e: { state_key: string }) => e.state_key).sort()).toEqual([ctx.alice.userId, ctx.bob.userId].sort());
    const names = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/state?type=m.room.name`);
    expect(names.state.map((e: { content: { name: string } }) => e.content.name)).toEqual([`Beta ${tag}`]);
    expectError(await ctx.admin.get(`/_synapse/admin/v1/rooms/${enc("!unknown:localhost")}`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.get(`/_synapse/admin/v1/rooms/${enc("!unknown:localhost")}/members`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.get(`/_synapse/admin/v1/rooms/not-a-room/state`), 400, "M_INVALID_PARAM");
  });

  test("make room admin: power to the named user, invite when not public", async () => {
    const carol = await registerUser(ctx.s, uniqueLocalpart("carol"), "pw");
    const path = `/_synapse/admin/v1/rooms/${enc(rooms.small)}/make_room_admin`;
    expect(await ctx.admin.ok("POST", path, { user_id: carol.userId })).toEqual({});
    const pl = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(rooms.small)}/state/m.room.power_levels/`);
    expect(pl.users[carol.userId!]).toBe(150); // alice is a v12 creator: the highest finite level (tombstone)
    // The room is invite-only: carol was invited and can join.
    await carol.ok("POST", `/_matrix/client/v3/join/${enc(rooms.small)}`, {});
    await carol.ok("PUT", `/_matrix/client/v3/rooms/${enc(rooms.small)}/state/m.room.topic/`, { topic: "carol rules" });
    // A v10 room: the creator's level (100).
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/rooms/${enc(rooms.space)}/make_room_admin`, { user_id: carol.userId })).toEqual({});
    const pl10 = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(rooms.space)}/state/m.room.power_levels/`);
    expect(pl10.users[carol.userId!]).toBe(100);
    // By alias; remote users are refused.
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/rooms/${enc(`#big${tag}:${ctx.s.serverName}`)}/make_room_admin`, { user_id: carol.userId })).toEqual({});
    expectError(await ctx.admin.post(path, { user_id: "@x:elsewhere.org" }), 400, "M_INVALID_PARAM");
  });

  test("join a user to a room: public directly, private through an invite by the admin", async () => {
    const erin = await registerUser(ctx.s, uniqueLocalpart("erin"), "pw");
    const pub = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/join/${enc(pub)}`, { user_id: erin.userId })).toEqual({ room_id: pub });
    expect((await erin.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).toContain(pub);
    const priv = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    expectError(await ctx.admin.post(`/_synapse/admin/v1/join/${enc(priv)}`, { user_id: erin.userId }), 403, "M_FORBIDDEN");
    const own = (await ctx.admin.ok("POST", "/_matrix/client/v3/createRoom", { room_alias_name: `own${tag}` })).room_id;
    expect(await ctx.admin.ok("POST", `/_synapse/admin/v1/join/${enc(`#own${tag}:${ctx.s.serverName}`)}`, { user_id: erin.userId })).toEqual({ room_id: own });
    expectError(await ctx.admin.post(`/_synapse/admin/v1/join/${enc(own)}`, { user_id: `@nobody:${ctx.s.serverName}` }), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.post(`/_synapse/admin/v1/join/${enc(own)}`, {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post(`/_synapse/admin/v1/join/${enc(pub)}`, { user_id: ctx.alice.userId }), 403, "M_FORBIDDEN");
  });

  test("block and unblock: blocked rooms refuse joins and invites of local users", async () => {
    const room = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const path = `/_synapse/admin/v1/rooms/${enc(room)}/block`;
    expect(await ctx.admin.ok("GET", path)).toEqual({ block: false });
    expect(await ctx.admin.ok("PUT", path, { block: true })).toEqual({ block: true });
    expect(await ctx.admin.ok("GET", path)).toEqual({ block: true, user_id: ctx.admin.userId });
    expectError(await ctx.bob.post(`/_matrix/client/v3/join/${enc(room)}`, {}), 403, "M_FORBIDDEN");
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: ctx.bob.userId }), 403, "M_FORBIDDEN");
    expect(await ctx.admin.ok("PUT", path, { block: false })).toEqual({ block: false });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
    expectError(await ctx.admin.put(path, { block: "yes" }), 400, "M_BAD_JSON");
    // Rooms unknown here can be blocked in advance.
    expect(await ctx.admin.ok("PUT", `/_synapse/admin/v1/rooms/${enc("!future:elsewhere.org")}/block`, { block: true })).toEqual({ block: true });
  });

  test("delete v2: users leave and move to a new room with the aliases; the room is purged and blocked", async () => {
    const room = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { name: "doomed", preset: "public_chat", room_alias_name: `doomed${tag}` })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/t1`, { msgtype: "m.text", body: "bad content" });
    expectError(await ctx.admin.delete(`/_synapse/admin/v2/rooms/${enc(room)}`, "[]"), 400, "M_NOT_JSON");
    expectError(await ctx.admin.delete(`/_synapse/admin/v2/rooms/${enc(room)}`, { new_room_user_id: "@x:elsewhere.org" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.delete(`/_synapse/admin/v2/rooms/${enc(room)}`, { purge: "yes" }), 400, "M_BAD_JSON");
    expectError(await ctx.admin.delete(`/_synapse/admin/v2/rooms/${enc("!nope:localhost")}`, {}), 404, "M_NOT_FOUND");

    const { delete_id } = await ctx.admin.ok("DELETE", `/_synapse/admin/v2/rooms/${enc(room)}`, { new_room_user_id: ctx.admin.userId, room_name: "Moved", message: "This room was shut down", block: true, purge: true });
    expect(typeof delete_id).toBe("string");
    const done = await until(async () => {
      const st = await ctx.admin.ok("GET", `/_synapse/admin/v2/rooms/delete_status/${delete_id}`);
      return st.status === "complete" || st.status === "failed" ? st : undefined;
    });
    expect(done.status).toBe("complete");
    expect(done.room_id).toBe(room);
    expect(done.shutdown_room.kicked_users.sort()).toEqual([ctx.alice.userId, ctx.bob.userId].sort());
    expect(done.shutdown_room.failed_to_kick_users).toEqual([]);
    expect(done.shutdown_room.local_aliases).toEqual([`#doomed${tag}:${ctx.s.serverName}`]);
    const newRoom = done.shutdown_room.new_room_id as string;
    expect(newRoom).toMatch(/^!/);
    const byRoom = await ctx.admin.ok("GET", `/_synapse/admin/v2/rooms/${enc(room)}/delete_status`);
    expect(byRoom.results.map((r: { delete_id: string }) => r.delete_id)).toEqual([delete_id]);

    // The old room is gone from the database; users are in the new room, the alias points there.
    expectError(await ctx.admin.get(`/_synapse/admin/v1/rooms/${enc(room)}`), 404, "M_NOT_FOUND");
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).not.toContain(room);
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).toContain(newRoom);
    const dave = await registerUser(ctx.s, uniqueLocalpart("dave"), "pw");
    expect((await dave.ok("POST", `/_matrix/client/v3/join/${enc(`#doomed${tag}:${ctx.s.serverName}`)}`, {})).room_id).toBe(newRoom);
    const msgs = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(newRoom)}/messages?dir=b&limit=20`);
    expect(msgs.chunk.some((e: { content: { body?: string } }) => e.content.body === "This room was shut down")).toBe(true);
    const left = await ctx.s.hs.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM events WHERE room_id = ?", [room]);
    expect(Number(left!.n)).toBe(0);
    const cs = await ctx.s.hs.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM current_state WHERE room_id = ?", [room]);
    expect(Number(cs!.n)).toBe(0);
    // Blocked: nobody here can join it again.
    expect(await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(room)}/block`)).toMatchObject({ block: true });
    expectError(await ctx.bob.post(`/_matrix/client/v3/join/${enc(room)}`, {}), 403, "M_FORBIDDEN");
    expectError(await ctx.admin.get(`/_synapse/admin/v2/rooms/delete_status/unknown`), 404, "M_NOT_FOUND");
  });

  test("delete v1 (synchronous, as synadm uses it) without purge keeps the history", async () => {
    const room = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { name: "quiet" })).room_id;
    const r = await ctx.admin.ok("DELETE", `/_synapse/admin/v1/rooms/${enc(room)}`, { purge: false });
    expect(r).toEqual({ kicked_users: [ctx.bob.userId], failed_to_kick_users: [], local_aliases: [], new_room_id: null });
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).not.toContain(room);
    const details = await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(room)}`);
    expect(details).toMatchObject({ joined_members: 0, forgotten: true });
    // Now purge it; then an unknown room can only be blocked.
    await ctx.admin.ok("DELETE", `/_synapse/admin/v1/rooms/${enc(room)}`, {});
    expectError(await ctx.admin.get(`/_synapse/admin/v1/rooms/${enc(room)}`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.delete(`/_synapse/admin/v1/rooms/${enc(room)}`, {}), 400, "M_BAD_JSON");
    expect(await ctx.admin.ok("DELETE", `/_synapse/admin/v1/rooms/${enc(room)}`, { block: true })).toEqual({ kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null });
  });

  test("non-admins cannot use the room admin API", async () => {
    for (const [m, p, b] of [
      ["GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}`],
      ["GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/state`],
      ["PUT", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/block`, { block: true }],
      ["POST", `/_synapse/admin/v1/rooms/${enc(rooms.big)}/make_room_admin`, {}],
      ["DELETE", `/_synapse/admin/v2/rooms/${enc(rooms.big)}`, {}],
      ["DELETE", `/_synapse/admin/v1/rooms/${enc(rooms.big)}`, {}],
    ] as Array<[string, string, unknown?]>) {
      expectError(await ctx.alice.request(m, p, b), 403, "M_FORBIDDEN");
    }
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/rooms/${enc(rooms.big)}`)).joined_members).toBe(2);
  });
});
