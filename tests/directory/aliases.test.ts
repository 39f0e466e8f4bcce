// Room aliases (PUT/GET/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases),
// m.room.canonical_alias validation, and directory visibility (/directory/list/room/{roomId}),
// on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, setState } from "../helpers/sync.ts";

for (const backend of BACKENDS) {
  describe(`room aliases [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient; // creates rooms
    let bob: TestClient; // a plain member
    let carol: TestClient; // not in the rooms
    let admin: TestClient; // server admin
    let roomId: string;
    const a = (name: string) => `#${name}:${s.serverName}`;
    const path = (alias: string) => `/_matrix/client/v3/directory/room/${enc(alias)}`;
    beforeAll(async () => {
      [s, alice, bob, carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
      admin = await registerUser(s, "root", "password", true);
      roomId = await createRoom(alice, { preset: "public_chat", room_alias_name: "made-at-creation" });
      await join(bob, roomId);
    });
    afterAll(() => s.stop());

    test("create, resolve and list aliases", async () => {
      const r = await bob.put(path(a("bobs")), { room_id: roomId });
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/directory", "PUT", "/directory/room/{roomAlias}", 200, r.body);
      const got = await carol.get(path(a("bobs")));
      expect(got.status).toBe(200);
      assertMatchesSpec("client-server/directory", "GET", "/directory/room/{roomAlias}", 200, got.body);
      expect(got.body).toEqual({ room_id: roomId, servers: [s.serverName] });
      // The alias given at creation resolves too, without a token.
      const anon = await fetch(`${s.url}${path(a("made-at-creation"))}`);
      expect((await anon.json()).room_id).toBe(roomId);

      const list = await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/aliases`);
      expect(list.status).toBe(200);
      assertMatchesSpec("client-server/directory", "GET", "/rooms/{roomId}/aliases", 200, list.body);
      expect(list.body.aliases.sort()).toEqual([a("bobs"), a("made-at-creation")].sort());
    });

    test("errors: taken, invalid, remote, unknown room, not a member, unknown alias", async () => {
      await alice.ok("PUT", path(a("taken")), { room_id: roomId });
      const taken = await bob.put(path(a("taken")), { room_id: roomId });
      expectError(taken, 409, "M_ROOM_IN_USE");
      expectError(await bob.put(path("#no-server"), { room_id: roomId }), 400, "M_INVALID_PARAM");
      expectError(await bob.put(path("#has space:" + s.serverName), { room_id: roomId }), 400, "M_INVALID_PARAM");
      expectError(await bob.put(path("#x:elsewhere.example"), { room_id: roomId }), 400, "M_INVALID_PARAM");
      expectError(await bob.put(path(a("nope")), { room_id: "not-a-room" }), 400, "M_INVALID_PARAM");
      expectError(await bob.put(path(a("nope")), {}), 400, "M_MISSING_PARAM");
      expectError(await bob.put(path(a("nope")), { room_id: `!unknown:${s.serverName}` }), 404, "M_NOT_FOUND");
      expectError(await carol.put(path(a("carols")), { room_id: roomId }), 403, "M_FORBIDDEN");
      const missing = await carol.get(path(a("never-made")));
      expectError(missing, 404, "M_NOT_FOUND");
      assertMatchesSpec("client-server/directory", "GET", "/directory/room/{roomAlias}", 404, missing.body);
      expectError(await carol.get(path("#bad")), 400, "M_INVALID_PARAM");
      expectError(await alice.delete(path(a("never-made"))), 404, "M_NOT_FOUND");
      expectError(await carol.get(`/_matrix/client/v3/rooms/${enc(roomId)}/aliases`), 403, "M_FORBIDDEN");
      expectError(await carol.get(`/_matrix/client/v3/rooms/${enc("!nope:" + s.serverName)}/aliases`), 403, "M_FORBIDDEN");
      expectError(await new TestClient(s.url).put(path(a("anon")), { room_id: roomId }), 401, "M_MISSING_TOKEN");
    });

    test("delete: the alias's creator, a room admin or a server admin; others are refused", async () => {
      await bob.ok("PUT", path(a("bob-del")), { room_id: roomId });
      await bob.ok("PUT", path(a("bob-del2")), { room_id: roomId });
      await bob.ok("PUT", path(a("bob-del3")), { room_id: roomId });
      await join(carol, roomId);
      // carol is a member without power and did not create it.
      expectError(await carol.delete(path(a("bob-del"))), 403, "M_FORBIDDEN");
      const del = await bob.delete(path(a("bob-del")));
      expect(del.status).toBe(200);
      assertMatchesSpec("client-server/directory", "DELETE", "/directory/room/{roomAlias}", 200, del.body);
      expectError(await bob.get(path(a("bob-del"))), 404, "M_NOT_FOUND");
      // alice (room creator, power to set the canonical alias) may delete bob's alias.
      await alice.ok("DELETE", path(a("bob-del2")));
      await admin.ok("DELETE", path(a("bob-del3")));
      await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    });

    test("deleting an alias removes it from the canonical alias event", async () => {
      const room = await createRoom(alice, { preset: "public_chat", room_alias_name: "canon-main" });
      await alice.ok("PUT", path(a("canon-alt")), { room_id: room });
      await setState(alice, room, "m.room.canonical_alias", { alias: a("canon-main"), alt_aliases: [a("canon-alt")] });
      await alice.ok("DELETE", path(a("canon-alt")));
      const ev = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.canonical_alias`);
      expect(ev).toEqual({ alias: a("canon-main"), alt_aliases: [] });
      await alice.ok("DELETE", path(a("canon-main")));
      expect(await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.canonical_alias`)).toEqual({ alt_aliases: [] });
    });

    test("m.room.canonical_alias: aliases must point to the room", async () => {
      const other = await createRoom(alice, { preset: "public_chat" });
      await alice.ok("PUT", path(a("points-elsewhere")), { room_id: other });
      const stateUrl = `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.canonical_alias`;
      const bad = await alice.put(stateUrl, { alias: a("points-elsewhere") });
      expectError(bad, 400, "M_BAD_ALIAS");
      assertMatchesSpec("client-server/room_state", "PUT", "/rooms/{roomId}/state/{eventType}/{stateKey}", 400, bad.body);
      expectError(await alice.put(stateUrl, { alias: a("does-not-exist") }), 400, "M_BAD_ALIAS");
      expectError(await alice.put(stateUrl, { alt_aliases: [a("points-elsewhere")] }), 400, "M_BAD_ALIAS");
      expectError(await alice.put(stateUrl, { alias: "not an alias" }), 400, "M_INVALID_PARAM");
      expectError(await alice.put(stateUrl, { alt_aliases: "#x:y" }), 400, "M_INVALID_PARAM");
      // A remote alias cannot be checked without federation: refused.
      expectError(await alice.put(stateUrl, { alias: "#far:elsewhere.example" }), 400, "M_BAD_ALIAS");
      // Valid: the room's own aliases; and "no canonical alias" (empty).
      await alice.ok("PUT", stateUrl, { alias: a("made-at-creation"), alt_aliases: [a("bobs")] });
      await alice.ok("PUT", stateUrl, { alias: "" });
      await alice.ok("PUT", stateUrl, {});
    });

    test("world-readable rooms list their aliases to anyone", async () => {
      const room = await createRoom(alice, { preset: "private_chat", room_alias_name: "readable" });
      expectError(await carol.get(`/_matrix/client/v3/rooms/${enc(room)}/aliases`), 403, "M_FORBIDDEN");
      await setState(alice, room, "m.room.history_visibility", { history_visibility: "world_readable" });
      expect((await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/aliases`)).aliases).toEqual([a("readable")]);
    });
  });

  describe(`directory visibility [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let admin: TestClient;
    beforeAll(async () => {
      [s, alice, bob] = await serverWithUsers({ backend, config: { room_directory: { publication_allowed: false } } }, "alice", "bob");
      admin = await registerUser(s, "root", "password", true);
    });
    afterAll(() => s.stop());
    const listPath = (roomId: string) => `/_matrix/client/v3/directory/list/room/${enc(roomId)}`;

    test("get and set visibility; only room admins may change it; publication can be turned off", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      const got = await bob.get(listPath(roomId));
      expect(got.status).toBe(200);
      assertMatchesSpec("client-server/list_public_rooms", "GET", "/directory/list/room/{roomId}", 200, got.body);
      expect(got.body).toEqual({ visibility: "private" });
      // publication_allowed = false: even the room's admin may not publish; a server admin may.
      expectError(await alice.put(listPath(roomId), { visibility: "public" }), 403, "M_FORBIDDEN");
      await join(bob, roomId);
      expectError(await bob.put(listPath(roomId), { visibility: "private" }), 403, "M_FORBIDDEN");
      const pub = await admin.put(listPath(roomId), { visibility: "public" });
      expect(pub.status).toBe(200);
      assertMatchesSpec("client-server/list_public_rooms", "PUT", "/directory/list/room/{roomId}", 200, pub.body);
      expect((await bob.ok("GET", listPath(roomId))).visibility).toBe("public");
      // Hiding is always allowed to the room's admin.
      await alice.ok("PUT", listPath(roomId), { visibility: "private" });
      expect((await bob.ok("GET", listPath(roomId))).visibility).toBe("private");
      expectError(await alice.put(listPath(roomId), { visibility: "secret" }), 400, "M_INVALID_PARAM");
      const unknown = await bob.get(listPath(`!unknown:${s.serverName}`));
      expectError(unknown, 404, "M_NOT_FOUND");
      assertMatchesSpec("client-server/list_public_rooms", "GET", "/directory/list/room/{roomId}", 404, unknown.body);
      expectError(await alice.put(listPath(`!unknown:${s.serverName}`), { visibility: "public" }), 404, "M_NOT_FOUND");
      // createRoom with visibility public is refused too.
      expectError(await alice.post("/_matrix/client/v3/createRoom", { visibility: "public" }), 403, "M_FORBIDDEN");
    });
  });
}
