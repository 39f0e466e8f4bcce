// Rooms over HTTP: create, membership, send, state, history, redaction, on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, serverFixture, serverWithUsers } from "../helpers/suite.ts";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";

const enc = encodeURIComponent;

describeOnBackends("rooms", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  const send = async (c: TestClient, roomId: string, body: string, txn: string = crypto.randomUUID()) =>
    (await c.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${txn}`, { msgtype: "m.text", body })).event_id as string;

  test("joining again is a no-op unless the member event would change (a reason makes a new one, seen in /sync)", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const member = async () => (await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}?format=event`)) as any;
    const first = await member();
    expect((await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {})).room_id).toBe(roomId);
    expect((await member()).event_id).toBe(first.event_id);
    const since = (await ctx.bob.ok("GET", `/_matrix/client/v3/sync?filter=${enc('{"room":{"rooms":[]}}')}`)).next_batch as string;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { reason: "back again" });
    const again = await member();
    expect(again.event_id).not.toBe(first.event_id);
    expect(again.content).toMatchObject({ membership: "join", reason: "back again" });
    const sync = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?since=${since}&timeout=0`);
    const timeline = sync.rooms?.join?.[roomId]?.timeline?.events as any[];
    expect(timeline.map((e) => e.event_id)).toContain(again.event_id);
  });

  test("createRoom with presets, name, topic, alias and room version; state is as requested", async () => {
    const r = await ctx.alice.post("/_matrix/client/v3/createRoom", {
      preset: "public_chat",
      name: "Pub",
      topic: "Happy hour",
      room_alias_name: `pub-${backend}`,
      initial_state: [{ type: "m.room.guest_access", content: { guest_access: "can_join" } }, { type: "com.example.custom", state_key: "k", content: { a: 1 } }],
    });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/create_room", "POST", "/createRoom", 200, r.body);
    const roomId = r.body.room_id as string;
    expect(roomId).toMatch(/^![A-Za-z0-9_-]{43}$/); // room version 12: the create event's hash
    const state = (await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`)) as any[];
    const byType = (t: string, k = "") => state.find((e) => e.type === t && e.state_key === k);
    expect(byType("m.room.create").content.room_version).toBe("12");
    expect(byType("m.room.create").content.creator).toBeUndefined();
    expect(byType("m.room.join_rules").content.join_rule).toBe("public");
    expect(byType("m.room.history_visibility").content.history_visibility).toBe("shared");
    expect(byType("m.room.guest_access").content.guest_access).toBe("can_join"); // initial_state after the preset
    expect(byType("m.room.name").content.name).toBe("Pub");
    expect(byType("m.room.topic").content.topic).toBe("Happy hour");
    expect(byType("m.room.canonical_alias").content.alias).toBe(`#pub-${backend}:localhost`);
    expect(byType("com.example.custom", "k").content).toEqual({ a: 1 });
    const pl = byType("m.room.power_levels").content;
    expect(pl.users[ctx.alice.userId!]).toBeUndefined(); // v12: creators are not listed
    expect(pl.events["m.room.tombstone"]).toBe(150);
    expect(byType("m.room.member", ctx.alice.userId!).content.membership).toBe("join");

    // Joining by alias.
    const j = await ctx.bob.post(`/_matrix/client/v3/join/${enc(`#pub-${backend}:localhost`)}`, {});
    expect(j.status).toBe(200);
    expect(j.body.room_id).toBe(roomId);
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).toContain(roomId);

    // The alias is taken now.
    expectError(await ctx.carol.post("/_matrix/client/v3/createRoom", { room_alias_name: `pub-${backend}` }), 400, "M_ROOM_IN_USE");
  });

  test("every room version 1–12 can be created and used; unknown versions are refused", async () => {
    for (let v = 1; v <= 12; v++) {
      const r = await ctx.alice.post("/_matrix/client/v3/createRoom", { room_version: String(v), preset: "public_chat" });
      expect(r.status).toBe(200);
      const roomId = r.body.room_id;
      await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
      const eventId = await send(ctx.bob, roomId, `hello v${v}`);
      if (v <= 2) expect(eventId).toMatch(/^\$.+:localhost$/);
      else if (v === 3) expect(eventId).toMatch(/^\$[A-Za-z0-9+/]{43}$/);
      else expect(eventId).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
      const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
      expect(ev.content.body).toBe(`hello v${v}`);
    }
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { room_version: "999" }), 400, "M_UNSUPPORTED_ROOM_VERSION");
  });

  test("invite, join, leave, kick, ban, unban, forget follow the auth rules", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    // Private room: no join without invite.
    expectError(await ctx.bob.post(`${room}/join`, {}), 403, "M_FORBIDDEN");
    await ctx.alice.ok("POST", `${room}/invite`, { user_id: ctx.bob.userId });
    await ctx.bob.ok("POST", `${room}/join`, {});
    // Bob (PL 0) cannot kick; alice can.
    await ctx.alice.ok("POST", `${room}/invite`, { user_id: ctx.carol.userId });
    await ctx.carol.ok("POST", `${room}/join`, {});
    expectError(await ctx.bob.post(`${room}/kick`, { user_id: ctx.carol.userId }), 403, "M_FORBIDDEN");
    await ctx.alice.ok("POST", `${room}/kick`, { user_id: ctx.carol.userId, reason: "spam" });
    const members = (await ctx.alice.ok("GET", `${room}/members`)).chunk as any[];
    const carolMember = members.find((m) => m.state_key === ctx.carol.userId);
    expect(carolMember.content).toMatchObject({ membership: "leave", reason: "spam" });
    assertMatchesSpec("client-server/rooms", "GET", "/rooms/{roomId}/members", 200, { chunk: members });
    // Ban, then a join is refused; unban.
    await ctx.alice.ok("POST", `${room}/ban`, { user_id: ctx.carol.userId });
    expectError(await ctx.carol.post(`${room}/join`, {}), 403, "M_FORBIDDEN");
    await ctx.alice.ok("POST", `${room}/unban`, { user_id: ctx.carol.userId });
    expect((await ctx.alice.ok("GET", `${room}/members?membership=leave`)).chunk.map((m: any) => m.state_key)).toEqual([ctx.carol.userId!]);
    expect((await ctx.alice.ok("GET", `${room}/members?not_membership=leave`)).chunk.length).toBe(2);
    // joined_members
    const jm = await ctx.alice.ok("GET", `${room}/joined_members`);
    expect(Object.keys(jm.joined).sort()).toEqual([ctx.alice.userId!, ctx.bob.userId!].sort());
    // Leave and forget.
    expectError(await ctx.bob.post(`${room}/forget`, {}), 400, "M_UNKNOWN");
    await ctx.bob.ok("POST", `${room}/leave`, {});
    await ctx.bob.ok("POST", `${room}/forget`, {});
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).not.toContain(roomId);
    // Bad input.
    expectError(await ctx.alice.post(`${room}/invite`, {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post(`${room}/invite`, { user_id: "not-a-user" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post(`${room}/invite`, { user_id: "@nobody:localhost" }), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc("!nope:localhost")}/invite`, { user_id: ctx.bob.userId }), 404, "M_NOT_FOUND");
  });

  test("knock (v7+) and restricted joins (v8+)", async () => {
    const knockRoom = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }] })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/knock/${enc(knockRoom)}`, { reason: "let me in" });
    const m = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(knockRoom)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
    expect(m).toMatchObject({ membership: "knock", reason: "let me in" });
    const v6 = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "6" })).room_id;
    expectError(await ctx.bob.post(`/_matrix/client/v3/knock/${enc(v6)}`, {}), 403, "M_FORBIDDEN");

    const space = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(space)}/invite`, { user_id: ctx.bob.userId });
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(space)}/join`, {});
    const restricted = (
      await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {
        initial_state: [{ type: "m.room.join_rules", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] } }],
      })
    ).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(restricted)}/join`, {});
    const join = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(restricted)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
    expect(join.join_authorised_via_users_server).toBe(ctx.alice.userId);
    expectError(await ctx.carol.post(`/_matrix/client/v3/rooms/${enc(restricted)}/join`, {}), 403, "M_FORBIDDEN");
  });

  test("send is idempotent per transaction ID; state events, redaction and permissions", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await ctx.bob.ok("POST", `${room}/join`, {});
    const a = await send(ctx.bob, roomId, "once", "txn-1");
    const b = await send(ctx.bob, roomId, "once", "txn-1");
    expect(b).toBe(a);
    const msgs = await ctx.bob.ok("GET", `${room}/messages?dir=b&limit=50`);
    expect(msgs.chunk.filter((e: any) => e.content.body === "once")).toHaveLength(1);
    const own = msgs.chunk.find((e: any) => e.event_id === a);
    expect(own.unsigned.transaction_id).toBe("txn-1");
    // Other users do not see the transaction ID.
    const seenByAlice = await ctx.alice.ok("GET", `${room}/event/${enc(a)}`);
    expect(seenByAlice.unsigned.transaction_id).toBeUndefined();
    assertMatchesSpec("client-server/rooms", "GET", "/rooms/{roomId}/event/{eventId}", 200, seenByAlice);

    // State: bob (PL 0) cannot set the name; alice can, with prev_content on the next change.
    expectError(await ctx.bob.put(`${room}/state/m.room.name`, { name: "x" }), 403, "M_FORBIDDEN");
    await ctx.alice.ok("PUT", `${room}/state/m.room.name`, { name: "First" });
    const second = (await ctx.alice.ok("PUT", `${room}/state/m.room.name/`, { name: "Second" })).event_id;
    expect(await ctx.alice.ok("GET", `${room}/state/m.room.name`)).toEqual({ name: "Second" });
    const full = await ctx.alice.ok("GET", `${room}/state/m.room.name?format=event`);
    expect(full.event_id).toBe(second);
    expect(full.unsigned.prev_content).toEqual({ name: "First" });
    expectError(await ctx.alice.get(`${room}/state/m.room.topic`), 404, "M_NOT_FOUND");

    // Redaction: bob redacts his own message; carol (not in room) cannot read.
    const r = await ctx.bob.ok("PUT", `${room}/redact/${enc(a)}/redact-1`, { reason: "oops" });
    const redacted = await ctx.alice.ok("GET", `${room}/event/${enc(a)}`);
    expect(redacted.content).toEqual({});
    expect(redacted.unsigned.redacted_because.event_id).toBe(r.event_id);
    expect(redacted.unsigned.redacted_because.content.reason).toBe("oops");
    expect(redacted.unsigned.redacted_by).toBe(r.event_id); // as Synapse adds it
    // Bob cannot redact alice's message (PL 0 < redact 50): refused, and nothing is stored.
    const fromAlice = await send(ctx.alice, roomId, "alice says");
    const before = (await ctx.bob.ok("GET", `${room}/messages?dir=b&limit=1`)).chunk[0].event_id;
    expectError(await ctx.bob.put(`${room}/redact/${enc(fromAlice)}/redact-2`, {}), 403, "M_FORBIDDEN");
    expectError(await ctx.bob.put(`${room}/send/m.room.redaction/redact-2b`, { redacts: fromAlice }), 403, "M_FORBIDDEN");
    expect((await ctx.bob.ok("GET", `${room}/messages?dir=b&limit=1`)).chunk[0].event_id).toBe(before);
    expect((await ctx.alice.ok("GET", `${room}/event/${enc(fromAlice)}`)).content.body).toBe("alice says");
    // Unknown events: only someone with the power to redact may redact them (Synapse: 404 otherwise).
    expectError(await ctx.bob.put(`${room}/redact/${enc("$unknown:localhost")}/redact-3`, {}), 404, "M_NOT_FOUND");
    // An event of another room cannot be redacted through this one (400), even by its sender.
    const other = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
    const elsewhere = await send(ctx.alice, other, "elsewhere");
    expectError(await ctx.alice.put(`${room}/redact/${enc(elsewhere)}/redact-4`, {}), 400, "M_INVALID_PARAM");
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(other)}/event/${enc(elsewhere)}`)).content.body).toBe("elsewhere");
    // GET /event of a room one may not read: 404, as for any invisible event (rooms.yaml).
    expectError(await ctx.carol.get(`${room}/event/${enc(a)}`), 404, "M_NOT_FOUND");
    expectError(await ctx.carol.get(`${room}/context/${enc(a)}`), 403, "M_FORBIDDEN");
    expectError(await ctx.carol.put(`${room}/send/m.room.message/t1`, { body: "x" }), 403, "M_FORBIDDEN");
    // Bad bodies.
    expectError(await ctx.bob.request("PUT", `${room}/send/m.room.message/t2`, "[1,2]"), 400, "M_NOT_JSON");
    expectError(await ctx.bob.request("PUT", `${room}/send/m.room.message/t3`, "{bad"), 400, "M_NOT_JSON");
    expectError(await ctx.bob.put(`${room}/send/m.room.message/t4`, { body: "x".repeat(70000) }), 413, "M_TOO_LARGE");
  });

  test("/messages paginates both ways with tokens; /context; timestamp_to_event", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(await send(ctx.alice, roomId, `m${i}`));
    const page1 = await ctx.alice.ok("GET", `${room}/messages?dir=b&limit=10`);
    assertMatchesSpec("client-server/message_pagination", "GET", "/rooms/{roomId}/messages", 200, page1);
    expect(page1.chunk.map((e: any) => e.content.body)).toEqual(Array.from({ length: 10 }, (_, i) => `m${24 - i}`));
    const page2 = await ctx.alice.ok("GET", `${room}/messages?dir=b&limit=10&from=${enc(page1.end)}`);
    expect(page2.chunk.map((e: any) => e.content.body)).toEqual(Array.from({ length: 10 }, (_, i) => `m${14 - i}`));
    // All the way back: the room's creation events, then no `end`.
    let from = page2.end;
    let total = 20;
    for (;;) {
      const p = await ctx.alice.ok("GET", `${room}/messages?dir=b&limit=10&from=${enc(from)}`);
      total += p.chunk.length;
      if (!p.end) break;
      from = p.end;
    }
    expect(total).toBe(25 + 6); // create, member, power levels, join rules, history visibility, guest access
    // Forward from page1's end returns what page1 returned, oldest first.
    const fwd = await ctx.alice.ok("GET", `${room}/messages?dir=f&limit=10&from=${enc(page1.end)}`);
    expect(fwd.chunk.map((e: any) => e.content.body)).toEqual(Array.from({ length: 10 }, (_, i) => `m${15 + i}`));
    // Filter by type and `to`.
    const onlyState = await ctx.alice.ok("GET", `${room}/messages?dir=b&limit=50&filter=${enc(JSON.stringify({ types: ["m.room.*"], not_types: ["m.room.message"] }))}`);
    expect(onlyState.chunk.every((e: any) => e.type !== "m.room.message")).toBe(true);
    expectError(await ctx.alice.get(`${room}/messages?dir=x`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`${room}/messages`), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.get(`${room}/messages?dir=b&from=garbage`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`${room}/messages?dir=b&filter=%7Bbad`), 400, "M_INVALID_PARAM");

    const context = await ctx.alice.ok("GET", `${room}/context/${enc(ids[12]!)}?limit=4`);
    assertMatchesSpec("client-server/event_context", "GET", "/rooms/{roomId}/context/{eventId}", 200, context);
    expect(context.event.content.body).toBe("m12");
    expect(context.events_before.map((e: any) => e.content.body)).toEqual(["m11", "m10"]);
    expect(context.events_after.map((e: any) => e.content.body)).toEqual(["m13", "m14"]);
    expect(context.state.some((e: any) => e.type === "m.room.create")).toBe(true);
    const after = await ctx.alice.ok("GET", `${room}/messages?dir=f&limit=2&from=${enc(context.end)}`);
    expect(after.chunk.map((e: any) => e.content.body)).toEqual(["m15", "m16"]);
    // Forwards to the live end: `end` is still given, and later picks up what came since.
    const toLive = await ctx.alice.ok("GET", `${room}/messages?dir=f&limit=50&from=${enc(after.end)}`);
    expect(toLive.chunk.map((e: any) => e.content.body)).toEqual(Array.from({ length: 8 }, (_, i) => `m${17 + i}`));
    expect(typeof toLive.end).toBe("string");
    await send(ctx.alice, roomId, "later");
    expect((await ctx.alice.ok("GET", `${room}/messages?dir=f&from=${enc(toLive.end)}`)).chunk.map((e: any) => e.content.body)).toEqual(["later"]);

    const ev = await ctx.alice.ok("GET", `${room}/event/${enc(ids[5]!)}`);
    const t = await ctx.alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${ev.origin_server_ts}&dir=f`);
    expect(t.origin_server_ts).toBe(ev.origin_server_ts);
    expectError(await ctx.alice.get(`/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${Date.now() + 1e9}&dir=f`), 404, "M_NOT_FOUND");
  });

  test("history visibility: joined-only history and leaving freezes what a user sees", async () => {
    const roomId = (
      await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {
        preset: "public_chat",
        initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "joined" } }],
      })
    ).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await send(ctx.alice, roomId, "before bob");
    await ctx.carol.ok("POST", `${room}/join`, {});
    await send(ctx.alice, roomId, "while carol");
    await ctx.carol.ok("POST", `${room}/leave`, {});
    await send(ctx.alice, roomId, "after carol left");
    const seen = (await ctx.carol.ok("GET", `${room}/messages?dir=b&limit=50`)).chunk.map((e: any) => e.content.body).filter(Boolean);
    expect(seen).toContain("while carol");
    expect(seen).not.toContain("before bob");
    expect(seen).not.toContain("after carol left");
    // GET /event follows the same rules: 404 for what carol may not see.
    const ids = (await ctx.alice.ok("GET", `${room}/messages?dir=b&limit=50`)).chunk as any[];
    const idOf = (body: string) => ids.find((e) => e.content.body === body).event_id as string;
    expectError(await ctx.carol.get(`${room}/event/${enc(idOf("before bob"))}`), 404, "M_NOT_FOUND");
    expectError(await ctx.carol.get(`${room}/event/${enc(idOf("after carol left"))}`), 404, "M_NOT_FOUND");
    expect((await ctx.carol.ok("GET", `${room}/event/${enc(idOf("while carol"))}`)).content.body).toBe("while carol");
    // Carol's view of state is frozen at her leave.
    await ctx.alice.ok("PUT", `${room}/state/m.room.topic`, { topic: "secret" });
    expectError(await ctx.carol.get(`${room}/state/m.room.topic`), 404, "M_NOT_FOUND");
  });

  test("history visibility events are visible when the visibility before or after them allows it", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    const hv = (v: string) => ctx.alice.ok("PUT", `${room}/state/m.room.history_visibility`, { history_visibility: v });
    await hv("joined"); // shared → joined: visible (shared before it)
    await send(ctx.alice, roomId, "1");
    await hv("invited"); // joined → invited: hidden from a user who joins later
    await send(ctx.alice, roomId, "2");
    await hv("shared"); // invited → shared: visible (shared after it)
    await send(ctx.alice, roomId, "3");
    const dave = await registerUser(ctx.s, `hvdave-${backend}`);
    await dave.ok("POST", `${room}/join`, {});
    const seen = (await dave.ok("GET", `${room}/messages?dir=b&limit=50`)).chunk.reverse();
    const hvs = seen.filter((e: any) => e.type === "m.room.history_visibility").map((e: any) => e.content.history_visibility);
    // The room's first one (shared, set by the preset) and the two on boundaries.
    expect(hvs).toEqual(["shared", "joined", "shared"]);
    expect(seen.filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body)).toEqual(["3"]);
    const sync = await dave.ok("GET", "/_matrix/client/v3/sync");
    const tail = sync.rooms.join[roomId].timeline.events.slice(-4);
    expect(tail.map((e: any) => e.type)).toEqual(["m.room.history_visibility", "m.room.history_visibility", "m.room.message", "m.room.member"]);
    expect(tail.map((e: any) => e.content.history_visibility ?? e.content.body ?? e.content.membership)).toEqual(["joined", "shared", "3", "join"]);
  });

  test("join with custom content: extra body keys reach the member event; membership and profile are the server's", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { foo: "bar", membership: "leave", displayname: "Not Bob" });
    const m = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
    expect(m.foo).toBe("bar");
    expect(m.membership).toBe("join");
    expect(m.displayname).not.toBe("Not Bob");
  });

  test("an invite can be rejected after everyone else left the room", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", invite: [ctx.bob.userId] })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await ctx.alice.ok("POST", `${room}/leave`, {});
    const before = await ctx.bob.ok("GET", "/_matrix/client/v3/sync");
    expect(before.rooms?.invite?.[roomId]).toBeDefined();
    await ctx.bob.ok("POST", `${room}/leave`, {});
    const after = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?since=${enc(before.next_batch)}`);
    expect(after.rooms?.leave?.[roomId]).toBeDefined();
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/sync")).rooms?.invite?.[roomId]).toBeUndefined();
    // Carol was never invited: still refused.
    expectError(await ctx.carol.post(`${room}/leave`, {}), 403, "M_FORBIDDEN");
  });

  test("profile changes reach member events; deactivation leaves rooms", async () => {
    const dave = await registerUser(ctx.s, `dave-${backend}`);
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await dave.ok("POST", `${room}/join`, {});
    await dave.ok("PUT", `/_matrix/client/v3/profile/${enc(dave.userId!)}/displayname`, { displayname: "Dave D." });
    const m = await ctx.alice.ok("GET", `${room}/state/m.room.member/${enc(dave.userId!)}`);
    expect(m).toEqual({ membership: "join", displayname: "Dave D." });
    const jm = await ctx.alice.ok("GET", `${room}/joined_members`);
    expect(jm.joined[dave.userId!].display_name).toBe("Dave D.");
    const deact = await dave.post("/_matrix/client/v3/account/deactivate", {});
    const session = deact.body.session;
    await dave.ok("POST", "/_matrix/client/v3/account/deactivate", {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: dave.userId }, password: "password", session },
    });
    const after = await ctx.alice.ok("GET", `${room}/state/m.room.member/${enc(dave.userId!)}`);
    expect(after.membership).toBe("leave");
  });

  test("concurrent sends in one room never fork it and all arrive once", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    await Promise.all(Array.from({ length: 30 }, (_, i) => send(i % 2 ? ctx.alice : ctx.bob, roomId, `c${i}`, `conc-${i}`)));
    const extremities = await ctx.s.hs.db.all("SELECT event_id FROM forward_extremities WHERE room_id = ?", [roomId]);
    expect(extremities).toHaveLength(1);
    const chunk = (await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`)).chunk;
    const bodies = chunk.map((e: any) => e.content.body).filter((b: any) => typeof b === "string" && b.startsWith("c"));
    expect(new Set(bodies).size).toBe(30);
    expect(bodies).toHaveLength(30);
  });
});

describe("default_room_version", () => {
  let s: TestServer;
  let alice: TestClient;
  beforeAll(async () => {
    [s, alice] = await serverWithUsers({ config: { default_room_version: "10" } }, "alice");
  });
  afterAll(() => s.stop());

  test("rooms created without a version get the configured one, and /capabilities says so", async () => {
    const { room_id } = await alice.ok("POST", "/_matrix/client/v3/createRoom", {});
    expect(room_id).toMatch(/^![^:]+:/); // a version 10 room ID names its server
    const create = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room_id)}/state/m.room.create/`);
    expect(create.room_version).toBe("10");
    const caps = await alice.ok("GET", "/_matrix/client/v3/capabilities");
    expect(caps.capabilities["m.room_versions"].default).toBe("10");
  });
});
