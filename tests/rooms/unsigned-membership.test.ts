// unsigned.membership (client-server-api ClientEvent, v1.11): the requesting user's membership at
// each event, including the event's own change, "leave" before they ever joined; in /messages,
// /sync timelines, /context and single events, on both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, send, sync } from "../helpers/sync.ts";

describeOnBackends("unsigned.membership", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob");

  test("before joining: leave; invited: invite; joined: join; after leaving: leave", async () => {
    // world_readable, so bob may read what came before he was invited.
    const roomId = await createRoom(ctx.alice, { preset: "private_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }] });
    const before = await send(ctx.alice, roomId, "before");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId });
    const whileInvited = await send(ctx.alice, roomId, "while invited");
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const joined = await send(ctx.alice, roomId, "joined");

    const chunk = (await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk as any[];
    const m = (id: string) => chunk.find((e) => e.event_id === id)?.unsigned.membership;
    expect(m(before)).toBe("leave");
    expect(m(whileInvited)).toBe("invite");
    expect(m(joined)).toBe("join");
    // His own membership events carry their own change.
    const own = chunk.filter((e) => e.type === "m.room.member" && e.state_key === ctx.bob.userId).map((e) => [e.content.membership, e.unsigned.membership]);
    expect(own).toEqual([["join", "join"], ["invite", "invite"]]);
    // Alice sees "join" everywhere but at the room's creation, before her own join.
    const aliceChunk = (await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk as any[];
    expect(aliceChunk.find((e) => e.type === "m.room.create").unsigned.membership).toBe("leave");
    expect(aliceChunk.filter((e) => e.type !== "m.room.create").every((e) => e.unsigned.membership === "join")).toBe(true);

    // The same in /sync, /context and /event.
    const timeline = (await sync(ctx.bob)).rooms.join[roomId].timeline.events as any[];
    expect(timeline.find((e) => e.event_id === joined).unsigned.membership).toBe("join");
    const context = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(whileInvited)}?limit=2`);
    expect(context.event.unsigned.membership).toBe("invite");
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(before)}`)).unsigned.membership).toBe("leave");

    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    const after = await send(ctx.alice, roomId, "after");
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(after)}`)).unsigned.membership).toBe("leave");
  });
});
