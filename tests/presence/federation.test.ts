// Presence and read receipts across two servers (both databases): m.presence EDUs reach users
// sharing a room (and only them), m.receipt EDUs carry public read receipts (not private ones)
// both ways, and EDUs about users of another server, or rooms the sender is not in, are ignored.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";
import { createRoom, enc, send, sync } from "../helpers/sync.ts";

const statusPath = (userId: string) => `/_matrix/client/v3/presence/${enc(userId)}/status`;
const receiptsIn = (body: any, roomId: string): any => body.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: any) => e.type === "m.receipt")?.content ?? {};

for (const backend of BACKENDS) {
  describe(`presence and receipts over federation [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient; // hs1
    let bob: TestClient; // hs2, shares a room with alice
    let carol: TestClient; // hs2, shares nothing
    let roomId: string;
    beforeAll(async () => {
      [hs1, hs2] = (await startFederatingServers(2, { backend, config: { federation: { retry_min_interval_ms: 200 } } })) as [FederatingServer, FederatingServer];
      alice = await registerUser(hs1, "alice");
      bob = await registerUser(hs2, "bob");
      carol = await registerUser(hs2, "carol");
      roomId = await createRoom(alice, { preset: "public_chat" });
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(hs1.serverName)}`, {});
      await eventually(async () => ((await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).joined[bob.userId!] ? true : undefined), 15000, "bob joined");
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    test("presence goes to servers sharing a room, both ways", async () => {
      await alice.ok("PUT", statusPath(alice.userId!), { presence: "online", status_msg: "from hs1" });
      const seen = await eventually(async () => {
        const r = await bob.get(statusPath(alice.userId!));
        return r.status === 200 && r.body.status_msg === "from hs1" ? r.body : undefined;
      }, 15000, "alice's presence on hs2");
      expect(seen.presence).toBe("online");
      expect(seen.currently_active).toBe(true);
      expect(seen.last_active_ago).toBeLessThan(60000);
      // In bob's /sync too.
      await eventually(async () => {
        const s = await sync(bob, { set_presence: "offline" });
        return s.presence.events.some((e: any) => e.sender === alice.userId && e.content.status_msg === "from hs1") ? true : undefined;
      }, 15000, "alice's presence in bob's sync");
      // carol shares no room with alice.
      expectError(await carol.get(statusPath(alice.userId!)), 403, "M_FORBIDDEN");
      // bob comes online by syncing; alice sees it.
      await sync(bob);
      await eventually(async () => ((await alice.ok("GET", statusPath(bob.userId!))).presence === "online" ? true : undefined), 15000, "bob online on hs1");
      await bob.ok("PUT", statusPath(bob.userId!), { presence: "unavailable", status_msg: "away" });
      await eventually(async () => ((await alice.ok("GET", statusPath(bob.userId!))).status_msg === "away" ? true : undefined), 15000, "bob away on hs1");
    }, 60000);

    test("a server may not speak for other servers' users, nor about users sharing no room", async () => {
      const sendTxn = (edus: unknown[]) =>
        hs2.hs.services.federation.client.request<any>({
          destination: hs1.serverName,
          method: "PUT",
          path: `/_matrix/federation/v1/send/${Date.now()}${Math.random().toString(36).slice(2)}`,
          body: { origin: hs2.serverName, origin_server_ts: Date.now(), pdus: [], edus },
        });
      const before = await alice.ok("GET", statusPath(alice.userId!));
      // hs2 claims alice (of hs1) is offline: ignored.
      await sendTxn([{ edu_type: "m.presence", content: { push: [{ user_id: alice.userId, presence: "offline", last_active_ago: 1 }] } }]);
      expect((await alice.ok("GET", statusPath(alice.userId!))).presence).toBe(before.presence);
      expect((await hs1.hs.db.get<{ state: string }>("SELECT state FROM presence WHERE user_id = ?", [alice.userId!]))?.state).toBe(before.presence);
      // carol shares no room with anyone on hs1: nothing is stored about her.
      await sendTxn([{ edu_type: "m.presence", content: { push: [{ user_id: carol.userId, presence: "online", last_active_ago: 1 }] } }]);
      expect(await hs1.hs.db.get("SELECT 1 FROM presence WHERE user_id = ?", [carol.userId!])).toBeUndefined();
      // A receipt for alice from hs2, and one for carol in a room she is not in: ignored.
      const ev = await send(alice, roomId, "forgery target");
      await sendTxn([{ edu_type: "m.receipt", content: { [roomId]: { "m.read": { [alice.userId!]: { event_ids: [ev], data: { ts: 1 } }, [carol.userId!]: { event_ids: [ev], data: { ts: 1 } } } } } }]);
      const stored = await hs1.hs.db.all("SELECT user_id FROM receipts WHERE room_id = ? AND event_id = ?", [roomId, ev]);
      expect(stored).toEqual([]);
      // Garbage is ignored, not an error.
      const r = await sendTxn([{ edu_type: "m.receipt", content: { [roomId]: "nope" } }, { edu_type: "m.presence", content: { push: "nope" } }]);
      expect(r.pdus).toEqual({});
    }, 30000);

    test("public read receipts cross servers both ways; private ones stay home", async () => {
      const e1 = await send(alice, roomId, "read me");
      const e2 = await send(alice, roomId, "read me privately");
      const e3 = await send(alice, roomId, "read me too");
      // bob's server has them all.
      await eventually(async () => {
        const r = await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(e3)}`);
        return r.status === 200 ? true : undefined;
      }, 15000, "events on hs2");
      const before = await sync(alice);
      await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(e1)}`, {});
      const got = await eventually(async () => {
        const s = await sync(alice, { since: before.next_batch });
        const c = receiptsIn(s, roomId);
        return c[e1]?.["m.read"]?.[bob.userId!] ? c : undefined;
      }, 15000, "bob's receipt on hs1");
      expect(typeof got[e1]["m.read"][bob.userId!].ts).toBe("number");
      // A private receipt, then a public one on a later event: only the public one arrives.
      await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read.private/${enc(e2)}`, {});
      await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(e3)}`, { thread_id: "main" });
      const later = await eventually(async () => {
        const c = receiptsIn(await sync(alice), roomId);
        return c[e3]?.["m.read"]?.[bob.userId!] ? c : undefined;
      }, 15000, "bob's second receipt on hs1");
      expect(later[e3]["m.read"][bob.userId!].thread_id).toBe("main");
      expect(JSON.stringify(later)).not.toContain("m.read.private");
      expect(await hs1.hs.db.all("SELECT 1 FROM receipts WHERE receipt_type = 'm.read.private' AND user_id = ?", [bob.userId!])).toEqual([]);
      // The other way: alice reads bob's message.
      const b1 = await send(bob, roomId, "from hs2");
      await eventually(async () => ((await alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(b1)}`)).status === 200 ? true : undefined), 15000, "bob's event on hs1");
      await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(b1)}`, {});
      await eventually(async () => (receiptsIn(await sync(bob), roomId)[b1]?.["m.read"]?.[alice.userId!] ? true : undefined), 15000, "alice's receipt on hs2");
    }, 60000);
  });
}
