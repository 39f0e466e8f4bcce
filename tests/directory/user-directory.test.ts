// POST /user_directory/search: who can be found (shared rooms, public rooms, everyone local with
// search_all_users), ranking, case and accent insensitivity, limits; on both databases.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, leave, setState } from "../helpers/sync.ts";

const search = async (c: TestClient, term: string, limit?: number) => {
  const r = await c.post("/_matrix/client/v3/user_directory/search", limit === undefined ? { search_term: term } : { search_term: term, limit });
  if (r.status !== 200) throw new Error(`search → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/users", "POST", "/user_directory/search", 200, r.body);
  return r.body as { results: Array<{ user_id: string; display_name?: string; avatar_url?: string }>; limited: boolean };
};
const ids = (r: { results: Array<{ user_id: string }> }) => r.results.map((x) => x.user_id);
const setName = (c: TestClient, name: string) => c.ok("PUT", `/_matrix/client/v3/profile/${enc(c.userId!)}/displayname`, { displayname: name });

describeOnBackends("user directory", (backend) => {
  const ctx = fixture<{
    s: TestServer;
    searcher: TestClient;
    zoe: TestClient; // shares a private room with the searcher
    zoey: TestClient; // in a public room only
    hidden: TestClient; // in a private room without the searcher
    lonely: TestClient; // in no room
  }>(async (ctx) => {
    [ctx.s, ctx.searcher, ctx.zoe, ctx.zoey, ctx.hidden, ctx.lonely] = await serverWithUsers({ backend }, "searcher", "zoe", "zoey", "zoehidden", "zoelonely");
    await setName(ctx.zoe, "Zoë Ärger");
    await ctx.zoe.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.zoe.userId!)}/avatar_url`, { avatar_url: "mxc://example.org/zoe" });
    await setName(ctx.zoey, "Zoey Public");
    await setName(ctx.hidden, "Zoe Hidden");
    await setName(ctx.lonely, "Zoe Lonely");
    const priv = await createRoom(ctx.searcher, { preset: "private_chat", invite: [ctx.zoe.userId!] });
    await join(ctx.zoe, priv);
    const pub = await createRoom(ctx.zoey, { preset: "public_chat" });
    void pub;
    await createRoom(ctx.hidden, { preset: "private_chat" });
  });

  test("finds users sharing a room and users in public rooms, not others; accents and case ignored", async () => {
    const r = await search(ctx.searcher, "ZOE");
    expect(ids(r).sort()).toEqual([ctx.zoe.userId!, ctx.zoey.userId!].sort());
    expect(r.limited).toBe(false);
    const zoeEntry = r.results.find((x) => x.user_id === ctx.zoe.userId)!;
    expect(zoeEntry).toEqual({ user_id: ctx.zoe.userId!, display_name: "Zoë Ärger", avatar_url: "mxc://example.org/zoe" });
    // Accents ignored both ways.
    expect(ids(await search(ctx.searcher, "arger"))).toEqual([ctx.zoe.userId!]);
    expect(ids(await search(ctx.searcher, "ÄRGÉR"))).toEqual([ctx.zoe.userId!]);
    // By user ID, and several words must all match.
    expect(ids(await search(ctx.searcher, `@zoey:${ctx.s.serverName}`))).toEqual([ctx.zoey.userId!]);
    expect(ids(await search(ctx.searcher, "zoey public"))).toEqual([ctx.zoey.userId!]);
    expect(ids(await search(ctx.searcher, "zoey private"))).toEqual([]);
    expect(ids(await search(ctx.searcher, "Hidden"))).toEqual([]);
    expect(ids(await search(ctx.searcher, "  "))).toEqual([]);
  });

  test("ranking: exact and prefix matches first; limit and limited", async () => {
    // "zoe" is zoe's exact localpart; zoey is only a prefix match.
    const r = await search(ctx.searcher, "zoe");
    expect(ids(r)).toEqual([ctx.zoe.userId!, ctx.zoey.userId!]);
    const one = await search(ctx.searcher, "zoe", 1);
    expect(ids(one)).toEqual([ctx.zoe.userId!]);
    expect(one.limited).toBe(true);
    expectError(await ctx.searcher.post("/_matrix/client/v3/user_directory/search", {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.searcher.post("/_matrix/client/v3/user_directory/search", { search_term: 5 }), 400, "M_BAD_JSON");
    expectError(await ctx.searcher.post("/_matrix/client/v3/user_directory/search", { search_term: "x", limit: -1 }), 400, "M_INVALID_PARAM");
  });

  test("the directory follows membership and profile changes", async () => {
    // The hidden user joins a public room: now findable; leaving makes them hidden again.
    const pub = await createRoom(ctx.searcher, { preset: "public_chat" });
    await join(ctx.hidden, pub);
    expect(ids(await search(ctx.searcher, "hidden"))).toEqual([ctx.hidden.userId!]);
    await leave(ctx.hidden, pub);
    // Still shares nothing: the room is public but they left.
    expect(ids(await search(ctx.searcher, "hidden"))).toEqual([]);
    // A room turning public exposes its members.
    const room = await createRoom(ctx.hidden, { preset: "private_chat" });
    await setState(ctx.hidden, room, "m.room.join_rules", { join_rule: "public" });
    expect(ids(await search(ctx.searcher, "hidden"))).toEqual([ctx.hidden.userId!]);
    await setState(ctx.hidden, room, "m.room.join_rules", { join_rule: "invite" });
    expect(ids(await search(ctx.searcher, "hidden"))).toEqual([]);
    // A new display name is searchable at once.
    await setName(ctx.zoe, "Zed Renamed");
    expect(ids(await search(ctx.searcher, "renamed"))).toEqual([ctx.zoe.userId!]);
    expect((await search(ctx.searcher, "renamed")).results[0]!.display_name).toBe("Zed Renamed");
  });
});

describeOnBackends("user directory, search_all_users", (backend) => {
  const ctx = serverFixture({ backend, config: { user_directory: { search_all_users: true } } });

  test("every local user can be found, deactivated users cannot", async () => {
    const searcher = await registerUser(ctx.s, "searcher");
    const lonely = await registerUser(ctx.s, "lonelyheart");
    const named = await registerUser(ctx.s, "quiet");
    await setName(named, "Élodie Quiet");
    expect(ids(await search(searcher, "lonelyheart"))).toEqual([lonely.userId!]);
    expect(ids(await search(searcher, "elodie"))).toEqual([named.userId!]);
    await lonely.ok("POST", "/_matrix/client/v3/account/deactivate", {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: lonely.userId }, password: "password" },
    });
    expect(ids(await search(searcher, "lonelyheart"))).toEqual([]);
  });
});
