// Receipts and read markers over HTTP: m.read, m.read.private, threaded receipts, m.fully_read,
// /read_markers, and their delivery in /sync, on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

const receiptsIn = (r: any, roomId: string): any | undefined =>
  r.rooms.join[roomId]?.ephemeral.events.find((e: any) => e.type === "m.receipt")?.content;

for (const backend of BACKENDS) {
  describe(`receipts and read markers [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let carol: TestClient;
    let roomId: string;
    beforeAll(async () => {
      [s, alice, bob, carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
      roomId = await createRoom(alice, { preset: "public_chat" });
      await join(bob, roomId);
    });
    afterAll(() => s.stop());

    const receipt = (c: TestClient, type: string, eventId: string, body: Record<string, unknown> = {}, room = roomId) =>
      c.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/${enc(type)}/${enc(eventId)}`, body);

    test("m.read receipts reach every member; a later receipt replaces it", async () => {
      const e1 = await send(alice, roomId, "one");
      const e2 = await send(alice, roomId, "two");
      const before = await sync(alice);
      const r = await receipt(bob, "m.read", e1);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      assertMatchesSpec("client-server/receipts", "POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", 200, r.body);

      const inc = await sync(alice, { since: before.next_batch });
      const content = receiptsIn(inc, roomId);
      expect(Object.keys(content)).toEqual([e1]);
      expect(typeof content[e1]["m.read"][bob.userId!].ts).toBe("number");
      expect(content[e1]["m.read"][bob.userId!].thread_id).toBeUndefined();

      // Moving forward: the new receipt comes down; an older one is ignored.
      await receipt(bob, "m.read", e2);
      const inc2 = await sync(alice, { since: inc.next_batch });
      expect(Object.keys(receiptsIn(inc2, roomId))).toEqual([e2]);
      await receipt(bob, "m.read", e1);
      const inc3 = await sync(alice, { since: inc2.next_batch });
      expect(receiptsIn(inc3, roomId)).toBeUndefined();
      // Initial sync: the latest receipt of each user.
      const full = receiptsIn(await sync(alice), roomId);
      expect(full[e2]["m.read"][bob.userId!]).toBeDefined();
      expect(full[e1]?.["m.read"]?.[bob.userId!]).toBeUndefined();
    });

    test("a receipt wakes a long-poll", async () => {
      const e = await send(bob, roomId, "read me");
      const before = await sync(bob);
      const pending = sync(bob, { since: before.next_batch, timeout: 15000 });
      const started = performance.now();
      await Bun.sleep(100);
      await receipt(alice, "m.read", e);
      const r = await pending;
      expect(performance.now() - started).toBeLessThan(3000);
      expect(receiptsIn(r, roomId)[e]["m.read"][alice.userId!]).toBeDefined();
    });

    test("m.read.private receipts reach only their owner", async () => {
      const e = await send(alice, roomId, "private read");
      const aBefore = await sync(alice);
      const bBefore = await sync(bob);
      expect((await receipt(bob, "m.read.private", e)).status).toBe(200);
      const bobs = await sync(bob, { since: bBefore.next_batch });
      expect(receiptsIn(bobs, roomId)[e]["m.read.private"][bob.userId!]).toBeDefined();
      const alices = await sync(alice, { since: aBefore.next_batch });
      expect(JSON.stringify(receiptsIn(alices, roomId) ?? {})).not.toContain("m.read.private");
      expect(JSON.stringify((await sync(alice)).rooms.join[roomId].ephemeral)).not.toContain("m.read.private");
      expect(JSON.stringify((await sync(bob)).rooms.join[roomId].ephemeral)).toContain("m.read.private");
    });

    test("threaded receipts carry thread_id", async () => {
      const root = await send(alice, roomId, "thread root");
      const reply = await send(alice, roomId, { msgtype: "m.text", body: "in thread", "m.relates_to": { rel_type: "m.thread", event_id: root } });
      const main = await send(alice, roomId, "main timeline");
      const before = await sync(alice);
      expect((await receipt(bob, "m.read", reply, { thread_id: root })).status).toBe(200);
      expect((await receipt(bob, "m.read", main, { thread_id: "main" })).status).toBe(200);
      const inc = receiptsIn(await sync(alice, { since: before.next_batch }), roomId);
      expect(inc[reply]["m.read"][bob.userId!].thread_id).toBe(root);
      expect(inc[main]["m.read"][bob.userId!].thread_id).toBe("main");
      // The thread root can be read in its thread and in main.
      expect((await receipt(bob, "m.read", root, { thread_id: root })).status).toBe(200);

      expectError(await receipt(bob, "m.read", main, { thread_id: "" }), 400, "M_INVALID_PARAM");
      expectError(await receipt(bob, "m.read", main, { thread_id: 5 }), 400, "M_INVALID_PARAM");
      expectError(await receipt(bob, "m.read", reply, { thread_id: "main" }), 400, "M_INVALID_PARAM");
      expectError(await receipt(bob, "m.read", main, { thread_id: root }), 400, "M_INVALID_PARAM");
      expectError(await receipt(bob, "m.fully_read", main, { thread_id: "main" }), 400, "M_INVALID_PARAM");
    });

    test("errors: unknown type, unknown event, not a member", async () => {
      const e = await send(alice, roomId, "x");
      expectError(await receipt(bob, "m.unread", e), 400, "M_INVALID_PARAM");
      expectError(await receipt(bob, "m.read", "$nonexistent:localhost"), 404, "M_NOT_FOUND");
      expectError(await receipt(bob, "m.read", "not-an-event-id"), 400, "M_INVALID_PARAM");
      expectError(await receipt(carol, "m.read", e), 403, "M_FORBIDDEN");
      const other = await createRoom(alice, {});
      const elsewhere = await send(alice, other, "elsewhere");
      expectError(await receipt(bob, "m.read", elsewhere), 404, "M_NOT_FOUND");
    });

    test("m.fully_read via the receipt endpoint and /read_markers is room account data", async () => {
      const e1 = await send(alice, roomId, "fr 1");
      const e2 = await send(alice, roomId, "fr 2");
      const before = await sync(bob);
      expect((await receipt(bob, "m.fully_read", e1)).status).toBe(200);
      const inc = await sync(bob, { since: before.next_batch });
      const ad = inc.rooms.join[roomId].account_data.events;
      expect(ad).toEqual([{ type: "m.fully_read", content: { event_id: e1 } }]);
      // Not a receipt.
      expect(JSON.stringify(inc.rooms.join[roomId].ephemeral)).not.toContain("m.fully_read");
      expect(await bob.ok("GET", `/_matrix/client/v3/user/${enc(bob.userId!)}/rooms/${enc(roomId)}/account_data/m.fully_read`)).toEqual({ event_id: e1 });

      const aBefore = await sync(alice);
      const r = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.fully_read": e2, "m.read": e2, "m.read.private": e2 });
      expect(r.status).toBe(200);
      assertMatchesSpec("client-server/read_markers", "POST", "/rooms/{roomId}/read_markers", 200, r.body);
      const inc2 = await sync(bob, { since: inc.next_batch });
      expect(inc2.rooms.join[roomId].account_data.events).toEqual([{ type: "m.fully_read", content: { event_id: e2 } }]);
      const own = receiptsIn(inc2, roomId)[e2];
      expect(Object.keys(own).sort()).toEqual(["m.read", "m.read.private"]);
      const theirs = receiptsIn(await sync(alice, { since: aBefore.next_batch }), roomId)[e2];
      expect(Object.keys(theirs)).toEqual(["m.read"]);

      // The marker does not move backwards.
      await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.fully_read": e1 });
      expect(await bob.ok("GET", `/_matrix/client/v3/user/${enc(bob.userId!)}/rooms/${enc(roomId)}/account_data/m.fully_read`)).toEqual({ event_id: e2 });
      // m.fully_read cannot be set directly.
      expectError(await bob.put(`/_matrix/client/v3/user/${enc(bob.userId!)}/rooms/${enc(roomId)}/account_data/m.fully_read`, { event_id: e1 }), 405, "M_BAD_JSON");
      expectError(await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.fully_read": "$unknown:localhost" }), 404, "M_NOT_FOUND");
      expectError(await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.read": 5 }), 400, "M_BAD_JSON");
      expectError(await carol.post(`/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.fully_read": e2 }), 403, "M_FORBIDDEN");
    });
  });
}
