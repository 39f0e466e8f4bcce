// Room aliases (PUT/GET/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases),
// m.room.canonical_alias validation, and directory visibility (/directory/list/room/{roomId}),
// on both databases.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, setState } from "../helpers/sync.ts";

describeOnBackends("room aliases", (backend) => {
  const a = (name: string) => `#${name}:${ctx.s.serverName}`;
  const path = (alias: string) => `/_matrix/client/v3/directory/room/${enc(alias)}`;
  const ctx = fixture<{
    s: TestServer;
    alice: TestClient; // creates rooms
    bob: TestClient; // a plain member
    carol: TestClient; // not in the rooms
    admin: TestClient; // server admin
    roomId: string;
  }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
    ctx.admin = await registerUser(ctx.s, "root", "password", true);
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat", room_alias_name: "made-at-creation" });
    await join(ctx.bob, ctx.roomId);
  });

  test("create, resolve and list aliases", async () => {
    const r = await ctx.bob.put(path(a("bobs")), { room_id: ctx.roomId });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/directory", "PUT", "/directory/room/{roomAlias}", 200, r.body);
    const got = await ctx.carol.get(path(a("bobs")));
    expect(got.status).toBe(200);
    assertMatchesSpec("client-server/directory", "GET", "/directory/room/{roomAlias}", 200, got.body);
    expect(got.body).toEqual({ room_id: ctx.roomId, servers: [ctx.s.serverName] });
    // The alias given at creation resolves too, without a token.
    const anon = await fetch(`${ctx.s.url}${path(a("made-at-creation"))}`);
    expect((await anon.json()).room_id).toBe(ctx.roomId);

    const list = await ctx.bob.get(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/aliases`);
    expect(list.status).toBe(200);
    assertMatchesSpec("client-server/directory", "GET", "/rooms/{roomId}/aliases", 200, list.body);
    expect(list.body.aliases.sort()).toEqual([a("bobs"), a("made-at-creation")].sort());
  });

  test("errors: taken, invalid, remote, unknown room, not a member, unknown alias", async () => {
    await ctx.alice.ok("PUT", path(a("taken")), { room_id: ctx.roomId });
    const taken = await ctx.bob.put(path(a("taken")), { room_id: ctx.roomId });
    expectError(taken, 409, "M_ROOM_IN_USE");
    expectError(await ctx.bob.put(path("#no-server"), { room_id: ctx.roomId }), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.put(path("#has space:" + ctx.s.serverName), { room_id: ctx.roomId }), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.put(path("#x:elsewhere.example"), { room_id: ctx.roomId }), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.put(path(a("nope")), { room_id: "not-a-room" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.put(path(a("nope")), {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.bob.put(path(a("nope")), { room_id: `!unknown:${ctx.s.serverName}` }), 404, "M_NOT_FOUND");
    expectError(await ctx.carol.put(path(a("carols")), { room_id: ctx.roomId }), 403, "M_FORBIDDEN");
    const missing = await ctx.carol.get(path(a("never-made")));
    expectError(missing, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/directory", "GET", "/directory/room/{roomAlias}", 404, missing.body);
    expectError(await ctx.carol.get(path("#bad")), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.delete(path(a("never-made"))), 404, "M_NOT_FOUND");
    expectError(await ctx.carol.get(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/aliases`), 403, "M_FORBIDDEN");
    expectError(await ctx.carol.get(`/_matrix/client/v3/rooms/${enc("!nope:" + ctx.s.serverName)}/aliases`), 403, "M_FORBIDDEN");
    expectError(await new TestClient(ctx.s.url).put(path(a("anon")), { room_id: ctx.roomId }), 401, "M_MISSING_TOKEN");
  });

  test("delete: the alias's creator, a room admin or a server admin; others are refused", async () => {
    await ctx.bob.ok("PUT", path(a("bob-del")), { room_id: ctx.roomId });
    await ctx.bob.ok("PUT", path(a("bob-del2")), { room_id: ctx.roomId });
    await ctx.bob.ok("PUT", path(a("bob-del3")), { room_id: ctx.roomId });
    await join(ctx.carol, ctx.roomId);
    // carol is a member without power and did not create it.
    expectError(await ctx.carol.delete(path(a("bob-del"))), 403, "M_FORBIDDEN");
    const del = await ctx.bob.delete(path(a("bob-del")));
    expect(del.status).toBe(200);
    assertMatchesSpec("client-server/directory", "DELETE", "/directory/room/{roomAlias}", 200, del.body);
    expectError(await ctx.bob.get(path(a("bob-del"))), 404, "M_NOT_FOUND");
    // alice (room creator, power to set the canonical alias) may delete bob's alias.
    await ctx.alice.ok("DELETE", path(a("bob-del2")));
    await ctx.admin.ok("DELETE", path(a("bob-del3")));
    await ctx.carol.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/leave`, {});
  });

  test("deleting an alias removes it from the canonical alias event", async () => {
    const room = await createRoom(ctx.alice, { preset: "public_chat", room_alias_name: "canon-main" });
    await ctx.alice.ok("PUT", path(a("canon-alt")), { room_id: room });
    await setState(ctx.alice, room, "m.room.canonical_alias", { alias: a("canon-main"), alt_aliases: [a("canon-alt")] });
    await ctx.alice.ok("DELETE", path(a("canon-alt")));
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.canonical_alias`);
    expect(ev).toEqual({ alias: a("canon-main"), alt_aliases: [] });
    await ctx.alice.ok("DELETE", path(a("canon-main")));
    expect(await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.canonical_alias`)).toEqual({ alt_aliases: [] });
  });

  test("m.room.canonical_alias: aliases must point to the room", async () => {
    const other = await createRoom(ctx.alice, { preset: "public_chat" });
    await ctx.alice.ok("PUT", path(a("points-elsewhere")), { room_id: other });
    const stateUrl = `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.canonical_alias`;
    const bad = await ctx.alice.put(stateUrl, { alias: a("points-elsewhere") });
    expectError(bad, 400, "M_BAD_ALIAS");
    assertMatchesSpec("client-server/room_state", "PUT", "/rooms/{roomId}/state/{eventType}/{stateKey}", 400, bad.body);
    expectError(await ctx.alice.put(stateUrl, { alias: a("does-not-exist") }), 400, "M_BAD_ALIAS");
    expectError(await ctx.alice.put(stateUrl, { alt_aliases: [a("points-elsewhere")] }), 400, "M_BAD_ALIAS");
    expectError(await ctx.alice.put(stateUrl, { alias: "not an alias" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(stateUrl, { alt_aliases: "#x:y" }), 400, "M_INVALID_PARAM");
    // A remote alias cannot be checked without federation: refused.
    expectError(await ctx.alice.put(stateUrl, { alias: "#far:elsewhere.example" }), 400, "M_BAD_ALIAS");
    // Valid: the room's own aliases; and "no canonical alias" (empty).
    await ctx.alice.ok("PUT", stateUrl, { alias: a("made-at-creation"), alt_aliases: [a("bobs")] });
    await ctx.alice.ok("PUT", stateUrl, { alias: "" });
    await ctx.alice.ok("PUT", stateUrl, {});
  });

  test("world-readable rooms list their aliases to anyone", async () => {
    const room = await createRoom(ctx.alice, { preset: "private_chat", room_alias_name: "readable" });
    expectError(await ctx.carol.get(`/_matrix/client/v3/rooms/${enc(room)}/aliases`), 403, "M_FORBIDDEN");
    await setState(ctx.alice, room, "m.room.history_visibility", { history_visibility: "world_readable" });
    expect((await ctx.carol.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/aliases`)).aliases).toEqual([a("readable")]);
  });
});

describeOnBackends("directory visibility", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; admin: TestClient }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob] = await serverWithUsers({ backend, config: { room_directory: { publication_allowed: false } } }, "alice", "bob");
    ctx.admin = await registerUser(ctx.s, "root", "password", true);
  });
  const listPath = (roomId: string) => `/_matrix/client/v3/directory/list/room/${enc(roomId)}`;

  test("get and set visibility; only room admins may change it; publication can be turned off", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const got = await ctx.bob.get(listPath(roomId));
    expect(got.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "GET", "/directory/list/room/{roomId}", 200, got.body);
    expect(got.body).toEqual({ visibility: "private" });
    // publication_allowed = false: even the room's admin may not publish; a server admin may.
    expectError(await ctx.alice.put(listPath(roomId), { visibility: "public" }), 403, "M_FORBIDDEN");
    await join(ctx.bob, roomId);
    expectError(await ctx.bob.put(listPath(roomId), { visibility: "private" }), 403, "M_FORBIDDEN");
    const pub = await ctx.admin.put(listPath(roomId), { visibility: "public" });
    expect(pub.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "PUT", "/directory/list/room/{roomId}", 200, pub.body);
    expect((await ctx.bob.ok("GET", listPath(roomId))).visibility).toBe("public");
    // Hiding is always allowed to the room's admin.
    await ctx.alice.ok("PUT", listPath(roomId), { visibility: "private" });
    expect((await ctx.bob.ok("GET", listPath(roomId))).visibility).toBe("private");
    expectError(await ctx.alice.put(listPath(roomId), { visibility: "secret" }), 400, "M_INVALID_PARAM");
    const unknown = await ctx.bob.get(listPath(`!unknown:${ctx.s.serverName}`));
    expectError(unknown, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/list_public_rooms", "GET", "/directory/list/room/{roomId}", 404, unknown.body);
    expectError(await ctx.alice.put(listPath(`!unknown:${ctx.s.serverName}`), { visibility: "public" }), 404, "M_NOT_FOUND");
    // createRoom with visibility public is refused too.
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { visibility: "public" }), 403, "M_FORBIDDEN");
  });
});
