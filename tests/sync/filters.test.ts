// Stored and inline filters, and lazy-loading room members in /sync, on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { bodies, createRoom, enc, join, send, setState, sync, syncPath } from "../helpers/sync.ts";

const members = (events: any[]) => events.filter((e) => e.type === "m.room.member").map((e) => e.state_key).sort();

for (const backend of BACKENDS) {
  describe(`filters and lazy loading [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let carol: TestClient;
    let dave: TestClient;
    beforeAll(async () => {
      [s, alice, bob, carol, dave] = await serverWithUsers({ backend }, "alice", "bob", "carol", "dave");
    });
    afterAll(() => s.stop());

    test("filters are stored per user: upload, download, 404 and 403", async () => {
      const filter = { room: { timeline: { limit: 3, types: ["m.room.message"] }, state: { lazy_load_members: true } }, event_fields: ["type", "content"] };
      const r = await alice.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, filter);
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/filter", "POST", "/user/{userId}/filter", 200, r.body);
      expect(r.body.filter_id).toMatch(/^[0-9]+$/);
      const second = await alice.ok("POST", `/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, { presence: { types: [] } });
      expect(second.filter_id).not.toBe(r.body.filter_id);

      const got = await alice.get(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter/${r.body.filter_id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(filter);
      assertMatchesSpec("client-server/filter", "GET", "/user/{userId}/filter/{filterId}", 200, got.body);

      expectError(await alice.get(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter/99999`), 404, "M_NOT_FOUND");
      expectError(await alice.get(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter/abc`), 404, "M_NOT_FOUND");
      expectError(await bob.get(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter/${r.body.filter_id}`), 403, "M_FORBIDDEN");
      expectError(await bob.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, {}), 403, "M_FORBIDDEN");
      // Filter IDs are per user: bob's first filter does not see alice's.
      const bobs = await bob.ok("POST", `/_matrix/client/v3/user/${enc(bob.userId!)}/filter`, {});
      expect((await bob.ok("GET", `/_matrix/client/v3/user/${enc(bob.userId!)}/filter/${bobs.filter_id}`))).toEqual({});
      // Invalid filters are refused.
      expectError(await alice.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, { room: { timeline: { types: "m.room.message" } } }), 400, "M_BAD_JSON");
      expectError(await alice.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, { event_format: "xml" }), 400, "M_BAD_JSON");
      // Room and sender lists must hold room and user IDs.
      for (const bad of [{ room: { timeline: { rooms: ["not_a_room_id"] } } }, { room: { timeline: { senders: ["not_a_sender_id"] } } }, { room: { not_rooms: ["x"] } }, { presence: { not_senders: ["@"] } }]) {
        expectError(await alice.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, bad), 400, "M_BAD_JSON");
      }
      expect((await alice.post(`/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, { room: { rooms: ["!r:x"], timeline: { senders: ["@u:x"] } } })).status).toBe(200);

      // A stored filter used by /sync; unknown IDs fail.
      const roomId = await createRoom(alice, {});
      await send(alice, roomId, "a");
      await setState(alice, roomId, "m.room.topic", { topic: "x" });
      await send(alice, roomId, "b");
      // (No schema check: event_fields legitimately drops required fields.)
      const res = await alice.ok("GET", syncPath({ filter: r.body.filter_id }));
      const tl = res.rooms.join[roomId].timeline.events;
      expect(tl.map((e: any) => e.content.body)).toEqual(["a", "b"]);
      expect(Object.keys(tl[0]).sort()).toEqual(["content", "type"]); // event_fields
      expectError(await alice.get(`/_matrix/client/v3/sync?filter=424242`), 404, "M_NOT_FOUND");
    });

    test("inline filters: types, not_types, senders, not_senders, rooms, not_rooms", async () => {
      const r1 = await createRoom(alice, { preset: "public_chat" });
      const r2 = await createRoom(alice, { preset: "public_chat" });
      await join(bob, r1);
      await send(alice, r1, "from alice");
      await send(bob, r1, "from bob");
      await send(bob, r1, { body: "notice", msgtype: "m.notice" });
      await send(alice, r1, { key: "v" }, "com.example.custom");
      await send(alice, r2, "in r2");

      const tl = async (filter: Record<string, unknown>) => {
        const r = await sync(alice, { filter: { room: { timeline: { limit: 50, ...filter }, ...((filter.__room as object) ?? {}) } } });
        return r.rooms.join[r1]?.timeline.events ?? [];
      };
      expect((await tl({ types: ["com.example.*"] })).map((e: any) => e.type)).toEqual(["com.example.custom"]);
      expect((await tl({ not_types: ["m.room.*"] })).map((e: any) => e.type)).toEqual(["com.example.custom"]);
      expect(bodies(await tl({ senders: [bob.userId] }))).toEqual(["from bob", "notice"]);
      expect(bodies(await tl({ not_senders: [bob.userId], types: ["m.room.message"] }))).toEqual(["from alice"]);

      // Room filters on the whole room section.
      const only = await sync(alice, { filter: { room: { rooms: [r2] } } });
      expect(Object.keys(only.rooms.join)).toEqual([r2]);
      const not = await sync(alice, { filter: { room: { not_rooms: [r2] } } });
      expect(not.rooms.join[r2]).toBeUndefined();
      expect(not.rooms.join[r1]).toBeDefined();
      // Timeline filter rooms only empty that room's timeline.
      const tlOnly = await sync(alice, { filter: { room: { timeline: { not_rooms: [r1] } } } });
      expect(tlOnly.rooms.join[r1].timeline.events).toEqual([]);
      expect(bodies(tlOnly.rooms.join[r2].timeline.events)).toEqual(["in r2"]);
      // State filter by type.
      const st = await sync(alice, { filter: { room: { rooms: [r1], state: { types: ["m.room.create"] }, timeline: { limit: 1 } } } });
      expect(st.rooms.join[r1].state.events.map((e: any) => e.type)).toEqual(["m.room.create"]);
      // Account data filter.
      await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/org.example.one`, { a: 1 });
      await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/org.example.two`, { a: 2 });
      const ad = await sync(alice, { filter: { account_data: { not_types: ["org.example.two"] } } });
      const types = ad.account_data.events.map((e: any) => e.type);
      expect(types).toContain("org.example.one");
      expect(types).not.toContain("org.example.two");
      // A filter with limit 0 gives empty but limited timelines.
      const zero = await sync(alice, { filter: { room: { rooms: [r1], timeline: { limit: 0 } } } });
      expect(zero.rooms.join[r1].timeline.events).toEqual([]);
      expect(zero.rooms.join[r1].timeline.limited).toBe(true);
    });

    test("lazy loading: only the members the timeline needs, redundant ones skipped", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", name: "Lazy" });
      await join(bob, roomId);
      await join(carol, roomId);
      await join(dave, roomId);
      for (let i = 0; i < 5; i++) await send(bob, roomId, `bob ${i}`);
      const lazy = { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 3 } } };

      // Without lazy loading, all four members are in state.
      const plain = await sync(dave, { filter: { room: { rooms: [roomId], timeline: { limit: 3 } } } });
      expect(members(plain.rooms.join[roomId].state.events)).toEqual([alice.userId, bob.userId, carol.userId, dave.userId].sort());

      const r = await sync(dave, { filter: lazy });
      const room = r.rooms.join[roomId];
      expect(bodies(room.timeline.events)).toEqual(["bob 2", "bob 3", "bob 4"]);
      // bob (the sender) and dave (the syncing user); not alice or carol.
      expect(members(room.state.events)).toEqual([bob.userId, dave.userId].sort());
      // Other state is all there.
      expect(room.state.events.map((e: any) => e.type)).toContain("m.room.power_levels");
      expect(room.summary["m.joined_member_count"]).toBe(4);

      // Incremental: bob again → redundant, nothing in state; carol speaks → her member event.
      await send(bob, roomId, "bob again");
      await send(carol, roomId, "carol speaks");
      const inc = await sync(dave, { since: r.next_batch, filter: lazy });
      expect(members(inc.rooms.join[roomId].state.events)).toEqual([carol.userId]);

      // include_redundant_members: senders' member events every time.
      await send(bob, roomId, "bob thrice");
      const red = await sync(dave, {
        since: inc.next_batch,
        filter: { room: { rooms: [roomId], state: { lazy_load_members: true, include_redundant_members: true } } },
      });
      expect(members(red.rooms.join[roomId].state.events)).toEqual([bob.userId]);
    });

    test("lazy loading on a limited incremental sync includes membership changes in the gap", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await join(bob, roomId);
      const lazy = { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 2 } } };
      const first = await sync(bob, { filter: lazy });
      await join(carol, roomId); // in the gap
      for (let i = 0; i < 4; i++) await send(alice, roomId, `x${i}`);
      const r = await sync(bob, { since: first.next_batch, filter: lazy });
      const room = r.rooms.join[roomId];
      expect(room.timeline.limited).toBe(true);
      expect(members(room.state.events)).toContain(carol.userId);
    });

    test("lazy loading: heroes' member events come with the summary", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await join(bob, roomId);
      await join(carol, roomId);
      for (let i = 0; i < 3; i++) await send(alice, roomId, `h${i}`);
      const r = await sync(carol, { filter: { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 2 } } } });
      const room = r.rooms.join[roomId];
      expect(room.summary["m.heroes"]).toEqual([alice.userId, bob.userId]);
      expect(members(room.state.events)).toEqual([alice.userId, bob.userId, carol.userId].sort());
    });
  });
}
