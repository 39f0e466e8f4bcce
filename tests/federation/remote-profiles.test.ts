// Remote profiles (issue 17, root cause 3): GET /profile of a user on another server is answered
// from a federation profile query (cached), and the query for one field of an existing user whose
// field is unset answers 200 without it (404 only for unknown users), so that the asking server
// does not take the whole profile for missing.
import { expect, test } from "bun:test";
import { expectError } from "../helpers/client.ts";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { FederationError } from "../../src/services/federation/client.ts";

const enc = encodeURIComponent;

describeOnBackends("remote profiles", (backend) => {
  const ctx = federatedPairFixture({ backend });

  test("a remote user's profile and fields are fetched over federation", async () => {
    await ctx.alice.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`, { displayname: "Alice Remote" });
    const p = await ctx.bob.ok("GET", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}`);
    expect(p.displayname).toBe("Alice Remote");
    expect(p.avatar_url).toBeUndefined();
    const d = await ctx.bob.ok("GET", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`);
    expect(d).toEqual({ displayname: "Alice Remote" });
    // Unset field of an existing remote user: 404 for that field only.
    expectError(await ctx.bob.request("GET", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/avatar_url`), 404, "M_NOT_FOUND");
    // Unknown remote user: 404.
    expectError(await ctx.bob.request("GET", `/_matrix/client/v3/profile/${enc(`@nobody:${ctx.hs1.serverName}`)}`), 404, "M_NOT_FOUND");
  }, 30000);

  test("an unreachable remote server is 502, not 404 or 500", async () => {
    const r = await ctx.bob.request("GET", `/_matrix/client/v3/profile/${enc("@x:localhost:1")}`);
    expect(r.status).toBe(502);
    expect(r.body.errcode).toBe("M_UNKNOWN");
  }, 30000);

  test("federation query/profile: an unset field of an existing user is 200 without it; unknown users 404", async () => {
    const client = ctx.hs2.hs.services.federation.client;
    const q = (user_id: string, field?: string) =>
      client.request<any>({ destination: ctx.hs1.serverName, method: "GET", path: "/_matrix/federation/v1/query/profile", query: { user_id, field } });
    expect(await q(ctx.alice.userId!, "avatar_url")).toEqual({});
    expect(await q(ctx.alice.userId!, "displayname")).toEqual({ displayname: "Alice Remote" });
    expect((await q(ctx.alice.userId!)).displayname).toBe("Alice Remote");
    const err = await q(`@nobody:${ctx.hs1.serverName}`, "displayname").catch((e) => e);
    expect(err).toBeInstanceOf(FederationError);
    expect((err as FederationError).status).toBe(404);
  }, 30000);

  test("the remote lookup hook is wired at start-up", () => {
    expect(ctx.hs2.hs.services.profiles.remoteLookup).toBeDefined();
    expect(() => ctx.hs2.hs.services.profiles.assertWired()).not.toThrow();
  });
});
