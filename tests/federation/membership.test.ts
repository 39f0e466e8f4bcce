// More membership across servers: knocking, restricted joins authorised by the resident server,
// OpenID tokens checked by a third party through the federation userinfo endpoint.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";

const enc = encodeURIComponent;

describeOnBackends("federation membership", (backend) => {
  const ctx = federatedPairFixture({ backend });

  const member = async (c: TestClient, roomId: string, userId: string) => {
    const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`);
    return r.status === 200 ? (r.body.membership as string) : undefined;
  };

  test("bob knocks on alice's room from another server; alice lets him in", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }] })).room_id;
    const r = await ctx.bob.ok("POST", `/_matrix/client/v3/knock/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, { reason: "hello?" });
    expect(r.room_id).toBe(roomId);
    await eventually(async () => ((await member(ctx.alice, roomId, ctx.bob.userId!)) === "knock" ? true : undefined), 15000, "knock on hs1");
    // Bob sees the knock in his /sync.
    await eventually(async () => (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.knock?.[roomId], 15000, "knock in bob's sync");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await member(ctx.alice, roomId, ctx.bob.userId!)) === "join" ? true : undefined), 15000, "bob joined");
  }, 60000);

  test("restricted join: allowed through membership of another room, signed by the resident server", async () => {
    const space = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(space)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await member(ctx.alice, space, ctx.bob.userId!)) === "join" ? true : undefined), 15000, "bob in space");
    const restricted = (
      await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {
        initial_state: [{ type: "m.room.join_rules", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] } }],
      })
    ).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(restricted)}?via=${enc(ctx.hs1.serverName)}`, {});
    const join = await eventually(async () => {
      const r = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(restricted)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
      return r.status === 200 && r.body.membership === "join" ? r.body : undefined;
    }, 15000, "restricted join on hs1");
    expect(join.join_authorised_via_users_server).toBe(ctx.alice.userId);
    // A user who is in none of the allowed rooms is refused.
    const carol = await registerUser(ctx.hs2, "carol");
    const denied = await carol.post(`/_matrix/client/v3/join/${enc(restricted)}?via=${enc(ctx.hs1.serverName)}`, {});
    expect(denied.status).toBeGreaterThanOrEqual(400);
    expect(denied.status).toBeLessThan(500);
  }, 60000);

  test("OpenID: a token from hs1 is resolved to its user by hs1's userinfo endpoint", async () => {
    const tok = await ctx.alice.ok("POST", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/openid/request_token`, {});
    assertMatchesSpec("client-server/openid", "POST", "/user/{userId}/openid/request_token", 200, tok);
    expect(tok.matrix_server_name).toBe(ctx.hs1.serverName);
    const info = await fetch(`${ctx.hs1.federationUrl}/_matrix/federation/v1/openid/userinfo?access_token=${enc(tok.access_token)}`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(info.status).toBe(200);
    expect(await info.json()).toEqual({ sub: ctx.alice.userId });
    const bad = await fetch(`${ctx.hs1.federationUrl}/_matrix/federation/v1/openid/userinfo?access_token=nope`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(bad.status).toBe(401);
    expect((await bad.json()).errcode).toBe("M_UNKNOWN_TOKEN");
    expectError(await ctx.alice.post(`/_matrix/client/v3/user/${enc(ctx.bob.userId!)}/openid/request_token`, {}), 403, "M_FORBIDDEN");
  }, 30000);
});
