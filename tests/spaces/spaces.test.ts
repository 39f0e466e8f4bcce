// Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy (depth-first walk, child order,
// suggested_only, max_depth, limit/from pagination, loops, who sees what) and room summaries
// (GET /_matrix/client/v1/room_summary/{roomIdOrAlias}); on both databases.
import { expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, invite, setState } from "../helpers/sync.ts";

const hierarchy = async (c: TestClient, roomId: string, query = ""): Promise<any> => {
  const r = await c.get(`/_matrix/client/v1/rooms/${enc(roomId)}/hierarchy${query ? `?${query}` : ""}`);
  if (r.status !== 200) throw new Error(`hierarchy → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/space_hierarchy", "GET", "/rooms/{roomId}/hierarchy", 200, r.body);
  return r.body;
};
const roomIds = (body: any) => body.rooms.map((r: any) => r.room_id);

describeOnBackends("spaces", (backend) => {
  const child = (parent: string, roomId: string, content: Record<string, unknown> = {}) =>
    setState(ctx.alice, parent, "m.space.child", { via: [ctx.s.serverName], ...content }, roomId);
  const ctx = fixture<{
    s: TestServer;
    alice: TestClient; // builds the spaces
    bob: TestClient; // a visitor
    space: string;
    general: string;
    random: string;
    secret: string;
    sub: string;
    deep: string;
  }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob] = await serverWithUsers({ backend }, "alice", "bob");
    ctx.space = await createRoom(ctx.alice, { preset: "public_chat", name: "Space", creation_content: { type: "m.space" }, room_alias_name: "the-space" });
    ctx.general = await createRoom(ctx.alice, { preset: "public_chat", name: "General", topic: "Talk" });
    ctx.random = await createRoom(ctx.alice, { preset: "public_chat", name: "Random" });
    ctx.secret = await createRoom(ctx.alice, { preset: "private_chat", name: "Secret" });
    ctx.sub = await createRoom(ctx.alice, { preset: "public_chat", name: "Sub-space", creation_content: { type: "m.space" } });
    ctx.deep = await createRoom(ctx.alice, { preset: "public_chat", name: "Deep" });
    // Ordered: general ("a"), sub ("b"), secret ("c"), random (no order).
    await child(ctx.space, ctx.random);
    await child(ctx.space, ctx.general, { order: "a", suggested: true });
    await child(ctx.space, ctx.sub, { order: "b" });
    await child(ctx.space, ctx.secret, { order: "c" });
    // Not a child: no via.
    await setState(ctx.alice, ctx.space, "m.space.child", {}, `!gone:${ctx.s.serverName}`);
    await child(ctx.sub, ctx.deep, { suggested: true, order: "a" });
    // A loop back to the top.
    await child(ctx.sub, ctx.space, { order: "b" });
  });

  test("depth-first walk in the spec's order; rooms the user may not preview are left out", async () => {
    const all = await hierarchy(ctx.alice, ctx.space);
    expect(roomIds(all)).toEqual([ctx.space, ctx.general, ctx.sub, ctx.deep, ctx.secret, ctx.random]);
    expect(all.next_batch).toBeUndefined();
    const top = all.rooms[0];
    expect(top).toMatchObject({ room_id: ctx.space, name: "Space", room_type: "m.space", join_rule: "public", num_joined_members: 1, canonical_alias: `#the-space:${ctx.s.serverName}` });
    // Valid `order` first (code points), then the rest by timestamp.
    expect(top.children_state.map((c: any) => c.state_key)).toEqual([ctx.general, ctx.sub, ctx.secret, ctx.random]);
    expect(top.children_state[0]).toMatchObject({ type: "m.space.child", sender: ctx.alice.userId, content: { via: [ctx.s.serverName], order: "a", suggested: true } });
    expect(typeof top.children_state[0].origin_server_ts).toBe("number");
    expect(all.rooms[1]).toMatchObject({ room_id: ctx.general, name: "General", topic: "Talk", children_state: [] });
    // bob may not preview the invite-only room.
    expect(roomIds(await hierarchy(ctx.bob, ctx.space))).toEqual([ctx.space, ctx.general, ctx.sub, ctx.deep, ctx.random]);
    // Once invited, he may.
    await invite(ctx.alice, ctx.secret, ctx.bob.userId!);
    expect(roomIds(await hierarchy(ctx.bob, ctx.space))).toContain(ctx.secret);
  });

  test("suggested_only and max_depth", async () => {
    expect(roomIds(await hierarchy(ctx.alice, ctx.space, "suggested_only=true"))).toEqual([ctx.space, ctx.general]);
    expect(roomIds(await hierarchy(ctx.alice, ctx.space, "max_depth=0"))).toEqual([ctx.space]);
    expect(roomIds(await hierarchy(ctx.alice, ctx.space, "max_depth=1"))).toEqual([ctx.space, ctx.general, ctx.sub, ctx.secret, ctx.random]);
    // Starting from the sub-space: the loop back to the top is walked once.
    expect(roomIds(await hierarchy(ctx.alice, ctx.sub))).toEqual([ctx.sub, ctx.deep, ctx.space, ctx.general, ctx.secret, ctx.random]);
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?max_depth=-1`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?limit=0`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?suggested_only=yes`), 400, "M_INVALID_PARAM");
  });

  test("pagination with limit and from; the parameters may not change", async () => {
    const seen: string[] = [];
    let from: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await hierarchy(ctx.alice, ctx.space, `limit=2${from ? `&from=${enc(from)}` : ""}`);
      expect(page.rooms.length).toBeLessThanOrEqual(2);
      seen.push(...roomIds(page));
      from = page.next_batch;
      if (!from) break;
    }
    expect(seen).toEqual([ctx.space, ctx.general, ctx.sub, ctx.deep, ctx.secret, ctx.random]);
    const first = await hierarchy(ctx.alice, ctx.space, "limit=1");
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?from=${enc(first.next_batch)}&suggested_only=true`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?from=nonsense`), 400, "M_INVALID_PARAM");
    // Tokens belong to their user.
    expectError(await ctx.bob.get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy?from=${enc(first.next_batch)}`), 400, "M_INVALID_PARAM");
  });

  test("a space the user may not preview: 403", async () => {
    const hidden = await createRoom(ctx.alice, { preset: "private_chat", creation_content: { type: "m.space" } });
    const r = await ctx.bob.get(`/_matrix/client/v1/rooms/${enc(hidden)}/hierarchy`);
    expectError(r, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/space_hierarchy", "GET", "/rooms/{roomId}/hierarchy", 403, r.body);
    expectError(await ctx.bob.get(`/_matrix/client/v1/rooms/${enc(`!nowhere:${ctx.s.serverName}`)}/hierarchy`), 403, "M_FORBIDDEN");
    expectError(await new TestClient(ctx.s.url).get(`/_matrix/client/v1/rooms/${enc(ctx.space)}/hierarchy`), 401, "M_MISSING_TOKEN");
  });

  test("room summary by ID and alias, with and without a token", async () => {
    const r = await ctx.bob.get(`/_matrix/client/v1/room_summary/${enc(ctx.space)}`);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/room_summary", "GET", "/room_summary/{roomIdOrAlias}", 200, r.body);
    expect(r.body).toMatchObject({ room_id: ctx.space, name: "Space", room_type: "m.space", join_rule: "public", membership: "leave", num_joined_members: 1, world_readable: false, guest_can_join: false });
    expect(r.body.room_version).toBe("12");
    expect(r.body.children_state).toBeUndefined();
    const byAlias = await ctx.alice.ok("GET", `/_matrix/client/v1/room_summary/${enc(`#the-space:${ctx.s.serverName}`)}`);
    expect(byAlias).toMatchObject({ room_id: ctx.space, membership: "join" });
    // Without a token: public rooms yes (no membership), private rooms no.
    const anon = new TestClient(ctx.s.url);
    const open = await anon.ok("GET", `/_matrix/client/v1/room_summary/${enc(ctx.general)}`);
    expect(open.room_id).toBe(ctx.general);
    expect(open.membership).toBeUndefined();
    const closed = await anon.get(`/_matrix/client/v1/room_summary/${enc(ctx.secret)}`);
    expectError(closed, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/room_summary", "GET", "/room_summary/{roomIdOrAlias}", 404, closed.body);
    // bob was invited to the secret room: he may see it; a stranger may not.
    expect((await ctx.bob.ok("GET", `/_matrix/client/v1/room_summary/${enc(ctx.secret)}`)).membership).toBe("invite");
    const carol = await registerUser(ctx.s, "carol");
    expectError(await carol.get(`/_matrix/client/v1/room_summary/${enc(ctx.secret)}`), 404, "M_NOT_FOUND");
    // Encryption shows up.
    await setState(ctx.alice, ctx.general, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
    expect((await anon.ok("GET", `/_matrix/client/v1/room_summary/${enc(ctx.general)}`)).encryption).toBe("m.megolm.v1.aes-sha2");
    // The unstable MSC3266 path answers the same.
    expect((await ctx.bob.ok("GET", `/_matrix/client/unstable/im.nheko.summary/summary/${enc(ctx.space)}`)).room_id).toBe(ctx.space);
    expectError(await ctx.bob.get(`/_matrix/client/v1/room_summary/${enc(`#nope:${ctx.s.serverName}`)}`), 404, "M_NOT_FOUND");
    expectError(await ctx.bob.get(`/_matrix/client/v1/room_summary/nonsense`), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.get(`/_matrix/client/v1/room_summary/${enc(ctx.space)}?via=${enc("bad server!")}`), 400, "M_INVALID_PARAM");
  });
});
