// Server ACLs on PDUs (issue 17, root cause 6): an event sent by a server the room's
// m.room.server_acl denies is refused (an error for it in the /send answer) and never stored.
import { expect, test } from "bun:test";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

describeOnBackends("server ACLs on PDUs", (backend) => {
  const ctx = federatedPairFixture({ backend });

  const sees = async (roomId: string, eventId: string) => (await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`)).status === 200;

  test("a PDU from a denied server is refused in the transaction answer and not stored", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    const before = (await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: "m.text", body: "allowed" })).event_id;
    await eventually(async () => ((await sees(roomId, before)) ? true : undefined), 15000, "the first message on hs1");

    // Deny hs2. ACL entries match host names without ports, so this denies every test server
    // ("localhost:<port>"); hs1's own events are not received over federation and are unaffected.
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.server_acl/`, { allow: ["*"], deny: ["localhost"] });
    const after = (await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t2`, { msgtype: "m.text", body: "denied" })).event_id;
    // The PDU as hs2 sends it, delivered to hs1 in a transaction of our own.
    const ev = (await ctx.hs2.hs.services.events.loadEvent(after))!;
    const rv = await ctx.hs2.hs.services.events.versionOf(roomId);
    const pdu = ctx.hs2.hs.services.roomFederation.membership.wire(ev, rv);
    const res = await ctx.hs1.hs.services.roomFederation.serve.receiveTransaction(ctx.hs2.serverName, `acl-${Date.now()}`, { pdus: [pdu] });
    expect(res.pdus[after]?.error).toContain("server ACL");
    await Bun.sleep(1000);
    expect(await sees(roomId, after)).toBe(false);
  }, 60000);
});
