// Rejecting an invite when the inviting server cannot take the rejection (issue 17, root cause
// 6): the invitee still gets rid of it. The rejection is recorded locally as an out-of-band leave
// event after the invite, and the room moves to the leave section of their /sync with that event.
import { expect, test } from "bun:test";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

describeOnBackends("invite rejection fallback", (backend) => {
  const ctx = federatedPairFixture({ backend, config: { federation: { retry_min_interval_ms: 100 } } });

  test("an invite whose server is down is rejected locally and shows as left in /sync", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [ctx.bob.userId] })).room_id;
    const since = await eventually(async () => {
      const s = await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0");
      return s.rooms?.invite?.[roomId] ? (s.next_batch as string) : undefined;
    }, 15000, "invite on hs2");
    let leave: { status: number; body: any } | undefined;
    await ctx.hs1.restart(async () => {
      leave = await ctx.bob.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    });
    expect(leave?.status).toBe(200);
    const left = await eventually(async () => {
      const s = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(since)}`);
      return s.rooms?.leave?.[roomId];
    }, 15000, "room in the leave section");
    const ev = (left.timeline.events as any[]).find((e) => e.type === "m.room.member" && e.state_key === ctx.bob.userId);
    expect(ev).toBeDefined();
    expect(ev.sender).toBe(ctx.bob.userId);
    expect(ev.content.membership).toBe("leave");
    // The invite is gone: a later full sync has no invite for the room.
    const full = await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    expect(full.rooms?.invite?.[roomId]).toBeUndefined();
  }, 60000);

  test("leaving a room one was never invited to is still 403", async () => {
    const r = await ctx.bob.request("POST", `/_matrix/client/v3/rooms/${enc(`!nope:${ctx.hs1.serverName}`)}/leave`, {});
    expect(r.status).toBe(403);
  });
});
