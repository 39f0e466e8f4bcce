// Room previews and the old sync API on both databases: GET /rooms/{roomId}/initialSync (members,
// former members, peeking into world_readable rooms, guests), GET /events?room_id= (peeking with
// long-polling; non-members see only world_readable history), the deprecated GET /events,
// GET /events/{eventId} and GET /initialSync.
import { expect, test } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { expectError, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { bodies, createRoom, enc, join, leave, send, setState } from "../helpers/sync.ts";

describeOnBackends("room previews", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; eve: TestClient; guest: TestClient }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.eve] = await serverWithUsers({ backend, config: { registration: { allow_guests: true } } }, "alice", "bob", "eve");
    const g = await new TestClient(ctx.s.url).ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    ctx.guest = new TestClient(ctx.s.url, g.access_token, g.user_id, g.device_id);
  });

  const initialSync = (c: TestClient, roomId: string) => c.get(`/_matrix/client/v3/rooms/${enc(roomId)}/initialSync`);
  const worldReadable = () =>
    createRoom(ctx.alice, {
      preset: "public_chat",
      name: "Lobby",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }],
    });

  test("initialSync for a member: state, latest messages oldest first, visibility, account data", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Room", visibility: "public" });
    for (let i = 0; i < 12; i++) await send(ctx.alice, roomId, `m${i}`);
    await ctx.alice.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/rooms/${enc(roomId)}/tags/u.x`, {});
    const r = await initialSync(ctx.alice, roomId);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/room_initial_sync", "GET", "/rooms/{roomId}/initialSync", 200, r.body);
    expect(r.body.room_id).toBe(roomId);
    expect(r.body.membership).toBe("join");
    expect(r.body.visibility).toBe("public");
    expect(bodies(r.body.messages.chunk)).toEqual(["m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11"]);
    expect(r.body.state.find((e: any) => e.type === "m.room.name").content.name).toBe("Room");
    expect(r.body.account_data).toEqual([{ type: "m.tag", content: { tags: { "u.x": {} } } }]);
    // The deprecated APIs carry the legacy `user_id` (the sender) on events, as Synapse serves them.
    for (const e of [...r.body.state, ...r.body.messages.chunk]) expect(e.user_id).toBe(e.sender);
    // `start` continues backwards with /messages; `end` forwards.
    const older = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=2&from=${enc(r.body.messages.start)}`);
    expect(bodies(older.chunk)).toEqual(["m1", "m0"]);
    await send(ctx.alice, roomId, "newer");
    const newer = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&from=${enc(r.body.messages.end)}`);
    expect(bodies(newer.chunk)).toEqual(["newer"]);
  });

  test("initialSync: limit, a start token even at the start of history, members' presence", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await ctx.bob.ok("PUT", `/_matrix/client/v3/presence/${enc(ctx.bob.userId!)}/status`, { presence: "online" });
    for (let i = 0; i < 3; i++) await send(ctx.alice, roomId, `m${i}`);
    const none = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/initialSync?limit=0`);
    expect(none.messages.chunk).toEqual([]);
    const two = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/initialSync?limit=2`);
    expect(bodies(two.messages.chunk)).toEqual(["m1", "m2"]);
    expectError(await ctx.alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/initialSync?limit=-1`), 400, "M_INVALID_PARAM");
    const all = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/initialSync?limit=50`);
    expect(typeof all.messages.start).toBe("string");
    const before = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&from=${enc(all.messages.start)}`);
    expect(before.chunk).toEqual([]);
    expect(all.presence.find((p: any) => p.content.user_id === ctx.bob.userId).content.presence).toBe("online");
    // Read receipts as m.receipt events (as Synapse): per room, and over every joined room.
    const lastId = all.messages.chunk.at(-1).event_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(lastId)}`, {});
    const withReceipt = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/initialSync`);
    expect(typeof withReceipt.receipts[0].content[lastId]["m.read"][ctx.bob.userId!].ts).toBe("number");
    const global = await ctx.alice.ok("GET", "/_matrix/client/v3/initialSync?limit=1");
    const r = global.receipts.find((x: any) => x.room_id === roomId);
    expect(r.type).toBe("m.receipt");
    expect(Object.keys(r.content[lastId]["m.read"])).toEqual([ctx.bob.userId!]);
    // A former member sees the room as they left it, without presence.
    await leave(ctx.bob, roomId);
    await send(ctx.alice, roomId, "after bob left");
    const left = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/initialSync?limit=1`);
    expect(left.membership).toBe("leave");
    expect(left.presence).toEqual([]);
    expect(left.receipts).toEqual([]);
    expect(left.messages.chunk.map((e: any) => e.type)).toEqual(["m.room.member"]);
  });

  test("initialSync: former members see the room as they left it; others are refused unless world_readable", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    await send(ctx.alice, roomId, "while bob was here");
    await leave(ctx.bob, roomId);
    await send(ctx.alice, roomId, "after bob left");
    const left = await initialSync(ctx.bob, roomId);
    expect(left.status).toBe(200);
    expect(left.body.membership).toBe("leave");
    expect(bodies(left.body.messages.chunk)).toEqual(["while bob was here"]);
    const denied = await initialSync(ctx.eve, roomId);
    expectError(denied, 403, "M_FORBIDDEN");
    expectError(await initialSync(ctx.eve, "!nowhere:localhost"), 403, "M_FORBIDDEN");
    expectError(await initialSync(ctx.eve, "not-a-room"), 400, "M_INVALID_PARAM");

    // Peeking into a world_readable room, also as a guest.
    const lobby = await worldReadable();
    await send(ctx.alice, lobby, "welcome");
    for (const c of [ctx.eve, ctx.guest]) {
      const peek = await initialSync(c, lobby);
      expect(peek.status).toBe(200);
      assertMatchesSpec("client-server/room_initial_sync", "GET", "/rooms/{roomId}/initialSync", 200, peek.body);
      expect(peek.body.membership).toBeUndefined();
      expect(bodies(peek.body.messages.chunk)).toEqual(["welcome"]);
      expect(peek.body.state.find((e: any) => e.type === "m.room.name").content.name).toBe("Lobby");
    }
    // The room previews flow: initialSync, then /events from its `end`.
    const end = (await initialSync(ctx.eve, lobby)).body.messages.end;
    const next = await send(ctx.alice, lobby, "after the snapshot");
    expect((await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(end)}&timeout=0`)).chunk.map((e: any) => e.event_id)).toEqual([next]);
    // A /messages token is accepted as well.
    const tok = (await ctx.eve.ok("GET", `/_matrix/client/v3/rooms/${enc(lobby)}/messages?dir=b&limit=1`)).start;
    expect((await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(tok)}&timeout=0`)).chunk).toEqual([]);
  });

  test("GET /events?room_id= peeks: long-polls for new events of a world_readable room", async () => {
    const lobby = await worldReadable();
    await send(ctx.alice, lobby, "before");
    // No `from`: now. Nothing new yet.
    const now = await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&timeout=0`);
    expect(now.chunk).toEqual([]);
    // A long-poll from there waits until something arrives.
    const waitersBefore = ctx.s.hs.services.notifier.waiting;
    const waiting = ctx.eve.get(`/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(now.end)}&timeout=10000`);
    while (ctx.s.hs.services.notifier.waiting === waitersBefore) await Bun.sleep(5);
    const second = await send(ctx.alice, lobby, "during");
    const r = await waiting;
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/peeking_events", "GET", "/events ", 200, r.body);
    expect(r.body.chunk.map((e: any) => e.event_id)).toEqual([second]);
    expect(r.body.chunk[0].room_id).toBe(lobby);
    // From `start` again: the same; from `end`: nothing yet (timeout=0).
    const again = await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(r.body.start)}&timeout=0`);
    expect(again.chunk.map((e: any) => e.event_id)).toEqual([second]);
    const none = await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(r.body.end)}&timeout=0`);
    expect(none.chunk).toEqual([]);
    expect(none.end).toBe(r.body.end);
    // Guests may peek too.
    expect((await ctx.guest.ok("GET", `/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(r.body.start)}&timeout=0`)).chunk).toHaveLength(1);

    // Once the room is no longer world_readable, non-members see nothing of it.
    const end = none.end;
    await setState(ctx.alice, lobby, "m.room.history_visibility", { history_visibility: "shared" });
    expectError(await ctx.eve.get(`/_matrix/client/v3/events?room_id=${enc(lobby)}&from=${enc(end)}&timeout=0`), 403, "M_FORBIDDEN");
    const priv = await createRoom(ctx.alice, { preset: "private_chat" });
    expectError(await ctx.eve.get(`/_matrix/client/v3/events?room_id=${enc(priv)}&timeout=0`), 403, "M_FORBIDDEN");
    expectError(await ctx.eve.get(`/_matrix/client/v3/events?room_id=${enc(lobby)}&from=nonsense&timeout=0`), 400, "M_INVALID_PARAM");
    expectError(await ctx.eve.get(`/_matrix/client/v3/events?room_id=${enc(lobby)}&timeout=-1`), 400, "M_INVALID_PARAM");
  });

  test("a peeker of a room whose history was world_readable only for a while sees just those events", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const t0 = await ctx.eve.ok("GET", `/_matrix/client/v3/events?timeout=0`);
    await send(ctx.alice, roomId, "shared, hidden");
    await setState(ctx.alice, roomId, "m.room.history_visibility", { history_visibility: "world_readable" });
    await send(ctx.alice, roomId, "readable");
    const r = await ctx.eve.ok("GET", `/_matrix/client/v3/events?room_id=${enc(roomId)}&from=${enc(t0.end)}&timeout=0`);
    expect(bodies(r.chunk)).toEqual(["readable"]);
  });

  test("deprecated GET /events (every joined room), /events/{eventId} and /initialSync", async () => {
    const a = await createRoom(ctx.alice, { preset: "public_chat" });
    const b = await createRoom(ctx.bob, { preset: "public_chat" });
    await join(ctx.alice, b);
    const t0 = await ctx.alice.ok("GET", "/_matrix/client/v3/events?timeout=0");
    expect(t0.chunk).toEqual([]);
    const e1 = await send(ctx.alice, a, "in a");
    const e2 = await send(ctx.bob, b, "in b");
    const r = await ctx.alice.ok("GET", `/_matrix/client/v3/events?from=${enc(t0.end)}&timeout=0`);
    expect(r.chunk.map((e: any) => e.event_id)).toEqual([e1, e2]);
    expect(r.chunk.map((e: any) => e.user_id)).toEqual([ctx.alice.userId, ctx.bob.userId]);
    expect(r.start).toBe(t0.end);
    // `limit` (as Synapse) caps the chunk; `end` continues after it. Bad values are 400.
    const one1 = await ctx.alice.ok("GET", `/_matrix/client/v3/events?from=${enc(t0.end)}&timeout=0&limit=1`);
    expect(one1.chunk.map((e: any) => e.event_id)).toEqual([e1]);
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/events?from=${enc(one1.end)}&timeout=0`)).chunk.map((e: any) => e.event_id)).toEqual([e2]);
    expectError(await ctx.alice.get("/_matrix/client/v3/events?limit=-1&timeout=0"), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get("/_matrix/client/v3/events?limit=abc&timeout=0"), 400, "M_INVALID_PARAM");

    const one = await ctx.alice.ok("GET", `/_matrix/client/v3/events/${enc(e2)}`);
    expect(one.content.body).toBe("in b");
    expect(one.user_id).toBe(ctx.bob.userId);
    // Not in the current APIs.
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(b)}/event/${enc(e2)}`)).user_id).toBeUndefined();
    expectError(await ctx.eve.get(`/_matrix/client/v3/events/${enc(e2)}`), 404, "M_NOT_FOUND");
    expectError(await ctx.eve.get(`/_matrix/client/v3/events/${enc(`$${"z".repeat(43)}`)}`), 404, "M_NOT_FOUND");

    const invitedTo = await createRoom(ctx.bob, { preset: "private_chat", invite: [ctx.alice.userId!] });
    const all = await ctx.alice.ok("GET", "/_matrix/client/v3/initialSync?limit=1");
    expect(typeof all.end).toBe("string");
    // Presence as the old API has it (content.user_id): the user's own, marked online by the sync.
    const own = all.presence.find((p: any) => p.content.user_id === ctx.alice.userId);
    expect(own.type).toBe("m.presence");
    expect(own.content.presence).toBe("online");
    expect(typeof own.content.last_active_ago).toBe("number");
    expect(all.presence.some((p: any) => p.content.user_id === ctx.eve.userId)).toBe(false); // shares no room
    const byRoom = new Map(all.rooms.map((x: any) => [x.room_id, x]));
    expect((byRoom.get(a) as any).membership).toBe("join");
    expect(bodies((byRoom.get(a) as any).messages.chunk)).toEqual(["in a"]);
    expect((byRoom.get(invitedTo) as any).membership).toBe("invite");
    expect((byRoom.get(invitedTo) as any).invite.sender).toBe(ctx.bob.userId);
    expect((byRoom.get(invitedTo) as any).invite.user_id).toBe(ctx.bob.userId);
    // Invites from ignored users are not shown.
    const ignoreList = `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.ignored_user_list`;
    await ctx.alice.ok("PUT", ignoreList, { ignored_users: { [ctx.bob.userId!]: {} } });
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/initialSync")).rooms.some((x: any) => x.room_id === invitedTo)).toBe(false);
    await ctx.alice.ok("PUT", ignoreList, { ignored_users: {} });
    await leave(ctx.alice, b);
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/initialSync")).rooms.some((x: any) => x.room_id === b)).toBe(false);
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/initialSync?archived=true")).rooms.find((x: any) => x.room_id === b).membership).toBe("leave");
  });
});
