// Threads over HTTP on both databases: GET /threads (order by latest activity, include,
// pagination, errors, bundled summaries, roots of ignored users redacted), and the thread of an
// event as push counts and threaded receipts see it (one computation, from the relations index).
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

const thread = (root: string, body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } });

describeOnBackends("threads", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol", "dave");

  const threads = (c: TestClient, roomId: string, query = "") => c.get(`/_matrix/client/v1/rooms/${enc(roomId)}/threads${query ? `?${query}` : ""}`);

  test("threads newest activity first, include=participated, pagination, bundled summaries", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    const a = await send(ctx.alice, roomId, "thread A");
    const b = await send(ctx.bob, roomId, "thread B");
    const c = await send(ctx.carol, roomId, "thread C");
    await send(ctx.alice, roomId, "no thread");
    await send(ctx.bob, roomId, thread(a, "a1"));
    await send(ctx.carol, roomId, thread(c, "c1"));
    await send(ctx.carol, roomId, thread(b, "b1"));
    await send(ctx.carol, roomId, thread(a, "a2")); // A is the most recently active

    const all = await threads(ctx.alice, roomId);
    expect(all.status).toBe(200);
    assertMatchesSpec("client-server/threads_list", "GET", "/rooms/{roomId}/threads", 200, all.body);
    expect(all.body.chunk.map((e: any) => e.event_id)).toEqual([a, b, c]);
    expect(all.body.next_batch).toBeUndefined();
    const summaryA = all.body.chunk[0].unsigned["m.relations"]["m.thread"];
    expect(summaryA.count).toBe(2);
    expect(summaryA.latest_event.content.body).toBe("a2");
    expect(summaryA.current_user_participated).toBe(true); // alice sent the root

    // Participated: alice sent root A only; bob sent root B and replied in A; carol replied everywhere.
    expect((await threads(ctx.alice, roomId, "include=participated")).body.chunk.map((e: any) => e.event_id)).toEqual([a]);
    expect((await threads(ctx.bob, roomId, "include=participated")).body.chunk.map((e: any) => e.event_id)).toEqual([a, b]);
    expect((await threads(ctx.carol, roomId, "include=participated")).body.chunk.map((e: any) => e.event_id)).toEqual([a, b, c]);
    expect((await threads(ctx.alice, roomId, "include=all")).body.chunk).toHaveLength(3);

    // Pagination.
    const p1 = (await threads(ctx.alice, roomId, "limit=2")).body;
    expect(p1.chunk.map((e: any) => e.event_id)).toEqual([a, b]);
    expect(typeof p1.next_batch).toBe("string");
    const p2 = (await threads(ctx.alice, roomId, `limit=2&from=${enc(p1.next_batch)}`)).body;
    expect(p2.chunk.map((e: any) => e.event_id)).toEqual([c]);
    expect(p2.next_batch).toBeUndefined();

    // New activity in C moves it to the top.
    await send(ctx.alice, roomId, thread(c, "c2"));
    expect((await threads(ctx.alice, roomId)).body.chunk.map((e: any) => e.event_id)).toEqual([c, a, b]);
  });

  test("redacting a thread's replies: latest event moves back; no replies left, no thread", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomId, "root");
    const r1 = await send(ctx.alice, roomId, thread(root, "r1"));
    const r2 = await send(ctx.alice, roomId, thread(root, "r2"));
    const redact = (id: string) => ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(id)}/${crypto.randomUUID()}`, {});
    await redact(r2);
    const one = (await threads(ctx.alice, roomId)).body.chunk;
    expect(one[0].unsigned["m.relations"]["m.thread"]).toMatchObject({ count: 1 });
    expect(one[0].unsigned["m.relations"]["m.thread"].latest_event.event_id).toBe(r1);
    await redact(r1);
    expect((await threads(ctx.alice, roomId)).body.chunk).toEqual([]);
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(root)}`)).unsigned["m.relations"]).toBeUndefined();
  });

  test("errors: 403 for rooms the user cannot view, 400 for bad parameters", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    const forbidden = await threads(ctx.dave, roomId);
    expectError(forbidden, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/threads_list", "GET", "/rooms/{roomId}/threads", 403, forbidden.body);
    expectError(await threads(ctx.alice, "!nowhere:localhost"), 403, "M_FORBIDDEN");
    expectError(await threads(ctx.alice, roomId, "limit=0"), 400, "M_INVALID_PARAM");
    expectError(await threads(ctx.alice, roomId, "limit=-3"), 400, "M_INVALID_PARAM");
    expectError(await threads(ctx.alice, roomId, "include=mine"), 400, "M_INVALID_PARAM");
    const bad = await threads(ctx.alice, roomId, "from=nonsense");
    expectError(bad, 400, "M_INVALID_PARAM");
    assertMatchesSpec("client-server/threads_list", "GET", "/rooms/{roomId}/threads", 400, bad.body);
    // A world-readable room can be looked at by anyone.
    const open = await createRoom(ctx.alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }] });
    const root = await send(ctx.alice, open, "public root");
    await send(ctx.alice, open, thread(root, "reply"));
    expect((await threads(ctx.dave, open)).body.chunk.map((e: any) => e.event_id)).toEqual([root]);
  });

  test("thread roots of ignored users are returned redacted; their replies do not count", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.dave, roomId);
    const bobs = await send(ctx.bob, roomId, "bob's root");
    await send(ctx.alice, roomId, thread(bobs, "alice replies"));
    const alices = await send(ctx.alice, roomId, "alice's root");
    await send(ctx.bob, roomId, thread(alices, "bob replies"));
    await send(ctx.alice, roomId, thread(alices, "alice replies to herself"));
    await ctx.dave.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.dave.userId!)}/account_data/m.ignored_user_list`, { ignored_users: { [ctx.bob.userId!]: {} } });
    const list = (await threads(ctx.dave, roomId)).body.chunk;
    const byId = new Map(list.map((e: any) => [e.event_id, e]));
    expect((byId.get(bobs) as any).content).toEqual({});
    expect((byId.get(alices) as any).content.body).toBe("alice's root");
    const summary = (byId.get(alices) as any).unsigned["m.relations"]["m.thread"];
    expect(summary.count).toBe(1);
    expect(summary.latest_event.content.body).toBe("alice replies to herself");
    // Alice ignores nobody: she sees both replies.
    const hers = (await threads(ctx.alice, roomId)).body.chunk.find((e: any) => e.event_id === alices);
    expect(hers.unsigned["m.relations"]["m.thread"].count).toBe(2);
  });

  test("notification counts and threaded receipts agree with the relations index", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    const root = await send(ctx.alice, roomId, "root");
    const reply = await send(ctx.bob, roomId, thread(root, "in the thread"));
    // A reaction to a thread reply and an edit of it belong to the thread too.
    await send(ctx.carol, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: reply, key: "👍" } }, "m.reaction");
    const editOfReply = await send(ctx.bob, roomId, {
      msgtype: "m.text",
      body: "* in the thread!",
      "m.new_content": { msgtype: "m.text", body: "in the thread!" },
      "m.relates_to": { rel_type: "m.replace", event_id: reply },
    });
    const main = await send(ctx.bob, roomId, "main timeline");
    const filter = { room: { rooms: [roomId], timeline: { limit: 1, unread_thread_notifications: true } } };
    const r = (await sync(ctx.alice, { filter })).rooms.join[roomId];
    // Main: "main timeline". Thread: the reply (edits and reactions do not notify by default).
    expect(r.unread_notifications.notification_count).toBe(1);
    expect(r.unread_thread_notifications[root].notification_count).toBe(1);
    // A threaded receipt for the edit (in the thread) clears the thread only.
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(editOfReply)}`, { thread_id: root });
    const after = (await sync(ctx.alice, { filter })).rooms.join[roomId];
    expect(after.unread_thread_notifications?.[root]).toBeUndefined();
    expect(after.unread_notifications.notification_count).toBe(1);
    // The main-timeline message is not in the thread; the root is in both.
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(main)}`, { thread_id: root }), 400, "M_INVALID_PARAM");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(root)}`, { thread_id: root });
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(main)}`, { thread_id: "main" });
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(reply)}`, { thread_id: "main" }), 400, "M_INVALID_PARAM");
    expect((await sync(ctx.alice, { filter })).rooms.join[roomId].unread_notifications.notification_count).toBe(0);
  });
});
