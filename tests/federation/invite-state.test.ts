// invite_room_state over federation (spec v1.16, MSC4311): hs sends whole signed events, create event
// included; it refuses (400 M_INVALID_PARAM) an invite to a room version 12 room whose state entries
// are missing the create event, not proper signed events, or from another room — and only warns
// for room versions up to 11. The inviting server here is the second hs, sending crafted requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";

describe("invite_room_state", () => {
  let hs1: FederatingServer;
  let hs2: FederatingServer;
  let carol: TestClient; // invited, on hs1
  let bob: TestClient; // inviting, on hs2
  beforeAll(async () => {
    [hs1, hs2] = (await startFederatingServers(2)) as [FederatingServer, FederatingServer];
    carol = await registerUser(hs1, "carol");
    bob = await registerUser(hs2, "bob");
  }, 60000);
  afterAll(async () => {
    await hs1?.stop();
    await hs2?.stop();
  });

  /** Bob's server sends an invite of carol to `roomId` with the given invite_room_state. */
  async function invite(roomId: string, state: (real: Record<string, unknown>[]) => unknown[]): Promise<{ status: number; errcode?: string }> {
    const events = hs2.hs.services.events;
    const rv = (await events.roomVersion(roomId))!;
    const { template } = await events.buildTemplate({ roomId, sender: bob.userId!, type: "m.room.member", stateKey: carol.userId!, content: { membership: "invite" } }, rv);
    const ev = events.signed(template, rv) as Record<string, unknown>;
    const eventId = (await import("../../src/core/event-id.ts")).computeEventId(ev, rv);
    const real = await hs2.hs.services.roomFederation.membership.strippedState(roomId, bob.userId!);
    try {
      await hs2.hs.services.federation.client.send({
        destination: hs1.serverName,
        method: "PUT",
        path: `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(eventId)}`,
        body: { event: ev, room_version: rv.id, invite_room_state: state(real) },
      });
      return { status: 200 };
    } catch (e) {
      return { status: (e as { status?: number }).status ?? 0, errcode: (e as { errcode?: string }).errcode };
    }
  }

  test("what hs sends: whole signed events, the create event among them", async () => {
    const roomId = await createRoom(bob, { name: "Full state" });
    const real = await hs2.hs.services.roomFederation.membership.strippedState(roomId, bob.userId!);
    expect(real.find((e) => e.type === "m.room.create")).toBeDefined();
    for (const e of real) {
      expect(e.signatures).toBeDefined();
      expect(e.hashes).toBeDefined();
    }
    expect(await invite(roomId, (s) => s)).toEqual({ status: 200 });
    // Carol's client sees the stripped fields only.
    const inv = (await sync(carol)).rooms.invite[roomId];
    expect(inv.invite_state.events.find((e: any) => e.type === "m.room.name").content.name).toBe("Full state");
    expect(inv.invite_state.events.every((e: any) => e.signatures === undefined && e.hashes === undefined)).toBe(true);
  });

  test("room version 12: a bad invite_room_state is refused with 400 M_INVALID_PARAM", async () => {
    const roomId = await createRoom(bob, { name: "Strict" });
    const other = await createRoom(bob, { name: "Elsewhere" });
    const otherCreate = (await hs2.hs.services.roomFederation.membership.strippedState(other)).find((e) => e.type === "m.room.create")!;
    const bad = { status: 400, errcode: "M_INVALID_PARAM" };
    expect(await invite(roomId, (s) => s.filter((e) => e.type !== "m.room.create"))).toEqual(bad);
    expect(await invite(roomId, (s) => s.map((e) => (e.type === "m.room.create" ? e : { type: e.type, state_key: e.state_key, sender: e.sender, content: e.content })))).toEqual(bad);
    // A changed content (wrong hash) is not refused: the entry is redacted, as any such event.
    expect(await invite(roomId, (s) => s.map((e) => (e.type === "m.room.name" ? { ...e, content: { name: "forged" } } : e)))).toEqual({ status: 200 });
    const inv = (await sync(carol)).rooms.invite[roomId];
    expect(inv.invite_state.events.find((e: any) => e.type === "m.room.name")?.content.name).toBeUndefined();
    expect(await invite(roomId, (s) => [...s.filter((e) => e.type !== "m.room.create"), otherCreate])).toEqual(bad);
    expect(await invite(roomId, (s) => s.map((e) => (e.type === "m.room.name" ? { ...e, signatures: {} } : e)))).toEqual(bad);
  });

  test("room versions up to 11: only a warning", async () => {
    const roomId = await createRoom(bob, { name: "Lenient", room_version: "11" });
    expect(await invite(roomId, (s) => s.map((e) => ({ type: e.type, state_key: e.state_key, sender: e.sender, content: e.content })))).toEqual({ status: 200 });
  });
});
