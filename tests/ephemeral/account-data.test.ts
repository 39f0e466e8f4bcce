// Account data (global and per room) and room tags over HTTP, and their delivery in /sync.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";

for (const backend of BACKENDS) {
  describe(`account data and tags [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let roomId: string;
    beforeAll(async () => {
      [s, alice, bob] = await serverWithUsers({ backend }, "alice", "bob");
      roomId = await createRoom(alice, {});
    });
    afterAll(() => s.stop());

    const global = (c: TestClient, type: string, user = c.userId!) => `/_matrix/client/v3/user/${enc(user)}/account_data/${enc(type)}`;
    const perRoom = (c: TestClient, type: string, room = roomId, user = c.userId!) =>
      `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/account_data/${enc(type)}`;
    const tags = (c: TestClient, room = roomId, user = c.userId!) => `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/tags`;

    test("global account data: put, get, overwrite, errors", async () => {
      expectError(await alice.get(global(alice, "org.example.settings")), 404, "M_NOT_FOUND");
      const put = await alice.put(global(alice, "org.example.settings"), { theme: "dark" });
      expect(put.status).toBe(200);
      assertMatchesSpec("client-server/account-data", "PUT", "/user/{userId}/account_data/{type}", 200, put.body);
      const got = await alice.get(global(alice, "org.example.settings"));
      expect(got.body).toEqual({ theme: "dark" });
      assertMatchesSpec("client-server/account-data", "GET", "/user/{userId}/account_data/{type}", 200, got.body);
      await alice.ok("PUT", global(alice, "org.example.settings"), { theme: "light" });
      expect(await alice.ok("GET", global(alice, "org.example.settings"))).toEqual({ theme: "light" });

      expectError(await bob.get(global(alice, "org.example.settings", alice.userId!)), 403, "M_FORBIDDEN");
      expectError(await bob.put(global(alice, "org.example.settings", alice.userId!), { x: 1 }), 403, "M_FORBIDDEN");
      expectError(await alice.put(global(alice, "m.fully_read"), { event_id: "$x:localhost" }), 405, "M_BAD_JSON");
      expectError(await alice.put(global(alice, "m.push_rules"), { global: {} }), 405, "M_BAD_JSON");
      expectError(await alice.put(global(alice, "org.example.array"), [1, 2]), 400, "M_NOT_JSON");
    });

    test("m.push_rules is server-managed: readable (defaults included), in every initial sync, not writable", async () => {
      const got = await alice.ok("GET", global(alice, "m.push_rules"));
      expect(got.global.override[0].rule_id).toBe(".m.rule.master");
      expect(got.global.underride.map((r: any) => r.rule_id)).toContain(".m.rule.message");
      const first = await sync(alice);
      const ev = first.account_data.events.find((e: any) => e.type === "m.push_rules");
      expect(ev.content.global.override[0].rule_id).toBe(".m.rule.master");
      // A change through the push rules API comes down in the next incremental sync.
      await alice.ok("PUT", "/_matrix/client/v3/pushrules/global/room/" + enc(roomId), { actions: [] });
      const inc = await sync(alice, { since: first.next_batch });
      const changed = inc.account_data.events.find((e: any) => e.type === "m.push_rules");
      expect(changed.content.global.room.map((r: any) => r.rule_id)).toEqual([roomId]);
      expect(changed.content.global.override[0].rule_id).toBe(".m.rule.master");
      expectError(await alice.put(global(alice, "m.push_rules"), changed.content), 405, "M_BAD_JSON");
    });

    test("room account data: put, get, errors", async () => {
      expectError(await alice.get(perRoom(alice, "org.example.room")), 404, "M_NOT_FOUND");
      const put = await alice.put(perRoom(alice, "org.example.room"), { pinned: true });
      expect(put.status).toBe(200);
      assertMatchesSpec("client-server/account-data", "PUT", "/user/{userId}/rooms/{roomId}/account_data/{type}", 200, put.body);
      expect(await alice.ok("GET", perRoom(alice, "org.example.room"))).toEqual({ pinned: true });
      // No fallback between global and room data.
      expectError(await alice.get(global(alice, "org.example.room")), 404, "M_NOT_FOUND");
      expectError(await alice.get(perRoom(alice, "org.example.room", "@notaroom:localhost")), 400, "M_INVALID_PARAM");
      expectError(await alice.put(perRoom(alice, "org.example.room", "@notaroom:localhost"), {}), 400, "M_INVALID_PARAM");
      expectError(await bob.get(perRoom(alice, "org.example.room", roomId, alice.userId!)), 403, "M_FORBIDDEN");
      expectError(await alice.put(perRoom(alice, "m.fully_read"), { event_id: "$x:localhost" }), 405, "M_BAD_JSON");
      expectError(await alice.put(perRoom(alice, "m.push_rules"), {}), 405, "M_BAD_JSON");
    });

    test("account data in /sync: all of it initially, changes incrementally, woken at once", async () => {
      await alice.ok("PUT", global(alice, "org.example.sync"), { v: 1 });
      await alice.ok("PUT", perRoom(alice, "org.example.roomsync"), { v: 1 });
      const first = await sync(alice);
      expect(first.account_data.events).toContainEqual({ type: "org.example.sync", content: { v: 1 } });
      expect(first.rooms.join[roomId].account_data.events).toContainEqual({ type: "org.example.roomsync", content: { v: 1 } });

      const quiet = await sync(alice, { since: first.next_batch });
      expect(quiet.account_data.events).toEqual([]);
      expect(quiet.rooms.join[roomId]).toBeUndefined();

      const pending = sync(alice, { since: first.next_batch, timeout: 15000 });
      const started = performance.now();
      await Bun.sleep(100);
      await alice.ok("PUT", global(alice, "org.example.sync"), { v: 2 });
      const woke = await pending;
      expect(performance.now() - started).toBeLessThan(3000);
      expect(woke.account_data.events).toEqual([{ type: "org.example.sync", content: { v: 2 } }]);

      await alice.ok("PUT", perRoom(alice, "org.example.roomsync"), { v: 2 });
      const inc = await sync(alice, { since: woke.next_batch });
      expect(inc.account_data.events).toEqual([]);
      expect(inc.rooms.join[roomId].account_data.events).toEqual([{ type: "org.example.roomsync", content: { v: 2 } }]);
      expect(inc.rooms.join[roomId].timeline.events).toEqual([]);
      // Others never see it.
      expect(JSON.stringify(await sync(bob))).not.toContain("org.example.sync");
    });

    test("tags: add with order, list, remove, validation, delivered as m.tag", async () => {
      const before = await sync(alice);
      const put = await alice.put(`${tags(alice)}/m.favourite`, { order: 0.25 });
      expect(put.status).toBe(200);
      assertMatchesSpec("client-server/tags", "PUT", "/user/{userId}/rooms/{roomId}/tags/{tag}", 200, put.body);
      await alice.ok("PUT", `${tags(alice)}/u.work`, {});
      const list = await alice.get(tags(alice));
      expect(list.body).toEqual({ tags: { "m.favourite": { order: 0.25 }, "u.work": {} } });
      assertMatchesSpec("client-server/tags", "GET", "/user/{userId}/rooms/{roomId}/tags", 200, list.body);

      const inc = await sync(alice, { since: before.next_batch });
      const tagEv = inc.rooms.join[roomId].account_data.events.find((e: any) => e.type === "m.tag");
      expect(tagEv.content).toEqual({ tags: { "m.favourite": { order: 0.25 }, "u.work": {} } });

      const del = await alice.delete(`${tags(alice)}/u.work`);
      expect(del.status).toBe(200);
      expect((await alice.ok("GET", tags(alice))).tags).toEqual({ "m.favourite": { order: 0.25 } });
      const inc2 = await sync(alice, { since: inc.next_batch });
      expect(inc2.rooms.join[roomId].account_data.events).toEqual([{ type: "m.tag", content: { tags: { "m.favourite": { order: 0.25 } } } }]);
      // Deleting a tag that is not there is fine.
      expect((await alice.delete(`${tags(alice)}/u.none`)).status).toBe(200);

      expectError(await alice.put(`${tags(alice)}/u.bad`, { order: 2 }), 400, "M_INVALID_PARAM");
      expectError(await alice.put(`${tags(alice)}/u.bad`, { order: -0.1 }), 400, "M_INVALID_PARAM");
      expectError(await alice.put(`${tags(alice)}/u.bad`, { order: "first" }), 400, "M_INVALID_PARAM");
      expectError(await alice.put(`${tags(alice)}/${"x".repeat(256)}`, {}), 400, "M_INVALID_PARAM");
      expectError(await bob.get(tags(bob, roomId, alice.userId!)), 403, "M_FORBIDDEN");
      expectError(await bob.put(`${tags(bob, roomId, alice.userId!)}/u.x`, {}), 403, "M_FORBIDDEN");
      // Room without tags.
      const other = await createRoom(alice, {});
      expect(await alice.ok("GET", tags(alice, other))).toEqual({ tags: {} });
    });
  });
}
