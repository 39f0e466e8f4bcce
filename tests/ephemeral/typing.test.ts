// Typing notifications over HTTP: PUT /rooms/{roomId}/typing/{userId} and m.typing in /sync.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, leave, sync } from "../helpers/sync.ts";

const typingIn = (r: any, roomId: string): string[] | undefined =>
  r.rooms.join[roomId]?.ephemeral.events.find((e: any) => e.type === "m.typing")?.content.user_ids;

for (const backend of BACKENDS) {
  describe(`typing [${backend}]`, () => {
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

    const typing = (c: TestClient, body: Record<string, unknown>, user = c.userId!, room = roomId) =>
      c.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(user)}`, body);

    test("typing shows up in the other member's sync, and stops", async () => {
      const first = await sync(alice);
      const r = await typing(bob, { typing: true, timeout: 30000 });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      assertMatchesSpec("client-server/typing", "PUT", "/rooms/{roomId}/typing/{userId}", 200, r.body);

      const inc = await sync(alice, { since: first.next_batch });
      expect(typingIn(inc, roomId)).toEqual([bob.userId!]);
      // The sync token carries the typing position: the same typing list is not sent again.
      const again = await sync(alice, { since: inc.next_batch });
      expect(typingIn(again, roomId)).toBeUndefined();
      // An initial sync shows who is typing now.
      expect(typingIn(await sync(alice), roomId)).toEqual([bob.userId!]);

      await typing(bob, { typing: false });
      const stopped = await sync(alice, { since: inc.next_batch });
      expect(typingIn(stopped, roomId)).toEqual([]);
      // An initial sync says so too once anyone typed in the room; a room nobody typed in has none.
      expect(typingIn(await sync(alice), roomId)).toEqual([]);
      const quiet = await createRoom(alice, { preset: "public_chat" });
      expect(typingIn(await sync(alice), quiet)).toBeUndefined();
    });

    test("typing wakes a long-poll", async () => {
      const first = await sync(alice);
      const started = performance.now();
      const pending = sync(alice, { since: first.next_batch, timeout: 15000 });
      await Bun.sleep(100);
      await typing(bob, { typing: true, timeout: 10000 });
      const r = await pending;
      expect(performance.now() - started).toBeLessThan(3000);
      expect(typingIn(r, roomId)).toEqual([bob.userId!]);
      await typing(bob, { typing: false });
    });

    test("typing expires after its timeout", async () => {
      const first = await sync(alice);
      await typing(bob, { typing: true, timeout: 300 });
      const mid = await sync(alice, { since: first.next_batch });
      expect(typingIn(mid, roomId)).toEqual([bob.userId!]);
      // The expiry wakes the waiting sync with an empty list.
      const started = performance.now();
      const r = await sync(alice, { since: mid.next_batch, timeout: 10000 });
      expect(performance.now() - started).toBeLessThan(3000);
      expect(typingIn(r, roomId)).toEqual([]);
    });

    test("leaving the room stops typing", async () => {
      const room2 = await createRoom(alice, { preset: "public_chat" });
      await join(bob, room2);
      await typing(bob, { typing: true, timeout: 30000 }, bob.userId!, room2);
      expect(typingIn(await sync(alice), room2)).toEqual([bob.userId!]);
      await leave(bob, room2);
      expect(typingIn(await sync(alice), room2)).toEqual([]);
    });

    test("only for yourself, only in joined rooms, with a valid body", async () => {
      expectError(await typing(bob, { typing: true }, alice.userId!), 403, "M_FORBIDDEN");
      expectError(await typing(carol, { typing: true }), 403, "M_FORBIDDEN");
      expectError(await typing(bob, {}), 400, "M_MISSING_PARAM");
      expectError(await typing(bob, { typing: "yes" }), 400, "M_BAD_JSON");
      expectError(await typing(bob, { typing: true, timeout: "long" }), 400, "M_BAD_JSON");
      expectError(await typing(bob, { typing: true }, bob.userId!, "not-a-room"), 400, "M_INVALID_PARAM");
    });
  });
}
