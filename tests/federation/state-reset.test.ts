// A state reset across a netsplit: while hs2 is unreachable, carol (hs1, power 50) changes the topic;
// bob (hs2, power 100) meanwhile demotes carol, not having seen her change. When bob's event reaches
// hs1, state resolution applies the demotion first and carol's topic no longer passes the auth
// rules: the topic reverts, although no event of the timeline says so. Incremental /sync (both the
// `state` and `state_after` forms) and sliding sync must hand the client the reverted topic, so that
// its view of the room matches the server's.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

describeOnBackends("state reset after a netsplit", (backend) => {
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; carol: TestClient; bob: TestClient }>(async (ctx) => {
    // hs1 retries slowly, so that carol's change reaches hs2 only after bob's demotion was made (and
    // without presence, hs2 sends nothing on its own at start-up that would wake hs1's retries).
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, config: (i) => ({ federation: { retry_min_interval_ms: i === 0 ? 60_000 : 200 }, presence: { enabled: false } }) })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.carol = await registerUser(ctx.hs1, "carol");
    ctx.bob = await registerUser(ctx.hs2, "bob");
  }, { timeout: 60000 });

  test("the reverted topic reaches the client through /sync state, state_after and sliding sync", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "split" });
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await ctx.carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    const pl = await ctx.alice.ok("GET", `${room}/state/m.room.power_levels`);
    pl.users[ctx.bob.userId!] = 100;
    pl.users[ctx.carol.userId!] = 50;
    await ctx.alice.ok("PUT", `${room}/state/m.room.power_levels`, pl);
    await ctx.alice.ok("PUT", `${room}/state/m.room.topic`, { topic: "original" });
    const topicOf = async (c: TestClient) => (await c.request("GET", `${room}/state/m.room.topic`)).body?.topic;
    await eventually(async () => ((await topicOf(ctx.bob)) === "original" ? true : undefined), 15000, "topic on hs2");

    let mine = "";
    await ctx.hs2.restart(async () => {
      mine = (await ctx.carol.ok("PUT", `${room}/state/m.room.topic`, { topic: "carol's" })).event_id;
      // hs1 has tried to deliver it and backs off (it would otherwise send it when hs2 is back).
      await eventually(async () => {
        const d = await ctx.hs1.hs.db.get<{ failures: number }>("SELECT failures FROM federation_destinations WHERE destination = ?", [ctx.hs2.serverName]);
        return Number(d?.failures ?? 0) > 0 ? true : undefined;
      }, 15000, "a failed delivery to hs2");
    });
    // Carol's client has seen her topic.
    const before = await sync(ctx.carol);
    const sinceState = before.next_batch;
    const seen = [...before.rooms.join[roomId].state.events, ...before.rooms.join[roomId].timeline.events].filter((e: any) => e.type === "m.room.topic");
    expect(seen.at(-1).content.topic).toBe("carol's");
    const ssBefore = (await ctx.carol.post(SS, { lists: { all: { ranges: [[0, 9]], timeline_limit: 1, required_state: [["m.room.topic", ""]] } } })).body;

    // Bob, on the other side of the split, demotes carol.
    const demotion = (await ctx.bob.ok("GET", `${room}/state/m.room.power_levels`)) as any;
    demotion.users[ctx.carol.userId!] = 0;
    const demotionId = (await ctx.bob.ok("PUT", `${room}/state/m.room.power_levels`, demotion)).event_id;
    const ev = await ctx.hs2.hs.db.get<{ json: string }>("SELECT json FROM events WHERE event_id = ?", [demotionId]);
    const prevs = JSON.parse(ev!.json).prev_events as string[];
    expect(prevs).not.toContain(mine); // a real fork

    // hs1 resolves: the demotion wins, carol's topic no longer passes, "original" is back.
    await eventually(async () => ((await topicOf(ctx.alice)) === "original" ? true : undefined), 15000, "the reset on hs1");

    const after = await sync(ctx.carol, { since: sinceState });
    const joined = after.rooms.join[roomId];
    const timelineIds = joined.timeline.events.map((e: any) => e.event_id);
    expect(timelineIds).toContain(demotionId);
    expect(joined.timeline.events.some((e: any) => e.type === "m.room.topic")).toBe(false);
    expect(joined.state.events.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");

    const afterSA = await sync(ctx.carol, { since: sinceState, use_state_after: true });
    expect(afterSA.rooms.join[roomId].state_after.events.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");

    const ss = (await ctx.carol.post(`${SS}?pos=${enc(ssBefore.pos)}&timeout=0`, { lists: { all: { ranges: [[0, 9]], timeline_limit: 1, required_state: [["m.room.topic", ""]] } } })).body;
    expect(ss.rooms?.[roomId]?.required_state?.find((e: any) => e.type === "m.room.topic")?.content.topic).toBe("original");
  }, 60000);
});
