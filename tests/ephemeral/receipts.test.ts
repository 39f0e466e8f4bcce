// Receipts and read markers over HTTP: m.read, m.read.private, threaded receipts, m.fully_read,
// /read_markers, and their delivery in /sync, on both databases.
import { expect, test } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

const receiptsIn = (r: any, roomId: string): any | undefined =>
  r.rooms.join[roomId]?.ephemeral.events.find((e: any) => e.type === "m.receipt")?.content;

describeOnBackends("receipts and read markers", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; carol: TestClient; roomId: string }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, ctx.roomId);
  });

  const receipt = (c: TestClient, type: string, eventId: string, body: Record<string, unknown> = {}, room = ctx.roomId) =>
    c.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/${enc(type)}/${enc(eventId)}`, body);

  test("m.read receipts reach every member; a later receipt replaces it", async () => {
    const e1 = await send(ctx.alice, ctx.roomId, "one");
    const e2 = await send(ctx.alice, ctx.roomId, "two");
    const before = await sync(ctx.alice);
    const r = await receipt(ctx.bob, "m.read", e1);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    assertMatchesSpec("client-server/receipts", "POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", 200, r.body);

    const inc = await sync(ctx.alice, { since: before.next_batch });
    const content = receiptsIn(inc, ctx.roomId);
    expect(Object.keys(content)).toEqual([e1]);
    expect(typeof content[e1]["m.read"][ctx.bob.userId!].ts).toBe("number");
    expect(content[e1]["m.read"][ctx.bob.userId!].thread_id).toBeUndefined();

    // Moving forward: the new receipt comes down; an older one is ignored.
    await receipt(ctx.bob, "m.read", e2);
    const inc2 = await sync(ctx.alice, { since: inc.next_batch });
    expect(Object.keys(receiptsIn(inc2, ctx.roomId))).toEqual([e2]);
    await receipt(ctx.bob, "m.read", e1);
    const inc3 = await sync(ctx.alice, { since: inc2.next_batch });
    expect(receiptsIn(inc3, ctx.roomId)).toBeUndefined();
    // Initial sync: the latest receipt of each user.
    const full = receiptsIn(await sync(ctx.alice), ctx.roomId);
    expect(full[e2]["m.read"][ctx.bob.userId!]).toBeDefined();
    expect(full[e1]?.["m.read"]?.[ctx.bob.userId!]).toBeUndefined();
  });

  test("a receipt wakes a long-poll", async () => {
    const e = await send(ctx.bob, ctx.roomId, "read me");
    const before = await sync(ctx.bob);
    const pending = sync(ctx.bob, { since: before.next_batch, timeout: 15000 });
    const started = performance.now();
    await Bun.sleep(100);
    await receipt(ctx.alice, "m.read", e);
    const r = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(receiptsIn(r, ctx.roomId)[e]["m.read"][ctx.alice.userId!]).toBeDefined();
  });

  test("m.read.private receipts reach only their owner", async () => {
    const e = await send(ctx.alice, ctx.roomId, "private read");
    const aBefore = await sync(ctx.alice);
    const bBefore = await sync(ctx.bob);
    expect((await receipt(ctx.bob, "m.read.private", e)).status).toBe(200);
    const bobs = await sync(ctx.bob, { since: bBefore.next_batch });
    expect(receiptsIn(bobs, ctx.roomId)[e]["m.read.private"][ctx.bob.userId!]).toBeDefined();
    const alices = await sync(ctx.alice, { since: aBefore.next_batch });
    expect(JSON.stringify(receiptsIn(alices, ctx.roomId) ?? {})).not.toContain("m.read.private");
    expect(JSON.stringify((await sync(ctx.alice)).rooms.join[ctx.roomId].ephemeral)).not.toContain("m.read.private");
    expect(JSON.stringify((await sync(ctx.bob)).rooms.join[ctx.roomId].ephemeral)).toContain("m.read.private");
  });

  test("threaded receipts carry thread_id", async () => {
    const root = await send(ctx.alice, ctx.roomId, "thread root");
    const reply = await send(ctx.alice, ctx.roomId, { msgtype: "m.text", body: "in thread", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    const main = await send(ctx.alice, ctx.roomId, "main timeline");
    const before = await sync(ctx.alice);
    expect((await receipt(ctx.bob, "m.read", reply, { thread_id: root })).status).toBe(200);
    expect((await receipt(ctx.bob, "m.read", main, { thread_id: "main" })).status).toBe(200);
    const inc = receiptsIn(await sync(ctx.alice, { since: before.next_batch }), ctx.roomId);
    expect(inc[reply]["m.read"][ctx.bob.userId!].thread_id).toBe(root);
    expect(inc[main]["m.read"][ctx.bob.userId!].thread_id).toBe("main");
    // The thread root can be read in its thread and in main.
    expect((await receipt(ctx.bob, "m.read", root, { thread_id: root })).status).toBe(200);

    expectError(await receipt(ctx.bob, "m.read", main, { thread_id: "" }), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.bob, "m.read", main, { thread_id: 5 }), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.bob, "m.read", reply, { thread_id: "main" }), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.bob, "m.read", main, { thread_id: root }), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.bob, "m.fully_read", main, { thread_id: "main" }), 400, "M_INVALID_PARAM");
  });

  test("errors: unknown type, unknown event, not a member", async () => {
    const e = await send(ctx.alice, ctx.roomId, "x");
    expectError(await receipt(ctx.bob, "m.unread", e), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.bob, "m.read", "$nonexistent:localhost"), 404, "M_NOT_FOUND");
    expectError(await receipt(ctx.bob, "m.read", "not-an-event-id"), 400, "M_INVALID_PARAM");
    expectError(await receipt(ctx.carol, "m.read", e), 403, "M_FORBIDDEN");
    const other = await createRoom(ctx.alice, {});
    const elsewhere = await send(ctx.alice, other, "elsewhere");
    expectError(await receipt(ctx.bob, "m.read", elsewhere), 404, "M_NOT_FOUND");
  });

  test("m.fully_read via the receipt endpoint and /read_markers is room account data", async () => {
    const e1 = await send(ctx.alice, ctx.roomId, "fr 1");
    const e2 = await send(ctx.alice, ctx.roomId, "fr 2");
    const before = await sync(ctx.bob);
    expect((await receipt(ctx.bob, "m.fully_read", e1)).status).toBe(200);
    const inc = await sync(ctx.bob, { since: before.next_batch });
    const ad = inc.rooms.join[ctx.roomId].account_data.events;
    expect(ad).toEqual([{ type: "m.fully_read", content: { event_id: e1 } }]);
    // Not a receipt.
    expect(JSON.stringify(inc.rooms.join[ctx.roomId].ephemeral)).not.toContain("m.fully_read");
    expect(await ctx.bob.ok("GET", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/rooms/${enc(ctx.roomId)}/account_data/m.fully_read`)).toEqual({ event_id: e1 });

    const aBefore = await sync(ctx.alice);
    const r = await ctx.bob.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/read_markers`, { "m.fully_read": e2, "m.read": e2, "m.read.private": e2 });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/read_markers", "POST", "/rooms/{roomId}/read_markers", 200, r.body);
    const inc2 = await sync(ctx.bob, { since: inc.next_batch });
    expect(inc2.rooms.join[ctx.roomId].account_data.events).toEqual([{ type: "m.fully_read", content: { event_id: e2 } }]);
    const own = receiptsIn(inc2, ctx.roomId)[e2];
    expect(Object.keys(own).sort()).toEqual(["m.read", "m.read.private"]);
    const theirs = receiptsIn(await sync(ctx.alice, { since: aBefore.next_batch }), ctx.roomId)[e2];
    expect(Object.keys(theirs)).toEqual(["m.read"]);

    // The marker does not move backwards.
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/read_markers`, { "m.fully_read": e1 });
    expect(await ctx.bob.ok("GET", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/rooms/${enc(ctx.roomId)}/account_data/m.fully_read`)).toEqual({ event_id: e2 });
    // m.fully_read cannot be set directly.
    expectError(await ctx.bob.put(`/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/rooms/${enc(ctx.roomId)}/account_data/m.fully_read`, { event_id: e1 }), 405, "M_BAD_JSON");
    expectError(await ctx.bob.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/read_markers`, { "m.fully_read": "$unknown:localhost" }), 404, "M_NOT_FOUND");
    expectError(await ctx.bob.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/read_markers`, { "m.read": 5 }), 400, "M_BAD_JSON");
    expectError(await ctx.carol.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/read_markers`, { "m.fully_read": e2 }), 403, "M_FORBIDDEN");
  });
});
