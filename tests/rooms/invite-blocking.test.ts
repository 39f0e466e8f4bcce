// Invite permission (spec v1.18 modules/invite_permission.md) on both databases: a user whose
// m.invite_permission_config says `default_action: "block"` cannot be invited (403
// M_INVITE_BLOCKED through /invite, PUT state m.room.member and another server's PUT /invite;
// createRoom leaves them out and still succeeds); their pending invites are hidden from /sync,
// sliding sync and /initialSync while the block lasts and show again once it is lifted; room
// state is unaffected; any other value blocks nothing.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, invite, join, sync } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";
import { list, roomIdsOf, ss } from "../sliding-sync/helpers.ts";

const CONFIG = "m.invite_permission_config";

const setPermission = (c: TestClient, content: Record<string, unknown>) =>
  c.ok("PUT", `/_matrix/client/v3/user/${enc(c.userId!)}/account_data/${CONFIG}`, content);
const block = (c: TestClient) => setPermission(c, { default_action: "block" });
/** Lifting the block: the same event without `default_action` (invite_permission.md). */
const unblock = (c: TestClient) => setPermission(c, {});

const member = async (c: TestClient, roomId: string, userId: string): Promise<string | undefined> => {
  const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`);
  return r.status === 200 ? (r.body.membership as string) : undefined;
};

describeOnBackends("invite permission", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  test("a user who blocks invites cannot be invited: /invite and PUT state m.room.member answer 403 M_INVITE_BLOCKED", async () => {
    await block(ctx.bob);
    try {
      const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
      expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId }), 403, "M_INVITE_BLOCKED");
      expectError(
        await ctx.alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}`, { membership: "invite" }),
        403,
        "M_INVITE_BLOCKED",
      );
      expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBeUndefined();
      // Others are invited as usual; so is bob once he lifts the block.
      await invite(ctx.alice, roomId, ctx.carol.userId!);
      await unblock(ctx.bob);
      await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}`, { membership: "invite" });
      expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBe("invite");
    } finally {
      await unblock(ctx.bob);
    }
  });

  test("createRoom with a blocked invitee succeeds; that invitee alone is left out", async () => {
    await block(ctx.bob);
    try {
      const roomId = await createRoom(ctx.alice, { preset: "trusted_private_chat", invite: [ctx.bob.userId, ctx.carol.userId], is_direct: true });
      expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBeUndefined();
      expect(await member(ctx.alice, roomId, ctx.carol.userId!)).toBe("invite");
      // Not made a creator as trusted_private_chat does with its invitees (room version 12).
      const create = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.create`);
      expect(create.additional_creators).toEqual([ctx.carol.userId]);
    } finally {
      await unblock(ctx.bob);
    }
  });

  test("pending invites are hidden from /sync, sliding sync and /initialSync while blocked, and show again after", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat", name: "Pending" });
    await invite(ctx.alice, roomId, ctx.bob.userId!);
    const before = await sync(ctx.bob);
    expect(Object.keys(before.rooms.invite)).toContain(roomId);

    await block(ctx.bob);
    const blocked = await sync(ctx.bob);
    expect(blocked.rooms?.invite?.[roomId]).toBeUndefined();
    // Incremental: the change comes down, the invite does not come back.
    const inc = await sync(ctx.bob, { since: before.next_batch });
    expect(inc.account_data.events.find((e: any) => e.type === CONFIG)?.content).toEqual({ default_action: "block" });
    expect(inc.rooms?.invite?.[roomId]).toBeUndefined();
    const ssBlocked = await ss(ctx.bob, { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } });
    expect(ssBlocked.lists.inv.count).toBe(0);
    expect(ssBlocked.rooms?.[roomId]).toBeUndefined();
    const sub = await ss(ctx.bob, { room_subscriptions: { [roomId]: { timeline_limit: 1, required_state: [] } } });
    expect(sub.rooms?.[roomId]).toBeUndefined();
    const legacy = await ctx.bob.ok("GET", "/_matrix/client/v3/initialSync?limit=1");
    expect(legacy.rooms.some((r: any) => r.room_id === roomId)).toBe(false);
    // Other endpoints are unaffected: the invite is in the room state.
    expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBe("invite");

    // Lifting the block: the invite shows again, in the incremental sync that reports it too.
    await unblock(ctx.bob);
    const again = await sync(ctx.bob, { since: inc.next_batch });
    expect(again.account_data.events.find((e: any) => e.type === CONFIG)?.content).toEqual({});
    expect(Object.keys(again.rooms.invite)).toContain(roomId);
    expect(Object.keys((await sync(ctx.bob)).rooms.invite)).toContain(roomId);
    const ssAgain = await ss(ctx.bob, { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } });
    expect(roomIdsOf(ssAgain, "inv")).toContain(roomId);
    // And the invite can be accepted.
    await join(ctx.bob, roomId);
    expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBe("join");
  });

  test("a sliding sync connection drops the invite when the block starts and lists it again when lifted", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    await invite(ctx.alice, roomId, ctx.carol.userId!);
    const req = { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } };
    let r = await ss(ctx.carol, req);
    expect(roomIdsOf(r, "inv")).toContain(roomId);
    await block(ctx.carol);
    try {
      r = await ss(ctx.carol, req, { pos: r.pos });
      expect(roomIdsOf(r, "inv")).not.toContain(roomId);
    } finally {
      await unblock(ctx.carol);
    }
    r = await ss(ctx.carol, req, { pos: r.pos });
    expect(roomIdsOf(r, "inv")).toContain(roomId);
  });

  test("only default_action \"block\" blocks: other values, wrong types and no setting do not", async () => {
    for (const content of [{ default_action: "allow" }, { default_action: "BLOCK" }, { default_action: true }, { default_action: ["block"] }, { other: "block" }, {}]) {
      await setPermission(ctx.bob, content);
      const roomId = await createRoom(ctx.alice, { preset: "private_chat", invite: [ctx.bob.userId] });
      expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBe("invite");
      const other = await createRoom(ctx.alice, { preset: "private_chat" });
      await invite(ctx.alice, other, ctx.bob.userId!);
      expect(Object.keys((await sync(ctx.bob)).rooms.invite)).toContain(other);
    }
  });
});

describeOnBackends("invite permission over federation", (backend) => {
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; bob: TestClient; dave: TestClient }>(async (ctx) => {
    const servers = await startFederatingServers(2, { backend });
    ctx.hs1 = servers[0]!;
    ctx.hs2 = servers[1]!;
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
    ctx.dave = await registerUser(ctx.hs2, "dave");
  }, { timeout: 60000 });

  test("bob's server refuses an invite from another server with 403 M_INVITE_BLOCKED; alice's client is told so", async () => {
    await block(ctx.bob);
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    expectError(await ctx.alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: ctx.bob.userId }), 403, "M_INVITE_BLOCKED");
    expect(await member(ctx.alice, roomId, ctx.bob.userId!)).toBeUndefined();

    // createRoom still succeeds: bob is left out, dave (same server, not blocking) is invited.
    const dm = await createRoom(ctx.alice, { preset: "private_chat", invite: [ctx.bob.userId, ctx.dave.userId] });
    expect(await member(ctx.alice, dm, ctx.bob.userId!)).toBeUndefined();
    expect(await member(ctx.alice, dm, ctx.dave.userId!)).toBe("invite");
    await eventually(async () => (await sync(ctx.dave)).rooms?.invite?.[dm], 15000, "dave's invite on hs2");
    expect((await sync(ctx.bob)).rooms?.invite?.[dm]).toBeUndefined();

    // Lifted: the invite goes through.
    await unblock(ctx.bob);
    await invite(ctx.alice, roomId, ctx.bob.userId!);
    await eventually(async () => (await sync(ctx.bob)).rooms?.invite?.[roomId], 15000, "bob's invite on hs2");
  }, 60000);
});
