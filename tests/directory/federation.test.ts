// Directory features across two servers (both databases): remote alias resolution, another
// server's /publicRooms (GET and POST, pagination, refusal when not shared), space hierarchies
// reaching into rooms on the other server, and room summaries over federation.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, setState } from "../helpers/sync.ts";

const ids = (chunk: any[]) => chunk.map((r) => r.room_id);

describeOnBackends("directory over federation", (backend) => {
  const ctx = fixture<{
    hs1: FederatingServer; // shares its directory
    hs2: FederatingServer; // does not
    alice: TestClient; // on hs1
    bob: TestClient; // on hs2
  }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, {
      backend,
      config: (i) => ({ federation: { retry_min_interval_ms: 200 }, room_directory: { public_rooms_over_federation: i === 0 } }),
    })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
  }, { timeout: 60000 });

  test("remote aliases resolve over federation", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", room_alias_name: "lobby" });
    const r = await ctx.bob.get(`/_matrix/client/v3/directory/room/${enc(`#lobby:${ctx.hs1.serverName}`)}`);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/directory", "GET", "/directory/room/{roomAlias}", 200, r.body);
    expect(r.body.room_id).toBe(roomId);
    expect(r.body.servers).toContain(ctx.hs1.serverName);
    expectError(await ctx.bob.get(`/_matrix/client/v3/directory/room/${enc(`#nothing-here:${ctx.hs1.serverName}`)}`), 404, "M_NOT_FOUND");
    // Aliases of other servers cannot be created here.
    expectError(await ctx.bob.put(`/_matrix/client/v3/directory/room/${enc(`#mine:${ctx.hs1.serverName}`)}`, { room_id: roomId }), 400, "M_INVALID_PARAM");
  }, 30000);

  test("another server's directory: GET and POST with filters and pagination; refused when not shared", async () => {
    const a = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat", name: "Astronomy" });
    const b = await createRoom(ctx.alice, { visibility: "public", preset: "public_chat", name: "Botany", creation_content: { type: "m.space" } });
    const get = await ctx.bob.get(`/_matrix/client/v3/publicRooms?server=${enc(ctx.hs1.serverName)}`);
    expect(get.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "GET", "/publicRooms", 200, get.body);
    expect(ids(get.body.chunk).sort()).toEqual([a, b].sort());
    const filtered = await ctx.bob.post(`/_matrix/client/v3/publicRooms?server=${enc(ctx.hs1.serverName)}`, { filter: { generic_search_term: "astro" } });
    expect(filtered.status).toBe(200);
    assertMatchesSpec("client-server/list_public_rooms", "POST", "/publicRooms", 200, filtered.body);
    expect(ids(filtered.body.chunk)).toEqual([a]);
    expect(ids((await ctx.bob.ok("POST", `/_matrix/client/v3/publicRooms?server=${enc(ctx.hs1.serverName)}`, { filter: { room_types: ["m.space"] } })).chunk)).toEqual([b]);
    const p1 = await ctx.bob.ok("GET", `/_matrix/client/v3/publicRooms?server=${enc(ctx.hs1.serverName)}&limit=1`);
    expect(p1.chunk.length).toBe(1);
    const p2 = await ctx.bob.ok("POST", `/_matrix/client/v3/publicRooms?server=${enc(ctx.hs1.serverName)}`, { limit: 1, since: p1.next_batch });
    expect([...ids(p1.chunk), ...ids(p2.chunk)].sort()).toEqual([a, b].sort());
    // hs2 does not share its directory.
    await createRoom(ctx.bob, { visibility: "public", preset: "public_chat" });
    expectError(await ctx.alice.get(`/_matrix/client/v3/publicRooms?server=${enc(ctx.hs2.serverName)}`), 403, "M_FORBIDDEN");
    // A server that does not exist.
    const none = await ctx.alice.get("/_matrix/client/v3/publicRooms?server=nonexistent.invalid");
    expect(none.status).toBe(502);
    expect(none.body.errcode).toBe("M_UNKNOWN");
  }, 30000);

  test("a space on one server with rooms on the other; room summaries over federation", async () => {
    // alice's space on hs1: a public room, a sub-space with a public room, an invite-only room.
    const remoteSpace = await createRoom(ctx.alice, { preset: "public_chat", name: "Remote space", creation_content: { type: "m.space" } });
    const open = await createRoom(ctx.alice, { preset: "public_chat", name: "Open on hs1" });
    const closed = await createRoom(ctx.alice, { preset: "private_chat", name: "Closed on hs1" });
    const subSpace = await createRoom(ctx.alice, { preset: "public_chat", name: "Sub on hs1", creation_content: { type: "m.space" } });
    const deep = await createRoom(ctx.alice, { preset: "public_chat", name: "Deep on hs1" });
    await setState(ctx.alice, remoteSpace, "m.space.child", { via: [ctx.hs1.serverName], order: "1" }, open);
    await setState(ctx.alice, remoteSpace, "m.space.child", { via: [ctx.hs1.serverName], order: "2" }, closed);
    await setState(ctx.alice, remoteSpace, "m.space.child", { via: [ctx.hs1.serverName], order: "3" }, subSpace);
    await setState(ctx.alice, subSpace, "m.space.child", { via: [ctx.hs1.serverName] }, deep);
    // bob's space on hs2 links to it.
    const home = await createRoom(ctx.bob, { preset: "public_chat", name: "Home", creation_content: { type: "m.space" } });
    await setState(ctx.bob, home, "m.space.child", { via: [ctx.hs1.serverName] }, remoteSpace);

    const h = await ctx.bob.get(`/_matrix/client/v1/rooms/${enc(home)}/hierarchy`);
    expect(h.status).toBe(200);
    assertMatchesSpec("client-server/space_hierarchy", "GET", "/rooms/{roomId}/hierarchy", 200, h.body);
    expect(ids(h.body.rooms)).toEqual([home, remoteSpace, open, subSpace, deep]);
    const rs = h.body.rooms[1];
    expect(rs).toMatchObject({ name: "Remote space", room_type: "m.space", num_joined_members: 1, join_rule: "public" });
    expect(rs.children_state.map((c: any) => c.state_key)).toEqual([open, closed, subSpace]);
    expect(h.body.rooms[2]).toMatchObject({ room_id: open, name: "Open on hs1" });
    expect(roomIdsOfMaxDepth(await ctx.bob.ok("GET", `/_matrix/client/v1/rooms/${enc(home)}/hierarchy?max_depth=1`))).toEqual([home, remoteSpace]);

    // Room summaries of rooms hs2 is not in: by ID with via, and by alias.
    const sum = await ctx.bob.get(`/_matrix/client/v1/room_summary/${enc(open)}?via=${enc(ctx.hs1.serverName)}`);
    expect(sum.status).toBe(200);
    assertMatchesSpec("client-server/room_summary", "GET", "/room_summary/{roomIdOrAlias}", 200, sum.body);
    expect(sum.body).toMatchObject({ room_id: open, name: "Open on hs1", membership: "leave", join_rule: "public" });
    const aliased = await createRoom(ctx.alice, { preset: "public_chat", name: "Aliased", room_alias_name: "aliased" });
    expect((await ctx.bob.ok("GET", `/_matrix/client/v1/room_summary/${enc(`#aliased:${ctx.hs1.serverName}`)}`)).room_id).toBe(aliased);
    expectError(await ctx.bob.get(`/_matrix/client/v1/room_summary/${enc(closed)}?via=${enc(ctx.hs1.serverName)}`), 404, "M_NOT_FOUND");

    // The federation endpoint itself: the closed room is inaccessible to hs2.
    const fed = await ctx.hs2.hs.services.federation.client.request<any>({
      destination: ctx.hs1.serverName,
      method: "GET",
      path: `/_matrix/federation/v1/hierarchy/${enc(remoteSpace)}`,
    });
    assertMatchesSpec("server-server/space_hierarchy", "GET", "/hierarchy/{roomId}", 200, fed);
    expect(ids(fed.children).sort()).toEqual([open, subSpace].sort());
    expect(fed.inaccessible_children).toEqual([closed]);
    const missing = await ctx.hs2.hs.services.federation.client
      .request<any>({ destination: ctx.hs1.serverName, method: "GET", path: `/_matrix/federation/v1/hierarchy/${enc(closed)}` })
      .catch((e) => e);
    expect(missing.status).toBe(404);
    expect(missing.errcode).toBe("M_NOT_FOUND");
  }, 60000);
});

function roomIdsOfMaxDepth(body: any): string[] {
  return body.rooms.map((r: any) => r.room_id);
}
