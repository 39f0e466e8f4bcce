// Ignoring users (modules/ignore_users.md) on both databases: m.ignored_user_list filters the
// ignored users' events out of /sync (initial and incremental), /messages, /context, /event and
// /relations, never their state events; their invites are not shown; their messages do not
// count as unread; un-ignoring resumes delivery.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { bodies, createRoom, enc, join, send, setState, sync } from "../helpers/sync.ts";

for (const backend of BACKENDS) {
  describe(`ignored users [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let troll: TestClient;
    beforeAll(async () => {
      [s, alice, bob, troll] = await serverWithUsers({ backend }, "alice", "bob", "troll");
    });
    afterAll(() => s.stop());

    const ignore = (c: TestClient, users: string[]) =>
      c.ok("PUT", `/_matrix/client/v3/user/${enc(c.userId!)}/account_data/m.ignored_user_list`, {
        ignored_users: Object.fromEntries(users.map((u) => [u, {}])),
      });

    test("events of ignored users disappear from /sync, /messages, /context and /event; state stays", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", power_level_content_override: { users: { [troll.userId!]: 50 } } });
      await join(bob, roomId);
      await join(troll, roomId);
      await send(bob, roomId, "hello from bob");
      const trollMsg = await send(troll, roomId, "troll says hi");
      const before = await sync(alice, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } });
      expect(bodies(before.rooms.join[roomId].timeline.events)).toEqual(["hello from bob", "troll says hi"]);

      await ignore(alice, [troll.userId!]);
      // The account data change itself comes down /sync.
      const next = await sync(alice, { since: before.next_batch });
      expect(next.account_data.events.find((e: any) => e.type === "m.ignored_user_list").content.ignored_users).toHaveProperty(troll.userId!);

      await send(troll, roomId, "troll again");
      const topic = await setState(troll, roomId, "m.room.topic", { topic: "troll topic" });
      await send(bob, roomId, "bob again");
      const inc = await sync(alice, { since: next.next_batch });
      const evs = inc.rooms.join[roomId].timeline.events;
      expect(bodies(evs)).toEqual(["bob again"]);
      // State events of ignored users are still sent.
      expect(evs.find((e: any) => e.event_id === topic)?.content.topic).toBe("troll topic");

      const initial = await sync(alice, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } });
      expect(bodies(initial.rooms.join[roomId].timeline.events)).toEqual(["hello from bob", "bob again"]);

      const msgs = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
      expect(bodies(msgs.chunk)).toEqual(["bob again", "hello from bob"]);
      expect(msgs.chunk.some((e: any) => e.event_id === topic)).toBe(true);
      expectError(await alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(trollMsg)}`), 404, "M_NOT_FOUND");
      const ctx = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(topic)}?limit=10`);
      expect(bodies([...ctx.events_before, ...ctx.events_after])).toEqual(["hello from bob", "bob again"]);
      // Bob ignores nobody.
      expect(bodies((await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk)).toHaveLength(4);

      // Relations from ignored users are left out too.
      await send(troll, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: topic, key: "😈" } }, "m.reaction");
      expect((await alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(topic)}`)).chunk).toEqual([]);
      expect((await bob.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(topic)}`)).chunk).toHaveLength(1);

      // Un-ignoring: new events arrive again.
      await ignore(alice, []);
      await send(troll, roomId, "troll forgiven");
      expect(bodies((await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`)).chunk)).toEqual(["troll forgiven"]);
    });

    test("invites from ignored users are not shown; other invites are", async () => {
      await ignore(bob, [troll.userId!]);
      const fromTroll = await createRoom(troll, { preset: "private_chat" });
      await troll.ok("POST", `/_matrix/client/v3/rooms/${enc(fromTroll)}/invite`, { user_id: bob.userId });
      const fromAlice = await createRoom(alice, { preset: "private_chat" });
      await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(fromAlice)}/invite`, { user_id: bob.userId });
      const s1 = await sync(bob);
      expect(Object.keys(s1.rooms.invite)).toContain(fromAlice);
      expect(Object.keys(s1.rooms.invite)).not.toContain(fromTroll);
      await ignore(bob, []);
      expect(Object.keys((await sync(bob)).rooms.invite)).toContain(fromTroll);
    });

    test("messages of ignored users do not count as unread", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await join(bob, roomId);
      await join(troll, roomId);
      await ignore(alice, [troll.userId!]);
      await send(troll, roomId, "noise");
      await send(troll, roomId, { msgtype: "m.text", body: "hey alice", "m.mentions": { user_ids: [alice.userId] } });
      await send(bob, roomId, "signal");
      const r = await sync(alice, { filter: { room: { rooms: [roomId], timeline: { limit: 1 } } } });
      expect(r.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
      await ignore(alice, []);
    });

    test("a malformed list ignores nobody", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await join(troll, roomId);
      await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/m.ignored_user_list`, { ignored_users: ["not", "a", "map"] });
      await send(troll, roomId, "still visible");
      expect(bodies((await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`)).chunk)).toEqual(["still visible"]);
      await ignore(alice, []);
    });
  });
}
