// The invite, leave and knock sections of /sync, forgotten rooms and include_leave, on both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { bodies, createRoom, enc, invite, join, leave, send, setState, sync } from "../helpers/sync.ts";

const stripped = (events: any[]) => events.map((e) => `${e.type}|${e.state_key}`).sort();

describeOnBackends("sync membership sections", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  test("invites: stripped state in rooms.invite, initial and incremental; then join moves the room", async () => {
    const roomId = await createRoom(ctx.alice, { name: "Invited here", topic: "t" });
    await setState(ctx.alice, roomId, "m.room.avatar", { url: "mxc://localhost/abc" });
    await setState(ctx.alice, roomId, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
    await send(ctx.alice, roomId, "secret history");
    const before = await sync(ctx.bob);
    await invite(ctx.alice, roomId, ctx.bob.userId!);

    const inc = await sync(ctx.bob, { since: before.next_batch });
    const inv = inc.rooms.invite[roomId];
    expect(inv).toBeDefined();
    expect(inc.rooms.join[roomId]).toBeUndefined();
    expect(stripped(inv.invite_state.events)).toEqual(
      [
        "m.room.create|",
        "m.room.join_rules|",
        "m.room.name|",
        "m.room.topic|",
        "m.room.avatar|",
        "m.room.encryption|",
        `m.room.member|${ctx.alice.userId}`,
        `m.room.member|${ctx.bob.userId}`,
      ].sort(),
    );
    // Stripped events carry only sender, type, state_key and content.
    for (const e of inv.invite_state.events) expect(Object.keys(e).sort()).toEqual(["content", "sender", "state_key", "type"]);
    const me = inv.invite_state.events.find((e: any) => e.state_key === ctx.bob.userId);
    expect(me.content.membership).toBe("invite");
    expect(me.sender).toBe(ctx.alice.userId);
    // Nothing of the room's history leaks.
    expect(JSON.stringify(inv)).not.toContain("secret history");

    // Initial sync lists the pending invite too; the next incremental does not repeat it.
    expect((await sync(ctx.bob)).rooms.invite[roomId]).toBeDefined();
    expect((await sync(ctx.bob, { since: inc.next_batch })).rooms.invite[roomId]).toBeUndefined();

    await join(ctx.bob, roomId);
    const joined = await sync(ctx.bob, { since: inc.next_batch });
    expect(joined.rooms.invite[roomId]).toBeUndefined();
    expect(joined.rooms.join[roomId]).toBeDefined();
  });

  test("leaving: the leave shows up in rooms.leave with the timeline up to it; include_leave for initial syncs", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await send(ctx.alice, roomId, "before bob leaves");
    const before = await sync(ctx.bob);
    await send(ctx.alice, roomId, "last one bob sees");
    await leave(ctx.bob, roomId);
    await send(ctx.alice, roomId, "after bob left");

    const inc = await sync(ctx.bob, { since: before.next_batch });
    expect(inc.rooms.join[roomId]).toBeUndefined();
    const left = inc.rooms.leave[roomId];
    expect(left).toBeDefined();
    expect(bodies(left.timeline.events)).toEqual(["last one bob sees"]);
    const last = left.timeline.events.at(-1);
    expect([last.type, last.state_key, last.content.membership]).toEqual(["m.room.member", ctx.bob.userId, "leave"]);
    expect(JSON.stringify(left)).not.toContain("after bob left");

    // Initial sync: only with include_leave.
    expect((await sync(ctx.bob)).rooms.leave[roomId]).toBeUndefined();
    const withLeave = await sync(ctx.bob, { filter: { room: { include_leave: true } } });
    const l2 = withLeave.rooms.leave[roomId];
    expect(l2).toBeDefined();
    expect(bodies(l2.timeline.events)).toContain("last one bob sees");
    expect(bodies(l2.timeline.events)).not.toContain("after bob left");
    // The room's whole history fits in the timeline, so state (before it) is empty.
    expect([...l2.state.events, ...l2.timeline.events].map((e: any) => e.type)).toContain("m.room.create");
    const small = await sync(ctx.bob, { filter: { room: { include_leave: true, timeline: { limit: 2 } } } });
    expect(small.rooms.leave[roomId].state.events.map((e: any) => e.type)).toContain("m.room.create");

    // Alice sees bob's leave in her timeline.
    const a = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 3 } } } });
    expect(a.rooms.join[roomId].timeline.events.some((e: any) => e.state_key === ctx.bob.userId && e.content.membership === "leave")).toBe(true);

    // Forgotten rooms are gone even with include_leave.
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/forget`, {});
    const forgotten = await sync(ctx.bob, { filter: { room: { include_leave: true } } });
    expect(forgotten.rooms.leave[roomId]).toBeUndefined();
  });

  test("kicks and bans land in rooms.leave", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.carol, roomId);
    const before = await sync(ctx.carol);
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: ctx.carol.userId, reason: "bye" });
    const inc = await sync(ctx.carol, { since: before.next_batch });
    const last = inc.rooms.leave[roomId].timeline.events.at(-1);
    expect([last.state_key, last.content.membership, last.content.reason]).toEqual([ctx.carol.userId, "ban", "bye"]);
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: ctx.carol.userId });
  });

  test("a rejected invite is a leave without the room's state", async () => {
    const roomId = await createRoom(ctx.alice, { name: "Nope" });
    await send(ctx.alice, roomId, "private talk");
    await invite(ctx.alice, roomId, ctx.carol.userId!);
    const before = await sync(ctx.carol);
    expect(before.rooms.invite[roomId]).toBeDefined();
    await leave(ctx.carol, roomId);
    const inc = await sync(ctx.carol, { since: before.next_batch });
    const left = inc.rooms.leave[roomId];
    expect(left).toBeDefined();
    expect(left.timeline.events.map((e: any) => e.content.membership)).toEqual(["invite", "leave"]);
    expect(left.state.events).toEqual([]);
    expect(JSON.stringify(left)).not.toContain("private talk");
  });

  test("knocks: stripped state in rooms.knock", async () => {
    const roomId = await createRoom(ctx.alice, { name: "Knock knock", initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }] });
    const before = await sync(ctx.carol);
    const k = await ctx.carol.post(`/_matrix/client/v3/knock/${enc(roomId)}`, { reason: "let me in" });
    expect(k.status).toBe(200);
    const inc = await sync(ctx.carol, { since: before.next_batch });
    const knock = inc.rooms.knock[roomId];
    expect(knock).toBeDefined();
    const types = stripped(knock.knock_state.events);
    expect(types).toContain("m.room.create|");
    expect(types).toContain("m.room.name|");
    expect(types).toContain(`m.room.member|${ctx.carol.userId}`);
    expect(knock.knock_state.events.find((e: any) => e.state_key === ctx.carol.userId).content.membership).toBe("knock");
    expect((await sync(ctx.carol)).rooms.knock[roomId]).toBeDefined();

    // The room's members see the knock and can let carol in.
    const a = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 1 } } } });
    expect(a.rooms.join[roomId].timeline.events[0].content.membership).toBe("knock");
    await invite(ctx.alice, roomId, ctx.carol.userId!);
    const after = await sync(ctx.carol, { since: inc.next_batch });
    expect(after.rooms.invite[roomId]).toBeDefined();
    expect(after.rooms.knock[roomId]).toBeUndefined();
  });

  test("a user invited is woken from a long-poll", async () => {
    const roomId = await createRoom(ctx.alice, {});
    const { next_batch } = await sync(ctx.carol);
    const started = performance.now();
    const pending = sync(ctx.carol, { since: next_batch, timeout: 15000 });
    await Bun.sleep(100);
    await invite(ctx.alice, roomId, ctx.carol.userId!);
    const r = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(r.rooms.invite[roomId]).toBeDefined();
  });
});
