// Unread notification counts in /sync: default push rules applied when events are persisted,
// cleared by read receipts (public or private) and by the user's own messages, per thread when
// the filter asks, and user rules from m.push_rules account data. Both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { type TestClient } from "../helpers/client.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

describeOnBackends("unread counts", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  const counts = async (c: TestClient, roomId: string, filter: Record<string, unknown> = {}) => {
    const r = await sync(c, { filter: { room: { rooms: [roomId], timeline: { limit: 1, ...filter } } } });
    return r.rooms.join[roomId];
  };
  const receipt = (c: TestClient, roomId: string, eventId: string, type = "m.read", body: Record<string, unknown> = {}) =>
    c.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/${type}/${enc(eventId)}`, body);

  /** A group room (3 members: 1:1 rules do not apply). */
  const groupRoom = async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    return roomId;
  };

  test("messages count, mentions highlight, notices and own messages do not", async () => {
    const roomId = await groupRoom();
    expect((await counts(ctx.alice, roomId)).unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    await send(ctx.bob, roomId, "one");
    await send(ctx.bob, roomId, "two");
    await send(ctx.bob, roomId, { msgtype: "m.notice", body: "a bot speaks" });
    await send(ctx.bob, roomId, { key: "v" }, "org.example.custom");
    expect((await counts(ctx.alice, roomId)).unread_notifications).toEqual({ notification_count: 2, highlight_count: 0 });
    // Bob's own messages do not count for him.
    expect((await counts(ctx.bob, roomId)).unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });

    await send(ctx.bob, roomId, { msgtype: "m.text", body: "hey alice", "m.mentions": { user_ids: [ctx.alice.userId] } });
    expect((await counts(ctx.alice, roomId)).unread_notifications).toEqual({ notification_count: 3, highlight_count: 1 });
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 3, highlight_count: 0 });

    // @room needs the notifications power level (50): bob has 0, alice (creator) has it.
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "@room hi", "m.mentions": { room: true } });
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 4, highlight_count: 0 });
    await send(ctx.alice, roomId, { msgtype: "m.text", body: "@room from the admin", "m.mentions": { room: true } });
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 5, highlight_count: 1 });
  });

  test("the new count comes in the same incremental sync as the event", async () => {
    const roomId = await groupRoom();
    const first = await sync(ctx.alice);
    const pending = sync(ctx.alice, { since: first.next_batch, timeout: 10000 });
    await Bun.sleep(50);
    await send(ctx.bob, roomId, "count me");
    const r = await pending;
    expect(r.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
  });

  test("read receipts clear counts: m.read, m.read.private (the furthest wins), and own messages", async () => {
    const roomId = await groupRoom();
    const e1 = await send(ctx.bob, roomId, "1");
    const e2 = await send(ctx.bob, roomId, "2");
    await send(ctx.bob, roomId, "3");
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(3);
    await receipt(ctx.alice, roomId, e1);
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(2);
    await receipt(ctx.alice, roomId, e2, "m.read.private");
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(1);
    // A public receipt behind the private one does not rewind the count.
    await receipt(ctx.alice, roomId, e1);
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(1);

    // The receipt arrives with an incremental sync that carries the new count.
    const before = await sync(ctx.carol);
    const e4 = await send(ctx.bob, roomId, "4");
    await receipt(ctx.carol, roomId, e4);
    const inc = await sync(ctx.carol, { since: before.next_batch });
    expect(inc.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });

    // Sending a message marks everything before it as read.
    await send(ctx.alice, roomId, "I'm here");
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(0);
    await send(ctx.bob, roomId, "5");
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(1);

    // /read_markers with m.read clears too.
    const e6 = await send(ctx.bob, roomId, "6");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { "m.fully_read": e6, "m.read": e6 });
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(0);
  });

  test("one-to-one rooms notify for messages and encrypted events", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "trusted_private_chat", invite: [ctx.bob.userId] });
    await join(ctx.bob, roomId);
    await send(ctx.bob, roomId, "psst");
    await send(ctx.bob, roomId, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "AAAA", sender_key: "k", session_id: "s", device_id: "D" }, "m.room.encrypted");
    expect((await counts(ctx.alice, roomId)).unread_notifications).toEqual({ notification_count: 2, highlight_count: 0 });
  });

  test("joining marks the notifications before the join (the invite) as read", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId });
    await join(ctx.bob, roomId);
    expect((await counts(ctx.bob, roomId)).unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  test("threaded counts with unread_thread_notifications; threaded receipts clear one thread", async () => {
    const roomId = await groupRoom();
    const root = await send(ctx.bob, roomId, "root");
    const t1 = await send(ctx.bob, roomId, { msgtype: "m.text", body: "t1", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "t2", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    // A reply to an in-thread event (without m.thread) is in the thread too.
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "t3", "m.relates_to": { "m.in_reply_to": { event_id: t1 }, rel_type: "org.example.rel", event_id: t1 } });
    const mainMsg = await send(ctx.bob, roomId, { msgtype: "m.text", body: "main", "m.mentions": { user_ids: [ctx.alice.userId] } });

    // Without the filter flag: everything together, no per-thread object.
    const plain = await counts(ctx.alice, roomId);
    expect(plain.unread_notifications).toEqual({ notification_count: 5, highlight_count: 1 });
    expect(plain.unread_thread_notifications).toBeUndefined();

    const threaded = await counts(ctx.alice, roomId, { unread_thread_notifications: true });
    expect(threaded.unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    expect(threaded.unread_thread_notifications).toEqual({ [root]: { notification_count: 3, highlight_count: 0 } });

    // Reading the main timeline leaves the thread unread, and vice versa.
    await receipt(ctx.alice, roomId, mainMsg, "m.read", { thread_id: "main" });
    const afterMain = await counts(ctx.alice, roomId, { unread_thread_notifications: true });
    expect(afterMain.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(afterMain.unread_thread_notifications[root].notification_count).toBe(3);
    expect((await counts(ctx.alice, roomId)).unread_notifications.notification_count).toBe(3);
    await receipt(ctx.alice, roomId, t1, "m.read", { thread_id: root });
    const afterThread = await counts(ctx.alice, roomId, { unread_thread_notifications: true });
    expect(afterThread.unread_thread_notifications).toEqual({ [root]: { notification_count: 2, highlight_count: 0 } });
    // An unthreaded receipt clears everything up to it.
    const last = await send(ctx.bob, roomId, { msgtype: "m.text", body: "t4", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    await receipt(ctx.alice, roomId, last);
    const cleared = await counts(ctx.alice, roomId, { unread_thread_notifications: true });
    expect(cleared.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(cleared.unread_thread_notifications).toBeUndefined();
  });

  test("a threaded private receipt updates the thread's count in the next incremental sync; receipts outside their thread are refused", async () => {
    const roomId = await groupRoom();
    const root = await send(ctx.bob, roomId, "root");
    const inThread = (body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } });
    const t1 = await send(ctx.bob, roomId, inThread("t1"));
    const t2 = await send(ctx.bob, roomId, inThread("t2"));
    const filter = { room: { rooms: [roomId], timeline: { limit: 1, unread_thread_notifications: true } } };
    const first = await sync(ctx.alice, { filter });
    expect(first.rooms.join[roomId].unread_thread_notifications).toEqual({ [root]: { notification_count: 2, highlight_count: 0 } });
    const pending = sync(ctx.alice, { filter, since: first.next_batch, timeout: 10000 });
    await Bun.sleep(50);
    await receipt(ctx.alice, roomId, t1, "m.read.private", { thread_id: root });
    const next = (await pending).rooms.join[roomId];
    expect(next.unread_thread_notifications).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });
    expect(next.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 }); // the root, in the main timeline
    // The thread read to its end: the thread leaves the object (the client takes the absence as zero).
    const pending2 = sync(ctx.alice, { filter, since: (await sync(ctx.alice, { filter, since: first.next_batch })).next_batch, timeout: 10000 });
    await Bun.sleep(50);
    await receipt(ctx.alice, roomId, t2, "m.read", { thread_id: root });
    const last = (await pending2).rooms.join[roomId];
    expect(last.unread_thread_notifications).toBeUndefined();
    expect(last.unread_notifications.notification_count).toBe(1);
    // A thread event is not in "main", a main-timeline event not in the thread; the root is in both.
    for (const [ev, thread] of [[t2, "main"], [t1, "$other:localhost"]] as const) {
      const r = await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(ev)}`, { thread_id: thread });
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    }
    await receipt(ctx.alice, roomId, root, "m.read", { thread_id: root });
    await receipt(ctx.alice, roomId, root, "m.read", { thread_id: "main" });
    expect((await counts(ctx.alice, roomId, { unread_thread_notifications: true })).unread_notifications.notification_count).toBe(0);
  });

  test("user push rules from m.push_rules account data are used", async () => {
    const roomId = await groupRoom();
    // The future /pushrules API writes this; the server reads it from account data.
    await ctx.s.hs.services.accountData.set(ctx.carol.userId!, "", "m.push_rules", {
      global: {
        room: [{ rule_id: roomId, default: false, enabled: true, actions: [] }],
        sender: [{ rule_id: ctx.alice.userId!, default: false, enabled: true, actions: ["notify", { set_tweak: "highlight" }] }],
      },
    });
    await send(ctx.bob, roomId, "muted room");
    // Room rules come before sender rules: alice's sender rule does not apply in the muted room.
    await send(ctx.alice, roomId, "from alice");
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    await ctx.s.hs.services.accountData.set(ctx.carol.userId!, "", "m.push_rules", {
      global: { override: [{ rule_id: ".m.rule.master", default: true, enabled: true, actions: [] }] },
    });
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "mention", "m.mentions": { user_ids: [ctx.carol.userId] } });
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    await ctx.s.hs.services.accountData.set(ctx.carol.userId!, "", "m.push_rules", {});
    await send(ctx.bob, roomId, "normal again");
    expect((await counts(ctx.carol, roomId)).unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
  });
});
