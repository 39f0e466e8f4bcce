// GET /sync over HTTP: initial and incremental syncs, long-polling, limited timelines continued by
// /messages, state vs timeline, full_state, state_after, on both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError } from "../helpers/client.ts";
import { bodies, createRoom, enc, join, send, setState, sync, syncPath } from "../helpers/sync.ts";

describeOnBackends("sync", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  test("initial sync: timeline, state at the timeline start, summary, next_batch", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Initial" });
    await join(ctx.bob, roomId);
    for (let i = 0; i < 3; i++) await send(ctx.alice, roomId, `hello ${i}`);
    await send(ctx.bob, roomId, "hi from bob");

    const r = await sync(ctx.alice);
    expect(r.next_batch).toMatch(/^s\d+_\d+$/);
    const room = r.rooms.join[roomId];
    expect(room).toBeDefined();
    // 7 creation events + bob's join + 4 messages = 12 > 10.
    expect(room.timeline.events.length).toBe(10);
    expect(room.timeline.limited).toBe(true);
    expect(typeof room.timeline.prev_batch).toBe("string");
    expect(bodies(room.timeline.events)).toEqual(["hello 0", "hello 1", "hello 2", "hi from bob"]);
    expect(room.timeline.events.every((e: any) => e.room_id === undefined && typeof e.event_id === "string")).toBe(true);
    // state = the state before the first timeline event: the create event is in state, not timeline.
    const stateTypes = room.state.events.map((e: any) => e.type);
    expect(stateTypes).toContain("m.room.create");
    const timelineIds = new Set(room.timeline.events.map((e: any) => e.event_id));
    expect(room.state.events.some((e: any) => timelineIds.has(e.event_id))).toBe(false);
    // Together they give the current state.
    const all = [...room.state.events, ...room.timeline.events].filter((e: any) => e.state_key !== undefined);
    expect(all.find((e: any) => e.type === "m.room.name").content.name).toBe("Initial");
    expect(room.summary["m.joined_member_count"]).toBe(2);
    expect(room.summary["m.invited_member_count"]).toBe(0);
    expect(room.summary["m.heroes"]).toBeUndefined(); // the room has a name
    expect(room.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(r.device_unused_fallback_key_types).toEqual([]);
    expect(r.device_lists).toBeUndefined(); // only on incremental syncs
    expect(r.rooms.invite).toEqual({});
  });

  test("incremental sync returns only what changed, in order", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const other = await createRoom(ctx.alice, {});
    const first = await sync(ctx.alice);
    expect(first.rooms.join[other]).toBeDefined();

    await send(ctx.bob, roomId, "one");
    await send(ctx.alice, roomId, "two");
    const r = await sync(ctx.alice, { since: first.next_batch });
    expect(Object.keys(r.rooms.join)).toEqual([roomId]);
    const room = r.rooms.join[roomId];
    expect(bodies(room.timeline.events)).toEqual(["one", "two"]);
    expect(room.timeline.limited).toBe(false);
    expect(room.state.events).toEqual([]);
    expect(r.device_lists).toEqual({ changed: [], left: [] });
    // The sender's own event carries its transaction ID.
    expect(room.timeline.events[1].unsigned.transaction_id).toBeString();
    expect(room.timeline.events[0].unsigned.transaction_id).toBeUndefined();

    // Nothing new: an empty response, and the same position.
    const again = await sync(ctx.alice, { since: r.next_batch });
    expect(again.rooms.join).toEqual({});
    expect(again.next_batch).toBe(r.next_batch);

    // A room with no name gets heroes.
    const full = await sync(ctx.alice);
    expect(full.rooms.join[roomId].summary["m.heroes"]).toEqual([ctx.bob.userId]);
  });

  test("long-poll is woken at once by another user's message", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const { next_batch } = await sync(ctx.alice);
    const started = performance.now();
    const pending = sync(ctx.alice, { since: next_batch, timeout: 20000 });
    await Bun.sleep(150);
    await send(ctx.bob, roomId, "wake up");
    const r = await pending;
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(3000);
    expect(bodies(r.rooms.join[roomId].timeline.events)).toEqual(["wake up"]);
  });

  test("a wake-up for an event committed behind a slower writer is not lost", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const { next_batch } = await sync(ctx.alice);
    const streams = ctx.s.hs.services.streams;
    const started = performance.now();
    const pending = sync(ctx.alice, { since: next_batch, timeout: 10000 });
    await Bun.sleep(100);
    const held = await streams.allocateMany(1); // a transaction elsewhere, still being written
    await send(ctx.bob, roomId, "behind a slow writer");
    await Bun.sleep(100);
    await streams.release(held);
    const r = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(bodies(r.rooms.join[roomId].timeline.events)).toEqual(["behind a slow writer"]);
  });

  test("long-poll times out empty", async () => {
    const { next_batch } = await sync(ctx.carol);
    const started = performance.now();
    const r = await sync(ctx.carol, { since: next_batch, timeout: 600 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(5000);
    expect(r.rooms.join).toEqual({});
    expect(r.account_data.events).toEqual([]);
  });

  test("a long-poll ignores rooms the user is not in", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const { next_batch } = await sync(ctx.carol);
    const pending = sync(ctx.carol, { since: next_batch, timeout: 700 });
    await Bun.sleep(100);
    await send(ctx.alice, roomId, "not for carol");
    const r = await pending;
    expect(r.rooms.join[roomId]).toBeUndefined();
  });

  test("limited incremental timeline: state delta of the gap, prev_batch continues with /messages", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const { next_batch } = await sync(ctx.bob);
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) sent.push(await send(ctx.alice, roomId, `m${i}`));
    await setState(ctx.alice, roomId, "m.room.topic", { topic: "in the gap" });
    for (let i = 6; i < 15; i++) sent.push(await send(ctx.alice, roomId, `m${i}`));

    const filter = { room: { timeline: { limit: 5 } } };
    const r = await sync(ctx.bob, { since: next_batch, filter });
    const room = r.rooms.join[roomId];
    expect(room.timeline.limited).toBe(true);
    expect(bodies(room.timeline.events)).toEqual(["m10", "m11", "m12", "m13", "m14"]);
    // The topic changed in the gap: it is in `state`.
    expect(room.state.events.map((e: any) => e.type)).toEqual(["m.room.topic"]);
    expect(room.state.events[0].content.topic).toBe("in the gap");

    // /messages from prev_batch backwards gives the events just before the timeline.
    const page = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=6&from=${enc(room.timeline.prev_batch)}`);
    expect(page.chunk.filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body)).toEqual(["m9", "m8", "m7", "m6", "m5"]);
    expect(page.chunk.map((e: any) => e.type)).toContain("m.room.topic");
    // Closing the gap: from prev_batch back to the since token.
    const gap = await ctx.bob.ok(
      "GET",
      `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100&from=${enc(room.timeline.prev_batch)}&to=${enc(next_batch)}`,
    );
    expect(bodies(gap.chunk).reverse()).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
  });

  test("initial sync prev_batch continues with /messages", async () => {
    const roomId = await createRoom(ctx.alice, {});
    for (let i = 0; i < 8; i++) await send(ctx.alice, roomId, `p${i}`);
    const r = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 3 } } } });
    expect(Object.keys(r.rooms.join)).toEqual([roomId]);
    const tl = r.rooms.join[roomId].timeline;
    expect(bodies(tl.events)).toEqual(["p5", "p6", "p7"]);
    const page = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=5&from=${enc(tl.prev_batch)}`);
    expect(bodies(page.chunk)).toEqual(["p4", "p3", "p2", "p1", "p0"]);
  });

  test("a room newly joined in an incremental sync comes with its full state", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Join me" });
    for (let i = 0; i < 12; i++) await send(ctx.alice, roomId, `before ${i}`);
    const { next_batch } = await sync(ctx.carol);
    await join(ctx.carol, roomId);
    const r = await sync(ctx.carol, { since: next_batch });
    const room = r.rooms.join[roomId];
    expect(room).toBeDefined();
    const stateTypes = room.state.events.map((e: any) => e.type);
    expect(stateTypes).toContain("m.room.create");
    expect(stateTypes).toContain("m.room.name");
    expect(room.timeline.events.at(-1).type).toBe("m.room.member");
    expect(room.timeline.events.at(-1).state_key).toBe(ctx.carol.userId);
    expect(room.summary["m.joined_member_count"]).toBe(2);
  });

  test("current state sent while a user could not see the room appears in their timeline on rejoining", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await setState(ctx.alice, roomId, "m.room.history_visibility", { history_visibility: "joined" });
    const first = await sync(ctx.bob);
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    await join(ctx.carol, roomId);
    await send(ctx.alice, roomId, "while bob was away");
    await join(ctx.bob, roomId);
    const next = await sync(ctx.bob, { since: first.next_batch, timeout: 0 });
    const tl = next.rooms.join[roomId].timeline.events;
    // Carol's join is current state: shown; the message is not.
    expect(tl.some((e: any) => e.type === "m.room.member" && e.state_key === ctx.carol.userId && e.content.membership === "join")).toBe(true);
    expect(bodies(tl)).toEqual([]);
  });

  test("full_state returns the whole state on an incremental sync, without waiting", async () => {
    const roomId = await createRoom(ctx.alice, { name: "Full" });
    const { next_batch } = await sync(ctx.alice);
    const started = performance.now();
    const r = await sync(ctx.alice, { since: next_batch, full_state: true, timeout: 5000 });
    expect(performance.now() - started).toBeLessThan(2500);
    const room = r.rooms.join[roomId];
    expect(room.timeline.events).toEqual([]);
    const types = room.state.events.map((e: any) => e.type);
    for (const t of ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"]) expect(types).toContain(t);
  });

  test("use_state_after: state_after replaces state", async () => {
    const roomId = await createRoom(ctx.alice, { name: "After" });
    await setState(ctx.alice, roomId, "m.room.topic", { topic: "t1" });
    const r = await sync(ctx.alice, { use_state_after: true, filter: { room: { rooms: [roomId], timeline: { limit: 2 } } } });
    const room = r.rooms.join[roomId];
    expect(room.state).toBeUndefined();
    const after = room.state_after.events;
    // state_after is the state at the END of the timeline (the topic event is in both).
    expect(after.find((e: any) => e.type === "m.room.topic").content.topic).toBe("t1");
    expect(after.map((e: any) => e.type)).toContain("m.room.create");

    await setState(ctx.alice, roomId, "m.room.topic", { topic: "t2" });
    await send(ctx.alice, roomId, "after topic");
    const inc = await sync(ctx.alice, { since: r.next_batch, use_state_after: true });
    const ir = inc.rooms.join[roomId];
    expect(ir.state).toBeUndefined();
    expect(ir.state_after.events.map((e: any) => [e.type, e.content.topic])).toEqual([["m.room.topic", "t2"]]);
    // Without changes in the range, state_after is present and empty.
    await send(ctx.alice, roomId, "no state");
    const inc2 = await sync(ctx.alice, { since: inc.next_batch, use_state_after: true });
    expect(inc2.rooms.join[roomId].state_after).toEqual({ events: [] });
  });

  test("parameters are validated", async () => {
    expectError(await ctx.alice.get(syncPath({ set_presence: "busy" })), 400, "M_INVALID_PARAM");
    expect((await ctx.alice.get(syncPath({ set_presence: "offline" }))).status).toBe(200);
    expect((await ctx.alice.get(syncPath({ set_presence: "unavailable" }))).status).toBe(200);
    expectError(await ctx.alice.get("/_matrix/client/v3/sync?timeout=soon"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get("/_matrix/client/v3/sync?since=garbage"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get("/_matrix/client/v3/sync?full_state=yes"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(syncPath({ filter: "{not json" })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(syncPath({ filter: { room: { timeline: { limit: "ten" } } } })), 400, "M_BAD_JSON");
    const anon = await fetch(ctx.s.url + "/_matrix/client/v3/sync");
    expect(anon.status).toBe(401);
  });

  test("the r0 prefix works too", async () => {
    expect((await ctx.alice.get("/_matrix/client/r0/sync")).status).toBe(200);
  });
});
