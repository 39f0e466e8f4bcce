// Simplified sliding sync (MSC4186) room results over raw HTTP: required_state ($LAZY, $ME,
// wildcards), timeline_limit, limited, prev_batch, num_live, initial, name/avatar/heroes, member
// counts, unread counts, widened configs (expanded timelines, new required state), room
// subscriptions and left rooms. Both databases.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, invite, join, send, setState } from "../helpers/sync.ts";
import { bodiesOf, list, ss } from "./helpers.ts";

const keysOf = (room: any): string[] => (room?.required_state ?? []).map((e: any) => `${e.type}|${e.state_key}`).sort();
const sub = (roomId: string, required_state: unknown[], timeline_limit = 0) => ({ room_subscriptions: { [roomId]: { required_state, timeline_limit } } });

describeOnBackends("sliding sync rooms", (backend) => {
  let n = 0;
  const user = (p: string) => registerUser(ctx.s, `${p}${++n}`);
  const ctx = serverFixture({ backend });

  /** A room of `a` with `others` joined, a name and a topic. */
  async function populated(a: TestClient, others: TestClient[], name = "Room"): Promise<string> {
    const room = await createRoom(a, { preset: "public_chat", name, topic: "things" });
    for (const o of others) await join(o, room);
    return room;
  }

  test("required_state: exact keys, every key of a type, $ME, [*,*] and its restrictions, [*, key]", async () => {
    const a = await user("rs");
    const b = await user("rsb");
    const c = await user("rsc");
    const room = await populated(a, [b, c]);
    const get = async (rs: unknown[]) => (await ss(a, sub(room, rs))).rooms[room];

    expect(keysOf(await get([["m.room.name", ""], ["m.room.topic", ""], ["m.room.nothing", ""]]))).toEqual(["m.room.name|", "m.room.topic|"]);
    expect(keysOf(await get([["m.room.member", "*"]]))).toEqual([a, b, c].map((u) => `m.room.member|${u.userId}`).sort());
    expect(keysOf(await get([["m.room.member", "$ME"]]))).toEqual([`m.room.member|${a.userId}`]);
    const all = keysOf(await get([["*", "*"]]));
    for (const k of ["m.room.create|", "m.room.power_levels|", "m.room.join_rules|", "m.room.name|", "m.room.topic|", `m.room.member|${b.userId}`]) expect(all).toContain(k);
    const allButMembers = keysOf(await get([["*", "*"], ["m.room.member", "$ME"]]));
    expect(allButMembers.filter((k) => k.startsWith("m.room.member|"))).toEqual([`m.room.member|${a.userId}`]);
    expect(allButMembers).toContain("m.room.create|");
    expect(allButMembers.length).toBe(all.length - 2);
    expect(keysOf(await get([["*", b.userId!]]))).toEqual([`m.room.member|${b.userId}`]);
    const none = await get([]);
    expect(none.required_state).toBeUndefined();
    expect(none.timeline).toBeUndefined();
    expect(none.limited).toBeUndefined();
    expect(none.initial).toBe(true);
    expect(none.name).toBe("Room");
  });

  test("$LAZY: memberships of the timeline's senders, each once; gapless syncs carry every membership change", async () => {
    const a = await user("lazy");
    const b = await user("lazyb");
    const c = await user("lazyc");
    const d = await user("lazyd");
    const room = await populated(a, [b, c]);
    await send(b, room, "from b");
    await send(c, room, "from c");
    const body = sub(room, [["m.room.member", "$LAZY"], ["m.room.name", ""]], 2);
    let r = await ss(a, body);
    expect(bodiesOf(r.rooms[room])).toEqual(["from b", "from c"]);
    expect(keysOf(r.rooms[room])).toEqual(["m.room.name|", `m.room.member|${b.userId}`, `m.room.member|${c.userId}`].sort());

    await send(a, room, "from a");
    await send(b, room, "b again");
    r = await ss(a, body, { pos: r.pos });
    expect(bodiesOf(r.rooms[room])).toEqual(["from a", "b again"]);
    expect(keysOf(r.rooms[room])).toEqual([`m.room.member|${a.userId}`]);

    await send(c, room, "c again");
    r = await ss(a, body, { pos: r.pos });
    expect(r.rooms[room].required_state).toBeUndefined();

    // A join in a gapless sync: the new member's event comes with it.
    await join(d, room);
    r = await ss(a, body, { pos: r.pos });
    expect(keysOf(r.rooms[room])).toEqual([`m.room.member|${d.userId}`]);
    expect(r.rooms[room].joined_count).toBe(4);
  });

  test("timeline_limit, limited, prev_batch with /messages, num_live", async () => {
    const a = await user("tl");
    const room = await createRoom(a, {});
    for (let i = 0; i < 10; i++) await send(a, room, `m${i}`);
    const body = { lists: { all: list([0, 0], { timeline_limit: 3 }) } };
    let r = await ss(a, body);
    const first = r.rooms[room];
    expect(bodiesOf(first)).toEqual(["m7", "m8", "m9"]);
    expect(first.limited).toBe(true);
    expect(first.num_live).toBe(0);
    expect(first.initial).toBe(true);
    const page = await a.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=3&from=${enc(first.prev_batch)}`);
    expect(page.chunk.map((e: any) => e.content.body)).toEqual(["m6", "m5", "m4"]);

    await send(a, room, "n1");
    await send(a, room, "n2");
    r = await ss(a, body, { pos: r.pos });
    expect(bodiesOf(r.rooms[room])).toEqual(["n1", "n2"]);
    expect(r.rooms[room].limited).toBe(false);
    expect(r.rooms[room].num_live).toBe(2);
    expect(r.rooms[room].initial).toBeUndefined();

    for (let i = 0; i < 5; i++) await send(a, room, `g${i}`);
    r = await ss(a, body, { pos: r.pos });
    expect(bodiesOf(r.rooms[room])).toEqual(["g2", "g3", "g4"]);
    expect(r.rooms[room].limited).toBe(true);
    expect(r.rooms[room].num_live).toBe(3);
    const gap = await a.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=2&from=${enc(r.rooms[room].prev_batch)}`);
    expect(gap.chunk.map((e: any) => e.content.body)).toEqual(["g1", "g0"]);

    const none = await ss(a, { lists: { all: list([0, 0], { timeline_limit: 0 }) } });
    expect(none.rooms[room].timeline).toBeUndefined();
    expect(none.rooms[room].prev_batch).toBeUndefined();
  });

  test("name, avatar, heroes, joined_count and invited_count, sent when they change", async () => {
    const a = await user("meta");
    const b = await user("metab");
    const c = await user("metac");
    await c.ok("PUT", `/_matrix/client/v3/profile/${enc(c.userId!)}/avatar_url`, { avatar_url: "mxc://localhost/c" });
    const room = await createRoom(a, { preset: "private_chat" });
    await invite(a, room, b.userId!);
    await invite(a, room, c.userId!);
    await join(c, room);
    const body = { lists: { all: list([0, 9], { timeline_limit: 1 }) } };
    let r = await ss(a, body);
    let x = r.rooms[room];
    expect(x.name).toBeUndefined();
    expect(x.joined_count).toBe(2);
    expect(x.invited_count).toBe(1);
    expect(x.heroes).toEqual([
      { user_id: b.userId, displayname: b.userId!.slice(1).split(":")[0] },
      { user_id: c.userId, displayname: c.userId!.slice(1).split(":")[0], avatar_url: "mxc://localhost/c" },
    ]);

    await setState(a, room, "m.room.name", { name: "Named" });
    await setState(a, room, "m.room.avatar", { url: "mxc://localhost/room" });
    r = await ss(a, body, { pos: r.pos });
    x = r.rooms[room];
    expect(x.name).toBe("Named");
    expect(x.avatar).toBe("mxc://localhost/room");
    expect(x.heroes).toBeUndefined();
    expect(x.joined_count).toBeUndefined();

    await join(b, room);
    r = await ss(a, body, { pos: r.pos });
    x = r.rooms[room];
    expect(x.joined_count).toBe(3);
    expect(x.invited_count).toBe(0);
    expect(x.name).toBeUndefined();

    await setState(a, room, "m.room.name", {});
    r = await ss(a, body, { pos: r.pos });
    expect(r.rooms[room].name).toBeNull();
  });

  test("notification_count and highlight_count; a read receipt resends them", async () => {
    const a = await user("unread");
    const b = await user("unreadb");
    const room = await populated(a, [b]);
    const body = { lists: { all: list([0, 9], { timeline_limit: 5 }) } };
    let r = await ss(a, body);
    expect(r.rooms[room].notification_count).toBe(0);
    await send(b, room, "plain");
    const last = await send(b, room, { msgtype: "m.text", body: "hey you", "m.mentions": { user_ids: [a.userId] } });
    r = await ss(a, body, { pos: r.pos });
    expect(r.rooms[room].notification_count).toBe(2);
    expect(r.rooms[room].highlight_count).toBe(1);
    await a.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(last)}`, {});
    r = await ss(a, body, { pos: r.pos });
    expect(r.rooms[room].notification_count).toBe(0);
    expect(r.rooms[room].highlight_count).toBe(0);
    expect(r.rooms[room].timeline).toBeUndefined();
  });

  test("a larger timeline_limit expands the timeline once; wider required_state sends only the new state", async () => {
    const a = await user("expand");
    const room = await createRoom(a, { name: "E", topic: "T" });
    for (let i = 0; i < 5; i++) await send(a, room, `e${i}`);
    const small = { lists: { all: list([0, 9], { timeline_limit: 1, required_state: [["m.room.name", ""]] }) } };
    let r = await ss(a, small);
    expect(bodiesOf(r.rooms[room])).toEqual(["e4"]);
    expect(keysOf(r.rooms[room])).toEqual(["m.room.name|"]);

    // A subscription with more timeline and more state on top of the list.
    const big = { ...small, room_subscriptions: { [room]: { timeline_limit: 4, required_state: [["m.room.topic", ""]] } } };
    r = await ss(a, big, { pos: r.pos });
    const x = r.rooms[room];
    expect(bodiesOf(x)).toEqual(["e1", "e2", "e3", "e4"]);
    expect(x.unstable_expanded_timeline).toBe(true);
    expect(x.initial).toBeUndefined();
    expect(keysOf(x)).toEqual(["m.room.topic|"]);
    expect(x.lists).toEqual(["all"]);

    // Back to the list alone, then the subscription again: nothing new to send.
    r = await ss(a, small, { pos: r.pos });
    expect(r.rooms[room]).toBeUndefined();
    await send(a, room, "e5");
    r = await ss(a, small, { pos: r.pos });
    expect(bodiesOf(r.rooms[room])).toEqual(["e5"]);
    r = await ss(a, big, { pos: r.pos });
    expect(r.rooms[room]?.unstable_expanded_timeline).toBeUndefined();
  });

  test("subscriptions: rooms without a membership are ignored; subscription-only rooms have no lists", async () => {
    const a = await user("subs");
    const b = await user("subsb");
    const mine = await createRoom(a, { name: "mine" });
    const theirs = await createRoom(b, { preset: "public_chat", name: "theirs" });
    await send(b, theirs, "secret");
    const r = await ss(a, { room_subscriptions: { [mine]: { timeline_limit: 1, required_state: [] }, [theirs]: { timeline_limit: 5, required_state: [["*", "*"]] }, "!nope:localhost": { timeline_limit: 1, required_state: [] } } });
    expect(Object.keys(r.rooms)).toEqual([mine]);
    expect(r.rooms[mine].lists).toBeUndefined();
    expect(r.lists).toBeUndefined();
  });

  test("left rooms show nothing after the leave: state and timeline end there", async () => {
    const a = await user("left");
    const b = await user("leftb");
    const room = await populated(a, [b], "Before");
    await send(a, room, "while b is here");
    await b.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/leave`, {});
    await setState(a, room, "m.room.name", { name: "After" });
    await send(a, room, "after b left");
    const r = await ss(b, sub(room, [["m.room.name", ""]], 5));
    const x = r.rooms[room];
    expect(x.membership).toBe("leave");
    expect(x.name).toBe("Before");
    expect(keysOf(x)).toEqual(["m.room.name|"]);
    expect(x.required_state[0].content.name).toBe("Before");
    expect(bodiesOf(x)).toEqual(["while b is here"]);
    expect(x.timeline[x.timeline.length - 1]).toMatchObject({ type: "m.room.member", state_key: b.userId });
    expect(x.joined_count).toBeUndefined();
  });
});
