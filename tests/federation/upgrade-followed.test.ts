// A room upgraded on another server (modules/room_upgrades.md): when a local user joins the
// replacement room, this server's own aliases of the old room and its directory listing move to
// the new room, as the upgrading server moved its own; only when the old room's tombstone names
// the new room.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestClient } from "../helpers/client.ts";
import { BACKENDS, type FederatingServer } from "../helpers/server.ts";
import { federatedPair } from "../helpers/suite.ts";

const enc = encodeURIComponent;

async function until<T>(f: () => Promise<T | undefined>, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(50);
  }
}

for (const backend of BACKENDS) {
  describe(`upgrade followed by another server [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let bob: TestClient;
    beforeAll(async () => {
      ({ hs1, hs2, alice, bob } = await federatedPair({ backend }));
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    const inRoom = (c: TestClient, roomId: string, type: string) =>
      until(async () => {
        const r = await c.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${type}/`);
        return r.status === 200 ? r.body : undefined;
      });

    test("bob's server moves its alias and listing when bob joins the replacement room", async () => {
      const oldId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10", power_level_content_override: { users: { [alice.userId!]: 100, [bob.userId!]: 50 } } })).room_id;
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(oldId)}?server_name=${enc(hs1.serverName)}`, {});
      const alias = `#followed-${backend}:${hs2.serverName}`;
      await bob.ok("PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { room_id: oldId });
      await bob.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(oldId)}`, { visibility: "public" });

      const newId = (await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(oldId)}/upgrade`, { new_version: "10" })).replacement_room;
      await inRoom(bob, oldId, "m.room.tombstone");
      // Until bob joins the new room, hs2 keeps pointing at the old one.
      expect((await bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`)).room_id).toBe(oldId);

      await bob.ok("POST", `/_matrix/client/v3/join/${enc(newId)}?server_name=${enc(hs1.serverName)}`, {});
      // The alias moves, then the listing (after the join's answer): wait for both.
      const resolved = await until(async () => {
        const r = await bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`);
        const listed = (await bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(newId)}`)).visibility === "public";
        return r.room_id === newId && listed ? r.room_id : undefined;
      });
      expect(resolved).toBe(newId);
      expect((await bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(oldId)}`)).visibility).toBe("private");
    }, 60000);

    test("a room claiming a predecessor without its tombstone takes nothing", async () => {
      const victim = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
      const alias = `#victim-${backend}:${hs2.serverName}`;
      await bob.ok("PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { room_id: victim });
      await bob.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(victim)}`, { visibility: "public" });
      const fake = (
        await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", creation_content: { predecessor: { room_id: victim } } })
      ).room_id;
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(fake)}?server_name=${enc(hs1.serverName)}`, {});
      await Bun.sleep(300);
      expect((await bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`)).room_id).toBe(victim);
      expect((await bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(victim)}`)).visibility).toBe("public");
    }, 60000);
  });
}
