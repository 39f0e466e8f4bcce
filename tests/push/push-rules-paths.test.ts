// Push rule paths (pushrules.yaml) as clients use them, including the ones Synapse serves beyond the
// spec's list (GET /pushrules/global/{kind}/), and a clear 400 for malformed paths instead of 404
// M_UNRECOGNIZED: a scope or kind without its trailing slash, an unknown scope, kind or attribute,
// a missing or empty rule ID. Room rules may be named by an alias (kept, as Synapse keeps them).
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const P = "/_matrix/client/v3/pushrules";

describeOnBackends("push rule paths", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.alice = await registerUser(ctx.s, "alice");
  });

  test("the rules of one kind, one rule, its attributes; with trailing slashes as the spec has them", async () => {
    await ctx.alice.ok("PUT", `${P}/global/sender/${encodeURIComponent("@spammer:example.com")}`, { actions: ["dont_notify"] });
    await ctx.alice.ok("PUT", `${P}/global/room/${encodeURIComponent("#spam:example.com")}`, { actions: ["dont_notify"] });
    const all = await ctx.alice.ok("GET", `${P}/`);
    expect(all.global.sender.map((r: { rule_id: string }) => r.rule_id)).toContain("@spammer:example.com");
    expect((await ctx.alice.ok("GET", `${P}/global/`)).room.map((r: { rule_id: string }) => r.rule_id)).toContain("#spam:example.com");
    const senders = await ctx.alice.ok("GET", `${P}/global/sender/`);
    expect(senders.map((r: { rule_id: string }) => r.rule_id)).toEqual(["@spammer:example.com"]);
    expect((await ctx.alice.ok("GET", `${P}/global/sender/${encodeURIComponent("@spammer:example.com")}`)).actions).toEqual(["dont_notify"]);
    await ctx.alice.ok("PUT", `${P}/global/sender/${encodeURIComponent("@spammer:example.com")}/enabled`, { enabled: false });
    expect(await ctx.alice.ok("GET", `${P}/global/sender/${encodeURIComponent("@spammer:example.com")}/enabled`)).toEqual({ enabled: false });
    expect(await ctx.alice.ok("GET", `${P}/global/override/.m.rule.master/actions`)).toEqual({ actions: [] });
    await ctx.alice.ok("DELETE", `${P}/global/room/${encodeURIComponent("#spam:example.com")}`);
    expectError(await ctx.alice.get(`${P}/global/room/${encodeURIComponent("#spam:example.com")}`), 404, "M_NOT_FOUND");
  });

  test("malformed paths: 400 M_INVALID_PARAM; GET /pushrules without the slash is no endpoint", async () => {
    for (const p of ["/global", "/global/room", "/not_a_scope/", "/global/not_a_template/", "/global/override/.m.rule.master/not_an_attr"]) {
      expectError(await ctx.alice.get(P + p), 400, "M_INVALID_PARAM");
    }
    for (const p of ["/", "/not_a_scope/room/x", "/global", "/global/room", "/global/room/", "/global/not_a_template/foo", "/global/override/.m.rule.master/not_an_attr"]) {
      expectError(await ctx.alice.put(P + p, { enabled: true, actions: ["notify"] }), 400, "M_INVALID_PARAM");
    }
    expectError(await ctx.alice.get(P), 404, "M_UNRECOGNIZED");
    expectError(await ctx.alice.get(`${P}/global/override/not_a_rule_id`), 404, "M_NOT_FOUND");
  });
});
