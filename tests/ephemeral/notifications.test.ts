// GET /notifications on both databases: the events a user was notified about, newest first, with
// the matched actions, `read` from receipts (threaded too), `only=highlight`, paging with
// next_token, events of ignored users left out, and the spec's errors.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send } from "../helpers/sync.ts";

describeOnBackends("notifications", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  const list = (c: TestClient, query = "") => c.get(`/_matrix/client/v3/notifications${query ? `?${query}` : ""}`);

  test("notified events newest first, with actions, read state, highlight filter and paging", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId); // three members: the 1:1 rule does not apply
    const plain = await send(ctx.bob, roomId, "hello everyone");
    const mention = await send(ctx.bob, roomId, { msgtype: "m.text", body: "alice, look", "m.mentions": { user_ids: [ctx.alice.userId] } });
    await send(ctx.bob, roomId, { msgtype: "m.notice", body: "a bot" }); // notices do not notify
    const last = await send(ctx.carol, roomId, "carol here");

    const r = await list(ctx.alice);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/notifications", "GET", "/notifications", 200, r.body);
    const n = r.body.notifications;
    expect(n.map((x: any) => x.event.event_id)).toEqual([last, mention, plain]);
    expect(n[0].room_id).toBe(roomId);
    expect(n[0].event.room_id).toBeUndefined();
    expect(n[0].event.content.body).toBe("carol here");
    expect(typeof n[0].ts).toBe("number");
    expect(n[0].actions).toContain("notify");
    expect(n[1].actions).toContainEqual({ set_tweak: "highlight" });
    expect(n.every((x: any) => x.read === false)).toBe(true);
    expect(r.body.next_token).toBeUndefined();

    // A read receipt on the mention marks it and what came before it read.
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(mention)}`, {});
    const after = (await list(ctx.alice)).body.notifications;
    expect(after.map((x: any) => [x.event.event_id, x.read])).toEqual([
      [last, false],
      [mention, true],
      [plain, true],
    ]);

    const hl = await list(ctx.alice, "only=highlight");
    expect(hl.body.notifications.map((x: any) => x.event.event_id)).toEqual([mention]);

    const p1 = (await list(ctx.alice, "limit=2")).body;
    expect(p1.notifications.map((x: any) => x.event.event_id)).toEqual([last, mention]);
    expect(typeof p1.next_token).toBe("string");
    const p2 = (await list(ctx.alice, `limit=2&from=${enc(p1.next_token)}`)).body;
    expect(p2.notifications.map((x: any) => x.event.event_id)).toEqual([plain]);
    expect(p2.next_token).toBeUndefined();
    // Bob is notified about carol's message only (his own do not notify him).
    expect((await list(ctx.bob)).body.notifications.map((x: any) => x.event.event_id)).toEqual([last]);
  });

  test("threaded receipts mark thread notifications read", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    const root = await send(ctx.alice, roomId, "root");
    const inThread = await send(ctx.bob, roomId, { msgtype: "m.text", body: "reply", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    const main = await send(ctx.bob, roomId, "main");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(inThread)}`, { thread_id: root });
    const n = (await list(ctx.alice, "limit=2")).body.notifications;
    expect(n.map((x: any) => [x.event.event_id, x.read])).toEqual([
      [main, false],
      [inThread, true],
    ]);
  });

  test("events of ignored users are left out; bad parameters are 400", async () => {
    const roomId = await createRoom(ctx.carol, { preset: "public_chat" });
    await join(ctx.alice, roomId);
    await join(ctx.bob, roomId);
    const fromBob = await send(ctx.bob, roomId, "bob again");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.ignored_user_list`, { ignored_users: { [ctx.bob.userId!]: {} } });
    expect((await list(ctx.alice)).body.notifications.some((x: any) => x.event.event_id === fromBob)).toBe(false);
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.ignored_user_list`, { ignored_users: {} });
    expect((await list(ctx.alice)).body.notifications.some((x: any) => x.event.event_id === fromBob)).toBe(true);

    expectError(await list(ctx.alice, "limit=-1"), 400, "M_INVALID_PARAM");
    expectError(await list(ctx.alice, "limit=ten"), 400, "M_INVALID_PARAM");
    expectError(await list(ctx.alice, "from=abc"), 400, "M_INVALID_PARAM");
    expectError(await list(ctx.alice, "only=everything"), 400, "M_INVALID_PARAM");
    expect((await list(ctx.alice, "limit=0")).body).toEqual({ notifications: [] });
  });
});
