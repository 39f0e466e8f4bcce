// Simplified sliding sync (MSC4186) lists over raw HTTP: ranges, counts, recency order by bump
// events, windows that grow, every filter, and which memberships a list shows (invites, knocks,
// kicks, self-leaves, ignored inviters). Both databases.
import { expect, test } from "bun:test";
import { registerUser } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, invite, join, leave, send, setState } from "../helpers/sync.ts";
import { list, roomIdsOf, ss } from "./helpers.ts";

describeOnBackends("sliding sync lists", (backend) => {
  let n = 0;
  const user = (p: string) => registerUser(ctx.s, `${p}${++n}`);
  const ctx = serverFixture({ backend });

  test("ranges, count and order by recency; only bump events move a room", async () => {
    const a = await user("order");
    const ra = await createRoom(a, { name: "A" });
    const rb = await createRoom(a, { name: "B" });
    const rc = await createRoom(a, { name: "C" });
    // Newest creation first.
    let r = await ss(a, { lists: { all: list([0, 9]) } });
    expect(r.lists.all.count).toBe(3);
    expect(roomIdsOf(r, "all")).toEqual([rc, rb, ra]);
    expect(r.rooms[ra].bump_stamp).toBeLessThan(r.rooms[rb].bump_stamp);
    expect(r.rooms[rb].bump_stamp).toBeLessThan(r.rooms[rc].bump_stamp);

    // A message bumps A to the top.
    await send(a, ra, "bump");
    r = await ss(a, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(roomIdsOf(r, "all")).toEqual([ra, rc, rb]);
    expect(Object.keys(r.rooms)).toEqual([ra]);
    const bumpA = r.rooms[ra].bump_stamp;
    expect(bumpA).toBeGreaterThan(0);

    // State and reactions are not activity: the order stays, the rooms are still sent (their
    // timelines changed) without a new bump_stamp.
    await setState(a, rb, "m.room.topic", { topic: "quiet" });
    const msg = await send(a, rc, "in C");
    r = await ss(a, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(roomIdsOf(r, "all")).toEqual([rc, ra, rb]);
    await send(a, ra, { "m.relates_to": { rel_type: "m.annotation", event_id: msg, key: "👍" } }, "m.reaction");
    r = await ss(a, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(roomIdsOf(r, "all")).toEqual([rc, ra, rb]);
    expect(r.rooms[ra].timeline.map((e: any) => e.type)).toEqual(["m.reaction"]);
    expect(r.rooms[ra].bump_stamp).toBeUndefined();

    // A window: [0,0] and [2,2].
    const w = await ss(a, { lists: { two: { ...list([0, 0]), ranges: [[0, 0], [2, 2]] } } });
    expect(w.lists.two.count).toBe(3);
    expect(w.lists.two.ops.map((o: any) => o.room_ids)).toEqual([[rc], [rb]]);
    expect(Object.keys(w.rooms).sort()).toEqual([rb, rc].sort());
  });

  test("a growing window sends only the rooms it has not sent", async () => {
    const a = await user("grow");
    const rooms: string[] = [];
    for (let i = 0; i < 5; i++) rooms.push(await createRoom(a, { name: `R${i}` }));
    const newest = [...rooms].reverse();
    let r = await ss(a, { conn_id: "main", lists: { all: list([0, 1]) } });
    expect(r.lists.all.count).toBe(5);
    expect(Object.keys(r.rooms).sort()).toEqual(newest.slice(0, 2).sort());
    r = await ss(a, { conn_id: "main", lists: { all: list([0, 3]) } }, { pos: r.pos, timeout: 0 });
    expect(roomIdsOf(r, "all")).toEqual(newest.slice(0, 4));
    expect(Object.keys(r.rooms).sort()).toEqual(newest.slice(2, 4).sort());
    for (const id of newest.slice(2, 4)) expect(r.rooms[id].initial).toBe(true);
    // The whole list when `ranges` is absent.
    r = await ss(a, { conn_id: "main", lists: { all: { timeline_limit: 1, required_state: [] } } }, { pos: r.pos, timeout: 0 });
    expect(Object.keys(r.rooms)).toEqual([newest[4]!]);
    expect(r.lists.all.count).toBe(5);
  });

  test("filters: is_dm (m.direct), is_encrypted, room_types, not_room_types, spaces, tags", async () => {
    const a = await user("filters");
    const b = await user("filtersb");
    const dm = await createRoom(a, { is_direct: true, invite: [b.userId!] });
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/account_data/m.direct`, { [b.userId!]: [dm] });
    const encrypted = await createRoom(a, { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    const space = await createRoom(a, { creation_content: { type: "m.space" } });
    const child = await createRoom(a, { name: "child" });
    const plain = await createRoom(a, { name: "plain" });
    await setState(a, space, "m.space.child", { via: [ctx.s.serverName] }, child);
    await setState(a, space, "m.space.child", {}, plain); // no `via`: not a child
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/rooms/${enc(plain)}/tags/m.favourite`, {});

    const lists = {
      dms: list([0, 9], { filters: { is_dm: true } }),
      notdms: list([0, 9], { filters: { is_dm: false } }),
      enc: list([0, 9], { filters: { is_encrypted: true } }),
      clear: list([0, 9], { filters: { is_encrypted: false } }),
      spaces: list([0, 9], { filters: { room_types: ["m.space"] } }),
      untyped: list([0, 9], { filters: { room_types: [null] } }),
      nospaces: list([0, 9], { filters: { not_room_types: ["m.space"] } }),
      inspace: list([0, 9], { filters: { spaces: [space] } }),
      fav: list([0, 9], { filters: { tags: ["m.favourite"] } }),
      notfav: list([0, 9], { filters: { not_tags: ["m.favourite"] } }),
      both: list([0, 9], { filters: { is_encrypted: false, not_room_types: ["m.space"], is_dm: false } }),
    };
    const r = await ss(a, { lists });
    const ids = (k: string) => roomIdsOf(r, k).sort();
    expect(ids("dms")).toEqual([dm]);
    expect(r.rooms[dm].is_dm).toBe(true);
    expect(r.rooms[plain].is_dm).toBeUndefined();
    expect(ids("notdms")).toEqual([encrypted, space, child, plain].sort());
    expect(ids("enc")).toEqual([encrypted]);
    expect(ids("clear")).toEqual([dm, space, child, plain].sort());
    expect(ids("spaces")).toEqual([space]);
    expect(ids("untyped")).toEqual([dm, encrypted, child, plain].sort());
    expect(ids("nospaces")).toEqual([dm, encrypted, child, plain].sort());
    expect(ids("inspace")).toEqual([child]);
    expect(ids("fav")).toEqual([plain]);
    expect(ids("notfav")).toEqual([dm, encrypted, space, child].sort());
    expect(ids("both")).toEqual([child, plain].sort());
    expect(r.rooms[child].lists.sort()).toEqual(["both", "clear", "inspace", "nospaces", "notdms", "notfav", "untyped"].sort());

  });

  test("is_dm change of a room already sent is sent again", async () => {
    const a = await user("dmflip");
    const room = await createRoom(a, {});
    let r = await ss(a, { lists: { all: list([0, 9]) } });
    expect(r.rooms[room].is_dm).toBeUndefined();
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/account_data/m.direct`, { "@x:localhost": [room] });
    r = await ss(a, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(r.rooms[room].is_dm).toBe(true);
    await a.ok("PUT", `/_matrix/client/v3/user/${enc(a.userId!)}/account_data/m.direct`, {});
    r = await ss(a, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(r.rooms[room].is_dm).toBe(false);
  });

  test("invites: is_invite, invite_state, no timeline; ignored inviters are left out", async () => {
    const a = await user("inviter");
    const b = await user("invitee");
    const c = await user("ignored");
    const room = await createRoom(a, { name: "Come in", preset: "private_chat" });
    const own = await createRoom(b, {});
    await invite(a, room, b.userId!);
    await b.ok("PUT", `/_matrix/client/v3/user/${enc(b.userId!)}/account_data/m.ignored_user_list`, { ignored_users: { [c.userId!]: {} } });
    const spam = await createRoom(c, {});
    await invite(c, spam, b.userId!);

    const r = await ss(b, { lists: { inv: list([0, 9], { filters: { is_invite: true } }), rest: list([0, 9], { filters: { is_invite: false } }) } });
    expect(roomIdsOf(r, "inv")).toEqual([room]);
    expect(roomIdsOf(r, "rest")).toEqual([own]);
    const inv = r.rooms[room];
    expect(inv.membership).toBe("invite");
    expect(inv.initial).toBe(true);
    expect(inv.timeline).toBeUndefined();
    expect(inv.required_state).toBeUndefined();
    expect(typeof inv.bump_stamp).toBe("number");
    const types = inv.invite_state.map((e: any) => `${e.type}|${e.state_key}`);
    expect(types).toContain("m.room.create|");
    expect(types).toContain("m.room.name|");
    expect(types).toContain(`m.room.member|${b.userId}`);
    expect(r.rooms[spam]).toBeUndefined();

    // Joining turns it into a joined room sent from scratch.
    await join(b, room);
    const r2 = await ss(b, { lists: { all: list([0, 9], { timeline_limit: 5, required_state: [["m.room.name", ""]] }) } }, { pos: r.pos });
    expect(r2.rooms[room].membership).toBe("join");
    expect(r2.rooms[room].initial).toBe(true);
    expect(r2.rooms[room].name).toBe("Come in");
    expect(r2.rooms[room].required_state.map((e: any) => e.type)).toEqual(["m.room.name"]);
    expect(r2.rooms[room].invite_state).toBeUndefined();
  });

  test("knocks carry knock_state", async () => {
    const a = await user("knockee");
    const b = await user("knocker");
    const room = await createRoom(a, { name: "Knock here", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] });
    await b.ok("POST", `/_matrix/client/v3/knock/${enc(room)}`, { reason: "hi" });
    const r = await ss(b, { lists: { all: list([0, 9]) } });
    const k = r.rooms[room];
    expect(k.membership).toBe("knock");
    expect(k.knock_state.map((e: any) => e.type)).toContain("m.room.name");
    expect(k.invite_state).toEqual(k.knock_state);
    expect(k.knock_state.find((e: any) => e.type === "m.room.member" && e.state_key === b.userId).content.membership).toBe("knock");
  });

  test("a kick stays in the list; a self-leave is reported once, then dropped", async () => {
    const a = await user("kicker");
    const b = await user("kicked");
    const kicked = await createRoom(a, { preset: "public_chat", name: "kick" });
    const left = await createRoom(a, { preset: "public_chat", name: "leave" });
    await join(b, kicked);
    await join(b, left);
    let r = await ss(b, { lists: { all: list([0, 9], { timeline_limit: 2 }) } });
    expect(r.lists.all.count).toBe(2);
    await a.ok("POST", `/_matrix/client/v3/rooms/${enc(kicked)}/kick`, { user_id: b.userId, reason: "bye" });
    await leave(b, left);
    await send(a, kicked, "after the kick");
    r = await ss(b, { lists: { all: list([0, 9], { timeline_limit: 2 }) } }, { pos: r.pos });
    expect(r.lists.all.count).toBe(2);
    expect(r.rooms[kicked].membership).toBe("leave");
    expect(r.rooms[left].membership).toBe("leave");
    // The timeline ends with the user's membership change: nothing after the kick.
    const kickTl = r.rooms[kicked].timeline;
    expect(kickTl[kickTl.length - 1]).toMatchObject({ type: "m.room.member", state_key: b.userId, content: { membership: "leave" } });
    r = await ss(b, { lists: { all: list([0, 9]) } }, { pos: r.pos });
    expect(r.lists.all.count).toBe(1);
    expect(roomIdsOf(r, "all")).toEqual([kicked]);
    // A new connection never shows the room left by the user.
    const fresh = await ss(b, { conn_id: "other", lists: { all: list([0, 9]) } });
    expect(roomIdsOf(fresh, "all")).toEqual([kicked]);
  });

  test("lists with bad parameters are refused", async () => {
    const a = await user("bad");
    const bad = async (body: unknown) => {
      const r = await a.request("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", body);
      expect(r.status).toBe(400);
      expect(r.body.errcode).toBe("M_BAD_JSON");
    };
    await bad({ lists: { x: { ranges: [[0]], timeline_limit: 1, required_state: [] } } });
    await bad({ lists: { x: { ranges: [[-1, 3]], timeline_limit: 1, required_state: [] } } });
    await bad({ lists: { x: { ranges: [[0, 1]], timeline_limit: "ten", required_state: [] } } });
    await bad({ lists: { x: { ranges: [[0, 1]], timeline_limit: 1, required_state: [["m.room.name"]] } } });
    await bad({ lists: { x: { ranges: [[0, 1]], timeline_limit: 1, required_state: [], filters: { is_dm: "yes" } } } });
    await bad({ lists: [] });
    await bad({ extensions: { to_device: { enabled: true, since: "abc" } } });
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 101; i++) many[`l${i}`] = list([0, 0]);
    await bad({ lists: many });
    const notJson = await a.request("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", "{");
    expect(notJson.status).toBe(400);
    expect(notJson.body.errcode).toBe("M_NOT_JSON");
  });
});
