// Application services over HTTP (both databases), against a fake application service the test
// runs on loopback: as_token clients and masquerading, m.login.application_service registration
// and login, exclusive namespaces, transactions (interest, ts, retries with the same ID, after a
// restart), user and alias queries, ping, third-party lookups, the appservice room directory and
// ephemeral data.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { TestClient, expectError, registerUser } from "../helpers/client.ts";
import { assertMatchesSpec, assertRequestMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeAppservice } from "../helpers/appservice.ts";

const AS_TOKEN = "as_token_bridge_0123456789";
const HS_TOKEN = "hs_token_bridge_0123456789";

function registrationFile(dir: string, name: string, doc: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

const PROTOCOL = {
  user_fields: ["network", "nickname"],
  location_fields: ["network", "channel"],
  icon: "mxc://example.org/aBcDeFgH",
  field_types: {
    network: { regexp: "([a-z0-9]+\\.)*[a-z0-9]+", placeholder: "irc.example.org" },
    nickname: { regexp: "[^\\s#]+", placeholder: "username" },
    channel: { regexp: "#[^\\s]+", placeholder: "#foobar" },
  },
  instances: [{ desc: "Libera", icon: "mxc://example.org/JkLmNoPq", fields: { network: "libera.chat" }, network_id: "libera" }],
};

describeOnBackends("application services", (backend) => {
  const asPath = (p: string, userId?: string) => (userId ? `${p}${p.includes("?") ? "&" : "?"}user_id=${enc(userId)}` : p);

  const ctx = fixture<{ s: TestServer; fake: FakeAppservice; bot: TestClient; alice: TestClient; deadPort: number }>(async (ctx) => {
    ctx.fake = new FakeAppservice(HS_TOKEN);
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    ctx.deadPort = dead.port!;
    dead.stop(true);
    const dir = tempDir("hs-as-");
    const files = [
      registrationFile(dir, "bridge.json", {
        id: "bridge",
        url: ctx.fake.url,
        as_token: AS_TOKEN,
        hs_token: HS_TOKEN,
        sender_localpart: "_bridge_bot",
        namespaces: {
          users: [
            { exclusive: true, regex: "@_bridge_.*:localhost" },
            { exclusive: true, regex: "@irc-.*:localhost" },
          ],
          aliases: [{ exclusive: true, regex: "#_bridge_.*:localhost" }],
          rooms: [],
        },
        protocols: ["irc"],
        receive_ephemeral: true,
      }),
      registrationFile(dir, "nourl.yaml", { id: "nourl", url: null, as_token: "as_nourl", hs_token: "hs_nourl", sender_localpart: "nourl_bot", namespaces: {} }),
      registrationFile(dir, "down.yaml", {
        id: "down",
        url: `http://127.0.0.1:${ctx.deadPort}`,
        as_token: "as_down",
        hs_token: "hs_down",
        sender_localpart: "down_bot",
        namespaces: { users: [{ exclusive: false, regex: "@down_.*" }] },
      }),
    ];
    ctx.s = await startTestServer({
      backend,
      config: { registration: { enabled: true }, appservices: { config_files: files, retry_min_interval_ms: 20 } },
    });
    ctx.bot = new TestClient(ctx.s.url, AS_TOKEN);
    ctx.alice = await registerUser(ctx.s, "alice");
    // The fake service creates ghosts and portal rooms when the homeserver asks about them.
    ctx.fake.handler = async (r, url) => {
      const user = /^\/_matrix\/app\/v1\/users\/(.+)$/.exec(url.pathname);
      if (user) {
        const userId = decodeURIComponent(user[1]!);
        if (!userId.startsWith("@_bridge_known")) return Response.json({}, { status: 404 });
        await ctx.bot.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: userId.slice(1).split(":")[0], inhibit_login: true });
        return Response.json({});
      }
      const alias = /^\/_matrix\/app\/v1\/rooms\/(.+)$/.exec(url.pathname);
      if (alias) {
        const a = decodeURIComponent(alias[1]!);
        if (a !== "#_bridge_portal:localhost") return Response.json({}, { status: 404 });
        await ctx.bot.ok("POST", "/_matrix/client/v3/createRoom", { room_alias_name: "_bridge_portal", preset: "public_chat", name: "Portal" });
        return Response.json({});
      }
      if (url.pathname === "/_matrix/app/v1/thirdparty/protocol/irc") return Response.json(PROTOCOL);
      if (url.pathname === "/_matrix/app/v1/thirdparty/location/irc") {
        if (url.searchParams.get("channel") !== "#matrix") return Response.json([]);
        return Response.json([{ alias: "#_bridge_portal:localhost", protocol: "irc", fields: { network: "libera.chat", channel: "#matrix" } }]);
      }
      if (url.pathname === "/_matrix/app/v1/thirdparty/user/irc") {
        return Response.json([{ userid: "@_bridge_nick:localhost", protocol: "irc", fields: { network: "libera.chat", nickname: url.searchParams.get("nickname") } }]);
      }
      if (url.pathname === "/_matrix/app/v1/thirdparty/location") {
        return Response.json([{ alias: url.searchParams.get("alias"), protocol: "irc", fields: { network: "libera.chat", channel: "#matrix" } }]);
      }
      if (url.pathname === "/_matrix/app/v1/thirdparty/user") return Response.json([]);
      return undefined;
    };
  }, { teardown: (ctx) => ctx.fake.stop() });

  test("as_token: the sender, masquerading within the namespace, device_id", async () => {
    expect((await ctx.bot.ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe("@_bridge_bot:localhost");
    // Not registered yet.
    expectError(await ctx.bot.get(asPath("/_matrix/client/v3/account/whoami", "@_bridge_ghost1:localhost")), 403, "M_FORBIDDEN");
    const reg = await ctx.bot.post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_ghost1" });
    expect(reg.status).toBe(200);
    assertMatchesSpec("client-server/registration", "POST", "/register", 200, reg.body);
    expect(reg.body.user_id).toBe("@_bridge_ghost1:localhost");
    const who = await ctx.bot.ok("GET", asPath("/_matrix/client/v3/account/whoami", "@_bridge_ghost1:localhost"));
    expect(who.user_id).toBe("@_bridge_ghost1:localhost");
    const withDevice = await ctx.bot.ok("GET", `/_matrix/client/v3/account/whoami?user_id=${enc("@_bridge_ghost1:localhost")}&device_id=${reg.body.device_id}`);
    expect(withDevice.device_id).toBe(reg.body.device_id);
    expectError(await ctx.bot.get(`/_matrix/client/v3/account/whoami?user_id=${enc("@_bridge_ghost1:localhost")}&device_id=NOPE`), 400, "M_UNKNOWN_DEVICE");
    // Outside the namespace.
    expectError(await ctx.bot.get(asPath("/_matrix/client/v3/account/whoami", ctx.alice.userId)), 403, "M_FORBIDDEN");
    // A user's own token ignores user_id.
    expect((await ctx.alice.ok("GET", asPath("/_matrix/client/v3/account/whoami", "@_bridge_ghost1:localhost"))).user_id).toBe(ctx.alice.userId);
  });

  test("device management: services create ghosts' devices with PUT and delete them without UIA", async () => {
    const ghost = "@_bridge_devices:localhost";
    await ctx.bot.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_devices", inhibit_login: true });
    await ctx.bot.ok("PUT", asPath("/_matrix/client/v3/devices/BRIDGEDEV", ghost), { display_name: "Bridge device" });
    const devices = await ctx.bot.ok("GET", asPath("/_matrix/client/v3/devices", ghost));
    expect(devices.devices.map((d: any) => [d.device_id, d.display_name])).toEqual([["BRIDGEDEV", "Bridge device"]]);
    const who = await ctx.bot.ok("GET", `/_matrix/client/v3/account/whoami?user_id=${enc(ghost)}&device_id=BRIDGEDEV`);
    expect(who.device_id).toBe("BRIDGEDEV");
    const del = await ctx.bot.request("DELETE", asPath("/_matrix/client/v3/devices/BRIDGEDEV", ghost), {});
    expect(del.status).toBe(200);
    expect((await ctx.bot.ok("GET", asPath("/_matrix/client/v3/devices", ghost))).devices).toEqual([]);
    // Users can only rename their devices, and deleting needs user-interactive auth.
    expectError(await ctx.alice.put("/_matrix/client/v3/devices/NEWDEV", { display_name: "x" }), 404, "M_NOT_FOUND");
    expect((await ctx.alice.request("DELETE", `/_matrix/client/v3/devices/${ctx.alice.deviceId}`, {})).status).toBe(401);
  });

  test("services deactivate their users without user-interactive auth; users still need it", async () => {
    const ghost = "@_bridge_leaving:localhost";
    await ctx.bot.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_leaving" });
    await ctx.bot.ok("POST", asPath("/_matrix/client/v3/account/deactivate", ghost), {});
    expectError(await ctx.bot.post("/_matrix/client/v3/login", { type: "m.login.application_service", identifier: { type: "m.id.user", user: ghost } }), 403, "M_USER_DEACTIVATED");
    expect((await ctx.alice.post("/_matrix/client/v3/account/deactivate", {})).status).toBe(401);
  });

  test("m.login.application_service registration and login; M_EXCLUSIVE both ways", async () => {
    const anon = new TestClient(ctx.s.url);
    expectError(await anon.post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_x" }), 401, "M_MISSING_TOKEN");
    expectError(await new TestClient(ctx.s.url, "wrong").post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_x" }), 401, "M_UNKNOWN_TOKEN");
    expectError(await ctx.bot.post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "outsider" }), 400, "M_EXCLUSIVE");
    expectError(await ctx.bot.post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "_Bridge_Caps" }), 400, "M_INVALID_USERNAME");
    expectError(await ctx.bot.post("/_matrix/client/v3/register", { type: "m.login.application_service" }), 400, "M_MISSING_PARAM");
    const inhibited = await ctx.bot.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_ghost2", inhibit_login: true });
    expect(inhibited).toEqual({ user_id: "@_bridge_ghost2:localhost", home_server: "localhost" });
    expectError(await ctx.bot.post("/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_ghost2" }), 400, "M_USER_IN_USE");
    // Humans cannot take IDs in the exclusive namespace.
    expectError(await anon.get("/_matrix/client/v3/register/available?username=irc-human"), 400, "M_EXCLUSIVE");
    expectError(await anon.post("/_matrix/client/v3/register", { username: "irc-human", password: "p4ssw0rd-long" }), 400, "M_EXCLUSIVE");
    expect((await anon.ok("GET", "/_matrix/client/v3/register/available?username=human")).available).toBe(true);

    const flows = await anon.ok("GET", "/_matrix/client/v3/login");
    expect(flows.flows.map((f: any) => f.type)).toContain("m.login.application_service");
    const login = await ctx.bot.post("/_matrix/client/v3/login", { type: "m.login.application_service", identifier: { type: "m.id.user", user: "_bridge_ghost2" } });
    expect(login.status).toBe(200);
    assertMatchesSpec("client-server/login", "POST", "/login", 200, login.body);
    expect((await new TestClient(ctx.s.url, login.body.access_token).ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe("@_bridge_ghost2:localhost");
    expectError(await ctx.bot.post("/_matrix/client/v3/login", { type: "m.login.application_service", identifier: { type: "m.id.user", user: "alice" } }), 403, "M_EXCLUSIVE");
    expectError(await anon.post("/_matrix/client/v3/login", { type: "m.login.application_service", identifier: { type: "m.id.user", user: "_bridge_ghost2" } }), 401, "M_MISSING_TOKEN");
  });

  test("transactions: interesting events with ts, the ghost asked for before an invite, nothing else", async () => {
    const before = ctx.fake.transactions().length;
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    // Rooms without the service's users are not sent.
    const unrelated = await createRoom(ctx.alice, {});
    await send(ctx.alice, unrelated, "not for the bridge");
    // Inviting an unknown user of the namespace asks the service first (it registers the ghost).
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: "@_bridge_known1:localhost" });
    expect(ctx.fake.requests.some((r) => r.path === `/_matrix/app/v1/users/${enc("@_bridge_known1:localhost")}`)).toBe(true);
    // An unknown user the service does not know stays unknown.
    const unknown = await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: "@_bridge_nobody:localhost" });
    expect(unknown.status).toBe(404);
    await ctx.bot.ok("POST", asPath(`/_matrix/client/v3/join/${enc(roomId)}`, "@_bridge_known1:localhost"));
    const ts = 1_600_000_000_000;
    const sent = await ctx.bot.ok("PUT", asPath(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1?ts=${ts}`, "@_bridge_known1:localhost"), {
      msgtype: "m.text",
      body: "from IRC",
    });
    expectError(await ctx.bot.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t2?ts=abc&user_id=${enc("@_bridge_known1:localhost")}`, { body: "x" }), 400, "M_INVALID_PARAM");
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(sent.event_id)}`);
    expect(ev.origin_server_ts).toBe(ts);
    const aliceMsg = await send(ctx.alice, roomId, "hello bridge");

    const got: any[] = await waitFor("the message in a transaction", () => ctx.fake.events().find((e) => e.event_id === aliceMsg) && ctx.fake.events());
    expect(got.some((e) => e.event_id === sent.event_id && e.origin_server_ts === ts)).toBe(true);
    expect(got.some((e) => e.type === "m.room.member" && e.state_key === "@_bridge_known1:localhost" && e.content.membership === "invite")).toBe(true);
    expect(got.some((e) => e.room_id === unrelated)).toBe(false);
    const txns = ctx.fake.transactions().slice(before);
    for (const t of txns) {
      assertRequestMatchesSpec("application-service/transactions", "PUT", "/transactions/{txnId}", t.body);
      expect(t.body.events.length).toBeGreaterThan(0);
    }
    expect(ctx.fake.requests.filter((r) => r.path.startsWith("/_matrix/app/v1/transactions/")).every((r) => r.auth === `Bearer ${HS_TOKEN}` && r.method === "PUT")).toBe(true);
    // Transaction IDs increase.
    const ids = ctx.fake.transactions().map((t) => Number(t.txnId));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  test("a failed transaction is retried with the same ID and the same events", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", invite: ["@_bridge_bot:localhost"] });
    await ctx.bot.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`);
    await waitFor("the join", () => ctx.fake.events().some((e) => e.room_id === roomId && e.sender === "@_bridge_bot:localhost"));
    ctx.fake.failTransactions = 2;
    const start = ctx.fake.requests.length;
    const eventId = await send(ctx.alice, roomId, "retry me");
    await waitFor("the third attempt", () => ctx.fake.requests.slice(start).filter((r) => r.path.includes("/transactions/")).length >= 3);
    const attempts = ctx.fake.requests.slice(start).filter((r) => r.path.includes("/transactions/"));
    expect(new Set(attempts.map((a) => a.path)).size).toBe(1);
    expect(attempts.map((a) => JSON.stringify(a.body))).toEqual(Array(attempts.length).fill(JSON.stringify(attempts[0]!.body)));
    expect(attempts[0]!.body.events.map((e: any) => e.event_id)).toContain(eventId);
  });

  test("transactions survive a restart while the service is down", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", invite: ["@_bridge_bot:localhost"] });
    await ctx.bot.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`);
    await waitFor("the join", () => ctx.fake.events().some((e) => e.room_id === roomId && e.sender === "@_bridge_bot:localhost"));
    ctx.fake.failTransactions = 1_000_000;
    const eventId = await send(ctx.alice, roomId, "while you were out");
    await waitFor("an attempt", () => ctx.fake.requests.some((r) => r.body?.events?.some((e: any) => e.event_id === eventId)));
    await ctx.s.restart();
    ctx.fake.failTransactions = 0;
    // The restarted server delivers the stored transaction (a ping retries at once).
    const pinged = await ctx.bot.post("/_matrix/client/v1/appservice/bridge/ping", {});
    expect(pinged.status).toBe(200);
    await waitFor("delivery after the restart", () => ctx.fake.transactions().some((t) => t.body.events.some((e: any) => e.event_id === eventId)));
  });

  test("aliases: an unknown alias in the namespace is queried; exclusive aliases are the service's", async () => {
    const joined = await ctx.alice.ok("POST", `/_matrix/client/v3/join/${enc("#_bridge_portal:localhost")}`);
    expect(joined.room_id).toMatch(/^!/);
    expect(ctx.fake.requests.some((r) => r.path === `/_matrix/app/v1/rooms/${enc("#_bridge_portal:localhost")}`)).toBe(true);
    const resolved = await ctx.alice.ok("GET", `/_matrix/client/v3/directory/room/${enc("#_bridge_portal:localhost")}`);
    expect(resolved.room_id).toBe(joined.room_id);
    expectError(await ctx.alice.get(`/_matrix/client/v3/directory/room/${enc("#_bridge_nothing:localhost")}`), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { room_alias_name: "_bridge_mine" }), 400, "M_EXCLUSIVE");
    const room = await createRoom(ctx.alice, {});
    expectError(await ctx.alice.put(`/_matrix/client/v3/directory/room/${enc("#_bridge_mine:localhost")}`, { room_id: room }), 400, "M_EXCLUSIVE");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/directory/room/${enc("#alices:localhost")}`, { room_id: room });
    // The service itself needs no membership for an alias in its namespace (alice's room); a
    // user needs to be in the room.
    await ctx.bot.ok("PUT", `/_matrix/client/v3/directory/room/${enc("#_bridge_mine:localhost")}`, { room_id: room });
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/directory/room/${enc("#_bridge_mine:localhost")}`)).room_id).toBe(room);
    const carol = await registerUser(ctx.s, "carol_alias");
    expectError(await carol.put(`/_matrix/client/v3/directory/room/${enc("#carols:localhost")}`, { room_id: room }), 403, "M_FORBIDDEN");
  });

  test("ping: success, wrong token, no URL, unreachable", async () => {
    const r = await ctx.bot.post("/_matrix/client/v1/appservice/bridge/ping", { transaction_id: "meow" });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/appservice_ping", "POST", "/appservice/{appserviceId}/ping", 200, r.body);
    const ping = ctx.fake.requests.findLast((x) => x.path === "/_matrix/app/v1/ping");
    expect(ping?.body).toEqual({ transaction_id: "meow" });
    assertRequestMatchesSpec("application-service/ping", "POST", "/ping", ping!.body);
    expectError(await ctx.alice.post("/_matrix/client/v1/appservice/bridge/ping", {}), 403, "M_FORBIDDEN");
    expectError(await ctx.bot.post("/_matrix/client/v1/appservice/nourl/ping", {}), 403, "M_FORBIDDEN");
    expectError(await new TestClient(ctx.s.url, "as_nourl").post("/_matrix/client/v1/appservice/nourl/ping", {}), 400, "M_URL_NOT_SET");
    const down = await new TestClient(ctx.s.url, "as_down").post("/_matrix/client/v1/appservice/down/ping", {});
    expectError(down, 502, "M_CONNECTION_FAILED");
    assertMatchesSpec("client-server/appservice_ping", "POST", "/appservice/{appserviceId}/ping", 502, down.body);
    expectError(await ctx.bot.post("/_matrix/client/v1/appservice/bridge/ping", { transaction_id: 5 }), 400, "M_BAD_JSON");
    // The service refuses the hs_token: 502 M_BAD_STATUS with its answer.
    const old = ctx.fake.handler;
    ctx.fake.handler = (rec) => (rec.path === "/_matrix/app/v1/ping" ? Response.json({ errcode: "M_FORBIDDEN" }, { status: 403 }) : old(rec, new URL(`http://x${rec.path}`)));
    try {
      const bad = await ctx.bot.post("/_matrix/client/v1/appservice/bridge/ping", {});
      expectError(bad, 502, "M_BAD_STATUS");
      expect(bad.body.status).toBe(403);
      expect(JSON.parse(bad.body.body)).toEqual({ errcode: "M_FORBIDDEN" });
      assertMatchesSpec("client-server/appservice_ping", "POST", "/appservice/{appserviceId}/ping", 502, bad.body);
    } finally {
      ctx.fake.handler = old;
    }
  });

  test("third-party lookups are answered by the service", async () => {
    const protocols = await ctx.alice.ok("GET", "/_matrix/client/v3/thirdparty/protocols");
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/protocols", 200, protocols);
    expect(protocols.irc.instances[0].instance_id).toBe("bridge|libera");
    const irc = await ctx.alice.ok("GET", "/_matrix/client/v3/thirdparty/protocol/irc");
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/protocol/{protocol}", 200, irc);
    expectError(await ctx.alice.get("/_matrix/client/v3/thirdparty/protocol/xmpp"), 404, "M_NOT_FOUND");

    const loc = await ctx.alice.ok("GET", `/_matrix/client/v3/thirdparty/location/irc?network=libera.chat&channel=${enc("#matrix")}`);
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/location/{protocol}", 200, loc);
    expect(loc[0].alias).toBe("#_bridge_portal:localhost");
    const asked = ctx.fake.requests.findLast((r) => r.path.startsWith("/_matrix/app/v1/thirdparty/location/irc"))!;
    expect(new URL(`http://x${asked.path}`).searchParams.get("channel")).toBe("#matrix");
    expectError(await ctx.alice.get("/_matrix/client/v3/thirdparty/location/irc?channel=nothing"), 404, "M_NOT_FOUND");
    const users = await ctx.alice.ok("GET", "/_matrix/client/v3/thirdparty/user/irc?nickname=bob");
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/user/{protocol}", 200, users);
    expect(users[0].fields.nickname).toBe("bob");
    const rev = await ctx.alice.ok("GET", `/_matrix/client/v3/thirdparty/location?alias=${enc("#_bridge_portal:localhost")}`);
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/location", 200, rev);
    expectError(await ctx.alice.get("/_matrix/client/v3/thirdparty/location"), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v3/thirdparty/user?userid=${enc("@x:localhost")}`), 404, "M_NOT_FOUND");
    expectError(await new TestClient(ctx.s.url).get("/_matrix/client/v3/thirdparty/protocols"), 401, "M_MISSING_TOKEN");
  });

  test("appservice room directory: only services publish; /publicRooms lists the network's rooms", async () => {
    const roomId = await createRoom(ctx.bot, { preset: "public_chat", name: "Bridged #matrix" });
    expectError(await ctx.alice.put(`/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, { visibility: "public" }), 403, "M_FORBIDDEN");
    expectError(await ctx.bot.put(`/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, { visibility: "sideways" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.bot.put(`/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, {}), 400, "M_MISSING_PARAM");
    const put = await ctx.bot.put(`/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, { visibility: "public" });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/appservice_room_directory", "PUT", "/directory/list/appservice/{networkId}/{roomId}", 200, put.body);
    const listed = await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { third_party_instance_id: "bridge|libera" });
    expect(listed.chunk.map((r: any) => r.room_id)).toEqual([roomId]);
    // Not in the server's own directory.
    const main = await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", {});
    expect(main.chunk.map((r: any) => r.room_id)).not.toContain(roomId);
    // include_all_networks: the main list and every network's.
    const all = await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { include_all_networks: true });
    expect(all.chunk.map((r: any) => r.room_id)).toContain(roomId);
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms", { include_all_networks: true, third_party_instance_id: "bridge|libera" }), 400, "M_INVALID_PARAM");
    await ctx.bot.ok("PUT", `/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, { visibility: "private" });
    expect((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { third_party_instance_id: "bridge|libera" })).chunk).toEqual([]);
    expect((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { include_all_networks: true })).chunk.map((r: any) => r.room_id)).not.toContain(roomId);
    // DELETE unpublishes too (as Synapse serves it).
    await ctx.bot.ok("PUT", `/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`, { visibility: "public" });
    await ctx.bot.ok("DELETE", `/_matrix/client/v3/directory/list/appservice/libera/${enc(roomId)}`);
    expect((await ctx.alice.ok("POST", "/_matrix/client/v3/publicRooms", { third_party_instance_id: "bridge|libera" })).chunk).toEqual([]);
  });

  test("receive_ephemeral: typing in a room of the service's users", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", invite: ["@_bridge_bot:localhost"] });
    await ctx.bot.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`);
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(ctx.alice.userId!)}`, { typing: true, timeout: 10000 });
    const typing = await waitFor("typing", () =>
      ctx.fake.transactions().flatMap((t) => t.body.ephemeral ?? []).find((e: any) => e.type === "m.typing" && e.room_id === roomId),
    );
    expect(typing.content.user_ids).toContain(ctx.alice.userId);
    const txn = ctx.fake.transactions().find((t) => (t.body.ephemeral ?? []).includes(typing))!;
    assertRequestMatchesSpec("application-service/transactions", "PUT", "/transactions/{txnId}", txn.body);
    // Read receipts too, with the room ID added.
    const eventId = await send(ctx.alice, roomId, "read this");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {});
    const receipt = await waitFor("the receipt", () =>
      ctx.fake.transactions().flatMap((t) => t.body.ephemeral ?? []).find((e: any) => e.type === "m.receipt" && e.room_id === roomId),
    );
    expect(Object.keys(receipt.content[eventId]["m.read"])).toEqual([ctx.alice.userId!]);
    expect(typeof receipt.content[eventId]["m.read"][ctx.alice.userId!].ts).toBe("number");
  });
});

describe("application service registration at start-up", () => {
  test("an invalid file stops the server with the file and the field", async () => {
    const dir = tempDir("hs-as-bad-");
    const file = registrationFile(dir, "bad.json", { id: "x", url: "http://127.0.0.1:1", as_token: "a", hs_token: "h", sender_localpart: "b", namespaces: { users: [{ regex: 5, exclusive: true }] } });
    await expect(startTestServer({ config: { appservices: { config_files: [file] } } })).rejects.toThrow(`${file}: namespaces.users[0].regex: expected a regular expression (string), found number 5`);
  });
});
