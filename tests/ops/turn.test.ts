// GET /_matrix/client/v3/voip/turnServer: coturn REST-API credentials from turn_shared_secret,
// fixed credentials, guests, and {} without TURN servers (both databases).
import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { expectError, registerUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"];

describeOnBackends("TURN credentials", (backend) => {
  const ctx = fixture<{ shared: TestServer; fixed: TestServer; none: TestServer }>(async (ctx) => {
    ctx.shared = await startTestServer({
      backend,
      config: { voip: { turn_uris: URIS, turn_shared_secret: "coturn-secret", turn_user_lifetime: 600, turn_allow_guests: false }, registration: { allow_guests: true } },
    });
    ctx.fixed = await startTestServer({ backend, config: { voip: { turn_uris: [URIS[0]], turn_username: "turnuser", turn_password: "turnpass" } } });
    ctx.none = await startTestServer({ backend });
  });

  test("shared secret: expiring username, HMAC-SHA1 password, as coturn checks them", async () => {
    const alice = await registerUser(ctx.shared, uniqueLocalpart("turn"));
    const before = Math.floor(Date.now() / 1000);
    const r = await alice.get("/_matrix/client/v3/voip/turnServer");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/voip", "GET", "/voip/turnServer", 200, r.body);
    const [expiry, user] = [r.body.username.slice(0, r.body.username.indexOf(":")), r.body.username.slice(r.body.username.indexOf(":") + 1)];
    expect(user).toBe(alice.userId);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 600);
    expect(Number(expiry)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(r.body.password).toBe(createHmac("sha1", "coturn-secret").update(r.body.username).digest("base64"));
    expect(r.body.uris).toEqual(URIS);
    expect(r.body.ttl).toBe(600);
    // r0 path too; no token is 401; guests are refused here (turn_allow_guests = false).
    expect((await alice.get("/_matrix/client/r0/voip/turnServer")).status).toBe(200);
    expectError(await new TestClient(ctx.shared.url).get("/_matrix/client/v3/voip/turnServer"), 401, "M_MISSING_TOKEN");
    const guest = await new TestClient(ctx.shared.url).ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    expectError(await new TestClient(ctx.shared.url, guest.access_token).get("/_matrix/client/v3/voip/turnServer"), 403, "M_GUEST_ACCESS_FORBIDDEN");
  });

  test("fixed credentials; no TURN server configured gives {}", async () => {
    const bob = await registerUser(ctx.fixed, uniqueLocalpart("turn"));
    expect(await bob.ok("GET", "/_matrix/client/v3/voip/turnServer")).toEqual({ username: "turnuser", password: "turnpass", uris: [URIS[0]], ttl: 86400 });
    const carol = await registerUser(ctx.none, uniqueLocalpart("turn"));
    expect(await carol.ok("GET", "/_matrix/client/v3/voip/turnServer")).toEqual({});
  });
});

test("turn_uris must be turn: or turns: URIs", async () => {
  const { validateConfig } = await import("../../src/config/load.ts");
  expect(() => validateConfig({ server_name: "x.org", voip: { turn_uris: ["http://turn.example.org"] } }, "t.toml", "/tmp")).toThrow(/voip.turn_uris/);
});
