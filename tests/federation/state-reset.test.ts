// A state reset across a netsplit: while hs2 is unreachable, carol (hs1, power 50) changes the topic;
// bob (hs2, power 100) meanwhile demotes carol, not having seen her change. When bob's event reaches
// hs1, state resolution applies the demotion first and carol's topic no longer passes the auth
// rules: the topic reverts, although no event of the timeline says so. Incremental /sync (both the
// `state` and `state_after` forms) and sliding sync must hand the client the reverted topic, so that
// its view of the room matches the server's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

for (const backend of BACKENDS) {
  describe(`state reset after a netsplit [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let carol: TestClient;
    let bob: TestClient;
    beforeAll(async () => {
      // hs1 retries slowly, so that carol's change reaches hs2 only after bob's demotion was made (and
      // without presence, hs2 sends nothing on its own at start-up that would wake hs1's retries).
      [hs1, hs2] = (await startFederatingServers(2, { backend, config: (i) => ({ federation: { retry_min_interval_ms: i === 0 ? 60_000 : 200 }, presence: { enabled: false } }) })) as [FederatingServer, FederatingServer];
      alice = await registerUser(hs1, "alice");
      carol = await registerUser(hs1, "carol");
      bob = await registerUser(hs2, "bob");
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    test("the reverted topic reaches the client through /sync state, state_after and sliding sync", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", name: "split" });
      const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
      await carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(hs1.serverName)}`, {});
      const pl = await alice.ok("GET", `${room}/state/m.room.power_levels`);
      pl.users[bob.userId!] = 100;
      pl.users[carol.userId!] = 50;
      await alice.ok("PUT", `${room}/state/m.room.power_levels`, pl);
      await alice.ok("PUT", `${room}/state/m.room.topic`, { topic: "original" });
      const topicOf = async (c: TestClient) => (await c.request("GET", `${room}/state/m.room.topic`)).body?.topic;
      await eventually(async () => ((await topicOf(bob)) === "original" ? true : undefined), 15000, "topic on hs2");

      let mine = "";
      await hs2.restart(async () => {
        mine = (await carol.ok("PUT", `${room}/state/m.room.topic`, { topic: "carol's" })).event_id;
        // hs1 has tried to deliver it and backs off (it would otherwise send it when hs2 is back).
        await eventually(async () => {
          const d = await hs1.hs.db.get<{ failures: number }>("SELECT failures FROM federation_destinations WHERE destination = ?", [hs2.serverName]);
          return Number(d?.failures ?? 0) > 0 ? true : undefined;
        }, 15000, "a failed delivery to hs2");
      });
      // Carol's client has seen her topic.
      const before = await sync(carol);
      const sinceState = before.next_batch;
      const seen = [...before.rooms.join[roomId].state.events, ...before.rooms.join[roomId].timeline.events].filter((e: any) => e.type === "m.room.topic");
      expect(seen.at(-1).content.topic).toBe("carol's");
      const ssBefore = (await carol.post(SS, { lists: { all: { ranges: [[0, 9]], timeline_limit: 1, required_state: [["m.room.topic", ""]] } } })).body;

      // Bob, on the other side of the split, demotes carol.
      const demotion = (await bob.ok("GET", `${room}/state/m.room.power_levels`)) as any;
      demotion.users[carol.userId!] = 0;
      const demotionId = (await bob.ok("PUT", `${room}/state/m.room.power_levels`, demotion)).event_id;
      const ev = await hs2.hs.db.get<{ json: string }>("SELECT json FROM events WHERE event_id = ?", [demotionId]);
      const prevs = JSON.parse(ev!.json).prev_events as string[];
      expect(prevs).not.toContain(mine); // a real fork

      // hs1 resolves: the demotion wins, carol's topic no longer passes, "original" is back.
      await eventually(async () => ((await topicOf(alice)) === "original" ? true : undefined), 15000, "the reset on hs1");

      const after = await sync(carol, { since: sinceState });
      const joined = after.rooms.join[roomId];
      const timelineIds = joined.timeline.events.map((e: any) => e.event_id);
      expect(timelineIds).toContain(demotionId);
      expect(joined.timeline.events.some((e: any) => e.type === "m.room.topic")).toBe(false);
      expect(joined.state.events.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");

      const afterSA = await sync(carol, { since: sinceState, use_state_after: true });
      expect(afterSA.rooms.join[roomId].state_after.events.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");

      const ss = (await carol.post(`${SS}?pos=${enc(ssBefore.pos)}&timeout=0`, { lists: { all: { ranges: [[0, 9]], timeline_limit: 1, required_state: [["m.room.topic", ""]] } } })).body;
      expect(ss.rooms?.[roomId]?.required_state?.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");
    }, 60000);
  });
}
