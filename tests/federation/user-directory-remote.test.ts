// Remote users in the user directory (issue 17, root cause 7): the members a room already has when
// one of our users joins it over federation enter our directory (they come in the join's state,
// not as events of their own), and remote users who join our rooms do too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

for (const backend of BACKENDS) {
  describe(`user directory with remote users [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let charlie: TestClient;
    let bob: TestClient;
    beforeAll(async () => {
      [hs1, hs2] = (await startFederatingServers(2, { backend })) as [FederatingServer, FederatingServer];
      alice = await registerUser(hs1, "alice");
      charlie = await registerUser(hs1, "charlie");
      bob = await registerUser(hs2, "bob");
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    const search = async (c: TestClient, term: string) =>
      ((await c.ok("POST", "/_matrix/client/v3/user_directory/search", { search_term: term })).results as Array<{ user_id: string; display_name?: string }>);

    test("members already in a remote room are found after joining it; the remote joiner is found there", async () => {
      await charlie.ok("PUT", `/_matrix/client/v3/profile/${enc(charlie.userId!)}/displayname`, { displayname: "Charlie Resident" });
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
      await charlie.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      expect(await search(bob, "Resident")).toEqual([]);
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(hs1.serverName)}`, {});
      const found = await search(bob, "Resident");
      expect(found).toEqual([{ user_id: charlie.userId!, display_name: "Charlie Resident" }]);
      // And on hs1, bob (remote) is found by the room's members.
      const r = await eventually(async () => {
        const res = await search(alice, "bob");
        return res.some((u) => u.user_id === bob.userId) ? res : undefined;
      }, 15000, "bob in hs1's directory");
      expect(r.find((u) => u.user_id === bob.userId)).toBeDefined();

      // Once bob (hs2's only member) leaves, hs2's view of the room is stale: charlie is no longer
      // found through it.
      await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
      expect(await search(bob, "Resident")).toEqual([]);
    }, 60000);
  });
}
