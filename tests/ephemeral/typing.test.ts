// Typing notifications over HTTP: PUT /rooms/{roomId}/typing/{userId} and m.typing in /sync.
import { expect, test } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, leave, sync } from "../helpers/sync.ts";

const typingIn = (r: any, roomId: string): string[] | undefined =>
  r.rooms.join[roomId]?.ephemeral.events.find((e: any) => e.type === "m.typing")?.content.user_ids;

describeOnBackends("typing", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; carol: TestClient; roomId: string }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, ctx.roomId);
  });

  const typing = (c: TestClient, body: Record<string, unknown>, user = c.userId!, room = ctx.roomId) =>
    c.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(user)}`, body);

  test("typing shows up in the other member's sync, and stops", async () => {
    const first = await sync(ctx.alice);
    const r = await typing(ctx.bob, { typing: true, timeout: 30000 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    assertMatchesSpec("client-server/typing", "PUT", "/rooms/{roomId}/typing/{userId}", 200, r.body);

    const inc = await sync(ctx.alice, { since: first.next_batch });
    expect(typingIn(inc, ctx.roomId)).toEqual([ctx.bob.userId!]);
    // The sync token carries the typing position: the same typing list is not sent again.
    const again = await sync(ctx.alice, { since: inc.next_batch });
    expect(typingIn(again, ctx.roomId)).toBeUndefined();
    // An initial sync shows who is typing now.
    expect(typingIn(await sync(ctx.alice), ctx.roomId)).toEqual([ctx.bob.userId!]);

    await typing(ctx.bob, { typing: false });
    const stopped = await sync(ctx.alice, { since: inc.next_batch });
    expect(typingIn(stopped, ctx.roomId)).toEqual([]);
    // An initial sync says so too once anyone typed in the room; a room nobody typed in has none.
    expect(typingIn(await sync(ctx.alice), ctx.roomId)).toEqual([]);
    const quiet = await createRoom(ctx.alice, { preset: "public_chat" });
    expect(typingIn(await sync(ctx.alice), quiet)).toBeUndefined();
  });

  test("typing wakes a long-poll", async () => {
    const first = await sync(ctx.alice);
    const started = performance.now();
    const pending = sync(ctx.alice, { since: first.next_batch, timeout: 15000 });
    await Bun.sleep(100);
    await typing(ctx.bob, { typing: true, timeout: 10000 });
    const r = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(typingIn(r, ctx.roomId)).toEqual([ctx.bob.userId!]);
    await typing(ctx.bob, { typing: false });
  });

  test("typing expires after its timeout", async () => {
    const first = await sync(ctx.alice);
    await typing(ctx.bob, { typing: true, timeout: 300 });
    const mid = await sync(ctx.alice, { since: first.next_batch });
    expect(typingIn(mid, ctx.roomId)).toEqual([ctx.bob.userId!]);
    // The expiry wakes the waiting sync with an empty list.
    const started = performance.now();
    const r = await sync(ctx.alice, { since: mid.next_batch, timeout: 10000 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(typingIn(r, ctx.roomId)).toEqual([]);
  });

  test("leaving the room stops typing", async () => {
    const room2 = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, room2);
    await typing(ctx.bob, { typing: true, timeout: 30000 }, ctx.bob.userId!, room2);
    expect(typingIn(await sync(ctx.alice), room2)).toEqual([ctx.bob.userId!]);
    await leave(ctx.bob, room2);
    expect(typingIn(await sync(ctx.alice), room2)).toEqual([]);
  });

  test("only for yourself, only in joined rooms, with a valid body", async () => {
    expectError(await typing(ctx.bob, { typing: true }, ctx.alice.userId!), 403, "M_FORBIDDEN");
    expectError(await typing(ctx.carol, { typing: true }), 403, "M_FORBIDDEN");
    expectError(await typing(ctx.bob, {}), 400, "M_MISSING_PARAM");
    expectError(await typing(ctx.bob, { typing: "yes" }), 400, "M_BAD_JSON");
    expectError(await typing(ctx.bob, { typing: true, timeout: "long" }), 400, "M_BAD_JSON");
    expectError(await typing(ctx.bob, { typing: true }, ctx.bob.userId!, "not-a-room"), 400, "M_INVALID_PARAM");
  });
});
