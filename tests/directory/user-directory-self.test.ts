// POST /user_directory/search and the searcher themselves: like any other user, they are found only
// when joined to a public room (sharing a room with oneself is not sharing one), so a user who joins
// and leaves a public room, or whose private room becomes public, appears and disappears (as
// Synapse's directory behaves and SyTest's 52user-directory expects).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, join, leave, setState } from "../helpers/sync.ts";

const found = async (c: TestClient, term: string, who: string) => {
  const r = await c.ok("POST", "/_matrix/client/v3/user_directory/search", { search_term: term });
  return (r.results as Array<{ user_id: string }>).some((x) => x.user_id === who);
};

for (const backend of BACKENDS) {
  describe(`user directory: the searcher [${backend}]`, () => {
    let s: TestServer;
    let creator: TestClient;
    let user: TestClient;
    beforeAll(async () => {
      [s, creator, user] = await serverWithUsers({ backend }, "creator", "selfsearch");
      await user.ok("PUT", `/_matrix/client/v3/profile/${enc(user.userId!)}/displayname`, { displayname: "Quixotic Name" });
    });
    afterAll(() => s.stop());

    test("not found by themselves in no room or a private room; found while in a public one", async () => {
      expect(await found(user, "Quixotic", user.userId!)).toBe(false);
      const priv = await createRoom(creator, { preset: "private_chat", invite: [user.userId!] });
      await join(user, priv);
      expect(await found(user, "Quixotic", user.userId!)).toBe(false);
      expect(await found(creator, "Quixotic", user.userId!)).toBe(true);
      await setState(creator, priv, "m.room.join_rules", { join_rule: "public" });
      expect(await found(user, "Quixotic", user.userId!)).toBe(true);
      await leave(user, priv);
      expect(await found(user, "Quixotic", user.userId!)).toBe(false);
      const other = await registerUser(s, "bystander");
      expect(await found(other, "Quixotic", user.userId!)).toBe(false);
    });
  });
}
