// POST /user_directory/search and the searcher themselves: like any other user, they are found only
// when joined to a public room (sharing a room with oneself is not sharing one), so a user who joins
// and leaves a public room, or whose private room becomes public, appears and disappears (as
// Synapse's directory behaves and SyTest's 52user-directory expects).
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, leave, setState } from "../helpers/sync.ts";

const found = async (c: TestClient, term: string, who: string) => {
  const r = await c.ok("POST", "/_matrix/client/v3/user_directory/search", { search_term: term });
  return (r.results as Array<{ user_id: string }>).some((x) => x.user_id === who);
};

describeOnBackends("user directory: the searcher", (backend) => {
  const ctx = fixture<{ s: TestServer; creator: TestClient; user: TestClient }>(async (ctx) => {
    [ctx.s, ctx.creator, ctx.user] = await serverWithUsers({ backend }, "creator", "selfsearch");
    await ctx.user.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.user.userId!)}/displayname`, { displayname: "Quixotic Name" });
  });

  test("not found by themselves in no room or a private room; found while in a public one", async () => {
    expect(await found(ctx.user, "Quixotic", ctx.user.userId!)).toBe(false);
    const priv = await createRoom(ctx.creator, { preset: "private_chat", invite: [ctx.user.userId!] });
    await join(ctx.user, priv);
    expect(await found(ctx.user, "Quixotic", ctx.user.userId!)).toBe(false);
    expect(await found(ctx.creator, "Quixotic", ctx.user.userId!)).toBe(true);
    await setState(ctx.creator, priv, "m.room.join_rules", { join_rule: "public" });
    expect(await found(ctx.user, "Quixotic", ctx.user.userId!)).toBe(true);
    await leave(ctx.user, priv);
    expect(await found(ctx.user, "Quixotic", ctx.user.userId!)).toBe(false);
    const other = await registerUser(ctx.s, "bystander");
    expect(await found(other, "Quixotic", ctx.user.userId!)).toBe(false);
  });
});
