// Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy (depth-first walk, child order,
// suggested_only, max_depth, limit/from pagination, loops, who sees what) and room summaries
// (GET /_matrix/client/v1/room_summary/{roomIdOrAlias}); on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, invite, setState } from "../helpers/sync.ts";

const hierarchy = async (c: TestClient, roomId: string, query = ""): Promise<any> => {
  const r = await c.get(`/_matrix/client/v1/rooms/${enc(roomId)}/hierarchy${query ? `?${query}` : ""}`);
  if (r.status !== 200) throw new Error(`hierarchy → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/space_hierarchy", "GET", "/rooms/{roomId}/hierarchy", 200, r.body);
  return r.body;
};
const roomIds = (body: any) => body.rooms.map((r: any) => r.room_id);

for (const backend of BACKENDS) {
  describe(`spaces [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient; // builds the spaces
    let bob: TestClient; // a visitor
    let space: string;
    let general: string;
    let random: string;
    let secret: string;
    let sub: string;
    let deep: string;
    const child = (parent: string, roomId: string, content: Record<string, unknown> = {}) =>
      setState(alice, parent, "m.space.child", { via: [s.serverName], ...content }, roomId);
    beforeAll(async () => {
      [s, alice, bob] = await serverWithUsers({ backend }, "alice", "bob");
      space = await createRoom(alice, { preset: "public_chat", name: "Space", creation_content: { type: "m.space" }, room_alias_name: "the-space" });
      general = await createRoom(alice, { preset: "public_chat", name: "General", topic: "Talk" });
      random = await createRoom(alice, { preset: "public_chat", name: "Random" });
      secret = await createRoom(alice, { preset: "private_chat", name: "Secret" });
      sub = await createRoom(alice, { preset: "public_chat", name: "Sub-space", creation_content: { type: "m.space" } });
      deep = await createRoom(alice, { preset: "public_chat", name: "Deep" });
      // Ordered: general ("a"), sub ("b"), secret ("c"), random (no order).
      await child(space, random);
      await child(space, general, { order: "a", suggested: true });
      await child(space, sub, { order: "b" });
      await child(space, secret, { order: "c" });
      // Not a child: no via.
      await setState(alice, space, "m.space.child", {}, `!gone:${s.serverName}`);
      await child(sub, deep, { suggested: true, order: "a" });
      // A loop back to the top.
      await child(sub, space, { order: "b" });
    });
    afterAll(() => s.stop());

    test("depth-first walk in the spec's order; rooms the user may not preview are left out", async () => {
      const all = await hierarchy(alice, space);
      expect(roomIds(all)).toEqual([space, general, sub, deep, secret, random]);
      expect(all.next_batch).toBeUndefined();
      const top = all.rooms[0];
      expect(top).toMatchObject({ room_id: space, name: "Space", room_type: "m.space", join_rule: "public", num_joined_members: 1, canonical_alias: `#the-space:${s.serverName}` });
      // Valid `order` first (code points), then the rest by timestamp.
      expect(top.children_state.map((c: any) => c.state_key)).toEqual([general, sub, secret, random]);
      expect(top.children_state[0]).toMatchObject({ type: "m.space.child", sender: alice.userId, content: { via: [s.serverName], order: "a", suggested: true } });
      expect(typeof top.children_state[0].origin_server_ts).toBe("number");
      expect(all.rooms[1]).toMatchObject({ room_id: general, name: "General", topic: "Talk", children_state: [] });
      // bob may not preview the invite-only room.
      expect(roomIds(await hierarchy(bob, space))).toEqual([space, general, sub, deep, random]);
      // Once invited, he may.
      await invite(alice, secret, bob.userId!);
      expect(roomIds(await hierarchy(bob, space))).toContain(secret);
    });

    test("suggested_only and max_depth", async () => {
      expect(roomIds(await hierarchy(alice, space, "suggested_only=true"))).toEqual([space, general]);
      expect(roomIds(await hierarchy(alice, space, "max_depth=0"))).toEqual([space]);
      expect(roomIds(await hierarchy(alice, space, "max_depth=1"))).toEqual([space, general, sub, secret, random]);
      // Starting from the sub-space: the loop back to the top is walked once.
      expect(roomIds(await hierarchy(alice, sub))).toEqual([sub, deep, space, general, secret, random]);
      expectError(await alice.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?max_depth=-1`), 400, "M_INVALID_PARAM");
      expectError(await alice.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?limit=0`), 400, "M_INVALID_PARAM");
      expectError(await alice.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?suggested_only=yes`), 400, "M_INVALID_PARAM");
    });

    test("pagination with limit and from; the parameters may not change", async () => {
      const seen: string[] = [];
      let from: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await hierarchy(alice, space, `limit=2${from ? `&from=${enc(from)}` : ""}`);
        expect(page.rooms.length).toBeLessThanOrEqual(2);
        seen.push(...roomIds(page));
        from = page.next_batch;
        if (!from) break;
      }
      expect(seen).toEqual([space, general, sub, deep, secret, random]);
      const first = await hierarchy(alice, space, "limit=1");
      expectError(await alice.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?from=${enc(first.next_batch)}&suggested_only=true`), 400, "M_INVALID_PARAM");
      expectError(await alice.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?from=nonsense`), 400, "M_INVALID_PARAM");
      // Tokens belong to their user.
      expectError(await bob.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?from=${enc(first.next_batch)}`), 400, "M_INVALID_PARAM");
    });

    test("a space the user may not preview: 403", async () => {
      const hidden = await createRoom(alice, { preset: "private_chat", creation_content: { type: "m.space" } });
      const r = await bob.get(`/_matrix/client/v1/rooms/${enc(hidden)}/hierarchy`);
      expectError(r, 403, "M_FORBIDDEN");
      assertMatchesSpec("client-server/space_hierarchy", "GET", "/rooms/{roomId}/hierarchy", 403, r.body);
      expectError(await bob.get(`/_matrix/client/v1/rooms/${enc(`!nowhere:${s.serverName}`)}/hierarchy`), 403, "M_FORBIDDEN");
      expectError(await new TestClient(s.url).get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy`), 401, "M_MISSING_TOKEN");
    });

    test("room summary by ID and alias, with and without a token", async () => {
      const r = await bob.get(`/_matrix/client/v1/room_summary/${enc(space)}`);
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/room_summary", "GET", "/room_summary/{roomIdOrAlias}", 200, r.body);
      expect(r.body).toMatchObject({ room_id: space, name: "Space", room_type: "m.space", join_rule: "public", membership: "leave", num_joined_members: 1, world_readable: false, guest_can_join: false });
      expect(r.body.room_version).toBe("12");
      expect(r.body.children_state).toBeUndefined();
      const byAlias = await alice.ok("GET", `/_matrix/client/v1/room_summary/${enc(`#the-space:${s.serverName}`)}`);
      expect(byAlias).toMatchObject({ room_id: space, membership: "join" });
      // Without a token: public rooms yes (no membership), private rooms no.
      const anon = new TestClient(s.url);
      const open = await anon.ok("GET", `/_matrix/client/v1/room_summary/${enc(general)}`);
      expect(open.room_id).toBe(general);
      expect(open.membership).toBeUndefined();
      const closed = await anon.get(`/_matrix/client/v1/room_summary/${enc(secret)}`);
      expectError(closed, 404, "M_NOT_FOUND");
      assertMatchesSpec("client-server/room_summary", "GET", "/room_summary/{roomIdOrAlias}", 404, closed.body);
      // bob was invited to the secret room: he may see it; a stranger may not.
      expect((await bob.ok("GET", `/_matrix/client/v1/room_summary/${enc(secret)}`)).membership).toBe("invite");
      const carol = await registerUser(s, "carol");
      expectError(await carol.get(`/_matrix/client/v1/room_summary/${enc(secret)}`), 404, "M_NOT_FOUND");
      // Encryption shows up.
      await setState(alice, general, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
      expect((await anon.ok("GET", `/_matrix/client/v1/room_summary/${enc(general)}`)).encryption).toBe("m.megolm.v1.aes-sha2");
      // The unstable MSC3266 path answers the same.
      expect((await bob.ok("GET", `/_matrix/client/unstable/im.nheko.summary/summary/${enc(space)}`)).room_id).toBe(space);
      expectError(await bob.get(`/_matrix/client/v1/room_summary/${enc(`#nope:${s.serverName}`)}`), 404, "M_NOT_FOUND");
      expectError(await bob.get(`/_matrix/client/v1/room_summary/nonsense`), 400, "M_INVALID_PARAM");
      expectError(await bob.get(`/_matrix/client/v1/room_summary/${enc(space)}?via=${enc("bad server!")}`), 400, "M_INVALID_PARAM");
    });
  });
}
