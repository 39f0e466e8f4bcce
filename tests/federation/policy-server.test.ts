// Policy servers (spec v1.18): in a room whose m.room.policy names a server with a joined member,
// hs asks that policy server to sign every local event but the m.room.policy state event itself
// (a refusal reaches the client verbatim and nothing is sent), and soft-fails received events that
// lack its valid signature after asking again. The policy server here is a test route on the second
// server signing with its own policy key and refusing "spam". Two servers over TLS, both databases.
import { expect, test } from "bun:test";
import { POLICY_SERVER_KEY_ID, computeEventSignature, hasValidPolicySignature } from "../../src/core/pdu.ts";
import { getRoomVersion } from "../../src/core/room-versions.ts";
import { generateSigningKey } from "../../src/core/signing.ts";
import type { App } from "../../src/http/app.ts";
import { authenticateServer } from "../../src/http/federation/auth.ts";
import type { Services } from "../../src/services/index.ts";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const policyKey = generateSigningKey("policy_server");
const asked: Array<{ origin: string; type: string; stateKey?: string; body?: string }> = [];

/** A minimal policy server: signs with policyKey, refuses events whose body mentions spam. */
function policyRoutes(app: App, svc: Services): void {
  app.post("/_matrix/policy/v1/sign", async ({ request, body, set }) => {
    const origin = await authenticateServer(svc, request, body);
    const ev = body as any;
    asked.push({ origin, type: ev.type, stateKey: ev.state_key, body: ev.content?.body });
    if (typeof ev.content?.body === "string" && ev.content.body.includes("spam")) {
      set.status = 400;
      return { errcode: "M_FORBIDDEN", error: "The message appears to contain possible spam" };
    }
    const rv = getRoomVersion((await svc.events.roomVersion(ev.room_id))?.id ?? "12")!;
    return { [svc.config.server_name]: { [POLICY_SERVER_KEY_ID]: computeEventSignature(ev, rv, policyKey) } };
  });
}

describeOnBackends("policy servers", (backend) => {
  let roomId = "";
  const bodies = async (c: TestClient) =>
    ((await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk as any[]).filter((e) => e.type === "m.room.message").map((e) => e.content.body);
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; bob: TestClient }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, extraRoutes: policyRoutes, config: { federation: { retry_min_interval_ms: 200 } } })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
    roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined), 15000, "bob joined");
  }, { timeout: 60000 });

  test("no policy server, or one with no member in the room: nobody is asked", async () => {
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.policy`, { via: "nobody.example.org", public_keys: { ed25519: policyKey.publicKeyBase64 } });
    asked.length = 0;
    await send(ctx.alice, roomId, "before");
    expect(asked).toEqual([]);
  });

  test("local events are signed by the policy server; a refusal reaches the client and nothing is sent", async () => {
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.policy`, { via: ctx.hs2.serverName, public_keys: { ed25519: policyKey.publicKeyBase64 } });
    // The m.room.policy state event itself was not sent for signing.
    expect(asked.some((a) => a.type === "m.room.policy" && a.stateKey === "")).toBe(false);
    const ok = await send(ctx.alice, roomId, "hello");
    expect(asked.at(-1)).toMatchObject({ origin: ctx.hs1.serverName, type: "m.room.message", body: "hello" });
    const stored = await ctx.hs1.hs.db.get<{ json: string }>("SELECT json FROM events WHERE event_id = ?", [ok]);
    const rv = (await ctx.hs1.hs.services.events.roomVersion(roomId))!;
    expect(hasValidPolicySignature(JSON.parse(stored!.json), rv, ctx.hs2.serverName, policyKey.publicKeyBase64)).toBe(true);
    // Bob's server accepts it (not soft-failed).
    await eventually(async () => ((await bodies(ctx.bob)).includes("hello") ? true : undefined), 15000, "hello on hs2");

    const refused = await ctx.alice.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/spam1`, { msgtype: "m.text", body: "buy spam now" });
    expectError(refused, 400, "M_FORBIDDEN");
    expect(refused.body.error).toBe("The message appears to contain possible spam");
    expect(await bodies(ctx.alice)).not.toContain("buy spam now");
  });

  test("received events: signed ones are accepted; one the policy server refuses is soft-failed", async () => {
    // Bob's server asks the policy server (itself) too.
    await send(ctx.bob, roomId, "hi from bob");
    await eventually(async () => ((await bodies(ctx.alice)).includes("hi from bob") ? true : undefined), 15000, "bob's message on hs1");
    // A server that does not ask (hs2 with the check switched off) sends spam: hs1 asks, is refused, soft-fails it.
    const sign = ctx.hs2.hs.services.events.policySign;
    ctx.hs2.hs.services.events.policySign = undefined;
    try {
      await send(ctx.bob, roomId, "unsigned spam from bob");
      await send(ctx.bob, roomId, "and then hello");
    } finally {
      ctx.hs2.hs.services.events.policySign = sign;
    }
    await eventually(async () => ((await bodies(ctx.alice)).includes("and then hello") ? true : undefined), 15000, "the later message on hs1");
    expect(await bodies(ctx.alice)).not.toContain("unsigned spam from bob");
    expect(asked.some((a) => a.origin === ctx.hs1.serverName && a.body === "unsigned spam from bob")).toBe(true);
    // Bob's own server shows it (it did not check): the point of the policy server is the others.
    expect(await bodies(ctx.bob)).toContain("unsigned spam from bob");
  }, 30000);
});
