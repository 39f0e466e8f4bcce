// /sync for rooms on other servers: a remote invite shows its stripped state in rooms.invite;
// joining moves it to rooms.join; rejecting puts the leave in rooms.leave.
import { expect, test } from "bun:test";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { createRoom, enc, invite, send, sync } from "../helpers/sync.ts";

describeOnBackends("sync with rooms on other servers", (backend) => {
  const ctx = federatedPairFixture({ backend });

  test("remote invite → rooms.invite with stripped state; join → rooms.join; a rejected invite → rooms.leave", async () => {
    const roomId = await createRoom(ctx.alice, { name: "Over there", preset: "private_chat" });
    await send(ctx.alice, roomId, "history");
    const before = await sync(ctx.bob);
    await invite(ctx.alice, roomId, ctx.bob.userId!);
    let inc: any;
    for (let i = 0; i < 50; i++) {
      inc = await sync(ctx.bob, { since: before.next_batch, timeout: 1000 });
      if (inc.rooms.invite[roomId]) break;
    }
    const inv = inc.rooms.invite[roomId];
    expect(inv).toBeDefined();
    const byType = (t: string, k = "") => inv.invite_state.events.find((e: any) => e.type === t && e.state_key === k);
    expect(byType("m.room.name")?.content.name).toBe("Over there");
    expect(byType("m.room.member", ctx.bob.userId!)?.content.membership).toBe("invite");
    for (const e of inv.invite_state.events) expect(Object.keys(e).sort()).toEqual(["content", "sender", "state_key", "type"]);

    // Joining over federation: the room moves to rooms.join with its state and history.
    const j = await ctx.bob.post(`/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    expect(j.status).toBe(200);
    const joined = await sync(ctx.bob, { since: inc.next_batch });
    expect(joined.rooms.invite[roomId]).toBeUndefined();
    const room = joined.rooms.join[roomId];
    expect(room).toBeDefined();
    const all = [...room.state.events, ...room.timeline.events];
    expect(all.find((e: any) => e.type === "m.room.name")?.content.name).toBe("Over there");
    expect(all.find((e: any) => e.type === "m.room.create")).toBeDefined();
    expect(room.timeline.events.at(-1).state_key).toBe(ctx.bob.userId);
    expect(room.summary["m.joined_member_count"]).toBe(2);
    // Messages from the other server arrive in bob's incremental syncs.
    await send(ctx.alice, roomId, "across servers");
    let got: any;
    for (let i = 0; i < 50 && !got; i++) {
      const r = await sync(ctx.bob, { since: joined.next_batch, timeout: 1000 });
      got = r.rooms.join[roomId]?.timeline.events.find((e: any) => e.content.body === "across servers");
    }
    expect(got?.sender).toBe(ctx.alice.userId);

    // A second invite, rejected: the leave lands in rooms.leave.
    const room2 = await createRoom(ctx.alice, { name: "Say no" });
    const b2 = await sync(ctx.bob);
    await invite(ctx.alice, room2, ctx.bob.userId!);
    let inc2: any;
    for (let i = 0; i < 50; i++) {
      inc2 = await sync(ctx.bob, { since: b2.next_batch, timeout: 1000 });
      if (inc2.rooms.invite[room2]) break;
    }
    expect(inc2.rooms.invite[room2]).toBeDefined();
    expect((await ctx.bob.post(`/_matrix/client/v3/rooms/${enc(room2)}/leave`, {})).status).toBe(200);
    const left = await sync(ctx.bob, { since: inc2.next_batch });
    const l = left.rooms.leave[room2];
    expect(l).toBeDefined();
    expect(l.timeline.events.map((e: any) => e.content.membership)).toEqual(["leave"]);
    expect(l.state.events).toEqual([]);
  });
});
