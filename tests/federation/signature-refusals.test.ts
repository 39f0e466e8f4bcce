// Membership events handed over by another server (/send_join, /send_leave, /invite) that are not
// signed by their sender's server are refused with 403 M_FORBIDDEN (the event is not authorised by
// anyone: the v1 endpoints document 403 for requests that are not authorised; SyTest's "Inbound
// /v1/send_join rejects incorrectly-signed joins" and the invite ones expect it too); a malformed
// event stays 400 M_BAD_JSON.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { computeEventId } from "../../src/core/event-id.ts";
import { type TestClient } from "../helpers/client.ts";
import { type FederatingServer } from "../helpers/server.ts";
import { federatedPair } from "../helpers/suite.ts";
import { createRoom, enc } from "../helpers/sync.ts";

describe("unsigned membership events from another server", () => {
  let hs1: FederatingServer;
  let hs2: FederatingServer;
  let alice: TestClient; // on hs1
  let bob: TestClient; // on hs2
  beforeAll(async () => {
    ({ hs1, hs2, alice, bob } = await federatedPair());
  }, 60000);
  afterAll(async () => {
    await hs1?.stop();
    await hs2?.stop();
  });

  const FAKE_SIG = "fKwZ4vFEDHDq6VZM2ndpG2Md0NIsFBdAvOvnQq3Nh8ZTZwdtrc+1OvQkRX2LGTMnSG51wQz93pJtldxE5VTACA";
  async function put(path: string, body: unknown): Promise<{ status: number; errcode?: string }> {
    try {
      await hs2.hs.services.federation.client.send({ destination: hs1.serverName, method: "PUT", path, body });
      return { status: 200 };
    } catch (e) {
      return { status: (e as { status?: number }).status ?? 0, errcode: (e as { errcode?: string }).errcode };
    }
  }
  /** The event hs1 offers through make_join / make_leave, as bob's server would sign it. */
  async function made(kind: "make_join" | "make_leave", roomId: string) {
    const res = await hs2.hs.services.federation.client.request<{ event: Record<string, unknown> }>({
      destination: hs1.serverName,
      method: "GET",
      path: `/_matrix/federation/v1/${kind}/${enc(roomId)}/${enc(bob.userId!)}`,
      query: { ver: ["10"] },
    });
    const rv = (await hs1.hs.services.events.roomVersion(roomId))!;
    const ev = { ...res.event, origin_server_ts: Date.now() };
    const signed = hs2.hs.services.events.signed(ev as never, rv) as Record<string, unknown>;
    return { signed, rv };
  }
  const forbidden = { status: 403, errcode: "M_FORBIDDEN" };

  test("send_join: no signature or a wrong one is 403 M_FORBIDDEN; the signed join is accepted", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat", room_version: "10" });
    const { signed, rv } = await made("make_join", roomId);
    const id = computeEventId(signed, rv);
    const path = `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(id)}`;
    expect(await put(path, { ...signed, signatures: {} })).toEqual(forbidden);
    expect(await put(path, { ...signed, signatures: { [hs2.serverName]: { "ed25519:abc": FAKE_SIG } } })).toEqual(forbidden);
    expect(await put(`/_matrix/federation/v1/send_join/${enc(roomId)}/${enc(id)}`, { ...signed, signatures: {} })).toEqual(forbidden);
    expect(await put(path, { ...signed, content: 7 })).toEqual({ status: 400, errcode: "M_BAD_JSON" });
    expect(await put(path, signed)).toEqual({ status: 200 });
  });

  test("send_leave (rejecting an invite): an unsigned leave is 403 M_FORBIDDEN", async () => {
    const roomId = await createRoom(alice, { preset: "private_chat", room_version: "10" });
    await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bob.userId });
    const { signed, rv } = await made("make_leave", roomId);
    const id = computeEventId(signed, rv);
    expect(await put(`/_matrix/federation/v2/send_leave/${enc(roomId)}/${enc(id)}`, { ...signed, signatures: {} })).toEqual(forbidden);
    expect(await put(`/_matrix/federation/v2/send_leave/${enc(roomId)}/${enc(id)}`, signed)).toEqual({ status: 200 });
  });

  test("invite: an invite not signed by the inviter's server is 403 M_FORBIDDEN", async () => {
    const roomId = await createRoom(bob, { name: "from hs2", room_version: "10" });
    const events = hs2.hs.services.events;
    const rv = (await events.roomVersion(roomId))!;
    const { template } = await events.buildTemplate({ roomId, sender: bob.userId!, type: "m.room.member", stateKey: alice.userId!, content: { membership: "invite" } }, rv);
    const ev = events.signed(template, rv) as Record<string, unknown>;
    const id = computeEventId(ev, rv);
    const state = await hs2.hs.services.roomFederation.membership.strippedState(roomId, bob.userId!);
    const path = `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(id)}`;
    expect(await put(path, { event: { ...ev, signatures: {} }, room_version: rv.id, invite_room_state: state })).toEqual(forbidden);
    expect(await put(path, { event: ev, room_version: rv.id, invite_room_state: state })).toEqual({ status: 200 });
  });
});
