// A real bridge SDK against hs: matrix-bot-sdk's Appservice class (npm), running in the test on
// loopback with a YAML registration file, on both databases. It registers its bot and ghost users
// with m.login.application_service, receives transactions (room.message events), sends messages as
// a ghost through as_token masquerading, answers user queries (an invite of an unknown ghost) and
// room alias queries (a join by an alias of its namespace), serves third-party lookups, and gets a
// ghost device's to-device messages and one-time key counts (MSC2409, MSC3202) as the SDK reads them.
import { expect, mock, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { freePort } from "../helpers/spawn.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { waitFor } from "../helpers/wait.ts";

// matrix-bot-sdk loads its end-to-end encryption binding (a native module downloaded by an install
// script, which npm does not run here) when imported; this bridge does not encrypt, so it gets a stub.
mock.module("@matrix-org/matrix-sdk-crypto-nodejs", () => new Proxy({}, { get: (_t, k) => (k === "__esModule" ? false : class {}) }));
const sdk = await import("matrix-bot-sdk");
sdk.LogService.setLevel(sdk.LogLevel.ERROR);
sdk.LogService.muteModule("Appservice");
sdk.LogService.muteModule("MatrixHttpClient");

describeOnBackends("matrix-bot-sdk Appservice against hs", (backend) => {
  const received: Array<{ roomId: string; event: any }> = [];
  const invites: string[] = [];
  const ephemeral: any[] = [];
  const otkCounts: any[] = [];

  const ctx = fixture<{ s: TestServer; appservice: InstanceType<typeof sdk.Appservice>; alice: TestClient }>(async (ctx) => {
    const port = freePort();
    const registration = {
      id: "sdk-bridge",
      url: `http://127.0.0.1:${port}`,
      as_token: "sdk_as_token_abcdef",
      hs_token: "sdk_hs_token_abcdef",
      sender_localpart: "_sdk_bot",
      namespaces: {
        users: [{ exclusive: true, regex: "@_sdk_.*:localhost" }],
        aliases: [{ exclusive: true, regex: "#_sdk_.*:localhost" }],
        rooms: [],
      },
      protocols: ["sdknet"],
      rate_limited: false,
    };
    const dir = tempDir("hs-sdk-");
    const file = join(dir, "sdk-registration.yaml");
    writeFileSync(
      file,
      [
        `id: ${registration.id}`,
        `url: "${registration.url}"`,
        `as_token: ${registration.as_token}`,
        `hs_token: ${registration.hs_token}`,
        `sender_localpart: ${registration.sender_localpart}`,
        "namespaces:",
        "  users:",
        '    - exclusive: true',
        '      regex: "@_sdk_.*:localhost"',
        "  aliases:",
        '    - exclusive: true',
        '      regex: "#_sdk_.*:localhost"',
        "  rooms: []",
        "protocols:",
        "  - sdknet",
        "rate_limited: false",
        "de.sorunome.msc2409.push_ephemeral: true",
        "org.matrix.msc3202: true",
        "",
      ].join("\n"),
    );
    ctx.s = await startTestServer({ backend, config: { appservices: { config_files: [file], retry_min_interval_ms: 50 } } });
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.appservice = new sdk.Appservice({
      homeserverName: "localhost",
      homeserverUrl: ctx.s.url,
      port,
      bindAddress: "127.0.0.1",
      registration: registration as never,
      storage: new sdk.MemoryStorageProvider(),
    });
    ctx.appservice.on("room.message", (roomId: string, event: any) => received.push({ roomId, event }));
    ctx.appservice.on("room.invite", (roomId: string) => invites.push(roomId));
    ctx.appservice.on("ephemeral.event", (event: any) => ephemeral.push(event));
    ctx.appservice.on("otk.counts", (counts: any) => otkCounts.push(counts));
    ctx.appservice.on("query.user", (userId: string, createUser: (r: unknown) => void) => {
      createUser(userId.startsWith("@_sdk_known") ? { display_name: "Known Ghost" } : false);
    });
    ctx.appservice.on("query.room", (alias: string, createRoom: (r: unknown) => void) => {
      createRoom(alias === "#_sdk_portal:localhost" ? { preset: "public_chat", name: "SDK portal" } : false);
    });
    ctx.appservice.on("thirdparty.protocol", (protocol: string, respond: (r: unknown) => void) => {
      respond({
        user_fields: ["nick"],
        location_fields: ["channel"],
        icon: "mxc://localhost/icon",
        field_types: { nick: { regexp: ".*", placeholder: "nick" }, channel: { regexp: "#.*", placeholder: "#chan" } },
        instances: [{ desc: "SDK network", fields: {}, network_id: "sdknet-main" }],
      });
    });
    await ctx.appservice.begin();
  }, { teardown: (ctx) => ctx.appservice?.stop() });

  test("the bot registers, is invited, joins, and receives messages through transactions", async () => {
    await ctx.appservice.botIntent.ensureRegistered();
    expect(await ctx.appservice.botClient.getUserId()).toBe("@_sdk_bot:localhost");
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Bridged room", invite: [ctx.appservice.botUserId] });
    await waitFor("the invite transaction", () => invites.includes(roomId));
    await ctx.appservice.botIntent.joinRoom(roomId);
    const eventId = await send(ctx.alice, roomId, "hello bridge");
    const got = await waitFor("alice's message", () => received.find((r) => r.event.event_id === eventId));
    expect(got.roomId).toBe(roomId);
    expect(got.event.content.body).toBe("hello bridge");
    expect(got.event.sender).toBe(ctx.alice.userId);
  });

  test("a ghost registers, joins and speaks; alice sees it with the ghost's display name", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const ghost = ctx.appservice.getIntentForSuffix("ircuser");
    expect(ghost.userId).toBe("@_sdk_ircuser:localhost");
    await ghost.ensureRegisteredAndJoined(roomId);
    await ghost.underlyingClient.setDisplayName("IRC User");
    const eventId = await ghost.sendText(roomId, "hi from the other network");
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
    expect(ev.sender).toBe("@_sdk_ircuser:localhost");
    expect(ev.content.body).toBe("hi from the other network");
    const members = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    expect(members.joined["@_sdk_ircuser:localhost"].display_name).toBe("IRC User");
    // The ghost's own message comes back to the bridge in a transaction too.
    await waitFor("the echo", () => received.some((r) => r.event.event_id === eventId));
  });

  test("user and alias queries: the SDK creates a ghost for an invite and a portal room for a join", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: "@_sdk_known_bob:localhost" });
    const profile = await ctx.alice.ok("GET", `/_matrix/client/v3/profile/${enc("@_sdk_known_bob:localhost")}`);
    expect(profile.displayname).toBe("Known Ghost");
    const unknown = await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: "@_sdk_stranger:localhost" });
    expect(unknown.status).toBe(404);

    const joined = await ctx.alice.ok("POST", `/_matrix/client/v3/join/${enc("#_sdk_portal:localhost")}`);
    const name = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(joined.room_id)}/state/m.room.name`);
    expect(name.name).toBe("SDK portal");
    expect((await ctx.alice.get(`/_matrix/client/v3/directory/room/${enc("#_sdk_nothing:localhost")}`)).status).toBe(404);
  });

  test("encryption data for a ghost's device (MSC2409, MSC3202): to-device messages and one-time key counts", async () => {
    const ghost = ctx.appservice.getIntentForSuffix("cryptoghost");
    await ghost.ensureRegistered("SDKDEV");
    // The SDK masquerades as the ghost's device with org.matrix.msc3202.device_id.
    const up = await ghost.underlyingClient.doRequest("POST", "/_matrix/client/v3/keys/upload", null, { one_time_keys: { "curve25519:AAAAAQ": "c2RrIG9uZS10aW1lIGtleQ" } });
    expect(up.one_time_key_counts.curve25519).toBe(1);
    const counts = await waitFor("the counts", () => otkCounts.find((c) => c[ghost.userId]?.SDKDEV?.curve25519 === 1));
    expect(counts[ghost.userId].SDKDEV.signed_curve25519).toBe(0);
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.sdk/sdk1", { messages: { [ghost.userId]: { SDKDEV: { hello: "ghost" } } } });
    const ev = await waitFor("the to-device event", () => ephemeral.find((e) => e.type === "m.test.sdk"));
    expect(ev).toMatchObject({ sender: ctx.alice.userId, content: { hello: "ghost" }, to_user_id: ghost.userId, to_device_id: "SDKDEV" });
  });

  test("third-party protocols come from the SDK's handler", async () => {
    const protocols = await ctx.alice.ok("GET", "/_matrix/client/v3/thirdparty/protocols");
    assertMatchesSpec("client-server/third_party_lookup", "GET", "/thirdparty/protocols", 200, protocols);
    expect(protocols.sdknet.instances[0].instance_id).toBe("sdk-bridge|sdknet-main");
  });
});
