// Rejected PDUs and the events after them ("Rejection" and "Soft failure" in server-server-api.md,
// issue 17): a rejected event is stored as rejected, never part of the state or the timeline; an
// event whose prev_events include it is handled from the state before it, without asking the
// origin for /state_ids; /state and /state_ids at a rejected event answer 404 M_NOT_FOUND; an event
// referencing only a rejected event still replaces the extremities behind it. A pushed event whose
// prev_events its server will not give is refused in the transaction answer (per PDU), without
// asking for the state at it.
import { expect, test } from "bun:test";
import { computeEventId } from "../../src/core/event-id.ts";
import { hashAndSignEvent } from "../../src/core/pdu.ts";
import { getRoomVersion } from "../../src/core/room-versions.ts";
import { MatrixError } from "../../src/protocol/errors.ts";
import { FederationReceiver } from "../../src/services/federation/receiver.ts";
import { type TestClient } from "../helpers/client.ts";
import type { FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, federatedPair, fixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

describeOnBackends("rejected PDUs and what follows them", (backend) => {
  let depth = 100;
  let txn = 0;
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; bob: TestClient; roomId: string }>(async (ctx) => {
    ({ hs1: ctx.hs1, hs2: ctx.hs2, alice: ctx.alice, bob: ctx.bob } = await federatedPair({ backend }));
    ctx.roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(ctx.roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    await eventually(async () => ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/joined_members`)).joined[ctx.bob.userId!] ? true : undefined), 15000, "bob's join on hs1");
  }, { timeout: 60000 });

  const stateId = async (type: string, stateKey = "") => {
    const state: any[] = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state`);
    return state.find((e) => e.type === type && e.state_key === stateKey)!.event_id as string;
  };
  const extremities = async () =>
    (await ctx.hs1.hs.db.all<{ event_id: string }>("SELECT event_id FROM forward_extremities WHERE room_id = ?", [ctx.roomId])).map((r) => r.event_id).sort();
  /** An event as hs2 would make it (signed with hs2's key), not stored anywhere. */
  const craft = (fields: Record<string, unknown>) => {
    const draft = { room_id: ctx.roomId, origin_server_ts: Date.now(), depth: depth++, content: {}, ...fields };
    return hashAndSignEvent(draft, getRoomVersion("10")!, ctx.hs2.serverName, ctx.hs2.hs.services.signingKey);
  };
  const send = async (pdu: Record<string, unknown>) => {
    const res = await ctx.hs1.hs.services.roomFederation.serve.receiveTransaction(ctx.hs2.serverName, `rej-${backend}-${txn++}-${Date.now()}`, { pdus: [pdu] });
    return Object.values(res.pdus)[0] as { error?: string };
  };
  const idOf = (pdu: Record<string, unknown>) => computeEventId(pdu, getRoomVersion("10")!);
  const notFound = async (f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      return e instanceof MatrixError ? e.errcode : String(e);
    }
    return "answered";
  };

  test("an event after a rejected one is accepted from the state before it; /state_ids at the rejected one is 404", async () => {
    const [create, pl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const before = await extremities();
    const stateBefore = ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state`)) as any[]).map((e) => e.event_id as string);
    // A topic from a user of hs2 who never joined: rejected (auth events: no membership).
    const rejected = craft({ type: "m.room.topic", state_key: "", sender: `@mallory:${ctx.hs2.serverName}`, content: { topic: "taken over" }, prev_events: before, auth_events: [create, pl] });
    const rejectedId = idOf(rejected);
    expect((await send(rejected)).error).toBeUndefined();
    const row = await ctx.hs1.hs.db.get<{ rejected_reason: string | null; outlier: number }>("SELECT rejected_reason, outlier FROM events WHERE event_id = ?", [rejectedId]);
    expect(row?.rejected_reason).toBeTruthy();

    // bob's message whose only prev event is the rejected one: no /state_ids asked of hs2 (which
    // does not have the rejected event and would answer 404), accepted, shown to alice.
    const next = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { msgtype: "m.text", body: "after the rejected one" }, prev_events: [rejectedId], auth_events: [create, pl, bobJoin] });
    const nextId = idOf(next);
    expect((await send(next)).error).toBeUndefined();
    const ev = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(nextId)}`);
    expect(ev.status).toBe(200);
    expect((await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(rejectedId)}`)).status).toBe(404);

    // The state at the new event is the state before the rejected one (the topic did not change).
    const at = (await ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, nextId, true)) as { pdu_ids: string[] };
    expect([...at.pdu_ids].sort()).toEqual([...stateBefore].sort());
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.topic/`).catch(() => ({})))?.topic).not.toBe("taken over");
    // The new event replaced the extremity behind the rejected one.
    expect(await extremities()).toEqual([nextId]);

    // No state is served at a rejected event.
    expect(await notFound(() => ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, rejectedId, true))).toBe("M_NOT_FOUND");
    expect(await notFound(() => ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, rejectedId, false))).toBe("M_NOT_FOUND");
  }, 60000);

  test("an event after soft-failed ones replaces the extremity behind them", async () => {
    const [create, oldPl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const fork = await extremities();
    // alice restricts org.example.sf; M1 (bob) is made on the older branch and accepted.
    const levels = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.power_levels/`);
    const newPl = (await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.power_levels/`, { ...levels, events: { ...levels.events, "org.example.sf": 50 } })).event_id;
    const m1 = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "M1" }, prev_events: fork, auth_events: [create, oldPl, bobJoin] });
    expect((await send(m1)).error).toBeUndefined();
    expect(await extremities()).toEqual([newPl, idOf(m1)].sort());
    // SF1 after M1: allowed by the state before it, not by the current state: soft-failed.
    const sf1 = craft({ type: "org.example.sf", sender: ctx.bob.userId, content: { body: "SF1" }, prev_events: [idOf(m1)], auth_events: [create, oldPl, bobJoin] });
    expect((await send(sf1)).error).toBeUndefined();
    const row = await ctx.hs1.hs.db.get<{ soft_failed: number }>("SELECT soft_failed FROM events WHERE event_id = ?", [idOf(sf1)]);
    expect(Number(row?.soft_failed)).toBe(1);
    expect(await extremities()).toEqual([newPl, idOf(m1)].sort());
    // M2 after SF1 only: M1 (behind SF1) is no longer an extremity.
    const m2 = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "M2" }, prev_events: [idOf(sf1)], auth_events: [create, oldPl, bobJoin] });
    expect((await send(m2)).error).toBeUndefined();
    expect(await extremities()).toEqual([newPl, idOf(m2)].sort());
  }, 60000);

  test("/state and /state_ids at an outlier are 404 M_NOT_FOUND", async () => {
    const [create, pl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const outlier = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "outlier" }, prev_events: await extremities(), auth_events: [create, pl, bobJoin] });
    await ctx.hs1.hs.services.roomFederation.receiver.storeOutliers([outlier], getRoomVersion("10")!, ctx.roomId);
    const row = await ctx.hs1.hs.db.get<{ outlier: number }>("SELECT outlier FROM events WHERE event_id = ?", [idOf(outlier)]);
    expect(Number(row?.outlier)).toBe(1);
    expect(await notFound(() => ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, idOf(outlier), true))).toBe("M_NOT_FOUND");
    expect(await notFound(() => ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, idOf(outlier), false))).toBe("M_NOT_FOUND");
  }, 60000);

  test("behind a rejected prev event lacking state, the state is asked at the missing event before it", async () => {
    const [create, pl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const stateNow = ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state`)) as any[]).map((e) => e.event_id as string);
    // Q: bob's new displayname (a state event) we never receive; R: a message of a non-member after it (rejected);
    // S: bob's message after R, pushed to us.
    const joinRules = await stateId("m.room.join_rules");
    const q = craft({ type: "m.room.member", state_key: ctx.bob.userId, sender: ctx.bob.userId, content: { membership: "join", displayname: "Q" }, prev_events: await extremities(), auth_events: [create, pl, bobJoin, joinRules] });
    const r = craft({ type: "m.room.message", sender: `@mallory:${ctx.hs2.serverName}`, content: { body: "R" }, prev_events: [idOf(q)], auth_events: [create, pl] });
    const sEv = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "S" }, prev_events: [idOf(r)], auth_events: [create, pl, bobJoin] });
    // hs2 as a fake origin: /get_missing_events gives R only; the state is known at Q.
    const asked: string[] = [];
    const fed = {
      async request<T>(req: { method: string; path: string; query?: Record<string, unknown> }): Promise<T> {
        asked.push(`${req.path.split("/")[4]} ${String(req.query?.event_id ?? "")}`);
        if (req.path.includes("/get_missing_events/")) return { events: [r] } as T;
        if (req.path.includes("/state_ids/") && req.query?.event_id === idOf(q)) return { pdu_ids: stateNow, auth_chain_ids: [] } as T;
        if (req.path.endsWith(`/event/${enc(idOf(q))}`)) return { pdus: [q] } as T;
        throw new Error(`404 for ${req.path}`);
      },
    };
    const real = ctx.hs1.hs.services.roomFederation.receiver as unknown as { d: ConstructorParameters<typeof FederationReceiver>[0] };
    const receiver = new FederationReceiver({ ...real.d, fed });
    expect((await receiver.receivePdu(ctx.hs2.serverName, sEv)).error).toBeUndefined();
    expect(asked.filter((a) => a.startsWith("state_ids"))).toEqual([`state_ids ${idOf(q)}`]);
    expect((await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(idOf(sEv))}`)).status).toBe(200);
    expect((await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(idOf(r))}`)).status).toBe(404);
    // The state at S is the state after Q (Q included, R not).
    const at = (await ctx.hs1.hs.services.roomFederation.serve.stateAt(ctx.hs2.serverName, ctx.roomId, idOf(sEv), true)) as { pdu_ids: string[] };
    expect([...at.pdu_ids].sort()).toEqual([...stateNow.filter((id) => id !== bobJoin), idOf(q)].sort());
  }, 60000);

  test("rejected events after a gap: the gap is filled and its state fetched first (once); the extremities stay", async () => {
    const [create, pl, bobJoin, joinRules] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!), await stateId("m.room.join_rules")];
    const stateNow = ((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state`)) as any[]).map((e) => e.event_id as string);
    const before = await extremities();
    // C: bob's state event we never receive (stored as an outlier); D and E: messages of a
    // non-member, D after C, E after D; E is pushed.
    const c = craft({ type: "m.room.member", state_key: ctx.bob.userId, sender: ctx.bob.userId, content: { membership: "join", displayname: "C" }, prev_events: before, auth_events: [create, pl, bobJoin, joinRules] });
    const d = craft({ type: "m.room.message", sender: `@mallory:${ctx.hs2.serverName}`, content: { body: "D" }, prev_events: [idOf(c)], auth_events: [create, pl] });
    const e = craft({ type: "m.room.message", sender: `@mallory:${ctx.hs2.serverName}`, content: { body: "E" }, prev_events: [idOf(d)], auth_events: [create, pl] });
    const asked: string[] = [];
    const fed = {
      async request<T>(req: { method: string; path: string; query?: Record<string, unknown> }): Promise<T> {
        asked.push(`${req.path.split("/")[4]} ${String(req.query?.event_id ?? "")}`);
        if (req.path.includes("/get_missing_events/")) return { events: [d] } as T;
        if (req.path.includes("/state_ids/") && req.query?.event_id === idOf(c)) return { pdu_ids: stateNow, auth_chain_ids: [] } as T;
        if (req.path.endsWith(`/event/${enc(idOf(c))}`)) return { pdus: [c] } as T;
        throw new Error(`404 for ${req.path}`);
      },
    };
    const real = ctx.hs1.hs.services.roomFederation.receiver as unknown as { d: ConstructorParameters<typeof FederationReceiver>[0] };
    const receiver = new FederationReceiver({ ...real.d, fed });
    expect((await receiver.receivePdu(ctx.hs2.serverName, e)).error).toBeUndefined();
    expect(asked.filter((a) => a.startsWith("get_missing_events")).length).toBe(1);
    expect(asked.filter((a) => a.startsWith("state_ids"))).toEqual([`state_ids ${idOf(c)}`]);
    const rows = await ctx.hs1.hs.db.all<{ event_id: string; outlier: number; rejected_reason: string | null }>(
      "SELECT event_id, outlier, rejected_reason FROM events WHERE event_id IN (?, ?, ?)",
      [idOf(c), idOf(d), idOf(e)],
    );
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    expect(Number(byId.get(idOf(c))?.outlier)).toBe(1);
    expect(byId.get(idOf(d))?.rejected_reason).toBeTruthy();
    expect(byId.get(idOf(e))?.rejected_reason).toBeTruthy();
    expect(await extremities()).toEqual(before);
  }, 60000);

  test("a redaction of another room's event is not applied and not shown to clients", async () => {
    const other = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    const target = (await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(other)}/send/m.room.message/x1`, { msgtype: "m.text", body: "elsewhere" })).event_id;
    const [create, pl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const before = await extremities();
    const redaction = craft({ type: "m.room.redaction", sender: ctx.bob.userId, redacts: target, content: { redacts: target }, prev_events: before, auth_events: [create, pl, bobJoin] });
    expect((await send(redaction)).error).toBeUndefined();
    const msgs = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/messages?dir=b&limit=20`);
    expect(msgs.chunk.map((e: any) => e.event_id)).not.toContain(idOf(redaction));
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(other)}/event/${enc(target)}`)).content.body).toBe("elsewhere");
    expect(await extremities()).toEqual(before);
  }, 60000);

  test("a pushed event whose prev_events cannot be found is refused for itself, not for the transaction", async () => {
    const [create, pl, bobJoin] = [await stateId("m.room.create"), await stateId("m.room.power_levels"), await stateId("m.room.member", ctx.bob.userId!)];
    const ghost = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "never sent" }, prev_events: await extremities(), auth_events: [create, pl, bobJoin] });
    const orphan = craft({ type: "m.room.message", sender: ctx.bob.userId, content: { body: "orphan" }, prev_events: [idOf(ghost)], auth_events: [create, pl, bobJoin] });
    const outcome = await send(orphan);
    expect(outcome.error).toContain("prev_events not found");
    expect((await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(idOf(orphan))}`)).status).toBe(404);
  }, 60000);
});
