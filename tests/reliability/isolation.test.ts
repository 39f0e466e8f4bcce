// Isolation: an authorization matrix over the endpoints that take a room, event, user or device.
// A non-member, a former member (for what happened after they left), a guest, another user, a
// logged-out token and a non-admin on admin endpoints each get the spec's error — and never the
// private data (marked with a secret string that must not appear in any response).
import { expect, test } from "bun:test";
import { TestClient, withPasswordAuth } from "../helpers/client.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";

const enc = encodeURIComponent;

interface Probe {
  name: string;
  method: string;
  path: string;
  body?: unknown;
}

describeOnBackends("isolation", (backend) => {
  let roomId = "";
  let secretEvent = "";
  const SECRET = `SECRET-${Math.random().toString(36).slice(2)}`;
  let probes: Probe[] = [];

  const ctx = fixture<{
    s: TestServer;
    owner: TestClient; // in the room
    outsider: TestClient; // never in the room
    former: TestClient; // left before the secret was sent
    guest: TestClient;
    loggedOut: TestClient;
  }>(async (ctx) => {
    [ctx.s, ctx.owner, ctx.outsider, ctx.former, ctx.loggedOut] = await serverWithUsers({ backend, config: { registration: { enabled: true, allow_guests: true } } }, "owner", "outsider", "former", "gone");
    await ctx.loggedOut.ok("POST", "/_matrix/client/v3/logout", {});
    const g = await new TestClient(ctx.s.url).ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    ctx.guest = new TestClient(ctx.s.url, g.access_token, g.user_id, g.device_id);

    roomId = (await ctx.owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Private" })).room_id;
    await ctx.owner.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.former.userId });
    await ctx.former.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    await ctx.former.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    secretEvent = (await ctx.owner.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/s1`, { msgtype: "m.text", body: SECRET })).event_id;
    await ctx.owner.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { topic: SECRET });
    await ctx.owner.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.owner.userId!)}/account_data/com.example.secret`, { v: SECRET });
    await ctx.owner.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.owner.userId!)}/rooms/${enc(roomId)}/account_data/com.example.secret`, { v: SECRET });
    await ctx.owner.ok("PUT", `/_matrix/client/v3/user/${enc(ctx.owner.userId!)}/rooms/${enc(roomId)}/tags/u.${SECRET}`, {});
    const filterId = (await ctx.owner.ok("POST", `/_matrix/client/v3/user/${enc(ctx.owner.userId!)}/filter`, { room: { rooms: [roomId] }, event_fields: [SECRET] })).filter_id;

    const R = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    const U = `/_matrix/client/v3/user/${enc(ctx.owner.userId!)}`;
    probes = [
      { name: "room state", method: "GET", path: `${R}/state` },
      { name: "state event", method: "GET", path: `${R}/state/m.room.topic` },
      { name: "event", method: "GET", path: `${R}/event/${enc(secretEvent)}` },
      { name: "members", method: "GET", path: `${R}/members` },
      { name: "joined members", method: "GET", path: `${R}/joined_members` },
      { name: "messages", method: "GET", path: `${R}/messages?dir=b` },
      { name: "context", method: "GET", path: `${R}/context/${enc(secretEvent)}` },
      { name: "timestamp_to_event", method: "GET", path: `/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${Date.now()}&dir=b` },
      { name: "relations", method: "GET", path: `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(secretEvent)}` },
      { name: "threads", method: "GET", path: `/_matrix/client/v1/rooms/${enc(roomId)}/threads` },
      { name: "send", method: "PUT", path: `${R}/send/m.room.message/iso-${Math.random()}`, body: { msgtype: "m.text", body: "intruder" } },
      { name: "state write", method: "PUT", path: `${R}/state/m.room.topic`, body: { topic: "intruder" } },
      { name: "redact", method: "PUT", path: `${R}/redact/${enc(secretEvent)}/iso-${Math.random()}`, body: {} },
      { name: "invite", method: "POST", path: `${R}/invite`, body: { user_id: "@outsider:localhost" } },
      { name: "kick", method: "POST", path: `${R}/kick`, body: { user_id: ctx.owner.userId } },
      { name: "typing", method: "PUT", path: `${R}/typing/${enc(ctx.owner.userId!)}`, body: { typing: true, timeout: 1000 } },
      { name: "receipt", method: "POST", path: `${R}/receipt/m.read/${enc(secretEvent)}`, body: {} },
      { name: "read markers", method: "POST", path: `${R}/read_markers`, body: { "m.fully_read": secretEvent } },
      { name: "other's account data", method: "GET", path: `${U}/account_data/com.example.secret` },
      { name: "other's account data write", method: "PUT", path: `${U}/account_data/com.example.secret`, body: { v: 1 } },
      { name: "other's room account data", method: "GET", path: `${U}/rooms/${enc(roomId)}/account_data/com.example.secret` },
      { name: "other's tags", method: "GET", path: `${U}/rooms/${enc(roomId)}/tags` },
      { name: "other's filter", method: "GET", path: `${U}/filter/${filterId}` },
      { name: "other's device", method: "DELETE", path: `/_matrix/client/v3/devices/${enc(ctx.owner.deviceId!)}`, body: {} },
      { name: "admin: users", method: "GET", path: "/_synapse/admin/v2/users" },
      { name: "admin: user", method: "GET", path: `/_synapse/admin/v2/users/${enc(ctx.owner.userId!)}` },
      { name: "admin: rooms", method: "GET", path: "/_synapse/admin/v1/rooms" },
      { name: "admin: room", method: "GET", path: `/_synapse/admin/v1/rooms/${enc(roomId)}` },
      // (Anyone may whois themselves, as in Synapse: ask about someone else.)
      { name: "admin: whois", method: "GET", path: `/_synapse/admin/v1/whois/${enc(ctx.former.userId!)}` },
      { name: "admin: tokens", method: "GET", path: "/_synapse/admin/v1/registration_tokens" },
    ];
  }, { timeout: 60000 });

  /** Asserts a refusal (4xx with a Matrix error) and no secret in the answer. Returns the errcode. */
  const refused = async (who: TestClient, p: Probe): Promise<string> => {
    const r = await who.request(p.method, p.path, p.body);
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(SECRET);
    if (r.status === 404 && r.body?.errcode === "M_UNRECOGNIZED") throw new Error(`${p.name}: endpoint not implemented`);
    // A user-interactive-auth challenge is a refusal too (nothing happens without the password).
    if (r.status === 401 && Array.isArray(r.body?.flows)) return "UIA";
    if (r.status < 400 || r.status >= 500 || typeof r.body?.errcode !== "string") {
      throw new Error(`${p.name} (${p.method} ${p.path}) as ${who.userId}: expected a refusal, got ${r.status} ${text.slice(0, 200)}`);
    }
    return r.body.errcode;
  };

  test("a user who was never in the room gets 403/404 and no data from every endpoint", async () => {
    let checked = 0;
    for (const p of probes) {
      if (p.name === "other's device") {
        // Devices are per user: someone else's device is simply not found among yours.
        expect(await refused(ctx.outsider, p)).toMatch(/M_NOT_FOUND|M_FORBIDDEN|UIA/);
      } else {
        expect(await refused(ctx.outsider, p)).toMatch(/^M_(FORBIDDEN|NOT_FOUND)$/);
      }
      checked++;
    }
    expect(checked).toBe(probes.length);
  });

  test("completing UIA does not let a user delete someone else's device", async () => {
    // Device IDs are per user: this names a device of the outsider's own (there is none; the spec
    // lists no 404 and deletion is idempotent). The owner's session must survive.
    const r = await withPasswordAuth(ctx.outsider, "DELETE", `/_matrix/client/v3/devices/${enc(ctx.owner.deviceId!)}`, {});
    expect([200, 404]).toContain(r.status);
    expect((await ctx.owner.request("GET", "/_matrix/client/v3/account/whoami")).status).toBe(200);
    expect((await ctx.owner.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: any) => d.device_id)).toContain(ctx.owner.deviceId);
  });

  test("a logged-out token gets 401 M_UNKNOWN_TOKEN everywhere", async () => {
    for (const p of probes) expect(await refused(ctx.loggedOut, p)).toBe("M_UNKNOWN_TOKEN");
    const none = new TestClient(ctx.s.url);
    for (const p of probes) expect(await refused(none, p)).toBe("M_MISSING_TOKEN");
  });

  test("a guest cannot read or write a private room, nor reach admin endpoints", async () => {
    for (const p of probes) expect(await refused(ctx.guest, p)).toMatch(/^M_(FORBIDDEN|NOT_FOUND|GUEST_ACCESS_FORBIDDEN)$/);
  });

  test("a former member sees the room as it was when they left, never what came after", async () => {
    const R = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    for (const path of [`${R}/messages?dir=b&limit=100`, `${R}/state`, `${R}/members`, `${R}/context/${enc(secretEvent)}`, `${R}/event/${enc(secretEvent)}`]) {
      const r = await ctx.former.request("GET", path);
      expect(JSON.stringify(r.body)).not.toContain(SECRET);
      expect(r.status === 200 || r.status === 403 || r.status === 404).toBe(true);
    }
    const sync = await ctx.former.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    expect(JSON.stringify(sync)).not.toContain(SECRET);
    // And cannot write.
    for (const p of probes.filter((x) => x.method !== "GET" && !x.path.startsWith("/_matrix/client/v3/user/") && !x.path.includes("/devices/"))) {
      await refused(ctx.former, p);
    }
  });

  test("a non-admin user gets 403 M_FORBIDDEN from admin endpoints", async () => {
    for (const p of probes.filter((x) => x.name.startsWith("admin:"))) expect(await refused(ctx.owner, p)).toBe("M_FORBIDDEN");
  });
});
