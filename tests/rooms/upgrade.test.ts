// Room upgrades over HTTP on both databases (modules/room_upgrades.md): the new room's create
// event (predecessor, version, type), copied state and bans, ported power levels, aliases and the
// directory listing moved, the tombstone, the old room locked down; permissions and errors;
// settings carried over when members follow.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

describeOnBackends("room upgrades", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol", "mallory");

  const upgrade = (c: TestClient, roomId: string, body: Record<string, unknown>) => c.post(`/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, body);
  const state = async (c: TestClient, roomId: string) => (await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`)) as any[];
  const stateOf = (list: any[], type: string, key = "") => list.find((e) => e.type === type && e.state_key === key);

  test("a v10 room becomes a v12 room: create event, state, bans, power levels, aliases, tombstone", async () => {
    const alias = `up-${backend}`;
    const oldId = await createRoom(ctx.alice, {
      room_version: "10",
      preset: "public_chat",
      visibility: "public",
      name: "Old room",
      topic: "about things",
      room_alias_name: alias,
      creation_content: { type: "org.example.kind" },
      power_level_content_override: { users: { [ctx.bob.userId!]: 50 }, events: { "org.example.custom": 20 } },
      initial_state: [
        { type: "m.room.avatar", content: { url: "mxc://localhost/avatar" } },
        { type: "m.room.guest_access", content: { guest_access: "can_join" } },
        { type: "m.room.server_acl", content: { allow: ["*"], deny: ["evil.example"], allow_ip_literals: false } },
        { type: "m.room.encryption", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        { type: "org.example.custom", state_key: "", content: { not: "copied" } },
      ],
    });
    await join(ctx.bob, oldId);
    await join(ctx.carol, oldId);
    await join(ctx.mallory, oldId);
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(oldId)}/ban`, { user_id: ctx.mallory.userId, reason: "spam" });
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/rooms/${enc(oldId)}/tags/u.work`, { order: 0.5 });
    const lastBefore = await send(ctx.alice, oldId, "last words");

    const r = await upgrade(ctx.alice, oldId, { new_version: "12" });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/room_upgrades", "POST", "/rooms/{roomId}/upgrade", 200, r.body);
    const newId = r.body.replacement_room as string;
    expect(newId).not.toBe(oldId);

    const ns = await state(ctx.alice, newId);
    const create = stateOf(ns, "m.room.create");
    expect(create.content.room_version).toBe("12");
    expect(create.content.predecessor).toEqual({ room_id: oldId, event_id: lastBefore });
    expect(create.content.type).toBe("org.example.kind");
    expect(create.content.creator).toBeUndefined();
    expect(stateOf(ns, "m.room.name").content.name).toBe("Old room");
    expect(stateOf(ns, "m.room.topic").content.topic).toBe("about things");
    expect(stateOf(ns, "m.room.avatar").content.url).toBe("mxc://localhost/avatar");
    expect(stateOf(ns, "m.room.join_rules").content.join_rule).toBe("public");
    expect(stateOf(ns, "m.room.guest_access").content.guest_access).toBe("can_join");
    expect(stateOf(ns, "m.room.history_visibility").content.history_visibility).toBe("shared");
    expect(stateOf(ns, "m.room.server_acl").content.deny).toEqual(["evil.example"]);
    expect(stateOf(ns, "m.room.encryption").content.algorithm).toBe("m.megolm.v1.aes-sha2");
    expect(stateOf(ns, "org.example.custom")).toBeUndefined();
    expect(stateOf(ns, "m.room.member", ctx.mallory.userId!).content.membership).toBe("ban");
    expect(stateOf(ns, "m.room.member", ctx.bob.userId!)).toBeUndefined(); // members are not moved
    expect(stateOf(ns, "m.room.member", ctx.carol.userId!)).toBeUndefined();
    const pl = stateOf(ns, "m.room.power_levels").content;
    expect(pl.users[ctx.bob.userId!]).toBe(50);
    expect(pl.users[ctx.alice.userId!]).toBeUndefined(); // v12: the creator is not listed
    expect(pl.events["org.example.custom"]).toBe(20);
    expect(stateOf(ns, "m.room.canonical_alias").content.alias).toBe(`#${alias}:localhost`);

    // The old room: tombstone, locked down, no longer advertising the alias.
    const os = await state(ctx.alice, oldId);
    const tomb = stateOf(os, "m.room.tombstone");
    expect(tomb.content).toEqual({ body: "This room has been replaced", replacement_room: newId });
    expect(tomb.sender).toBe(ctx.alice.userId);
    const oldPl = stateOf(os, "m.room.power_levels").content;
    expect(oldPl.events_default).toBe(50);
    expect(oldPl.invite).toBe(50);
    expect(stateOf(os, "m.room.canonical_alias").content).toEqual({});
    expectError(await ctx.carol.put(`/_matrix/client/v3/rooms/${enc(oldId)}/send/m.room.message/${crypto.randomUUID()}`, { msgtype: "m.text", body: "x" }), 403, "M_FORBIDDEN");

    // The alias and the directory listing moved.
    expect((await ctx.carol.ok("POST", `/_matrix/client/v3/join/${enc(`#${alias}:localhost`)}`, {})).room_id).toBe(newId);
    const listed = await ctx.s.hs.db.all<{ room_id: string; is_public: number }>("SELECT room_id, is_public FROM rooms WHERE room_id IN (?, ?)", [oldId, newId]);
    expect(Object.fromEntries(listed.map((x) => [x.room_id, Number(x.is_public)]))).toEqual({ [oldId]: 0, [newId]: 1 });

    // The tombstone reaches members through /sync.
    const sy = await sync(ctx.bob, { filter: { room: { rooms: [oldId], timeline: { limit: 5 } } } });
    expect(sy.rooms.join[oldId].timeline.events.some((e: any) => e.type === "m.room.tombstone")).toBe(true);
    // The upgrader's tags followed them (they joined the new room when creating it).
    expect(Object.keys(await pollTags(ctx.alice, newId))).toEqual(["u.work"]);
  });

  async function pollTags(c: TestClient, roomId: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const t = (await c.ok("GET", `/_matrix/client/v3/user/${enc(c.userId!)}/rooms/${enc(roomId)}/tags`)).tags;
      if (Object.keys(t).length || Date.now() > deadline) return t;
      await Bun.sleep(20);
    }
  }

  test("members who follow keep their tags and direct chats", async () => {
    const oldId = await createRoom(ctx.alice, { preset: "private_chat", room_version: "11", invite: [ctx.bob.userId!], is_direct: true });
    await join(ctx.bob, oldId);
    await ctx.bob.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/rooms/${enc(oldId)}/tags/m.favourite`, {});
    await ctx.bob.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/account_data/m.direct`, { [ctx.alice.userId!]: [oldId] });
    const newId = (await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(oldId)}/upgrade`, { new_version: "12" })).replacement_room;
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(newId)}/invite`, { user_id: ctx.bob.userId });
    await join(ctx.bob, newId);
    expect(Object.keys(await pollTags(ctx.bob, newId))).toEqual(["m.favourite"]);
    // m.direct is written right after the tags.
    const deadline = Date.now() + 5000;
    let direct: any;
    do direct = await ctx.bob.ok("GET", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/account_data/m.direct`);
    while (direct[ctx.alice.userId!].length < 2 && Date.now() < deadline && (await Bun.sleep(20), true));
    expect(direct[ctx.alice.userId!]).toEqual([oldId, newId]);
  });

  test("from v12 to v11: creators keep power; additional_creators only where supported", async () => {
    const oldId = await createRoom(ctx.alice, { room_version: "12", preset: "public_chat" });
    await join(ctx.bob, oldId);
    const down = await upgrade(ctx.alice, oldId, { new_version: "11", additional_creators: [ctx.bob.userId] });
    expect(down.status).toBe(200);
    const ns = await state(ctx.alice, down.body.replacement_room);
    const create = stateOf(ns, "m.room.create");
    expect(create.content.room_version).toBe("11");
    expect(create.content.additional_creators).toBeUndefined();
    expect(stateOf(ns, "m.room.power_levels").content.users[ctx.alice.userId!]).toBe(100);

    // v11 → v12 with an additional creator, who is then left out of `users`.
    const v11 = await createRoom(ctx.alice, { room_version: "11", preset: "public_chat", power_level_content_override: { users: { [ctx.bob.userId!]: 50 } } });
    const up = await upgrade(ctx.alice, v11, { new_version: "12", additional_creators: [ctx.bob.userId] });
    const us = await state(ctx.alice, up.body.replacement_room);
    expect(stateOf(us, "m.room.create").content.additional_creators).toEqual([ctx.bob.userId]);
    expect(stateOf(us, "m.room.power_levels").content.users).toEqual({});
  });

  test("up to v11 the new room's predecessor names the old room's tombstone", async () => {
    const oldId = await createRoom(ctx.alice, { room_version: "10", preset: "public_chat" });
    await send(ctx.alice, oldId, "before the upgrade");
    const r = await upgrade(ctx.alice, oldId, { new_version: "2" });
    expect(r.status).toBe(200);
    const newId = r.body.replacement_room;
    const tomb = stateOf(await state(ctx.alice, oldId), "m.room.tombstone");
    expect(tomb.content.replacement_room).toBe(newId);
    const create = stateOf(await state(ctx.alice, newId), "m.room.create");
    expect(create.content).toMatchObject({ room_version: "2", predecessor: { room_id: oldId, event_id: tomb.event_id } });
    // The tombstone follows the room's latest event and is the first of the old room's last events.
    const sy = await sync(ctx.alice, { filter: { room: { rooms: [oldId], timeline: { limit: 3 } } } });
    const types = sy.rooms.join[oldId].timeline.events.map((e: any) => e.type);
    expect(types.slice(-2)).toEqual(["m.room.tombstone", "m.room.power_levels"]);
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(oldId)}/event/${enc(tomb.event_id)}`);
    expect(ev.type).toBe("m.room.tombstone");
  });

  test("an upgrader below the level needed to copy state holds it during the copy only", async () => {
    const oldId = await createRoom(ctx.alice, {
      room_version: "10",
      preset: "public_chat",
      power_level_content_override: { users: { [ctx.bob.userId!]: 60 }, events: { "m.room.tombstone": 60 } },
    });
    await join(ctx.bob, oldId);
    const r = await upgrade(ctx.bob, oldId, { new_version: "10" });
    expect(r.status).toBe(200);
    const ns = await state(ctx.bob, r.body.replacement_room);
    // history_visibility needs 100: it was copied nonetheless, and bob is back at 60.
    expect(stateOf(ns, "m.room.history_visibility")).toBeDefined();
    const pl = stateOf(ns, "m.room.power_levels").content;
    expect(pl.users[ctx.bob.userId!]).toBe(60);
    expect(pl.users[ctx.alice.userId!]).toBe(100);
    expect(stateOf(ns, "m.room.create").content.creator).toBe(ctx.bob.userId);
  });

  test("errors: power, membership, versions, bodies", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const forbidden = await upgrade(ctx.bob, roomId, { new_version: "12" });
    expectError(forbidden, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/room_upgrades", "POST", "/rooms/{roomId}/upgrade", 403, forbidden.body);
    expectError(await upgrade(ctx.carol, roomId, { new_version: "12" }), 403, "M_FORBIDDEN");
    const unsupported = await upgrade(ctx.alice, roomId, { new_version: "99" });
    expectError(unsupported, 400, "M_UNSUPPORTED_ROOM_VERSION");
    assertMatchesSpec("client-server/room_upgrades", "POST", "/rooms/{roomId}/upgrade", 400, unsupported.body);
    expectError(await upgrade(ctx.alice, roomId, {}), 400, "M_MISSING_PARAM");
    expectError(await upgrade(ctx.alice, roomId, { new_version: 12 }), 400, "M_BAD_JSON");
    expectError(await upgrade(ctx.alice, roomId, { new_version: "12", additional_creators: "bob" }), 400, "M_BAD_JSON");
    expectError(await upgrade(ctx.alice, roomId, { new_version: "12", additional_creators: ["not a user"] }), 400, "M_BAD_JSON");
    expectError(await upgrade(ctx.alice, "!missing:localhost", { new_version: "12" }), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, "not json"), 400, "M_NOT_JSON");
    // Nothing happened to the room.
    expect(stateOf(await state(ctx.alice, roomId), "m.room.tombstone")).toBeUndefined();
  });
});
