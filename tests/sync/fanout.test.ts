// The /sync fan-out path (Sync.fromMemory): a long-poll woken by new timeline events answers from
// what was read and formatted once for every waiter. For each case below the same range is
// computed both ways and the answers must be the same JSON (but for unsigned.age, a clock reading);
// where the range is not just "new events in joined rooms" the fan-out path must decline (and the
// full computation answers).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKENDS, type TestServer } from "../helpers/server.ts";
import { serverWithUsers } from "../helpers/suite.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { createRoom, enc, join, send, setState, sync, syncPath } from "../helpers/sync.ts";
import { decodeStreamToken } from "../../src/services/rooms/tokens.ts";

/** Drops unsigned.age (when each path formatted the event), keeps everything else in order. */
function normalize(body: unknown): string {
  return JSON.stringify(body, (k, v) => (k === "age" ? undefined : v));
}

for (const backend of BACKENDS) {
  describe(`sync fan-out path [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    let carol: TestClient;
    let room: string;
    let other: string;
    beforeAll(async () => {
      // Without presence: a first message of an idle user also moves their presence (a stream
      // position of its own), which the fan-out path leaves to the full computation.
      [s, alice, bob, carol] = await serverWithUsers({ backend, config: { presence: { enabled: false } } }, "alice", "bob", "carol");
      room = await createRoom(alice, { preset: "public_chat", name: "Fan-out" });
      other = await createRoom(alice, { preset: "public_chat" });
      for (const c of [bob, carol]) {
        await join(c, room);
        await join(c, other);
      }
      // Key counts are in every answer: the fan-out path reads them batched with other devices.
      for (const c of [bob, carol]) {
        await c.ok("POST", "/_matrix/client/v3/keys/upload", {
          one_time_keys: { "signed_curve25519:AAAA": { key: "k1", signatures: {} }, "curve25519:BBBB": "k2", "signed_curve25519:CCCC": { key: "k3", signatures: {} } },
          fallback_keys: { "signed_curve25519:FFFF": { key: "f1", fallback: true, signatures: {} } },
        });
      }
    });
    afterAll(() => s.stop());

    /**
     * bob syncs with `filter` (over HTTP: the since token and the lazy-loading memory of his
     * device), `act` happens, then the range is answered both ways. Returns the fan-out answer
     * (undefined: declined) after checking it equals the full computation.
     */
    async function bothWays(filter: Record<string, unknown>, act: () => Promise<void>, opts: { useStateAfter?: boolean; before?: () => Promise<void> } = {}) {
      const svc = s.hs.services;
      await opts.before?.();
      // Raw GET: event_fields projects events past what the spec's schema accepts.
      const first = (await bob.get(syncPath({ filter, use_state_after: opts.useStateAfter }))).body;
      const since = decodeStreamToken(first.next_batch);
      const req = {
        userId: bob.userId!,
        deviceId: bob.deviceId ?? null,
        since: first.next_batch,
        filter: await svc.syncFilters.resolve(bob.userId!, JSON.stringify(filter)),
        useStateAfter: opts.useStateAfter,
      };
      // The joined rooms a waiter would hold: those of the (empty) computation ending at `since`.
      const joined = (await svc.sync.compute(req, since, since.stream, since.typing)).rooms;
      await act();
      const to = svc.streams.current();
      const typingTo = svc.typing.current();
      const quick = await svc.sync.fromMemory(req, since, to, typingTo, joined);
      const full = await svc.sync.compute(req, since, to, typingTo);
      if (quick) {
        expect(normalize(quick.body)).toBe(normalize(full.body));
        expect(quick.news).toBe(full.news);
        expect(quick.rooms).toEqual(full.rooms);
      }
      return { quick, full, req, since, to, joined };
    }

    const messages = (n: number, c = alice, r = () => room) => async () => {
      for (let i = 0; i < n; i++) await send(c, r(), `message ${i}`);
    };

    test("new messages, default filter: answered from memory, same answer", async () => {
      const { quick, full } = await bothWays({}, messages(3));
      expect(quick).toBeDefined();
      expect(full.body.rooms.join[room]!.timeline.events.length).toBe(3);
      expect(full.body.rooms.join[room]!.unread_notifications.notification_count).toBeGreaterThan(0);
      expect(full.body.device_one_time_keys_count).toEqual({ signed_curve25519: 2, curve25519: 1 });
      expect(full.body.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    });

    test("messages in two rooms, a mention (highlight), lazy loading, thread notifications", async () => {
      const filter = { room: { state: { lazy_load_members: true }, timeline: { limit: 5, unread_thread_notifications: true } } };
      // Lazy loading: the first sync after alice's first message gives bob her member event.
      await bothWays(filter, messages(1));
      const { quick, full } = await bothWays(filter, async () => {
        await send(alice, room, { msgtype: "m.text", body: "hey bob", "m.mentions": { user_ids: [bob.userId] } });
        await send(alice, other, "elsewhere");
        const root = await send(alice, room, "root");
        await send(alice, room, { msgtype: "m.text", body: "in thread", "m.relates_to": { rel_type: "m.thread", event_id: root } });
      });
      expect(quick).toBeDefined();
      expect(Object.keys(full.body.rooms.join).sort()).toEqual([room, other].sort());
    });

    test("a member the lazy-loading client lacks: declined (it goes into state)", async () => {
      const filter = { room: { state: { lazy_load_members: true }, timeline: { limit: 3 } } };
      const dave = await registerUser(s, "dave");
      await join(dave, room);
      // Bob's initial sync sees neither dave's join nor a message of his.
      const { quick, full } = await bothWays(filter, messages(1, dave), { before: messages(4) });
      expect(quick).toBeUndefined();
      expect(full.body.rooms.join[room]!.state!.events.some((e: any) => e.state_key === dave.userId)).toBe(true);
    });

    test("filters: types, senders, not_rooms, event_fields, federation format, state_after", async () => {
      const cases: Array<[Record<string, unknown>, boolean?]> = [
        [{ room: { timeline: { not_types: ["m.room.message"] } } }],
        [{ room: { timeline: { senders: [carol.userId] } } }],
        [{ room: { not_rooms: [other] } }],
        [{ room: { timeline: { rooms: [other] } } }],
        [{ event_fields: ["type", "content.body", "sender"] }],
        [{ event_format: "federation" }],
        [{ room: { ephemeral: { types: [] }, timeline: { limit: 4 } } }],
        [{}, true],
      ];
      for (const [filter, after] of cases) {
        const { quick, full } = await bothWays(filter, async () => {
          await send(alice, room, "a");
          await send(carol, room, "c");
          await send(alice, other, "o");
        }, { useStateAfter: after });
        expect(quick).toBeDefined();
        expect(full).toBeDefined();
      }
    });

    test("nothing bob's filter shows: no news either way", async () => {
      const { quick, full } = await bothWays({ room: { timeline: { types: ["m.nothing"] } } }, messages(2));
      expect(quick).toBeDefined();
      expect(full.news).toBe(false);
    });

    test("an ignored sender", async () => {
      await bob.ok("PUT", `/_matrix/client/v3/user/${enc(bob.userId!)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.userId!]: {} } });
      const { quick, full } = await bothWays({}, async () => {
        await send(carol, room, "ignored");
        await send(alice, room, "seen");
      });
      expect(quick).toBeDefined();
      expect(full.body.rooms.join[room]!.timeline.events.map((e: any) => e.sender)).toEqual([alice.userId]);
      await bob.ok("PUT", `/_matrix/client/v3/user/${enc(bob.userId!)}/account_data/m.ignored_user_list`, { ignored_users: {} });
    });

    test("declined: limited timeline, own event, state, membership, typing, receipt, account data", async () => {
      const declined: Array<[string, Record<string, unknown>, () => Promise<void>]> = [
        ["limited", { room: { timeline: { limit: 2 } } }, messages(3)],
        ["own event", {}, messages(1, bob)],
        ["state event", {}, async () => void (await setState(alice, room, "m.room.topic", { topic: "t" }))],
        ["membership", {}, async () => {
          await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(other)}/leave`, {});
          await join(carol, other);
        }],
        ["typing", {}, async () => {
          await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(alice.userId!)}`, { typing: true, timeout: 10000 });
          await send(alice, room, "typing done");
        }],
        ["receipt", {}, async () => {
          const id = await send(alice, room, "read me");
          await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(id)}`, {});
        }],
        ["account data", {}, async () => {
          await bob.ok("PUT", `/_matrix/client/v3/user/${enc(bob.userId!)}/account_data/x.y`, { a: 1 });
          await send(alice, room, "after account data");
        }],
      ];
      for (const [name, filter, act] of declined) {
        const { quick, full } = await bothWays(filter, act);
        expect({ name, quick }).toEqual({ name, quick: undefined });
        expect(full.news).toBe(true);
      }
    });

    test("a range answered again after a redaction of one of its events: not the stale copy", async () => {
      const svc = s.hs.services;
      let id = "";
      const { quick, req, since, to, joined } = await bothWays({}, async () => void (id = await send(alice, room, "soon redacted")));
      expect(quick).toBeDefined();
      await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(id)}/${crypto.randomUUID()}`, {});
      // The same range as before (a waiter that lagged), computed both ways.
      const again = await svc.sync.fromMemory(req, since, to, since.typing, joined);
      const full = await svc.sync.compute(req, since, to, since.typing);
      expect(normalize(full.body.rooms.join[room]!.timeline.events)).toContain('"redacted_because"');
      expect(again).toBeDefined();
      expect(normalize(again!.body)).toBe(normalize(full.body));
    });

    test("a new request after only new messages: from memory, as computed", async () => {
      const svc = s.hs.services;
      const first = await sync(bob);
      await send(alice, room, "one");
      await send(carol, other, "two");
      const before = svc.sync.answered.fromMemory;
      const r = await sync(bob, { since: first.next_batch });
      expect(svc.sync.answered.fromMemory).toBe(before + 1);
      const since = decodeStreamToken(first.next_batch);
      const to = decodeStreamToken(r.next_batch);
      const req = { userId: bob.userId!, deviceId: bob.deviceId ?? null, since: first.next_batch, filter: await svc.syncFilters.resolve(bob.userId!, null) };
      const full = await svc.sync.compute(req, since, to.stream, to.typing);
      expect(normalize(r)).toBe(normalize(full.body));
      expect(Object.keys(r.rooms.join).length).toBe(2);
    });

    test("a woken long-poll answers the new messages (end to end)", async () => {
      const first = await sync(bob);
      const before = s.hs.services.sync.answered.fromMemory;
      const poll = sync(bob, { since: first.next_batch, timeout: 10000 });
      while (s.hs.services.notifier.waiting === 0) await Bun.sleep(5);
      await send(alice, room, "wake up");
      const r = await poll;
      expect(r.rooms.join[room].timeline.events.map((e: any) => e.content.body)).toEqual(["wake up"]);
      // Both from memory: the request's first look (nothing new yet) and the answer once woken.
      expect(s.hs.services.sync.answered.fromMemory).toBe(before + 2);
    });
  });
}
