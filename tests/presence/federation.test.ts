// Presence and read receipts across two servers (both databases): m.presence EDUs reach users
// sharing a room (and only them), m.receipt EDUs carry public read receipts (not private ones)
// both ways, and EDUs about users of another server, or rooms the sender is not in, are ignored.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";
import { createRoom, enc, send, sync } from "../helpers/sync.ts";

const statusPath = (userId: string) => `/_matrix/client/v3/presence/${enc(userId)}/status`;
const receiptsIn = (body: any, roomId: string): any => body.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: any) => e.type === "m.receipt")?.content ?? {};

describeOnBackends("presence and receipts over federation", (backend) => {
  const ctx = fixture<{
    hs1: FederatingServer;
    hs2: FederatingServer;
    alice: TestClient; // hs1
    bob: TestClient; // hs2, shares a room with alice
    carol: TestClient; // hs2, shares nothing
    roomId: string;
  }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, config: { federation: { retry_min_interval_ms: 200 } } })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
    ctx.carol = await registerUser(ctx.hs2, "carol");
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(ctx.roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined), 15000, "bob joined");
  }, { timeout: 60000 });

  test("presence goes to servers sharing a room, both ways", async () => {
    await ctx.alice.ok("PUT", statusPath(ctx.alice.userId!), { presence: "online", status_msg: "from hs1" });
    const seen = await eventually(async () => {
      const r = await ctx.bob.get(statusPath(ctx.alice.userId!));
      return r.status === 200 && r.body.status_msg === "from hs1" ? r.body : undefined;
    }, 15000, "alice's presence on hs2");
    expect(seen.presence).toBe("online");
    expect(seen.currently_active).toBe(true);
    expect(seen.last_active_ago).toBeLessThan(60000);
    // In bob's /sync too.
    await eventually(async () => {
      const s = await sync(ctx.bob, { set_presence: "offline" });
      return s.presence.events.some((e: any) => e.sender === ctx.alice.userId && e.content.status_msg === "from hs1") ? true : undefined;
    }, 15000, "alice's presence in bob's sync");
    // carol shares no room with alice.
    expectError(await ctx.carol.get(statusPath(ctx.alice.userId!)), 403, "M_FORBIDDEN");
    // bob comes online by syncing; alice sees it.
    await sync(ctx.bob);
    await eventually(async () => ((await ctx.alice.ok("GET", statusPath(ctx.bob.userId!))).presence === "online" ? true : undefined), 15000, "bob online on hs1");
    await ctx.bob.ok("PUT", statusPath(ctx.bob.userId!), { presence: "unavailable", status_msg: "away" });
    await eventually(async () => ((await ctx.alice.ok("GET", statusPath(ctx.bob.userId!))).status_msg === "away" ? true : undefined), 15000, "bob away on hs1");
  }, 60000);

  test("a server may not speak for other servers' users, nor about users sharing no room", async () => {
    const sendTxn = (edus: unknown[]) =>
      ctx.hs2.hs.services.federation.client.request<any>({
        destination: ctx.hs1.serverName,
        method: "PUT",
        path: `/_matrix/federation/v1/send/${Date.now()}${Math.random().toString(36).slice(2)}`,
        body: { origin: ctx.hs2.serverName, origin_server_ts: Date.now(), pdus: [], edus },
      });
    const before = await ctx.alice.ok("GET", statusPath(ctx.alice.userId!));
    // hs2 claims alice (of hs1) is offline: ignored.
    await sendTxn([{ edu_type: "m.presence", content: { push: [{ user_id: ctx.alice.userId, presence: "offline", last_active_ago: 1 }] } }]);
    expect((await ctx.alice.ok("GET", statusPath(ctx.alice.userId!))).presence).toBe(before.presence);
    expect((await ctx.hs1.hs.db.get<{ state: string }>("SELECT state FROM presence WHERE user_id = ?", [ctx.alice.userId!]))?.state).toBe(before.presence);
    // carol shares no room with anyone on hs1: nothing is stored about her.
    await sendTxn([{ edu_type: "m.presence", content: { push: [{ user_id: ctx.carol.userId, presence: "online", last_active_ago: 1 }] } }]);
    expect(await ctx.hs1.hs.db.get("SELECT 1 FROM presence WHERE user_id = ?", [ctx.carol.userId!])).toBeUndefined();
    // A receipt for alice from hs2, and one for carol in a room she is not in: ignored.
    const ev = await send(ctx.alice, ctx.roomId, "forgery target");
    await sendTxn([{ edu_type: "m.receipt", content: { [ctx.roomId]: { "m.read": { [ctx.alice.userId!]: { event_ids: [ev], data: { ts: 1 } }, [ctx.carol.userId!]: { event_ids: [ev], data: { ts: 1 } } } } } }]);
    const stored = await ctx.hs1.hs.db.all("SELECT user_id FROM receipts WHERE room_id = ? AND event_id = ?", [ctx.roomId, ev]);
    expect(stored).toEqual([]);
    // Garbage is ignored, not an error.
    const r = await sendTxn([{ edu_type: "m.receipt", content: { [ctx.roomId]: "nope" } }, { edu_type: "m.presence", content: { push: "nope" } }]);
    expect(r.pdus).toEqual({});
  }, 30000);

  test("public read receipts cross servers both ways; private ones stay home", async () => {
    const e1 = await send(ctx.alice, ctx.roomId, "read me");
    const e2 = await send(ctx.alice, ctx.roomId, "read me privately");
    const e3 = await send(ctx.alice, ctx.roomId, "read me too");
    // bob's server has them all.
    await eventually(async () => {
      const r = await ctx.bob.get(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(e3)}`);
      return r.status === 200 ? true : undefined;
    }, 15000, "events on hs2");
    const before = await sync(ctx.alice);
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/receipt/m.read/${enc(e1)}`, {});
    const got = await eventually(async () => {
      const s = await sync(ctx.alice, { since: before.next_batch });
      const c = receiptsIn(s, ctx.roomId);
      return c[e1]?.["m.read"]?.[ctx.bob.userId!] ? c : undefined;
    }, 15000, "bob's receipt on hs1");
    expect(typeof got[e1]["m.read"][ctx.bob.userId!].ts).toBe("number");
    // A private receipt, then a public one on a later event: only the public one arrives.
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/receipt/m.read.private/${enc(e2)}`, {});
    await ctx.bob.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/receipt/m.read/${enc(e3)}`, { thread_id: "main" });
    const later = await eventually(async () => {
      const c = receiptsIn(await sync(ctx.alice), ctx.roomId);
      return c[e3]?.["m.read"]?.[ctx.bob.userId!] ? c : undefined;
    }, 15000, "bob's second receipt on hs1");
    expect(later[e3]["m.read"][ctx.bob.userId!].thread_id).toBe("main");
    expect(JSON.stringify(later)).not.toContain("m.read.private");
    expect(await ctx.hs1.hs.db.all("SELECT 1 FROM receipts WHERE receipt_type = 'm.read.private' AND user_id = ?", [ctx.bob.userId!])).toEqual([]);
    // The other way: alice reads bob's message.
    const b1 = await send(ctx.bob, ctx.roomId, "from hs2");
    await eventually(async () => ((await ctx.alice.get(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(b1)}`)).status === 200 ? true : undefined), 15000, "bob's event on hs1");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/receipt/m.read/${enc(b1)}`, {});
    await eventually(async () => (receiptsIn(await sync(ctx.bob), ctx.roomId)[b1]?.["m.read"]?.[ctx.alice.userId!] ? true : undefined), 15000, "alice's receipt on hs2");
  }, 60000);
});
