// Remote users in the user directory (issue 17, root cause 7): the members a room already has when
// one of our users joins it over federation enter our directory (they come in the join's state,
// not as events of their own), and remote users who join our rooms do too.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

describeOnBackends("user directory with remote users", (backend) => {
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; charlie: TestClient; bob: TestClient }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.charlie = await registerUser(ctx.hs1, "charlie");
    ctx.bob = await registerUser(ctx.hs2, "bob");
  }, { timeout: 60000 });

  const search = async (c: TestClient, term: string) =>
    ((await c.ok("POST", "/_matrix/client/v3/user_directory/search", { search_term: term })).results as Array<{ user_id: string; display_name?: string }>);

  test("members already in a remote room are found after joining it; the remote joiner is found there", async () => {
    await ctx.charlie.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.charlie.userId!)}/displayname`, { displayname: "Charlie Resident" });
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    await ctx.charlie.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    expect(await search(ctx.bob, "Resident")).toEqual([]);
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    const found = await search(ctx.bob, "Resident");
    expect(found).toEqual([{ user_id: ctx.charlie.userId!, display_name: "Charlie Resident" }]);
    // And on hs1, bob (remote) is found by the room's members.
    const r = await eventually(async () => {
      const res = await search(ctx.alice, "bob");
      return res.some((u) => u.user_id === ctx.bob.userId) ? res : undefined;
    }, 15000, "bob in hs1's directory");
    expect(r.find((u) => u.user_id === ctx.bob.userId)).toBeDefined();

    // Once bob (hs2's only member) leaves, hs2's view of the room is stale: charlie is no longer
    // found through it.
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    expect(await search(ctx.bob, "Resident")).toEqual([]);
  }, 60000);
});
