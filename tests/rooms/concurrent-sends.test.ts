// Concurrent sends into one room (group commit, issue 23): the room's events still form one chain
// (each built on the one before: no forks), every send is answered with its own event, and
// retries of one transaction ID sent at the same time give one event. SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";

const enc = encodeURIComponent;

for (const backend of BACKENDS) {
  describe(`concurrent sends in one room [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let roomId: string;
    beforeAll(async () => {
      s = await startTestServer({ backend });
      alice = await registerUser(s, `alice_cs_${backend}`);
      bob = await registerUser(s, `bob_cs_${backend}`);
      roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    });
    afterAll(() => s.stop());

    test("40 sends at once from two users: all answered, one chain in stream order, depth +1 each", async () => {
      const sends = Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? bob : alice).ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/cs${i}`, { msgtype: "m.text", body: `m${i}` }),
      );
      const ids = (await Promise.all(sends)).map((r) => r.event_id as string);
      expect(new Set(ids).size).toBe(40);
      const rows = await s.hs.services.roomsRepo.getEvents(ids);
      const ordered = [...rows.values()].sort((a, b) => Number(a.stream_ordering) - Number(b.stream_ordering));
      expect(ordered.length).toBe(40);
      for (let i = 1; i < ordered.length; i++) {
        const ev = JSON.parse(ordered[i]!.json) as { prev_events: string[]; depth: number };
        expect(ev.prev_events).toEqual([ordered[i - 1]!.event_id]);
        expect(Number(ordered[i]!.depth)).toBe(Number(ordered[i - 1]!.depth) + 1);
      }
      expect(await s.hs.services.roomsRepo.forwardExtremities(roomId)).toEqual([ordered.at(-1)!.event_id]);
    });

    test("one transaction ID sent five times at once: one event, the same ID for every answer", async () => {
      const path = `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/same-txn`;
      const answers = await Promise.all(Array.from({ length: 5 }, () => alice.ok("PUT", path, { msgtype: "m.text", body: "once" })));
      const ids = new Set(answers.map((a) => a.event_id as string));
      expect(ids.size).toBe(1);
      const msgs = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
      expect((msgs.chunk as Array<{ content: { body?: string } }>).filter((e) => e.content.body === "once").length).toBe(1);
      // And a retry after the commit finds it too.
      expect((await alice.ok("PUT", path, { msgtype: "m.text", body: "once" })).event_id).toBe([...ids][0]);
    });

    test("a ban among a user's concurrent sends: every message accepted comes before the ban, none after it", async () => {
      const sends: Array<Promise<{ status: number; body: { event_id?: string } }>> = [];
      for (let i = 0; i < 6; i++) sends.push(bob.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/ban${i}`, { msgtype: "m.text", body: `b${i}` }));
      const ban = alice.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: bob.userId });
      for (let i = 6; i < 12; i++) sends.push(bob.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/ban${i}`, { msgtype: "m.text", body: `b${i}` }));
      await ban;
      const answers = await Promise.all(sends);
      expect(answers.every((a) => a.status === 200 || a.status === 403)).toBe(true);
      const banEvent = (await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId!)}?format=event`)) as { event_id: string };
      const accepted = answers.filter((a) => a.status === 200).map((a) => a.body.event_id!);
      const rows = await s.hs.services.roomsRepo.getEvents([...accepted, banEvent.event_id]);
      const banPos = Number(rows.get(banEvent.event_id)!.stream_ordering);
      for (const id of accepted) expect(Number(rows.get(id)!.stream_ordering)).toBeLessThan(banPos);
      const after = await bob.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/ban-late`, { msgtype: "m.text", body: "late" });
      expect(after.status).toBe(403);
    });
  });
}
