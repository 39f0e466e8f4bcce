// Presence over HTTP: PUT/GET /presence/{userId}/status, last_active_ago and currently_active,
// presence in /sync (initial, incremental, filters, long-poll wake-ups, set_presence), the idle and
// offline timeouts, and [presence] enabled = false; on both databases.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, send, sync, syncPath } from "../helpers/sync.ts";
import { eventually as poll } from "../helpers/wait.ts";

const statusPath = (userId: string) => `/_matrix/client/v3/presence/${enc(userId)}/status`;
const presenceOf = (body: any, userId: string) => body.presence.events.filter((e: any) => e.sender === userId).at(-1)?.content;

/** Polls until fn returns a value (not undefined). */
const eventually = <T>(fn: () => Promise<T | undefined>, timeoutMs = 10000, what = "condition") => poll(fn, timeoutMs, what, 25);

describeOnBackends("presence", (backend) => {
  const ctx = fixture<{
    s: TestServer;
    alice: TestClient;
    bob: TestClient; // shares a room with alice
    carol: TestClient; // shares nothing
  }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
  });

  test("set and get status; who may see it", async () => {
    const put = await ctx.alice.put(statusPath(ctx.alice.userId!), { presence: "online", status_msg: "Making cupcakes" });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/presence", "PUT", "/presence/{userId}/status", 200, put.body);
    const got = await ctx.bob.get(statusPath(ctx.alice.userId!));
    expect(got.status).toBe(200);
    assertMatchesSpec("client-server/presence", "GET", "/presence/{userId}/status", 200, got.body);
    expect(got.body.presence).toBe("online");
    expect(got.body.status_msg).toBe("Making cupcakes");
    expect(got.body.currently_active).toBe(true);
    expect(got.body.last_active_ago).toBeGreaterThanOrEqual(0);
    expect(got.body.last_active_ago).toBeLessThan(10000);
    // Own presence, always.
    expect((await ctx.alice.ok("GET", statusPath(ctx.alice.userId!))).presence).toBe("online");
    // Not sharing a room: 403; unknown local user: 404; someone else's presence cannot be set.
    const forbidden = await ctx.carol.get(statusPath(ctx.alice.userId!));
    expectError(forbidden, 403, "M_FORBIDDEN");
    assertMatchesSpec("client-server/presence", "GET", "/presence/{userId}/status", 403, forbidden.body);
    expectError(await ctx.carol.get(statusPath(`@nobody:${ctx.s.serverName}`)), 404, "M_NOT_FOUND");
    expectError(await ctx.bob.put(statusPath(ctx.alice.userId!), { presence: "offline" }), 403, "M_FORBIDDEN");
    expectError(await ctx.alice.put(statusPath(ctx.alice.userId!), { presence: "busy" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(statusPath(ctx.alice.userId!), {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.put(statusPath(ctx.alice.userId!), { presence: "online", status_msg: 3 }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.get(statusPath("not-a-user")), 400, "M_INVALID_PARAM");
    // unavailable: not currently active; the status message goes when not given.
    await ctx.alice.ok("PUT", statusPath(ctx.alice.userId!), { presence: "unavailable" });
    const idle = await ctx.bob.ok("GET", statusPath(ctx.alice.userId!));
    expect(idle.presence).toBe("unavailable");
    expect(idle.currently_active).toBeUndefined();
    expect(idle.status_msg).toBeUndefined();
  });

  test("presence in /sync: initial, incremental, filtered, and it wakes a long-poll", async () => {
    await ctx.alice.ok("PUT", statusPath(ctx.alice.userId!), { presence: "online", status_msg: "hi" });
    const initial = await sync(ctx.bob, { set_presence: "offline" });
    const content = presenceOf(initial, ctx.alice.userId!);
    expect(content).toMatchObject({ presence: "online", status_msg: "hi", currently_active: true });
    // carol shares no room with alice: nothing about alice.
    expect(presenceOf(await sync(ctx.carol, { set_presence: "offline" }), ctx.alice.userId!)).toBeUndefined();
    // A change wakes bob's long-poll.
    const poll = ctx.bob.get(syncPath({ since: initial.next_batch, timeout: 10000, set_presence: "offline" }));
    await Bun.sleep(50);
    await ctx.alice.ok("PUT", statusPath(ctx.alice.userId!), { presence: "unavailable", status_msg: "lunch" });
    const woke = await poll;
    expect(woke.status).toBe(200);
    expect(presenceOf(woke.body, ctx.alice.userId!)).toMatchObject({ presence: "unavailable", status_msg: "lunch" });
    // Nothing new: nothing in the next incremental sync.
    const quiet = await sync(ctx.bob, { since: woke.body.next_batch, set_presence: "offline" });
    expect(presenceOf(quiet, ctx.alice.userId!)).toBeUndefined();
    // The presence filter can turn it off.
    const filtered = await sync(ctx.bob, { set_presence: "offline", filter: { presence: { not_types: ["m.presence"] } } });
    expect(filtered.presence.events).toEqual([]);
    const bySender = await sync(ctx.bob, { set_presence: "offline", filter: { presence: { senders: [ctx.bob.userId] } } });
    expect(presenceOf(bySender, ctx.alice.userId!)).toBeUndefined();
  });

  test("an incremental sync carries the presence of users who newly share a room, both ways", async () => {
    const dave = await registerUser(ctx.s, `dave-newly-${backend}`);
    const erin = await registerUser(ctx.s, `erin-newly-${backend}`);
    await erin.ok("PUT", statusPath(erin.userId!), { presence: "online", status_msg: "here" });
    const roomId = await createRoom(erin, {});
    const daveFirst = await sync(dave);
    // Waits out dave's own coming online, so only the join brings news.
    const erinFirst = await sync(erin);
    await dave.ok("PUT", statusPath(dave.userId!), { presence: "online" });
    const erinMid = await sync(erin, { since: erinFirst.next_batch, timeout: 0 });
    expect(presenceOf(erinMid, dave.userId!)).toBeUndefined(); // no shared room yet
    const daveMid = await sync(dave, { since: daveFirst.next_batch, timeout: 0 });
    await erin.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: dave.userId });
    await join(dave, roomId);
    // Dave joined: he gets erin's presence although it did not change.
    const daveNext = await sync(dave, { since: daveMid.next_batch, timeout: 0 });
    expect(presenceOf(daveNext, erin.userId!)?.status_msg).toBe("here");
    // Erin sees dave, who joined her room.
    const erinNext = await sync(erin, { since: erinMid.next_batch, timeout: 0 });
    expect(presenceOf(erinNext, dave.userId!)?.presence).toBe("online");
    // Only once.
    const daveAfter = await sync(dave, { since: daveNext.next_batch, timeout: 0 });
    expect(presenceOf(daveAfter, erin.userId!)).toBeUndefined();
    // A joiner who was never online (no sync, no status) comes as offline.
    const ghost = await registerUser(ctx.s, `ghost-newly-${backend}`);
    await erin.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ghost.userId });
    await ghost.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const daveGhost = await sync(dave, { since: daveAfter.next_batch, timeout: 0 });
    expect(presenceOf(daveGhost, ghost.userId!)?.presence).toBe("offline");
  });

  test("coming online by syncing is no news to the user's own next long-poll", async () => {
    const erin = await registerUser(ctx.s, "erin");
    const first = await sync(erin);
    const started = performance.now();
    const r = await sync(erin, { since: first.next_batch, timeout: 400 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    expect(r.presence.events).toEqual([]);
    // An explicit change is.
    await erin.ok("PUT", statusPath(erin.userId!), { presence: "online", status_msg: "explicit" });
    expect(presenceOf(await sync(erin, { since: r.next_batch }), erin.userId!)?.status_msg).toBe("explicit");
  });

  test("coming online by one sync is news to a sync from an earlier token", async () => {
    const fay = await registerUser(ctx.s, "fay");
    // An initial sync that leaves fay offline, then another that brings her online.
    const before = await sync(fay, { set_presence: "offline" });
    expect(presenceOf(before, fay.userId!)).toBeUndefined();
    const initial = await sync(fay);
    expect(presenceOf(initial, fay.userId!)?.presence).toBe("online");
    // From the first token, the change is news (it happened after that token).
    const r = await sync(fay, { since: before.next_batch, timeout: 5000 });
    expect(presenceOf(r, fay.userId!)?.presence).toBe("online");
  });

  test("syncing brings a user online; sending a message makes them active again", async () => {
    const dave = await registerUser(ctx.s, "dave");
    const roomId = await createRoom(ctx.bob, { preset: "public_chat" });
    // Joining is not activity: dave is still offline.
    await join(dave, roomId);
    expect((await ctx.bob.ok("GET", statusPath(dave.userId!))).presence).toBe("offline");
    await sync(dave); // set_presence defaults to online
    expect((await ctx.bob.ok("GET", statusPath(dave.userId!))).presence).toBe("online");
    await sync(dave, { set_presence: "unavailable" });
    expect((await ctx.bob.ok("GET", statusPath(dave.userId!))).presence).toBe("unavailable");
    await send(dave, roomId, "I am back");
    const back = await ctx.bob.ok("GET", statusPath(dave.userId!));
    expect(back.presence).toBe("online");
    expect(back.currently_active).toBe(true);
    // Own presence shows in one's own sync.
    await eventually(async () => (presenceOf(await sync(dave), dave.userId!)?.presence === "online" ? true : undefined), 10000, "own presence in sync");
  });
});

describeOnBackends("presence timeouts", (backend) => {
  const ctx = serverFixture({ backend, config: { presence: { idle_timeout_ms: 300, offline_timeout_ms: 800 } } });

  test("idle users become unavailable, then offline; a sync brings them back", async () => {
    const alice = await registerUser(ctx.s, "alice");
    const bob = await registerUser(ctx.s, "bob");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await join(bob, roomId);
    await alice.ok("PUT", statusPath(alice.userId!), { presence: "online" });
    const first = await sync(bob, { set_presence: "offline" });
    expect(presenceOf(first, alice.userId!)?.presence).toBe("online");
    // Alice keeps syncing but does nothing: unavailable after the idle timeout (a /sync change).
    let since = first.next_batch;
    const idle = await eventually(async () => {
      await alice.ok("GET", syncPath({ timeout: 0 }));
      const r = await sync(bob, { since, set_presence: "offline" });
      since = r.next_batch;
      const c = presenceOf(r, alice.userId!);
      return c?.presence === "unavailable" ? c : undefined;
    }, 10000, "alice unavailable");
    expect(idle.currently_active).toBeUndefined();
    expect(idle.last_active_ago).toBeGreaterThanOrEqual(300);
    // She stops syncing: offline after the offline timeout.
    await eventually(async () => ((await bob.ok("GET", statusPath(alice.userId!))).presence === "offline" ? true : undefined), 10000, "alice offline");
    await eventually(async () => {
      const r = await sync(bob, { since, set_presence: "offline" });
      since = r.next_batch;
      return presenceOf(r, alice.userId!)?.presence === "offline" ? true : undefined;
    }, 10000, "alice offline in bob's sync");
    // Syncing again: online.
    await sync(alice);
    expect((await bob.ok("GET", statusPath(alice.userId!))).presence).toBe("online");
  }, 20000);
});

describeOnBackends("presence disabled", (backend) => {
  const ctx = serverFixture({ backend, config: { presence: { enabled: false } } });

  test("the endpoints answer but nothing is tracked or shown", async () => {
    const alice = await registerUser(ctx.s, "alice");
    const bob = await registerUser(ctx.s, "bob");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await join(bob, roomId);
    const put = await alice.put(statusPath(alice.userId!), { presence: "online", status_msg: "hello" });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({});
    const got = await bob.get(statusPath(alice.userId!));
    expect(got.status).toBe(200);
    assertMatchesSpec("client-server/presence", "GET", "/presence/{userId}/status", 200, got.body);
    expect(got.body).toEqual({ presence: "offline" });
    await sync(alice);
    expect((await sync(bob)).presence.events).toEqual([]);
    expectError(await alice.put(statusPath(alice.userId!), { presence: "busy" }), 400, "M_INVALID_PARAM");
    expect((await ctx.s.hs.db.all("SELECT * FROM presence")).length).toBe(0);
  });
});
