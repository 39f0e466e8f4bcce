// Pushers and push gateway delivery over HTTP (both databases), with a push gateway the test runs
// on loopback ([http_client] ip_range_denylist relaxed): /pushers and /pushers/set (validation,
// append, deletion, logout), the spec's /notify payloads (full and event_id_only, tweaks, counts,
// priority), retries with back-off, rejected pushkeys, badge updates after read receipts.
import { describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { TestClient, expectError, loginUser, registerUser } from "../helpers/client.ts";
import { assertMatchesSpec, assertRequestMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send } from "../helpers/sync.ts";
import { waitFor } from "../helpers/wait.ts";

/** A push gateway: records /notify bodies; answers with `status` and `rejected`. */
class FakeGateway {
  readonly received: any[] = [];
  failNext = 0;
  rejected: string[] = [];
  readonly server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/_matrix/push/v1/notify") return Response.json({ errcode: "M_UNRECOGNIZED" }, { status: 404 });
      const body = await req.json();
      this.received.push(body);
      if (this.failNext > 0) {
        this.failNext--;
        return new Response("try later", { status: 503 });
      }
      return Response.json({ rejected: this.rejected });
    },
  });
  get url(): string {
    return `http://127.0.0.1:${this.server.port}/_matrix/push/v1/notify`;
  }
  /** Notifications about an event (not badge-only updates). */
  forEvent(eventId: string): any[] {
    return this.received.filter((b) => b.notification?.event_id === eventId);
  }
}

describeOnBackends("pushers", (backend) => {

  const pusher = (pushkey: string, extra: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
    kind: "http",
    app_id: "org.example.app.ios",
    pushkey,
    app_display_name: "Example",
    device_display_name: "Alice's phone",
    profile_tag: "xyz",
    lang: "en",
    data: { url: ctx.gw.url, custom: "kept", ...data },
    ...extra,
  });

  const ctx = fixture<{ s: TestServer; gw: FakeGateway; alice: TestClient; bob: TestClient; carol: TestClient }>(async (ctx) => {
    ctx.gw = new FakeGateway();
    ctx.s = await startTestServer({ backend, config: { http_client: { ip_range_denylist: [] }, push: { retry_min_interval_ms: 20 } } });
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.bob = await registerUser(ctx.s, "bob");
    ctx.carol = await registerUser(ctx.s, "carol");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`, { displayname: "Alice" });
    await ctx.bob.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.bob.userId!)}/displayname`, { displayname: "Bob B." });
  }, { teardown: (ctx) => ctx.gw.server.stop(true) });

  test("pushers/set validates its input; GET /pushers shows what was set; kind null deletes", async () => {
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", { app_id: "a", pushkey: "k" }), 400, "M_MISSING_PARAM");
    const missing = await ctx.alice.post("/_matrix/client/v3/pushers/set", { kind: "http", app_id: "a", pushkey: "k", app_display_name: "x", device_display_name: "y" });
    expectError(missing, 400, "M_MISSING_PARAM");
    expect(missing.body.error).toBe("Missing parameters: lang, data");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", { kind: "email", app_id: "m.email", pushkey: "a@example.org" })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", { kind: "carrier-pigeon" })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", {}, { url: "https://gw.example.org/notify" })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", {}, { url: "not a url" })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", { data: { format: "event_id_only" } })), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", { app_id: "x".repeat(65) })), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k".repeat(513))), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1", { append: "yes" })), 400, "M_INVALID_PARAM");

    const set = await ctx.alice.post("/_matrix/client/v3/pushers/set", pusher("k1"));
    expect(set.status).toBe(200);
    assertMatchesSpec("client-server/pusher", "POST", "/pushers/set", 200, set.body);
    const got = await ctx.alice.get("/_matrix/client/v3/pushers");
    expect(got.status).toBe(200);
    assertMatchesSpec("client-server/pusher", "GET", "/pushers", 200, got.body);
    expect(got.body.pushers).toEqual([
      {
        pushkey: "k1",
        kind: "http",
        app_id: "org.example.app.ios",
        app_display_name: "Example",
        device_display_name: "Alice's phone",
        profile_tag: "xyz",
        lang: "en",
        data: { url: ctx.gw.url, custom: "kept" },
      },
    ]);
    // Updating keeps one pusher.
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", pusher("k1", { lang: "fr" }));
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers.map((p: any) => p.lang)).toEqual(["fr"]);
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", { kind: null, app_id: "org.example.app.ios", pushkey: "k1" });
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers).toEqual([]);
    expectError(await new TestClient(ctx.s.url).get("/_matrix/client/v3/pushers"), 401, "M_MISSING_TOKEN");
  });

  test("a message notifies the push gateway with the spec's payload (1:1 room: sound, high priority)", async () => {
    const roomId = await createRoom(ctx.bob, { preset: "trusted_private_chat", invite: [ctx.alice.userId], is_direct: true, name: "Bob and Alice" });
    await join(ctx.alice, roomId);
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", pusher("full-1"));
    const eventId = await send(ctx.bob, roomId, "hello alice");
    const [body] = await waitFor("the notification", () => ctx.gw.forEvent(eventId).length > 0 && ctx.gw.forEvent(eventId));
    assertRequestMatchesSpec("push-gateway/push_notifier", "POST", "/notify", body);
    const n = body.notification;
    expect(n.event_id).toBe(eventId);
    expect(n.id).toBe(eventId); // as Synapse sends it, for gateways written against it
    expect(n.room_id).toBe(roomId);
    expect(n.type).toBe("m.room.message");
    expect(n.sender).toBe(ctx.bob.userId);
    expect(n.sender_display_name).toBe("Bob B.");
    expect(n.room_name).toBe("Bob and Alice");
    expect(n.content).toEqual({ msgtype: "m.text", body: "hello alice" });
    expect(n.prio).toBe("high");
    expect(n.counts).toEqual({ unread: 1 });
    expect(n.devices).toHaveLength(1);
    const d = n.devices[0];
    expect(d.app_id).toBe("org.example.app.ios");
    expect(d.pushkey).toBe("full-1");
    expect(d.data).toEqual({ custom: "kept" });
    expect(d.tweaks).toEqual({ sound: "default" });
    expect(Number.isInteger(d.pushkey_ts) && d.pushkey_ts > 1_600_000_000 && d.pushkey_ts < 10_000_000_000).toBe(true);
    // Her own messages never notify her.
    const own = await send(ctx.alice, roomId, "hi bob");
    const after = await send(ctx.bob, roomId, "second");
    await waitFor("the second notification", () => ctx.gw.forEvent(after).length > 0);
    expect(ctx.gw.forEvent(own)).toEqual([]);
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", { kind: null, app_id: "org.example.app.ios", pushkey: "full-1" });
  });

  test("a room without a name is named by its canonical alias (its display name)", async () => {
    const roomId = await createRoom(ctx.bob, { preset: "trusted_private_chat", invite: [ctx.alice.userId], room_alias_name: "pushalias" });
    await join(ctx.alice, roomId);
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", pusher("alias-1"));
    const eventId = await send(ctx.bob, roomId, "hello by alias");
    const [body] = await waitFor("the notification", () => ctx.gw.forEvent(eventId).length > 0 && ctx.gw.forEvent(eventId));
    expect(body.notification.room_alias).toBe("#pushalias:localhost");
    expect(body.notification.room_name).toBe("#pushalias:localhost");
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", { ...pusher("alias-1"), kind: null });
  });

  test("event_id_only, group rooms (low priority), mentions (highlight), invites (user_is_target)", async () => {
    await ctx.carol.ok("POST", "/_matrix/client/v3/pushers/set", pusher("ids-1", {}, { format: "event_id_only" }));
    const roomId = await createRoom(ctx.bob, { preset: "public_chat", name: "Group" });
    await join(ctx.alice, roomId);
    // The invite notifies the invitee.
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.carol.userId });
    await join(ctx.carol, roomId);
    const plain = await send(ctx.bob, roomId, "morning all");
    const mention = await send(ctx.bob, roomId, { msgtype: "m.text", body: "carol, look", "m.mentions": { user_ids: [ctx.carol.userId] } });
    const [p] = await waitFor("the plain message", () => ctx.gw.forEvent(plain).length > 0 && ctx.gw.forEvent(plain));
    const [m] = await waitFor("the mention", () => ctx.gw.forEvent(mention).length > 0 && ctx.gw.forEvent(mention));
    for (const b of [p, m]) {
      assertRequestMatchesSpec("push-gateway/push_notifier", "POST", "/notify", b);
      expect(Object.keys(b.notification).sort()).toEqual(["counts", "devices", "event_id", "prio", "room_id"]);
      expect(b.notification.devices[0].data).toEqual({ custom: "kept", format: "event_id_only" });
    }
    expect(p.notification.prio).toBe("low");
    expect(p.notification.devices[0].tweaks).toEqual({});
    expect(m.notification.prio).toBe("high");
    expect(m.notification.devices[0].tweaks).toEqual({ sound: "default", highlight: true });
    const invites = ctx.gw.received.filter((b) => b.notification?.room_id === roomId && b.notification.devices[0].pushkey === "ids-1");
    expect(invites.length).toBeGreaterThanOrEqual(3);

    // Full format shows user_is_target for the invitee's own membership.
    await ctx.carol.ok("POST", "/_matrix/client/v3/pushers/set", pusher("ids-1"));
    const room2 = await createRoom(ctx.bob, { preset: "private_chat" });
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(room2)}/invite`, { user_id: ctx.carol.userId });
    const inv = await waitFor("the invite", () => ctx.gw.received.find((b) => b.notification?.room_id === room2 && b.notification.type === "m.room.member"));
    assertRequestMatchesSpec("push-gateway/push_notifier", "POST", "/notify", inv);
    expect(inv.notification.user_is_target).toBe(true);
    expect(inv.notification.membership).toBe("invite");
    await ctx.carol.ok("POST", "/_matrix/client/v3/pushers/set", { kind: null, app_id: "org.example.app.ios", pushkey: "ids-1" });
  });

  test("a failing gateway is retried with back-off, in order; rejected pushkeys lose their pusher", async () => {
    const roomId = await createRoom(ctx.bob, { preset: "public_chat" });
    await join(ctx.alice, roomId);
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", pusher("retry-1"));
    ctx.gw.failNext = 2;
    const e1 = await send(ctx.bob, roomId, "one");
    const e2 = await send(ctx.bob, roomId, "two");
    await waitFor("both delivered", () => ctx.gw.forEvent(e2).length > 0);
    const attempts = ctx.gw.forEvent(e1).filter((b) => b.notification.devices[0].pushkey === "retry-1");
    expect(attempts.length).toBe(3);
    const order = ctx.gw.received.filter((b) => [e1, e2].includes(b.notification?.event_id)).map((b) => b.notification.event_id);
    expect(order).toEqual([e1, e1, e1, e2]);

    ctx.gw.rejected = ["retry-1"];
    const e3 = await send(ctx.bob, roomId, "three");
    await waitFor("the rejected delivery", () => ctx.gw.forEvent(e3).length > 0);
    ctx.gw.rejected = [];
    await waitFor("the pusher removed", async () => (await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers.length === 0);
    const e4 = await send(ctx.bob, roomId, "four");
    // Nothing more for the removed pushkey: a later pusher of bob's gets its event, alice's not.
    await ctx.bob.ok("POST", "/_matrix/client/v3/pushers/set", pusher("bob-1", { device_display_name: "Bob's phone" }));
    await join(ctx.carol, roomId);
    const e6 = await send(ctx.carol, roomId, "six");
    await waitFor("bob's notification", () => ctx.gw.forEvent(e6).length > 0);
    expect(ctx.gw.forEvent(e4)).toEqual([]);
    await ctx.bob.ok("POST", "/_matrix/client/v3/pushers/set", { kind: null, app_id: "org.example.app.ios", pushkey: "bob-1" });
  });

  test("append: another user's pusher with the same app ID and pushkey is replaced unless append is true", async () => {
    await ctx.alice.ok("POST", "/_matrix/client/v3/pushers/set", pusher("shared-1"));
    await ctx.bob.ok("POST", "/_matrix/client/v3/pushers/set", pusher("shared-1", { append: true }));
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers.map((p: any) => p.pushkey)).toEqual(["shared-1"]);
    await ctx.bob.ok("POST", "/_matrix/client/v3/pushers/set", pusher("shared-1"));
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers).toEqual([]);
    expect((await ctx.bob.ok("GET", "/_matrix/client/v3/pushers")).pushers.map((p: any) => p.pushkey)).toEqual(["shared-1"]);
    await ctx.bob.ok("POST", "/_matrix/client/v3/pushers/set", { kind: null, app_id: "org.example.app.ios", pushkey: "shared-1" });
  });

  test("reading sends a badge-only update; logging the device out removes its pushers", async () => {
    const phone = await loginUser(ctx.s, "alice");
    const roomId = await createRoom(ctx.bob, { preset: "public_chat" });
    await join(phone, roomId);
    await phone.ok("POST", "/_matrix/client/v3/pushers/set", pusher("badge-1"));
    const ev = await send(ctx.bob, roomId, "read me");
    const [n] = await waitFor("the notification", () => ctx.gw.forEvent(ev).length > 0 && ctx.gw.forEvent(ev));
    expect(n.notification.counts.unread).toBeGreaterThanOrEqual(1);
    const start = ctx.gw.received.length;
    await phone.ok("POST", "/_matrix/client/v3/rooms/" + enc(roomId) + "/receipt/m.read/" + enc(ev), {});
    const badge = await waitFor("the badge update", () => ctx.gw.received.slice(start).find((b) => b.notification && b.notification.event_id === undefined));
    assertRequestMatchesSpec("push-gateway/push_notifier", "POST", "/notify", badge);
    expect(badge.notification.devices[0].pushkey).toBe("badge-1");
    expect(typeof badge.notification.counts.unread).toBe("number");
    expect(badge.notification.counts.unread).toBeLessThan(n.notification.counts.unread);

    await phone.ok("POST", "/_matrix/client/v3/logout", {});
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/pushers")).pushers).toEqual([]);
  });
});

describe("push gateway addresses", () => {
  test("the default ip_range_denylist keeps notifications away from loopback gateways", async () => {
    const gw = new FakeGateway();
    const s = await startTestServer({ config: { push: { retry_min_interval_ms: 10_000 } } });
    try {
      const alice = await registerUser(s, "alice");
      const bob = await registerUser(s, "bob");
      const roomId = await createRoom(bob, { preset: "trusted_private_chat", invite: [alice.userId] });
      await join(alice, roomId);
      await alice.ok("POST", "/_matrix/client/v3/pushers/set", {
        kind: "http",
        app_id: "a",
        pushkey: "k",
        app_display_name: "x",
        device_display_name: "y",
        lang: "en",
        data: { url: gw.url },
      });
      await send(bob, roomId, "hello");
      // The pusher tried and failed (denied address): it is backing off, and the gateway saw nothing.
      const svc = s.hs.services;
      const row = await waitFor("the failed attempt", async () => (await svc.pushers.repo.find(alice.userId!, "a", "k"))?.failing_since_ts);
      expect(typeof row).toBe("number");
      expect(gw.received).toEqual([]);
    } finally {
      await s.stop();
      gw.server.stop(true);
    }
  });
});
