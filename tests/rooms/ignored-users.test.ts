// Ignoring users (modules/ignore_users.md) on both databases: m.ignored_user_list filters the
// ignored users' events out of /sync (initial and incremental), /messages, /context, /event and
// /relations, never their state events; their invites are not shown; their messages do not
// count as unread; un-ignoring resumes delivery.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { bodies, createRoom, enc, join, send, setState, sync } from "../helpers/sync.ts";

describeOnBackends("ignored users", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "troll");

  const ignore = (c: TestClient, users: string[]) =>
    c.ok("PUT", `/_matrix/client/v3/user/${enc(c.userId!)}/account_data/m.ignored_user_list`, {
      ignored_users: Object.fromEntries(users.map((u) => [u, {}])),
    });

  test("events of ignored users disappear from /sync, /messages, /context and /event; state stays", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", power_level_content_override: { users: { [ctx.troll.userId!]: 50 } } });
    await join(ctx.bob, roomId);
    await join(ctx.troll, roomId);
    await send(ctx.bob, roomId, "hello from bob");
    const trollMsg = await send(ctx.troll, roomId, "troll says hi");
    const before = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } });
    expect(bodies(before.rooms.join[roomId].timeline.events)).toEqual(["hello from bob", "troll says hi"]);

    await ignore(ctx.alice, [ctx.troll.userId!]);
    // The account data change itself comes down /sync.
    const next = await sync(ctx.alice, { since: before.next_batch });
    expect(next.account_data.events.find((e: any) => e.type === "m.ignored_user_list").content.ignored_users).toHaveProperty(ctx.troll.userId!);

    await send(ctx.troll, roomId, "troll again");
    const topic = await setState(ctx.troll, roomId, "m.room.topic", { topic: "troll topic" });
    await send(ctx.bob, roomId, "bob again");
    const inc = await sync(ctx.alice, { since: next.next_batch });
    const evs = inc.rooms.join[roomId].timeline.events;
    expect(bodies(evs)).toEqual(["bob again"]);
    // State events of ignored users are still sent.
    expect(evs.find((e: any) => e.event_id === topic)?.content.topic).toBe("troll topic");

    const initial = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } });
    expect(bodies(initial.rooms.join[roomId].timeline.events)).toEqual(["hello from bob", "bob again"]);

    const msgs = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    expect(bodies(msgs.chunk)).toEqual(["bob again", "hello from bob"]);
    expect(msgs.chunk.some((e: any) => e.event_id === topic)).toBe(true);
    expectError(await ctx.alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(trollMsg)}`), 404, "M_NOT_FOUND");
    const context = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(topic)}?limit=10`);
    expect(bodies([...context.events_before, ...context.events_after])).toEqual(["hello from bob", "bob again"]);
    // Bob ignores nobody.
    expect(bodies((await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk)).toHaveLength(4);

    // Relations from ignored users are left out too.
    await send(ctx.troll, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: topic, key: "😈" } }, "m.reaction");
    expect((await ctx.alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(topic)}`)).chunk).toEqual([]);
    expect((await ctx.bob.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(topic)}`)).chunk).toHaveLength(1);

    // Un-ignoring: new events arrive again.
    await ignore(ctx.alice, []);
    await send(ctx.troll, roomId, "troll forgiven");
    expect(bodies((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`)).chunk)).toEqual(["troll forgiven"]);
  });

  test("invites from ignored users are not shown; other invites are", async () => {
    await ignore(ctx.bob, [ctx.troll.userId!]);
    const fromTroll = await createRoom(ctx.troll, { preset: "private_chat" });
    await ctx.troll.ok("POST", `/_matrix/client/v3/rooms/${enc(fromTroll)}/invite`, { user_id: ctx.bob.userId });
    const fromAlice = await createRoom(ctx.alice, { preset: "private_chat" });
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(fromAlice)}/invite`, { user_id: ctx.bob.userId });
    const s1 = await sync(ctx.bob);
    expect(Object.keys(s1.rooms.invite)).toContain(fromAlice);
    expect(Object.keys(s1.rooms.invite)).not.toContain(fromTroll);
    await ignore(ctx.bob, []);
    expect(Object.keys((await sync(ctx.bob)).rooms.invite)).toContain(fromTroll);
  });

  test("messages of ignored users do not count as unread", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.troll, roomId);
    await ignore(ctx.alice, [ctx.troll.userId!]);
    await send(ctx.troll, roomId, "noise");
    await send(ctx.troll, roomId, { msgtype: "m.text", body: "hey alice", "m.mentions": { user_ids: [ctx.alice.userId] } });
    await send(ctx.bob, roomId, "signal");
    const r = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 1 } } } });
    expect(r.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    await ignore(ctx.alice, []);
  });

  test("a malformed list ignores nobody", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.troll, roomId);
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.ignored_user_list`, { ignored_users: ["not", "a", "map"] });
    await send(ctx.troll, roomId, "still visible");
    expect(bodies((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`)).chunk)).toEqual(["still visible"]);
    await ignore(ctx.alice, []);
  });
});
