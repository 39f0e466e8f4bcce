// Simplified sliding sync with rooms on another server: a remote invite (stripped state only,
// filtered by its room type from that stripped state), joining it over federation, messages from
// the other server waking a long-poll and bumping the room, and a rejected remote invite.
import { expect, test } from "bun:test";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { createRoom, enc, invite, send } from "../helpers/sync.ts";
import { bodiesOf, list, roomIdsOf, ss, until } from "./helpers.ts";

describeOnBackends("sliding sync with rooms on other servers", (backend) => {
  const ctx = federatedPairFixture({ backend });

  test("remote invite → invite_state; join → initial room; remote messages wake the long-poll; rejection → leave", async () => {
    const local = await createRoom(ctx.bob, { name: "Home" });
    const roomId = await createRoom(ctx.alice, { name: "Over there", preset: "private_chat" });
    await send(ctx.alice, roomId, "history");
    const body = { lists: { rooms: list([0, 9], { timeline_limit: 5, required_state: [["m.room.name", ""]], filters: { not_room_types: ["m.space"] } }) } };
    let r = await ss(ctx.bob, body);
    expect(roomIdsOf(r, "rooms")).toEqual([local]);

    await invite(ctx.alice, roomId, ctx.bob.userId!);
    r = await until(async () => {
      const x = await ss(ctx.bob, body, { pos: r.pos, timeout: 1000 });
      r = x;
      return x.rooms[roomId] ? x : undefined;
    });
    const inv = r.rooms[roomId];
    expect(inv.membership).toBe("invite");
    expect(inv.invite_state.find((e: any) => e.type === "m.room.name")?.content.name).toBe("Over there");
    expect(inv.invite_state.find((e: any) => e.type === "m.room.member" && e.state_key === ctx.bob.userId)?.content.membership).toBe("invite");
    expect(roomIdsOf(r, "rooms")).toEqual([roomId, local]);

    // Join over federation: the room is sent from scratch.
    expect((await ctx.bob.post(`/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {})).status).toBe(200);
    r = await ss(ctx.bob, body, { pos: r.pos });
    const joined = r.rooms[roomId];
    expect(joined.membership).toBe("join");
    expect(joined.initial).toBe(true);
    expect(joined.name).toBe("Over there");
    expect(joined.joined_count).toBe(2);
    expect(joined.timeline.at(-1)).toMatchObject({ type: "m.room.member", state_key: ctx.bob.userId });

    // A message from the other server wakes the long-poll.
    const bumpBefore = joined.bump_stamp;
    const pending = ss(ctx.bob, body, { pos: r.pos, timeout: 20_000 });
    await send(ctx.alice, roomId, "across servers");
    r = await pending;
    expect(bodiesOf(r.rooms[roomId])).toEqual(["across servers"]);
    expect(r.rooms[roomId].bump_stamp).toBeGreaterThan(bumpBefore);

    // A second invite, rejected: the room is sent once more with the leave, then dropped.
    const room2 = await createRoom(ctx.alice, { name: "Say no" });
    await invite(ctx.alice, room2, ctx.bob.userId!);
    r = await until(async () => {
      const x = await ss(ctx.bob, body, { pos: r.pos, timeout: 1000 });
      r = x;
      return x.rooms[room2] ? x : undefined;
    });
    expect((await ctx.bob.post(`/_matrix/client/v3/rooms/${enc(room2)}/leave`, {})).status).toBe(200);
    r = await ss(ctx.bob, body, { pos: r.pos });
    const left = r.rooms[room2];
    expect(left.membership).toBe("leave");
    expect(left.timeline.map((e: any) => e.content.membership)).toEqual(["leave"]);
    expect(left.required_state).toBeUndefined();
    r = await ss(ctx.bob, body, { pos: r.pos, timeout: 0 });
    expect(roomIdsOf(r, "rooms")).not.toContain(room2);
  });
});
