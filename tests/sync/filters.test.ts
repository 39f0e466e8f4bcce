// Stored and inline filters, and lazy-loading room members in /sync, on both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { bodies, createRoom, enc, join, send, setState, sync, syncPath } from "../helpers/sync.ts";

const members = (events: any[]) => events.filter((e) => e.type === "m.room.member").map((e) => e.state_key).sort();

describeOnBackends("filters and lazy loading", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol", "dave");

  test("filters are stored per user: upload, download, 404 and 403", async () => {
    const filter = { room: { timeline: { limit: 3, types: ["m.room.message"] }, state: { lazy_load_members: true } }, event_fields: ["type", "content"] };
    const r = await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, filter);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/filter", "POST", "/user/{userId}/filter", 200, r.body);
    expect(r.body.filter_id).toMatch(/^[0-9]+$/);
    const second = await ctx.alice.ok("POST", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, { presence: { types: [] } });
    expect(second.filter_id).not.toBe(r.body.filter_id);

    const got = await ctx.alice.get(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter/${r.body.filter_id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(filter);
    assertMatchesSpec("client-server/filter", "GET", "/user/{userId}/filter/{filterId}", 200, got.body);

    expectError(await ctx.alice.get(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter/99999`), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.get(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter/abc`), 404, "M_NOT_FOUND");
    expectError(await ctx.bob.get(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter/${r.body.filter_id}`), 403, "M_FORBIDDEN");
    expectError(await ctx.bob.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, {}), 403, "M_FORBIDDEN");
    // Filter IDs are per user: bob's first filter does not see alice's.
    const bobs = await ctx.bob.ok("POST", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/filter`, {});
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/filter/${bobs.filter_id}`))).toEqual({});
    // Invalid filters are refused.
    expectError(await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, { room: { timeline: { types: "m.room.message" } } }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, { event_format: "xml" }), 400, "M_BAD_JSON");
    // Room and sender lists must hold room and user IDs.
    for (const bad of [{ room: { timeline: { rooms: ["not_a_room_id"] } } }, { room: { timeline: { senders: ["not_a_sender_id"] } } }, { room: { not_rooms: ["x"] } }, { presence: { not_senders: ["@"] } }]) {
      expectError(await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, bad), 400, "M_BAD_JSON");
    }
    expect((await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/filter`, { room: { rooms: ["!r:x"], timeline: { senders: ["@u:x"] } } })).status).toBe(200);

    // A stored filter used by /sync; unknown IDs fail.
    const roomId = await createRoom(ctx.alice, {});
    await send(ctx.alice, roomId, "a");
    await setState(ctx.alice, roomId, "m.room.topic", { topic: "x" });
    await send(ctx.alice, roomId, "b");
    // (No schema check: event_fields legitimately drops required fields.)
    const res = await ctx.alice.ok("GET", syncPath({ filter: r.body.filter_id }));
    const tl = res.rooms.join[roomId].timeline.events;
    expect(tl.map((e: any) => e.content.body)).toEqual(["a", "b"]);
    expect(Object.keys(tl[0]).sort()).toEqual(["content", "type"]); // event_fields
    expectError(await ctx.alice.get(`/_matrix/client/v3/sync?filter=424242`), 404, "M_NOT_FOUND");
  });

  test("inline filters: types, not_types, senders, not_senders, rooms, not_rooms", async () => {
    const r1 = await createRoom(ctx.alice, { preset: "public_chat" });
    const r2 = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, r1);
    await send(ctx.alice, r1, "from alice");
    await send(ctx.bob, r1, "from bob");
    await send(ctx.bob, r1, { body: "notice", msgtype: "m.notice" });
    await send(ctx.alice, r1, { key: "v" }, "com.example.custom");
    await send(ctx.alice, r2, "in r2");

    const tl = async (filter: Record<string, unknown>) => {
      const r = await sync(ctx.alice, { filter: { room: { timeline: { limit: 50, ...filter }, ...((filter.__room as object) ?? {}) } } });
      return r.rooms.join[r1]?.timeline.events ?? [];
    };
    expect((await tl({ types: ["com.example.*"] })).map((e: any) => e.type)).toEqual(["com.example.custom"]);
    expect((await tl({ not_types: ["m.room.*"] })).map((e: any) => e.type)).toEqual(["com.example.custom"]);
    expect(bodies(await tl({ senders: [ctx.bob.userId] }))).toEqual(["from bob", "notice"]);
    expect(bodies(await tl({ not_senders: [ctx.bob.userId], types: ["m.room.message"] }))).toEqual(["from alice"]);

    // Room filters on the whole room section.
    const only = await sync(ctx.alice, { filter: { room: { rooms: [r2] } } });
    expect(Object.keys(only.rooms.join)).toEqual([r2]);
    const not = await sync(ctx.alice, { filter: { room: { not_rooms: [r2] } } });
    expect(not.rooms.join[r2]).toBeUndefined();
    expect(not.rooms.join[r1]).toBeDefined();
    // Timeline filter rooms only empty that room's timeline.
    const tlOnly = await sync(ctx.alice, { filter: { room: { timeline: { not_rooms: [r1] } } } });
    expect(tlOnly.rooms.join[r1].timeline.events).toEqual([]);
    expect(bodies(tlOnly.rooms.join[r2].timeline.events)).toEqual(["in r2"]);
    // State filter by type.
    const st = await sync(ctx.alice, { filter: { room: { rooms: [r1], state: { types: ["m.room.create"] }, timeline: { limit: 1 } } } });
    expect(st.rooms.join[r1].state.events.map((e: any) => e.type)).toEqual(["m.room.create"]);
    // Account data filter.
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/org.example.one`, { a: 1 });
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/org.example.two`, { a: 2 });
    const ad = await sync(ctx.alice, { filter: { account_data: { not_types: ["org.example.two"] } } });
    const types = ad.account_data.events.map((e: any) => e.type);
    expect(types).toContain("org.example.one");
    expect(types).not.toContain("org.example.two");
    // A filter with limit 0 gives empty but limited timelines.
    const zero = await sync(ctx.alice, { filter: { room: { rooms: [r1], timeline: { limit: 0 } } } });
    expect(zero.rooms.join[r1].timeline.events).toEqual([]);
    expect(zero.rooms.join[r1].timeline.limited).toBe(true);
  });

  test("lazy loading: only the members the timeline needs, redundant ones skipped", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Lazy" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    await join(ctx.dave, roomId);
    for (let i = 0; i < 5; i++) await send(ctx.bob, roomId, `bob ${i}`);
    const lazy = { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 3 } } };

    // Without lazy loading, all four members are in state.
    const plain = await sync(ctx.dave, { filter: { room: { rooms: [roomId], timeline: { limit: 3 } } } });
    expect(members(plain.rooms.join[roomId].state.events)).toEqual([ctx.alice.userId, ctx.bob.userId, ctx.carol.userId, ctx.dave.userId].sort());

    const r = await sync(ctx.dave, { filter: lazy });
    const room = r.rooms.join[roomId];
    expect(bodies(room.timeline.events)).toEqual(["bob 2", "bob 3", "bob 4"]);
    // bob (the sender) and dave (the syncing user); not alice or carol.
    expect(members(room.state.events)).toEqual([ctx.bob.userId, ctx.dave.userId].sort());
    // Other state is all there.
    expect(room.state.events.map((e: any) => e.type)).toContain("m.room.power_levels");
    expect(room.summary["m.joined_member_count"]).toBe(4);

    // Incremental: bob again → redundant, nothing in state; carol speaks → her member event.
    await send(ctx.bob, roomId, "bob again");
    await send(ctx.carol, roomId, "carol speaks");
    const inc = await sync(ctx.dave, { since: r.next_batch, filter: lazy });
    expect(members(inc.rooms.join[roomId].state.events)).toEqual([ctx.carol.userId]);

    // include_redundant_members: senders' member events every time.
    await send(ctx.bob, roomId, "bob thrice");
    const red = await sync(ctx.dave, {
      since: inc.next_batch,
      filter: { room: { rooms: [roomId], state: { lazy_load_members: true, include_redundant_members: true } } },
    });
    expect(members(red.rooms.join[roomId].state.events)).toEqual([ctx.bob.userId]);
  });

  test("lazy loading on a limited incremental sync includes membership changes in the gap", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const lazy = { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 2 } } };
    const first = await sync(ctx.bob, { filter: lazy });
    await join(ctx.carol, roomId); // in the gap
    for (let i = 0; i < 4; i++) await send(ctx.alice, roomId, `x${i}`);
    const r = await sync(ctx.bob, { since: first.next_batch, filter: lazy });
    const room = r.rooms.join[roomId];
    expect(room.timeline.limited).toBe(true);
    expect(members(room.state.events)).toContain(ctx.carol.userId);
  });

  test("lazy loading: heroes' member events come with the summary", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await join(ctx.carol, roomId);
    for (let i = 0; i < 3; i++) await send(ctx.alice, roomId, `h${i}`);
    const r = await sync(ctx.carol, { filter: { room: { rooms: [roomId], state: { lazy_load_members: true }, timeline: { limit: 2 } } } });
    const room = r.rooms.join[roomId];
    expect(room.summary["m.heroes"]).toEqual([ctx.alice.userId, ctx.bob.userId]);
    expect(members(room.state.events)).toEqual([ctx.alice.userId, ctx.bob.userId, ctx.carol.userId].sort());
  });
});
