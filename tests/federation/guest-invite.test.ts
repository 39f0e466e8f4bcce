// Guests invited to a room on another server (guest_access module, "Server behaviour"): the
// guest's server knows the room only from the invite's stripped state, which hs sends with
// m.room.guest_access; with can_join there the guest joins, otherwise the join is refused (403).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { createRoom, enc, setState } from "../helpers/sync.ts";

describe("guests invited over federation", () => {
  let hs1: FederatingServer;
  let hs2: FederatingServer;
  let guest: TestClient; // on hs1
  let bob: TestClient; // on hs2, hosting the rooms
  beforeAll(async () => {
    [hs1, hs2] = (await startFederatingServers(2, { config: { registration: { allow_guests: true } } })) as [FederatingServer, FederatingServer];
    const g = await new TestClient(hs1.url).ok("POST", "/_matrix/client/v3/register?kind=guest", {});
    guest = new TestClient(hs1.url, g.access_token, g.user_id, g.device_id);
    bob = await registerUser(hs2, "bob");
  }, 60000);
  afterAll(async () => {
    await hs1?.stop();
    await hs2?.stop();
  });

  const inviteAndWait = async (roomId: string) => {
    await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: guest.userId });
    for (let i = 0; i < 100; i++) {
      const s = await guest.ok("GET", "/_matrix/client/v3/sync?timeout=0");
      if (s.rooms?.invite?.[roomId]) return;
      await Bun.sleep(50);
    }
    throw new Error("invite never arrived");
  };

  test("guest_access can_join in the invite: the guest joins", async () => {
    const roomId = await createRoom(bob, { preset: "private_chat" }); // private_chat: guest_access can_join
    await inviteAndWait(roomId);
    await guest.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
  }, 30000);

  test("guest_access forbidden: the join is refused with 403", async () => {
    const roomId = await createRoom(bob, { preset: "private_chat" });
    await setState(bob, roomId, "m.room.guest_access", { guest_access: "forbidden" });
    await inviteAndWait(roomId);
    const r = await guest.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    expect([r.status, r.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  }, 30000);

  test("guest access revoked by a user on the other server: the guest's server makes the guest leave", async () => {
    const roomId = await createRoom(bob, { preset: "private_chat" });
    await inviteAndWait(roomId);
    await guest.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    await setState(bob, roomId, "m.room.guest_access", { guest_access: "forbidden" });
    let membership: string | undefined;
    for (let i = 0; i < 200 && membership !== "leave"; i++) {
      const r = await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(guest.userId!)}`);
      membership = r.body.membership;
      if (membership !== "leave") await Bun.sleep(50);
    }
    expect(membership).toBe("leave");
    const ev = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(guest.userId!)}?format=event`);
    expect(ev.sender).toBe(guest.userId); // the guest leaves, as themselves
  }, 30000);
});
