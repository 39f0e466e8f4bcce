// Guest access (spec: client-server-api/modules/guest_access.md, "Client behaviour"): each route
// declares who may call it (src/http/endpoint.ts); tests/endpoints.test.ts checks that the routes
// declared "guest" are exactly the spec's list. Here every route of the app is called as a guest: a
// "guest" endpoint never answers M_GUEST_ACCESS_FORBIDDEN, every other endpoint that needs a token does.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { declaredEndpoints } from "../../src/http/endpoint.ts";
import { registerUser, TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("guest access: every route, called as a guest", () => {
  let s: TestServer;
  let anon: TestClient;
  let guest: TestClient;
  let roomId: string;
  beforeAll(async () => {
    s = await startTestServer({ config: { registration: { enabled: true, allow_guests: true } } });
    anon = new TestClient(s.url);
    const g = await anon.ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    guest = new TestClient(s.url, g.access_token, g.user_id, g.device_id);
    const owner = await registerUser(s, "owner");
    roomId = (await owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
  });
  afterAll(() => s.stop());

  const sample = (name: string): string => {
    if (name === "roomId" || name === "roomIdOrAlias") return encodeURIComponent(roomId);
    if (name === "userId") return encodeURIComponent(guest.userId!);
    if (name === "deviceId") return encodeURIComponent(guest.deviceId!);
    if (name === "eventId") return encodeURIComponent("$nothing");
    if (name === "serverName") return "localhost";
    return "x";
  };
  const concrete = (path: string) =>
    path
      .split("/")
      .map((seg) => (seg === "*" ? "x" : seg.startsWith(":") ? sample(seg.slice(1).replace(/\?$/, "")) : seg))
      .join("/");
  /** Declared open to guests: "guest", or by an operator setting (the test treats it as open, as before). */
  const openToGuests = (method: string, routePath: string) =>
    declaredEndpoints(s.hs.app).some((e) => e.method === method && e.path === routePath && (e.access === "guest" || e.guestsBySetting !== undefined));

  test("listed endpoints are open to guests; every other authenticated endpoint refuses them", async () => {
    const routes = s.hs.app.routes.filter(
      (r) => ["GET", "PUT", "POST", "DELETE"].includes(r.method) && /^\/(_matrix\/(client|media)|_synapse|_hs)\//.test(r.path),
    );
    expect(routes.length).toBeGreaterThan(150);
    const wrong: string[] = [];
    let refused = 0;
    let allowed = 0;
    for (const r of routes) {
      const path = concrete(r.path);
      const body = r.method === "GET" || r.method === "DELETE" ? undefined : {};
      const asGuest = await guest.request(r.method, path, body);
      const guestRefused = asGuest.status === 403 && asGuest.body?.errcode === "M_GUEST_ACCESS_FORBIDDEN";
      if (openToGuests(r.method, r.path)) {
        allowed++;
        if (guestRefused) wrong.push(`${r.method} ${r.path}: listed, but refused`);
        continue;
      }
      const noToken = await anon.request(r.method, path, body);
      if (noToken.body?.errcode !== "M_MISSING_TOKEN") {
        // Needs no token (or answers before asking for one): open to everyone, guests included.
        if (guestRefused) wrong.push(`${r.method} ${r.path}: needs no token, but refuses guests`);
        continue;
      }
      refused++;
      if (!guestRefused) wrong.push(`${r.method} ${r.path}: not listed, but a guest got ${asGuest.status} ${JSON.stringify(asGuest.body).slice(0, 80)}`);
    }
    expect(wrong).toEqual([]);
    expect(allowed).toBeGreaterThanOrEqual(declaredEndpoints(s.hs.app).filter((e) => e.access === "guest").length);
    expect(refused).toBeGreaterThan(100);
  }, 60_000);

  test("a guest cannot set global account data (issue 18), but joins, sends and reads a room open to guests", async () => {
    const u = encodeURIComponent(guest.userId!);
    const ad = await guest.put(`/_matrix/client/v3/user/${u}/account_data/m.direct`, {});
    expect([ad.status, ad.body.errcode]).toEqual([403, "M_GUEST_ACCESS_FORBIDDEN"]);
    const owner = await registerUser(s, "owner2");
    const room = (await owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", initial_state: [{ type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } }] })).room_id;
    const r = encodeURIComponent(room);
    await guest.ok("POST", `/_matrix/client/v3/join/${r}`, {});
    const sent = await guest.ok("PUT", `/_matrix/client/v3/rooms/${r}/send/m.room.message/t1`, { msgtype: "m.text", body: "hi" });
    const msgs = await guest.ok("GET", `/_matrix/client/v3/rooms/${r}/messages?dir=b&limit=5`);
    expect(msgs.chunk.map((e: { event_id: string }) => e.event_id)).toContain(sent.event_id);
    await guest.ok("GET", `/_matrix/client/v3/rooms/${r}/state/m.room.member/${encodeURIComponent(guest.userId!)}`);
    await guest.ok("POST", `/_matrix/client/v3/rooms/${r}/leave`, {});
  });

  test("server behaviour: guests join only rooms with guest_access can_join, and leave when it is revoked", async () => {
    const owner = await registerUser(s, "owner3");
    // public_chat: guest_access forbidden.
    const closed = (await owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const j = await guest.post(`/_matrix/client/v3/join/${encodeURIComponent(closed)}`, {});
    expect([j.status, j.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    // Opened to guests, then closed again: the guest (only) leaves, and cannot come back.
    const bare = (await owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const bareEnc = encodeURIComponent(bare);
    await owner.ok("PUT", `/_matrix/client/v3/rooms/${bareEnc}/state/m.room.guest_access/`, { guest_access: "can_join" });
    await guest.ok("POST", `/_matrix/client/v3/rooms/${bareEnc}/join`, {});
    const user = await registerUser(s, "notguest");
    await user.ok("POST", `/_matrix/client/v3/join/${bareEnc}`, {});
    await owner.ok("PUT", `/_matrix/client/v3/rooms/${bareEnc}/state/m.room.guest_access/`, { guest_access: "forbidden" });
    const membership = async (u: string) => (await owner.ok("GET", `/_matrix/client/v3/rooms/${bareEnc}/state/m.room.member/${encodeURIComponent(u)}`)).membership;
    for (let i = 0; i < 50 && (await membership(guest.userId!)) !== "leave"; i++) await Bun.sleep(50);
    expect(await membership(guest.userId!)).toBe("leave");
    expect(await membership(user.userId!)).toBe("join");
    const again = await guest.post(`/_matrix/client/v3/rooms/${bareEnc}/join`, {});
    expect([again.status, again.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });
});
