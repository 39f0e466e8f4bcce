// Rooms across two hs servers: remote joins (by alias and by ID), messages and state both ways,
// typing, invites, leave/kick/ban, a server offline then catching up, forged events, backfill.
import { expect, test } from "bun:test";
import { type TestClient } from "../helpers/client.ts";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

/** Polls until fn returns a value (not undefined), or fails after timeoutMs. */
async function messages(c: TestClient, roomId: string, limit = 100): Promise<any[]> {
  return (await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=${limit}`)).chunk;
}

async function waitForBody(c: TestClient, roomId: string, body: string): Promise<any> {
  return eventually(async () => {
    const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    return r.status === 200 ? r.body.chunk.find((e: any) => e.content?.body === body) : undefined;
  }, 15000, `message ${body}`);
}

describeOnBackends("federation rooms", (backend) => {
  const ctx = federatedPairFixture({ backend, config: { federation: { retry_min_interval_ms: 200 } } });

  test("bob joins alice's public room by alias; messages and state flow both ways", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "Fed", room_alias_name: "fed" })).room_id;
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a1`, { msgtype: "m.text", body: "before bob" });
    const joined = await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(`#fed:${ctx.hs1.serverName}`)}`, {});
    expect(joined.room_id).toBe(roomId);
    // Bob's server knows the room's state now.
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name`)).name).toBe("Fed");
    // Alice sees bob's join through federation.
    await eventually(async () => {
      const r = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
      return r.status === 200 && r.body.membership === "join" ? true : undefined;
    }, 15000, "bob's join on hs1");
    // Messages both ways.
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b1`, { msgtype: "m.text", body: "hello from hs2" });
    await waitForBody(ctx.alice, roomId, "hello from hs2");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a2`, { msgtype: "m.text", body: "hello from hs1" });
    await waitForBody(ctx.bob, roomId, "hello from hs1");
    // State changes too.
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { topic: "federated topic" });
    await eventually(async () => {
      const r = await ctx.bob.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`);
      return r.status === 200 && r.body.topic === "federated topic" ? true : undefined;
    }, 15000, "topic on hs2");
    // History from before bob's server joined is backfilled from hs1 by /messages.
    const history = (await messages(ctx.bob, roomId)).map((e) => e.content?.body ?? e.type);
    expect(history).toContain("before bob");
    expect(history).toContain("m.room.create");
    // Backfilled events are history, not news: they do not come down /sync as new.
    const sync = await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    const again = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${sync.next_batch}`);
    expect(again.rooms?.join?.[roomId]?.timeline?.events ?? []).toEqual([]);
    // Both servers agree on the timeline order of the messages they both have.
    const order = async (c: TestClient) => (await messages(c, roomId)).filter((e) => e.type === "m.room.message").map((e) => e.event_id as string);
    const [onHs1, onHs2] = [await order(ctx.alice), await order(ctx.bob)];
    const common = onHs1.filter((id) => onHs2.includes(id));
    expect(common.length).toBeGreaterThanOrEqual(2);
    expect(onHs2.filter((id) => common.includes(id))).toEqual(common);
  }, 60000);

  test("join by room ID with via; typing notifications cross servers", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => {
      const r = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
      return r.status === 200 && r.body.joined[ctx.bob.userId!] ? true : undefined;
    }, 15000, "bob joined");
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(ctx.bob.userId!)}`, { typing: true, timeout: 20000 });
    await eventually(async () => {
      const sync = await ctx.alice.ok("GET", "/_matrix/client/v3/sync?timeout=0");
      const typing = sync.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: any) => e.type === "m.typing");
      return typing?.content.user_ids.includes(ctx.bob.userId) ? true : undefined;
    }, 15000, "bob typing on hs1");

    // Server ACLs apply to typing EDUs: once bob's server is denied, his typing is ignored.
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(ctx.bob.userId!)}`, { typing: false });
    await eventually(async () => {
      const sync = await ctx.alice.ok("GET", "/_matrix/client/v3/sync?timeout=0");
      const typing = sync.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: any) => e.type === "m.typing");
      return (typing?.content.user_ids ?? []).includes(ctx.bob.userId) ? undefined : true;
    }, 15000, "bob stopped typing on hs1");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.server_acl`, { allow: ["*"], deny: ["localhost"], allow_ip_literals: true });
    const txns = async () => Number((await ctx.hs1.hs.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM federation_received_txns WHERE origin = ?", [ctx.hs2.serverName]))?.n ?? 0);
    const before = await txns();
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(ctx.bob.userId!)}`, { typing: true, timeout: 20000 });
    // Bob's server sends the EDU (it has not seen the ACL, or sends anyway); hs1 must drop it. A
    // transaction is recorded once its EDUs were processed.
    await eventually(async () => ((await txns()) > before ? true : undefined), 15000, "the EDU's transaction processed on hs1");
    const sync = await ctx.alice.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    const typing = sync.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: any) => e.type === "m.typing");
    expect(typing?.content.user_ids ?? []).not.toContain(ctx.bob.userId);
  }, 60000);

  test("invites across servers: alice invites bob to a private room, bob accepts; bob invites are rejectable", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Secret" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId });
    // Bob sees the invite in /sync with the stripped state.
    const invite = await eventually(async () => {
      const sync = await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0");
      return sync.rooms?.invite?.[roomId];
    }, 15000, "invite on hs2");
    const strippedTypes = invite.invite_state.events.map((e: any) => e.type);
    expect(strippedTypes).toContain("m.room.name");
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/s1`, { msgtype: "m.text", body: "thanks for the invite" });
    await waitForBody(ctx.alice, roomId, "thanks for the invite");

    // Rejecting an invite to a room on another server.
    const other = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(other)}/invite`, { user_id: ctx.bob.userId });
    await eventually(async () => (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[other], 15000, "second invite");
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(other)}/leave`, {});
    await eventually(async () => {
      const r = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(other)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
      return r.membership === "leave" ? true : undefined;
    }, 15000, "rejection on hs1");

    // An invite made through the state API goes to bob's server too (co-signed there), and he can join.
    const third = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id;
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(third)}/state/m.room.member/${enc(ctx.bob.userId!)}`, { membership: "invite" });
    await eventually(async () => (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[third], 15000, "state-API invite on hs2");
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(third)}`, {});
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(third)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
    expect(ev.membership).toBe("join");
  }, 60000);

  test("kick and ban across servers; a banned remote user cannot rejoin", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined));
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: ctx.bob.userId, reason: "bye" });
    await eventually(async () => {
      const r = await ctx.bob.request("GET", "/_matrix/client/v3/joined_rooms");
      return r.body.joined_rooms.includes(roomId) ? undefined : true;
    }, 15000, "kick seen on hs2");
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: ctx.bob.userId });
    await eventually(async () => {
      const r = await ctx.bob.request("GET", "/_matrix/client/v3/joined_rooms");
      return r.body.joined_rooms.includes(roomId) ? undefined : true;
    }, 15000, "ban seen on hs2");
    const again = await ctx.bob.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    expect(again.status).toBe(403);
  }, 60000);

  test("history backfilled from before a joined-visibility join is not shown to the joiner", async () => {
    const roomId = (
      await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {
        preset: "public_chat",
        initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "joined" } }],
      })
    ).room_id;
    for (let i = 0; i < 5; i++) {
      await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/hidden${i}`, { msgtype: "m.text", body: `before bob ${i}` });
    }
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/seen`, { msgtype: "m.text", body: "after bob" });
    await waitForBody(ctx.bob, roomId, "after bob");
    // Page all the way back (backfilling from hs1): bob's join and what follows, no message from before it.
    const seen: any[] = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=5${from ? `&from=${enc(from)}` : ""}`);
      seen.push(...r.chunk);
      if (!r.end) break;
      from = r.end;
    }
    expect(seen.filter((e) => e.type === "m.room.message").map((e) => e.content.body)).toEqual(["after bob"]);
    expect(seen.some((e) => e.type === "m.room.member" && e.state_key === ctx.bob.userId)).toBe(true);
  }, 60000);

  test("a server offline for a while catches up without losing messages; history is backfilled", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined));
    // hs2 is down while alice talks: hs1 must queue, back off and retry.
    await ctx.hs2.restart(async () => {
      for (let i = 0; i < 12; i++) {
        await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/off${i}`, { msgtype: "m.text", body: `while offline ${i}` });
      }
      await Bun.sleep(500);
    });
    for (let i = 0; i < 12; i++) await waitForBody(ctx.bob, roomId, `while offline ${i}`);
    const bodies = (await messages(ctx.bob, roomId)).map((e) => e.content?.body).filter((b) => typeof b === "string" && b.startsWith("while offline"));
    expect(new Set(bodies).size).toBe(12);
  }, 60000);

  test("a forked room (concurrent state changes on both servers) resolves identically on both sides", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const room = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `${room}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined));
    const pl = await ctx.alice.ok("GET", `${room}/state/m.room.power_levels`);
    pl.users[ctx.bob.userId!] = 50;
    await ctx.alice.ok("PUT", `${room}/state/m.room.power_levels`, pl);
    await eventually(async () => ((await ctx.bob.ok("GET", `${room}/state/m.room.power_levels`)).users[ctx.bob.userId!] === 50 ? true : undefined));
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        ctx.alice.ok("PUT", `${room}/state/m.room.topic`, { topic: `alice ${round}` }),
        ctx.bob.ok("PUT", `${room}/state/m.room.topic`, { topic: `bob ${round}` }),
        ctx.alice.ok("PUT", `${room}/send/m.room.message/fa${round}`, { msgtype: "m.text", body: `a${round}` }),
        ctx.bob.ok("PUT", `${room}/send/m.room.message/fb${round}`, { msgtype: "m.text", body: `b${round}` }),
      ]);
    }
    await waitForBody(ctx.alice, roomId, "b2");
    await waitForBody(ctx.bob, roomId, "a2");
    // Both servers end with the same state.
    await eventually(async () => {
      const [s1, s2] = [await ctx.alice.ok("GET", `${room}/state`), await ctx.bob.ok("GET", `${room}/state`)];
      const ids = (st: any[]) => st.map((e) => `${e.type}|${e.state_key}|${e.event_id}`).sort().join("\n");
      return ids(s1) === ids(s2) ? true : undefined;
    }, 15000, "identical state");
    // The DAG really forked: some later event merges two branches.
    const merges = await ctx.hs1.hs.db.all(
      "SELECT e.event_id FROM event_edges e JOIN events v ON v.event_id = e.event_id WHERE v.room_id = ? GROUP BY e.event_id HAVING COUNT(*) > 1",
      [roomId],
    );
    expect(merges.length).toBeGreaterThan(0);
  }, 60000);

  test("forged events are rejected: bad signature, wrong content hash", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined));
    // Take a real event of bob's and tamper with it, then deliver it to hs1 as hs2 would.
    const evId = (await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/f1`, { msgtype: "m.text", body: "genuine" })).event_id;
    await waitForBody(ctx.alice, roomId, "genuine");
    const pdu = await ctx.hs2.hs.services.events.loadEvent(evId);
    const { event_id: _id, ...wire } = pdu as any;
    const tampered = { ...wire, content: { msgtype: "m.text", body: "forged" }, origin_server_ts: wire.origin_server_ts + 1 };
    const res = await ctx.hs2.hs.services.federation.client.request<any>({
      destination: ctx.hs1.serverName,
      method: "PUT",
      path: `/_matrix/federation/v1/send/forge-${backend}`,
      body: { origin: ctx.hs2.serverName, origin_server_ts: Date.now(), pdus: [tampered] },
    });
    const outcome = Object.values(res.pdus)[0] as any;
    expect(outcome.error).toMatch(/signature/);
    const bodies = (await messages(ctx.alice, roomId)).map((e) => e.content?.body);
    expect(bodies).not.toContain("forged");
  }, 60000);
});
