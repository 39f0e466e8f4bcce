// The published room directory: GET/POST /publicRooms with filters (generic_search_term,
// room_types), limit/since pagination both ways, access ([room_directory] public_rooms_without_auth),
// which published rooms are listed; on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, enc, join, setState } from "../helpers/sync.ts";

for (const backend of BACKENDS) {
  describe(`public rooms [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let users: TestClient[];
    const rooms: Record<string, string> = {};
    beforeAll(async () => {
      s = await startTestServer({ backend });
      alice = await registerUser(s, "alice");
      users = [await registerUser(s, "u1"), await registerUser(s, "u2"), await registerUser(s, "u3")];
      // Four published rooms with 4, 3, 2 and 1 members, one of them a space; plus rooms that
      // must not be listed.
      rooms.big = await createRoom(alice, { visibility: "public", preset: "public_chat", name: "Café Crème", topic: "Coffee talk" });
      rooms.space = await createRoom(alice, { visibility: "public", preset: "public_chat", name: "The Space", creation_content: { type: "m.space" }, room_alias_name: "space" });
      rooms.mid = await createRoom(alice, { visibility: "public", preset: "public_chat", name: "Gardening" });
      rooms.small = await createRoom(alice, { visibility: "public", preset: "public_chat" });
      for (const u of users) await join(u, rooms.big!);
      for (const u of users.slice(0, 2)) await join(u, rooms.space!);
      await join(users[0]!, rooms.mid!);
      rooms.unpublished = await createRoom(alice, { preset: "public_chat", name: "Not listed" });
      // Published but invite-only and not world-readable: not listed.
      rooms.inviteOnly = await createRoom(alice, { visibility: "public", preset: "private_chat", name: "Invite only" });
    });
    afterAll(() => s.stop());

    const ids = (chunk: any[]) => chunk.map((r) => r.room_id);

    test("GET lists published rooms, most members first, with their details", async () => {
      const r = await alice.get("/_matrix/client/v3/publicRooms");
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/list_public_rooms", "GET", "/publicRooms", 200, r.body);
      expect(ids(r.body.chunk)).toEqual([rooms.big, rooms.space, rooms.mid, rooms.small]);
      expect(r.body.total_room_count_estimate).toBe(4);
      expect(r.body.next_batch).toBeUndefined();
      expect(r.body.prev_batch).toBeUndefined();
      const big = r.body.chunk[0];
      expect(big).toMatchObject({ name: "Café Crème", topic: "Coffee talk", num_joined_members: 4, world_readable: false, guest_can_join: false, join_rule: "public" });
      expect(r.body.chunk[1]).toMatchObject({ room_type: "m.space", canonical_alias: `#space:${s.serverName}` });
      // A room made world-readable is listed even when invite-only.
      await setState(alice, rooms.inviteOnly!, "m.room.history_visibility", { history_visibility: "world_readable" });
      const again = await alice.ok("GET", "/_matrix/client/v3/publicRooms");
      expect(ids(again.chunk)).toContain(rooms.inviteOnly);
      await setState(alice, rooms.inviteOnly!, "m.room.history_visibility", { history_visibility: "shared" });
    });

    test("pagination forwards and backwards with since tokens", async () => {
      const p1 = await alice.ok("GET", "/_matrix/client/v3/publicRooms?limit=2");
      expect(ids(p1.chunk)).toEqual([rooms.big, rooms.space]);
      expect(p1.prev_batch).toBeUndefined();
      const p2 = await alice.ok("GET", `/_matrix/client/v3/publicRooms?limit=2&since=${enc(p1.next_batch)}`);
      assertMatchesSpec("client-server/list_public_rooms", "GET", "/publicRooms", 200, p2);
      expect(ids(p2.chunk)).toEqual([rooms.mid, rooms.small]);
      expect(p2.next_batch).toBeUndefined();
      const back = await alice.ok("POST", "/_matrix/client/v3/publicRooms", { limit: 1, since: p2.prev_batch });
      expect(ids(back.chunk)).toEqual([rooms.space]);
      expect(back.next_batch).toBeDefined();
      expect(back.prev_batch).toBeDefined();
      expectError(await alice.get("/_matrix/client/v3/publicRooms?since=garbage"), 400, "M_INVALID_PARAM");
      expectError(await alice.get("/_matrix/client/v3/publicRooms?limit=-1"), 400, "M_INVALID_PARAM");
      expectError(await alice.get("/_matrix/client/v3/publicRooms?limit=ten"), 400, "M_INVALID_PARAM");
    });

    test("POST filters: generic_search_term (case and accents ignored) and room_types", async () => {
      const cafe = await alice.post("/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "CAFE creme" } });
      expect(cafe.status).toBe(200);
      assertMatchesSpec("client-server/list_public_rooms", "POST", "/publicRooms", 200, cafe.body);
      expect(ids(cafe.body.chunk)).toEqual([rooms.big]);
      expect(ids((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "coffee" } })).chunk)).toEqual([rooms.big]);
      expect(ids((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "#space" } })).chunk)).toEqual([rooms.space]);
      expect(ids((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { room_types: ["m.space"] } })).chunk)).toEqual([rooms.space]);
      expect(ids((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { room_types: [null] } })).chunk)).toEqual([rooms.big, rooms.mid, rooms.small]);
      expect((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "nothing like it" } })).chunk).toEqual([]);
      // A third-party network: there are none here.
      expect((await alice.ok("POST", "/_matrix/client/v3/publicRooms", { third_party_instance_id: "irc" })).chunk).toEqual([]);
      expectError(await alice.post("/_matrix/client/v3/publicRooms", { filter: { room_types: "m.space" } }), 400, "M_BAD_JSON");
      expectError(await alice.post("/_matrix/client/v3/publicRooms", { limit: "5" }), 400, "M_BAD_JSON");
      expectError(await alice.post("/_matrix/client/v3/publicRooms", "[]"), 400, "M_NOT_JSON");
      expectError(await alice.post("/_matrix/client/v3/publicRooms?server=not%20a%20server", {}), 400, "M_INVALID_PARAM");
      // The local server named explicitly.
      expect(ids((await alice.ok("GET", `/_matrix/client/v3/publicRooms?server=${s.serverName}&limit=1`)).chunk)).toEqual([rooms.big]);
    });

    test("unpublishing removes a room; a token is needed by default", async () => {
      await alice.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(rooms.small!)}`, { visibility: "private" });
      expect(ids((await alice.ok("GET", "/_matrix/client/v3/publicRooms")).chunk)).not.toContain(rooms.small);
      expectError(await new TestClient(s.url).get("/_matrix/client/v3/publicRooms"), 401, "M_MISSING_TOKEN");
    });
  });

  describe(`public rooms without auth [${backend}]`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ backend, config: { room_directory: { public_rooms_without_auth: true } } });
    });
    afterAll(() => s.stop());

    test("anyone may read the directory", async () => {
      const alice = await registerUser(s, "alice");
      const roomId = await createRoom(alice, { visibility: "public", preset: "public_chat", name: "Open" });
      const anon = new TestClient(s.url);
      const r = await anon.get("/_matrix/client/v3/publicRooms");
      expect(r.status).toBe(200);
      expect(ids(r.body.chunk)).toEqual([roomId]);
      expect((await anon.ok("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "open" } })).chunk.length).toBe(1);
      // An invalid token is still refused.
      expectError(await new TestClient(s.url, "not-a-token").get("/_matrix/client/v3/publicRooms"), 401, "M_UNKNOWN_TOKEN");
    });
  });
}

const ids = (chunk: any[]) => chunk.map((r) => r.room_id);
