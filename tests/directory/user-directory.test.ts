// POST /user_directory/search: who can be found (shared rooms, public rooms, everyone local with
// search_all_users), ranking, case and accent insensitivity, limits; on both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, leave, setState } from "../helpers/sync.ts";

const search = async (c: TestClient, term: string, limit?: number) => {
  const r = await c.post("/_matrix/client/v3/user_directory/search", limit === undefined ? { search_term: term } : { search_term: term, limit });
  if (r.status !== 200) throw new Error(`search → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/users", "POST", "/user_directory/search", 200, r.body);
  return r.body as { results: Array<{ user_id: string; display_name?: string; avatar_url?: string }>; limited: boolean };
};
const ids = (r: { results: Array<{ user_id: string }> }) => r.results.map((x) => x.user_id);
const setName = (c: TestClient, name: string) => c.ok("PUT", `/_matrix/client/v3/profile/${enc(c.userId!)}/displayname`, { displayname: name });

for (const backend of BACKENDS) {
  describe(`user directory [${backend}]`, () => {
    let s: TestServer;
    let searcher: TestClient;
    let zoe: TestClient; // shares a private room with the searcher
    let zoey: TestClient; // in a public room only
    let hidden: TestClient; // in a private room without the searcher
    let lonely: TestClient; // in no room
    beforeAll(async () => {
      [s, searcher, zoe, zoey, hidden, lonely] = await serverWithUsers({ backend }, "searcher", "zoe", "zoey", "zoehidden", "zoelonely");
      await setName(zoe, "Zoë Ärger");
      await zoe.ok("PUT", `/_matrix/client/v3/profile/${enc(zoe.userId!)}/avatar_url`, { avatar_url: "mxc://example.org/zoe" });
      await setName(zoey, "Zoey Public");
      await setName(hidden, "Zoe Hidden");
      await setName(lonely, "Zoe Lonely");
      const priv = await createRoom(searcher, { preset: "private_chat", invite: [zoe.userId!] });
      await join(zoe, priv);
      const pub = await createRoom(zoey, { preset: "public_chat" });
      void pub;
      await createRoom(hidden, { preset: "private_chat" });
    });
    afterAll(() => s.stop());

    test("finds users sharing a room and users in public rooms, not others; accents and case ignored", async () => {
      const r = await search(searcher, "ZOE");
      expect(ids(r).sort()).toEqual([zoe.userId!, zoey.userId!].sort());
      expect(r.limited).toBe(false);
      const zoeEntry = r.results.find((x) => x.user_id === zoe.userId)!;
      expect(zoeEntry).toEqual({ user_id: zoe.userId!, display_name: "Zoë Ärger", avatar_url: "mxc://example.org/zoe" });
      // Accents ignored both ways.
      expect(ids(await search(searcher, "arger"))).toEqual([zoe.userId!]);
      expect(ids(await search(searcher, "ÄRGÉR"))).toEqual([zoe.userId!]);
      // By user ID, and several words must all match.
      expect(ids(await search(searcher, `@zoey:${s.serverName}`))).toEqual([zoey.userId!]);
      expect(ids(await search(searcher, "zoey public"))).toEqual([zoey.userId!]);
      expect(ids(await search(searcher, "zoey private"))).toEqual([]);
      expect(ids(await search(searcher, "Hidden"))).toEqual([]);
      expect(ids(await search(searcher, "  "))).toEqual([]);
    });

    test("ranking: exact and prefix matches first; limit and limited", async () => {
      // "zoe" is zoe's exact localpart; zoey is only a prefix match.
      const r = await search(searcher, "zoe");
      expect(ids(r)).toEqual([zoe.userId!, zoey.userId!]);
      const one = await search(searcher, "zoe", 1);
      expect(ids(one)).toEqual([zoe.userId!]);
      expect(one.limited).toBe(true);
      expectError(await searcher.post("/_matrix/client/v3/user_directory/search", {}), 400, "M_MISSING_PARAM");
      expectError(await searcher.post("/_matrix/client/v3/user_directory/search", { search_term: 5 }), 400, "M_BAD_JSON");
      expectError(await searcher.post("/_matrix/client/v3/user_directory/search", { search_term: "x", limit: -1 }), 400, "M_INVALID_PARAM");
    });

    test("the directory follows membership and profile changes", async () => {
      // The hidden user joins a public room: now findable; leaving makes them hidden again.
      const pub = await createRoom(searcher, { preset: "public_chat" });
      await join(hidden, pub);
      expect(ids(await search(searcher, "hidden"))).toEqual([hidden.userId!]);
      await leave(hidden, pub);
      // Still shares nothing: the room is public but they left.
      expect(ids(await search(searcher, "hidden"))).toEqual([]);
      // A room turning public exposes its members.
      const room = await createRoom(hidden, { preset: "private_chat" });
      await setState(hidden, room, "m.room.join_rules", { join_rule: "public" });
      expect(ids(await search(searcher, "hidden"))).toEqual([hidden.userId!]);
      await setState(hidden, room, "m.room.join_rules", { join_rule: "invite" });
      expect(ids(await search(searcher, "hidden"))).toEqual([]);
      // A new display name is searchable at once.
      await setName(zoe, "Zed Renamed");
      expect(ids(await search(searcher, "renamed"))).toEqual([zoe.userId!]);
      expect((await search(searcher, "renamed")).results[0]!.display_name).toBe("Zed Renamed");
    });
  });

  describe(`user directory, search_all_users [${backend}]`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ backend, config: { user_directory: { search_all_users: true } } });
    });
    afterAll(() => s.stop());

    test("every local user can be found, deactivated users cannot", async () => {
      const searcher = await registerUser(s, "searcher");
      const lonely = await registerUser(s, "lonelyheart");
      const named = await registerUser(s, "quiet");
      await setName(named, "Élodie Quiet");
      expect(ids(await search(searcher, "lonelyheart"))).toEqual([lonely.userId!]);
      expect(ids(await search(searcher, "elodie"))).toEqual([named.userId!]);
      await lonely.ok("POST", "/_matrix/client/v3/account/deactivate", {
        auth: { type: "m.login.password", identifier: { type: "m.id.user", user: lonely.userId }, password: "password" },
      });
      expect(ids(await search(searcher, "lonelyheart"))).toEqual([]);
    });
  });
}
