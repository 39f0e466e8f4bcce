// Invite permission (spec v1.18 modules/invite_permission.md) on both databases: a user whose
// m.invite_permission_config says `default_action: "block"` cannot be invited (403
// M_INVITE_BLOCKED through /invite, PUT state m.room.member and another server's PUT /invite;
// createRoom leaves them out and still succeeds); their pending invites are hidden from /sync,
// sliding sync and /initialSync while the block lasts and show again once it is lifted; room
// state is unaffected; any other value blocks nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, type FederatingServer, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
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

for (const backend of BACKENDS) {
  describe(`invite permission [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let carol: TestClient;
    beforeAll(async () => {
      [s, alice, bob, carol] = await serverWithUsers({ backend }, "alice", "bob", "carol");
    });
    afterAll(() => s.stop());

    test("a user who blocks invites cannot be invited: /invite and PUT state m.room.member answer 403 M_INVITE_BLOCKED", async () => {
      await block(bob);
      try {
        const roomId = await createRoom(alice, { preset: "private_chat" });
        expectError(await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 403, "M_INVITE_BLOCKED");
        expectError(
          await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId!)}`, { membership: "invite" }),
          403,
          "M_INVITE_BLOCKED",
        );
        expect(await member(alice, roomId, bob.userId!)).toBeUndefined();
        // Others are invited as usual; so is bob once he lifts the block.
        await invite(alice, roomId, carol.userId!);
        await unblock(bob);
        await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId!)}`, { membership: "invite" });
        expect(await member(alice, roomId, bob.userId!)).toBe("invite");
      } finally {
        await unblock(bob);
      }
    });

    test("createRoom with a blocked invitee succeeds; that invitee alone is left out", async () => {
      await block(bob);
      try {
        const roomId = await createRoom(alice, { preset: "trusted_private_chat", invite: [bob.userId, carol.userId], is_direct: true });
        expect(await member(alice, roomId, bob.userId!)).toBeUndefined();
        expect(await member(alice, roomId, carol.userId!)).toBe("invite");
        // Not made a creator as trusted_private_chat does with its invitees (room version 12).
        const create = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.create`);
        expect(create.additional_creators).toEqual([carol.userId]);
      } finally {
        await unblock(bob);
      }
    });

    test("pending invites are hidden from /sync, sliding sync and /initialSync while blocked, and show again after", async () => {
      const roomId = await createRoom(alice, { preset: "private_chat", name: "Pending" });
      await invite(alice, roomId, bob.userId!);
      const before = await sync(bob);
      expect(Object.keys(before.rooms.invite)).toContain(roomId);

      await block(bob);
      const blocked = await sync(bob);
      expect(blocked.rooms?.invite?.[roomId]).toBeUndefined();
      // Incremental: the change comes down, the invite does not come back.
      const inc = await sync(bob, { since: before.next_batch });
      expect(inc.account_data.events.find((e: any) => e.type === CONFIG)?.content).toEqual({ default_action: "block" });
      expect(inc.rooms?.invite?.[roomId]).toBeUndefined();
      const ssBlocked = await ss(bob, { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } });
      expect(ssBlocked.lists.inv.count).toBe(0);
      expect(ssBlocked.rooms?.[roomId]).toBeUndefined();
      const sub = await ss(bob, { room_subscriptions: { [roomId]: { timeline_limit: 1, required_state: [] } } });
      expect(sub.rooms?.[roomId]).toBeUndefined();
      const legacy = await bob.ok("GET", "/_matrix/client/v3/initialSync?limit=1");
      expect(legacy.rooms.some((r: any) => r.room_id === roomId)).toBe(false);
      // Other endpoints are unaffected: the invite is in the room state.
      expect(await member(alice, roomId, bob.userId!)).toBe("invite");

      // Lifting the block: the invite shows again, in the incremental sync that reports it too.
      await unblock(bob);
      const again = await sync(bob, { since: inc.next_batch });
      expect(again.account_data.events.find((e: any) => e.type === CONFIG)?.content).toEqual({});
      expect(Object.keys(again.rooms.invite)).toContain(roomId);
      expect(Object.keys((await sync(bob)).rooms.invite)).toContain(roomId);
      const ssAgain = await ss(bob, { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } });
      expect(roomIdsOf(ssAgain, "inv")).toContain(roomId);
      // And the invite can be accepted.
      await join(bob, roomId);
      expect(await member(alice, roomId, bob.userId!)).toBe("join");
    });

    test("a sliding sync connection drops the invite when the block starts and lists it again when lifted", async () => {
      const roomId = await createRoom(alice, { preset: "private_chat" });
      await invite(alice, roomId, carol.userId!);
      const req = { lists: { inv: list([0, 9], { filters: { is_invite: true } }) } };
      let r = await ss(carol, req);
      expect(roomIdsOf(r, "inv")).toContain(roomId);
      await block(carol);
      try {
        r = await ss(carol, req, { pos: r.pos });
        expect(roomIdsOf(r, "inv")).not.toContain(roomId);
      } finally {
        await unblock(carol);
      }
      r = await ss(carol, req, { pos: r.pos });
      expect(roomIdsOf(r, "inv")).toContain(roomId);
    });

    test("only default_action \"block\" blocks: other values, wrong types and no setting do not", async () => {
      for (const content of [{ default_action: "allow" }, { default_action: "BLOCK" }, { default_action: true }, { default_action: ["block"] }, { other: "block" }, {}]) {
        await setPermission(bob, content);
        const roomId = await createRoom(alice, { preset: "private_chat", invite: [bob.userId] });
        expect(await member(alice, roomId, bob.userId!)).toBe("invite");
        const other = await createRoom(alice, { preset: "private_chat" });
        await invite(alice, other, bob.userId!);
        expect(Object.keys((await sync(bob)).rooms.invite)).toContain(other);
      }
    });
  });
}

for (const backend of BACKENDS) {
  describe(`invite permission over federation [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let bob: TestClient;
    let dave: TestClient;
    beforeAll(async () => {
      const servers = await startFederatingServers(2, { backend });
      hs1 = servers[0]!;
      hs2 = servers[1]!;
      alice = await registerUser(hs1, "alice");
      bob = await registerUser(hs2, "bob");
      dave = await registerUser(hs2, "dave");
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    test("bob's server refuses an invite from another server with 403 M_INVITE_BLOCKED; alice's client is told so", async () => {
      await block(bob);
      const roomId = await createRoom(alice, { preset: "private_chat" });
      expectError(await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 403, "M_INVITE_BLOCKED");
      expect(await member(alice, roomId, bob.userId!)).toBeUndefined();

      // createRoom still succeeds: bob is left out, dave (same server, not blocking) is invited.
      const dm = await createRoom(alice, { preset: "private_chat", invite: [bob.userId, dave.userId] });
      expect(await member(alice, dm, bob.userId!)).toBeUndefined();
      expect(await member(alice, dm, dave.userId!)).toBe("invite");
      await eventually(async () => (await sync(dave)).rooms?.invite?.[dm], 15000, "dave's invite on hs2");
      expect((await sync(bob)).rooms?.invite?.[dm]).toBeUndefined();

      // Lifted: the invite goes through.
      await unblock(bob);
      await invite(alice, roomId, bob.userId!);
      await eventually(async () => (await sync(bob)).rooms?.invite?.[roomId], 15000, "bob's invite on hs2");
    }, 60000);
  });
}
