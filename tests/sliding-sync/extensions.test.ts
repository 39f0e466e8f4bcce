// Simplified sliding sync (MSC4186) extensions over raw HTTP: to_device (with `since`), e2ee
// (one-time key counts, fallback key types, device list changes), account_data, receipts,
// typing, threads, and which rooms the room-scoped ones cover. Both databases.
import { expect, test } from "bun:test";
import { registerUser } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, join, send, setState } from "../helpers/sync.ts";
import { TestDevice } from "../e2ee/helpers.ts";
import { list, ss } from "./helpers.ts";

describeOnBackends("sliding sync extensions", (backend) => {
  let n = 0;
  const user = (p: string) => registerUser(ctx.s, `${p}${++n}`);
  const ctx = serverFixture({ backend });

  test("to_device: messages for this device, acknowledged by `since`; they end a long-poll", async () => {
    const a = await user("td");
    const b = await user("tdb");
    const sendTo = (body: string) =>
      a.ok("PUT", `/_matrix/client/v3/sendToDevice/m.test/${crypto.randomUUID()}`, { messages: { [b.userId!]: { [b.deviceId!]: { body } } } });
    await sendTo("one");
    await sendTo("two");
    const ext = (since?: string) => ({ extensions: { to_device: { enabled: true, ...(since ? { since } : {}) } } });
    let r = await ss(b, ext());
    expect(r.extensions.to_device.events.map((e: any) => e.content.body)).toEqual(["one", "two"]);
    expect(r.extensions.to_device.events[0]).toMatchObject({ sender: a.userId, type: "m.test" });
    const next = r.extensions.to_device.next_batch;
    expect(next).toMatch(/^\d+$/);
    // Not acknowledged yet: delivered again.
    r = await ss(b, ext(), { pos: r.pos });
    expect(r.extensions.to_device.events.length).toBe(2);
    // Acknowledged: gone.
    r = await ss(b, ext(next), { pos: r.pos, timeout: 0 });
    expect(r.extensions.to_device.events).toEqual([]);
    // A new message ends a long-poll.
    const started = performance.now();
    const pending = ss(b, ext(r.extensions.to_device.next_batch), { pos: r.pos, timeout: 10_000 });
    await sendTo("three");
    r = await pending;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(r.extensions.to_device.events.map((e: any) => e.content.body)).toEqual(["three"]);
    // A since that is not a number is refused.
    const bad = await b.request("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", { extensions: { to_device: { enabled: true, since: "x1" } } });
    expect(bad.status).toBe(400);
  });

  test("e2ee: one-time key counts, fallback key types, device list changes", async () => {
    const a = await user("e2a");
    const b = await user("e2b");
    const dev = new TestDevice(b);
    await dev.upload(5, true);
    const room = await createRoom(a, { preset: "public_chat" });
    const body = { extensions: { e2ee: { enabled: true } } };
    let r = await ss(b, body);
    expect(r.extensions.e2ee.device_one_time_keys_count.signed_curve25519).toBe(5);
    expect(r.extensions.e2ee.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    expect(r.extensions.e2ee.device_lists).toBeUndefined();
    // b joins a's room and a uploads device keys: a's device list changed for b.
    await join(b, room);
    await new TestDevice(a).upload(1, false);
    r = await ss(b, body, { pos: r.pos });
    expect(r.extensions.e2ee.device_lists.changed).toContain(a.userId);
    expect(r.extensions.e2ee.device_lists.left).toEqual([]);
    // Someone claims one of b's keys: the count drops and a long-poll answers with it.
    const pending = ss(b, body, { pos: r.pos, timeout: 3000 });
    await a.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [b.userId!]: { [b.deviceId!]: "signed_curve25519" } } });
    await send(a, room, "wake");
    r = await pending;
    expect(r.extensions.e2ee.device_one_time_keys_count.signed_curve25519).toBe(4);
  });

  test("account_data: global (push rules included) and per room, then only changes", async () => {
    const a = await user("ad");
    const inRange = await createRoom(a, { name: "in" });
    const later = await createRoom(a, { name: "later" });
    await send(a, inRange, "newest");
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/account_data/org.example.global`, { x: 1 });
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/rooms/${enc(inRange)}/account_data/org.example.room`, { y: 1 });
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/rooms/${enc(later)}/account_data/org.example.room`, { y: 2 });
    const body = (range: [number, number]) => ({ lists: { all: list(range) }, extensions: { account_data: { enabled: true } } });
    let r = await ss(a, body([0, 0]));
    const types = r.extensions.account_data.global.map((e: any) => e.type);
    expect(types).toContain("m.push_rules");
    expect(types).toContain("org.example.global");
    expect(r.extensions.account_data.rooms).toEqual({ [inRange]: [{ type: "org.example.room", content: { y: 1 } }] });

    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/account_data/org.example.global`, { x: 2 });
    r = await ss(a, body([0, 0]), { pos: r.pos });
    expect(r.extensions.account_data.global).toEqual([{ type: "org.example.global", content: { x: 2 } }]);
    expect(r.extensions.account_data.rooms).toEqual({});
    // The other room comes into range: its account data comes with it.
    r = await ss(a, body([0, 1]), { pos: r.pos });
    expect(r.extensions.account_data.rooms).toEqual({ [later]: [{ type: "org.example.room", content: { y: 2 } }] });
    expect(r.extensions.account_data.global).toEqual([]);
  });

  test("receipts: those on the events sent, then new ones; others' private receipts hidden", async () => {
    const a = await user("rc");
    const b = await user("rcb");
    const room = await createRoom(a, { preset: "public_chat" });
    await join(b, room);
    const old = await send(a, room, "old");
    await b.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(old)}`, {});
    const last = await send(a, room, "last");
    await b.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read.private/${enc(last)}`, {});
    const body = (extra: Record<string, unknown> = {}) => ({ lists: { all: list([0, 9], { timeline_limit: 1 }) }, extensions: { receipts: { enabled: true, ...extra } } });
    let r = await ss(a, body());
    // Only `last` is in the timeline: b's receipt on `old` is not sent, b's private one never.
    expect(r.extensions.receipts.rooms).toEqual({});
    await b.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(last)}`, {});
    r = await ss(a, body(), { pos: r.pos });
    const content = r.extensions.receipts.rooms[room];
    expect(content.type).toBe("m.receipt");
    expect(Object.keys(content.content[last]["m.read"])).toEqual([b.userId!]);
    // A fresh connection: receipts on the timeline events.
    const fresh = await ss(a, { ...body(), conn_id: "fresh" });
    expect(Object.keys(fresh.extensions.receipts.rooms[room].content[last]["m.read"])).toEqual([b.userId!]);
    // lists: [] and rooms: []: nothing covered.
    const none = await ss(a, { ...body({ lists: [], rooms: [] }), conn_id: "none" });
    expect(none.extensions.receipts.rooms).toEqual({});

    // An invited user sees no receipts of the room before joining.
    const c = await user("rcc");
    await a.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: c.userId });
    let rc = await ss(c, body());
    expect(rc.rooms[room].membership).toBe("invite");
    const later = await send(a, room, "later");
    await b.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(later)}`, {});
    rc = await ss(c, body(), { pos: rc.pos, timeout: 0 });
    expect(rc.extensions.receipts.rooms).toEqual({});
  });

  test("typing: who types in the rooms of the response; changes end a long-poll", async () => {
    const a = await user("ty");
    const b = await user("tyb");
    const room = await createRoom(a, { preset: "public_chat" });
    await join(b, room);
    const body = { lists: { all: list([0, 9]) }, extensions: { typing: { enabled: true } } };
    let r = await ss(a, body);
    expect(r.extensions.typing.rooms).toEqual({});
    const pending = ss(a, body, { pos: r.pos, timeout: 10_000 });
    await b.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(b.userId!)}`, { typing: true, timeout: 30_000 });
    r = await pending;
    expect(r.extensions.typing.rooms[room]).toEqual({ type: "m.typing", content: { user_ids: [b.userId] } });
    await b.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(b.userId!)}`, { typing: false });
    r = await ss(a, body, { pos: r.pos, timeout: 5000 });
    expect(r.extensions.typing.rooms[room]).toEqual({ type: "m.typing", content: { user_ids: [] } });
  });

  test("threads: thread updates outside the timeline, with their roots on request", async () => {
    const a = await user("th");
    const room = await createRoom(a, {});
    const root = await send(a, room, "root");
    await send(a, room, { msgtype: "m.text", body: "reply", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    await setState(a, room, "m.room.topic", { topic: "after" });
    const body = { lists: { all: list([0, 9], { timeline_limit: 1 }) }, extensions: { threads: { enabled: true, include_roots: true } } };
    let r = await ss(a, body);
    const update = r.extensions.threads.updates[room][root];
    expect(update.thread_root.event_id).toBe(root);
    expect(update.thread_root.unsigned["m.relations"]["m.thread"].count).toBe(1);
    await send(a, room, { msgtype: "m.text", body: "reply 2", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    await setState(a, room, "m.room.topic", { topic: "again" });
    r = await ss(a, { ...body, extensions: { threads: { enabled: true } } }, { pos: r.pos });
    expect(Object.keys(r.extensions.threads.updates[room])).toEqual([root]);
    expect(r.extensions.threads.updates[room][root].thread_root).toBeUndefined();
  });
});
