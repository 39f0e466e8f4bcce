// The published room directory: GET/POST /publicRooms with filters (generic_search_term,
// room_types), limit/since pagination both ways, access ([room_directory] public_rooms_without_auth),
// which published rooms are listed; on both databases.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, join, setState } from "../helpers/sync.ts";

describeOnBackends("public rooms", (backend) => {
  const rooms: Record<string, string> = {};
  const ctx = fixture<{ s: TestServer; alice: TestClient; users: TestClient[] }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.users = [await registerUser(ctx.s, "u1"), await registerUser(ctx.s, "u2"), await registerUser(ctx.s, "u3")];
    // Four published rooms with 4, 3, 2 and 1 members, one of them a space; plus rooms that
    // must not be listed.
    rooms.big = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat", name: "Café Crème", topic: "Coffee talk" });
    rooms.space = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat", name: "The Space", creation_content: { type: "m.space" }, room_alias_name: "space" });
    rooms.mid = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat", name: "Gardening" });
    rooms.small = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat" });
    for (const u of ctx.users) await join(u, rooms.big!);
    for (const u of ctx.users.slice(0, 2)) await join(u, rooms.space!);
    await join(ctx.users[0]!, rooms.mid!);
    rooms.unpublished = await createRoom(ctx.alice, { preset: "public_chat", name: "Not listed" });
    // Published but invite-only and not world-readable: not listed.
    rooms.inviteOnly = await createRoom(ctx.alice, { visibility: "public", preset: "private_chat", name: "Invite only" });
  });

  const ids = (chunk: any[]) => chunk.map((r) => r.room_id);

  test("GET lists published rooms, most members first, with their details", async () => {
    const r = await ctx.alice.get("/_matrix/client/v3/publicRooms");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "GET", "/publicRooms", 200, r.body);
    expect(ids(r.body.chunk)).toEqual([rooms.big, rooms.space, rooms.mid, rooms.small]);
    expect(r.body.total_room_count_estimate).toBe(4);
    expect(r.body.next_batch).toBeUndefined();
    expect(r.body.prev_batch).toBeUndefined();
    const big = r.body.chunk[0];
    expect(big).toMatchObject({ name: "Café Crème", topic: "Coffee talk", num_joined_members: 4, world_readable: false, guest_can_join: false, join_rule: "public" });
    expect(r.body.chunk[1]).toMatchObject({ room_type: "m.space", canonical_alias: `#space:${ctx.s.serverName}` });
    // A room made world-readable is listed even when invite-only.
    await setState(ctx.alice, rooms.inviteOnly!, "m.room.history_visibility", { history_visibility: "world_readable" });
    const again = await ctx.alice.ok("GET", "/_matrix/client/v3/publicRooms");
    expect(ids(again.chunk)).toContain(rooms.inviteOnly);
    await setState(ctx.alice, rooms.inviteOnly!, "m.room.history_visibility", { history_visibility: "shared" });
  });

  test("pagination forwards and backwards with since tokens", async () => {
    const p1 = await ctx.alice.ok("GET", "/_matrix/client/v3/publicRooms?limit=2");
    expect(ids(p1.chunk)).toEqual([rooms.big, rooms.space]);
    expect(p1.prev_batch).toBeUndefined();
    const p2 = await ctx.alice.ok("GET", `/_matrix/client/v3/publicRooms?limit=2&since=${enc(p1.next_batch)}`);
    assertMatchesSpec("client-server/list_public_rooms", "GET", "/publicRooms", 200, p2);
    expect(ids(p2.chunk)).toEqual([rooms.mid, rooms.small]);
    expect(p2.next_batch).toBeUndefined();
    const back = await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { limit: 1, since: p2.prev_batch });
    expect(ids(back.chunk)).toEqual([rooms.space]);
    expect(back.next_batch).toBeDefined();
    expect(back.prev_batch).toBeDefined();
    expectError(await ctx.alice.get("/_matrix/client/v3/publicRooms?since=garbage"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get("/_matrix/client/v3/publicRooms?limit=-1"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get("/_matrix/client/v3/publicRooms?limit=ten"), 400, "M_INVALID_PARAM");
  });

  test("POST filters: generic_search_term (case and accents ignored) and room_types", async () => {
    const cafe = await ctx.alice.post("/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "CAFE creme" } });
    expect(cafe.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "POST", "/publicRooms", 200, cafe.body);
    expect(ids(cafe.body.chunk)).toEqual([rooms.big]);
    expect(ids((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "coffee" } })).chunk)).toEqual([rooms.big]);
    expect(ids((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "#space" } })).chunk)).toEqual([rooms.space]);
    expect(ids((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { room_types: ["m.space"] } })).chunk)).toEqual([rooms.space]);
    expect(ids((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { room_types: [null] } })).chunk)).toEqual([rooms.big, rooms.mid, rooms.small]);
    expect((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "nothing like it" } })).chunk).toEqual([]);
    // A third-party network: there are none here.
    expect((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { third_party_instance_id: "irc" })).chunk).toEqual([]);
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms", { filter: { room_types: "m.space" } }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms", { limit: "5" }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms", "[]"), 400, "M_NOT_JSON");
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms?server=not%20a%20server", {}), 400, "M_INVALID_PARAM");
    // The local server named explicitly.
    expect(ids((await ctx.alice.ok("GET", `/_matrix/client/v3/publicRooms?server=${ctx.s.serverName}&limit=1`)).chunk)).toEqual([rooms.big]);
  });

  test("unpublishing removes a room; a token is needed by default", async () => {
    await ctx.alice.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(rooms.small!)}`, { visibility: "private" });
    expect(ids((await ctx.alice.ok("GET", "/_matrix/client/v3/publicRooms")).chunk)).not.toContain(rooms.small);
    expectError(await new TestClient(ctx.s.url).get("/_matrix/client/v3/publicRooms"), 401, "M_MISSING_TOKEN");
  });
});

describeOnBackends("public rooms without auth", (backend) => {
  const ctx = serverFixture({ backend, config: { room_directory: { public_rooms_without_auth: true } } });

  test("anyone may read the directory", async () => {
    const alice = await registerUser(ctx.s, "alice");
    const roomId = await createRoom(alice, { visibility: "public", preset: "public_chat", name: "Open" });
    const anon = new TestClient(ctx.s.url);
    const r = await anon.get("/_matrix/client/v3/publicRooms");
    expect(r.status).toBe(200);
    expect(ids(r.body.chunk)).toEqual([roomId]);
    expect((await anon.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "open" } })).chunk.length).toBe(1);
    // An invalid token is still refused.
    expectError(await new TestClient(ctx.s.url, "not-a-token").get("/_matrix/client/v3/publicRooms"), 401, "M_UNKNOWN_TOKEN");
  });
});

const ids = (chunk: any[]) => chunk.map((r) => r.room_id);
