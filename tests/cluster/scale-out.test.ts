// Three `hs serve` processes on one PostgreSQL database behind nginx (round-robin, no stickiness):
// concurrent senders in one room through every process, clients whose requests land on a
// different process each time see exactly the events sent, in one order, and the room does not
// fork; a long-poll /sync on one process is woken by a send on another. docs/SCALING.md.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import postgres from "postgres";
import { registerUser, TestClient } from "../helpers/client.ts";
import { NGINX, startCluster, type Cluster } from "../helpers/cluster.ts";
import { bodiesOf, list, ss } from "../sliding-sync/helpers.ts";
import { NotificationCountType } from "matrix-js-sdk";
import { sdkFor, startSyncing, waitFor } from "../helpers/sdk.ts";

const enabled = !!process.env.TEST_POSTGRES_URL && existsSync(NGINX);
const enc = encodeURIComponent;

/**
 * A long-poll that must be woken: its own timeout is far longer, so a lost wake-up shows as this
 * failing (the bound is generous against a load-shared machine, not a latency assertion).
 */
function woken<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  return Promise.race([p, Bun.sleep(ms).then(() => Promise.reject(new Error(`${what}: not woken within ${ms} ms`)))]);
}

interface SyncState {
  since?: string;
  events: Array<{ event_id: string; sender: string; body: string }>;
}

/** Incremental /sync until `want` bodies of the room were seen (or the deadline). */
async function syncUntil(c: TestClient, roomId: string, st: SyncState, want: number, deadlineMs = 60_000, prefix = "m-"): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (st.events.filter((e) => e.body.startsWith(prefix)).length < want && Date.now() < end) {
    const q = (st.since ? `?since=${enc(st.since)}&timeout=5000` : "?timeout=0") + `&filter=${enc(JSON.stringify({ room: { timeline: { limit: 500 } } }))}`;
    const r = await c.ok("GET", `/_matrix/client/v3/sync${q}`);
    const tl = r.rooms?.join?.[roomId]?.timeline;
    // A gap (limited) would mean events to fetch with /messages: the filter's limit is above what is sent.
    if (st.since && tl?.limited) throw new Error("limited timeline in an incremental sync");
    for (const e of tl?.events ?? []) if (e.type === "m.room.message") st.events.push({ event_id: e.event_id, sender: e.sender, body: e.content.body });
    st.since = r.next_batch;
  }
}

describe.if(enabled)("scale-out: three processes behind nginx on one PostgreSQL", () => {
  let cl: Cluster;
  beforeAll(async () => {
    cl = await startCluster(3);
  }, 120_000);
  afterAll(async () => {
    await cl?.stop();
  });

  test("requests are spread over the processes by the balancer", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) seen.add((await fetch(`${cl.url}/_matrix/client/versions`)).headers.get("x-hs-upstream") ?? "");
    expect(seen.size).toBe(3);
  });

  test("concurrent senders on all three processes: every client sees exactly the events sent, in one order; no fork", async () => {
    const users = await Promise.all(["alice", "bob", "carol"].map((n) => registerUser({ ...cl, url: cl.url }, n)));
    const [alice] = users;
    const roomId = (await alice!.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    for (const u of users.slice(1)) await u.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const states: SyncState[] = users.map(() => ({ events: [] }));
    for (let i = 0; i < users.length; i++) await syncUntil(users[i]!, roomId, states[i]!, 0);

    // Every user sends PER messages one after another, the three users at the same time, and a
    // reader syncs meanwhile; nginx sends consecutive requests to different processes.
    const PER = 20;
    const sent: string[][] = users.map(() => []);
    const senders = users.map(async (u, ui) => {
      for (let i = 0; i < PER; i++) {
        const body = `m-${ui}-${i}`;
        await u.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t${i}`, { msgtype: "m.text", body });
        sent[ui]!.push(body);
      }
    });
    const reader = syncUntil(users[0]!, roomId, states[0]!, PER * users.length);
    await Promise.all(senders);
    await reader;
    for (let i = 1; i < users.length; i++) await syncUntil(users[i]!, roomId, states[i]!, PER * users.length);

    const all = sent.flat().sort();
    const orders = states.map((s) => s.events.map((e) => e.body));
    for (const order of orders) {
      // Exactly the events sent: none missing, none twice.
      expect([...order].sort()).toEqual(all);
      // Each sender's messages in the order sent.
      for (let ui = 0; ui < users.length; ui++) expect(order.filter((b) => b.startsWith(`m-${ui}-`))).toEqual(sent[ui]!);
    }
    // One order for every client, the live reader included, and /messages agrees.
    expect(orders[1]).toEqual(orders[0]!);
    expect(orders[2]).toEqual(orders[0]!);
    const back = await users[1]!.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1000`);
    const history = back.chunk.filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body).reverse();
    expect(history).toEqual(orders[0]!);

    // One writer at a time per room: every local event extended the latest one (one forward extremity).
    const sql = postgres(cl.dbUrl, { max: 1, onnotice: () => {} });
    try {
      const ext = await sql`SELECT event_id FROM forward_extremities WHERE room_id = ${roomId}`;
      expect(ext.length).toBe(1);
      const inflight = await sql`SELECT count(*)::int AS n FROM stream_inflight`;
      expect(inflight[0]!.n).toBe(0);
    } finally {
      await sql.end();
    }
  }, 180_000);

  test("a long-poll /sync on one process is woken by a send on another", async () => {
    const [p0, p1] = cl.processes;
    const alice = await registerUser({ ...cl, url: p0!.url }, "waker");
    const bob = await registerUser({ ...cl, url: p1!.url }, "sleeper");
    const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    let since = (await bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      // bob waits on process 1; alice sends on process 0.
      const waiting = woken(bob.ok("GET", `/_matrix/client/v3/sync?since=${enc(since)}&timeout=60000`), "/sync on another process");
      await Bun.sleep(150);
      const t0 = performance.now();
      const { event_id } = await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/w${i}`, { msgtype: "m.text", body: `wake ${i}` });
      const r = await waiting;
      latencies.push(performance.now() - t0);
      const ids = (r.rooms?.join?.[roomId]?.timeline?.events ?? []).map((e: any) => e.event_id);
      // Woken with the event.
      expect(ids).toContain(event_id);
      since = r.next_batch;
    }
    console.log(`cross-process wake: send→sync on another process ${latencies.map((l) => l.toFixed(1)).join(", ")} ms`);
  }, 60_000);

  test("a logout on one process ends the token on every process; typing on one is seen on another", async () => {
    const [p0, p1, p2] = cl.processes;
    const alice = await registerUser({ ...cl, url: p0!.url }, "leaver");
    // Every process has the token cached.
    for (const p of cl.processes) expect((await new TestClient(p.url, alice.accessToken).get("/_matrix/client/v3/account/whoami")).status).toBe(200);
    await alice.ok("POST", "/_matrix/client/v3/logout", {});
    // The bus message may still be on its way: well under the cache's 5 minutes, the token is refused.
    for (const p of [p1!, p2!]) {
      let status = 0;
      for (let i = 0; i < 100 && status !== 401; i++) {
        status = (await new TestClient(p.url, alice.accessToken).get("/_matrix/client/v3/account/whoami")).status;
        if (status !== 401) await Bun.sleep(50);
      }
      expect(status).toBe(401);
    }

    const bob = await registerUser({ ...cl, url: p1!.url }, "typist");
    const carol = await registerUser({ ...cl, url: p2!.url }, "watcher");
    const roomId = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const since = (await carol.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    const waiting = woken(carol.ok("GET", `/_matrix/client/v3/sync?since=${enc(since)}&timeout=60000`), "typing on another process");
    await Bun.sleep(150);
    await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(bob.userId!)}`, { typing: true, timeout: 30000 });
    const r = await waiting;
    const typing = (r.rooms?.join?.[roomId]?.ephemeral?.events ?? []).find((e: any) => e.type === "m.typing");
    expect(typing?.content.user_ids).toEqual([bob.userId]);
  }, 60_000);

  test("sliding sync round-robin: a connection continues on every process and is woken by sends on every process", async () => {
    const reader = await registerUser({ ...cl, url: cl.url }, "slider");
    const writer = await registerUser({ ...cl, url: cl.url }, "writer");
    const roomId = (await writer.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await reader.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const body = { lists: { all: list([0, 10], { timeline_limit: 5 }) } };
    let res = await ss(reader, body);
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      // The writer's sends go round-robin over the processes; the reader's long-poll waits on one.
      const waiting = woken(ss(reader, body, { pos: res.pos, timeout: 60000 }), "sliding sync");
      await Bun.sleep(100);
      await writer.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/ss${i}`, { msgtype: "m.text", body: `ss ${i}` });
      res = await waiting;
      expect(bodiesOf(res.rooms?.[roomId])).toEqual([`ss ${i}`]);
      // A connection continued elsewhere sends the room's changes only, not the room again.
      expect(res.rooms?.[roomId]?.initial).toBeUndefined();
    }
    // Each request of the connection went to the next process.
    for (let i = 0; i < 3; i++) served.add((await reader.request("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", body)).headers.get("x-hs-upstream") ?? "");
    expect(served.size).toBe(3);
  }, 60_000);

  test("matrix-js-sdk through the balancer: messages, typing, receipts, unread counts, account data", async () => {
    const alice = sdkFor(cl, await registerUser({ ...cl, url: cl.url }, "sdk_alice"));
    const bob = sdkFor(cl, await registerUser({ ...cl, url: cl.url }, "sdk_bob"));
    const until = <T>(fn: () => T | undefined | false) => waitFor(() => fn() || undefined, 20_000);
    try {
      await startSyncing(alice, { initialSyncLimit: 10, lazyLoadMembers: true });
      await startSyncing(bob, { initialSyncLimit: 10, lazyLoadMembers: true });
      const { room_id: roomId } = await alice.createRoom({ name: "Balanced", preset: "public_chat" as never });
      await bob.joinRoom(roomId);
      await until(() => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join");
      await bob.sendTyping(roomId, true, 20000);
      await until(() => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.typing === true);
      const sent: string[] = [];
      for (let i = 0; i < 10; i++) {
        await bob.sendTextMessage(roomId, `sdk ${i}`);
        sent.push(`sdk ${i}`);
      }
      const bodies = () => alice.getRoom(roomId)?.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body as string) ?? [];
      await until(() => bodies().length === sent.length);
      expect(bodies()).toEqual(sent);
      await until(() => alice.getRoom(roomId)?.getUnreadNotificationCount(NotificationCountType.Total) === sent.length);
      const last = alice.getRoom(roomId)!.getLiveTimeline().getEvents().at(-1)!;
      await alice.sendReadReceipt(last);
      await until(() => bob.getRoom(roomId)?.getUsersReadUpTo(last).includes(alice.getUserId()!));
      await until(() => alice.getRoom(roomId)?.getUnreadNotificationCount(NotificationCountType.Total) === 0);
      await alice.setAccountData("org.example.cluster" as never, { hello: "world" } as never);
      await until(() => alice.getAccountData("org.example.cluster" as never)?.getContent().hello === "world");
    } finally {
      alice.stopClient();
      bob.stopClient();
    }
  }, 90_000);

  test("one transaction ID sent to every process at once is stored once", async () => {
    const u = await registerUser({ ...cl, url: cl.url }, "retrier");
    const roomId = (await u.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(
        cl.processes.map((p) => new TestClient(p.url, u.accessToken).ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/same${round}`, { msgtype: "m.text", body: `once ${round}` })),
      );
      expect(new Set(rs.map((r) => r.event_id)).size).toBe(1);
    }
    const back = await u.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`);
    const bodies = back.chunk.filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body);
    expect(bodies.reverse()).toEqual([0, 1, 2, 3, 4].map((i) => `once ${i}`));
  }, 60_000);

  // Last: it kills a process.
  test("SIGKILL of one process under load: every acknowledged event is kept and the others carry on", async () => {
    const users = await Promise.all(["k1", "k2"].map((n) => registerUser({ ...cl, url: cl.url }, n)));
    const roomId = (await users[0]!.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await users[1]!.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    const acked: string[] = [];
    let stop = false;
    const senders = users.map(async (u, ui) => {
      for (let i = 0; !stop || i < 5; i++) {
        const body = `k-${ui}-${i}`;
        // A request cut by the kill is retried with the same transaction ID (what clients do).
        for (let attempt = 0; attempt < 50; attempt++) {
          const r = await u.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/k${i}`, { msgtype: "m.text", body }).catch(() => undefined);
          if (r?.status === 200) {
            acked.push(body);
            break;
          }
          await Bun.sleep(50);
        }
      }
    });
    await Bun.sleep(400);
    await cl.processes[2]!.kill("SIGKILL");
    await Bun.sleep(400);
    stop = true;
    await Promise.all(senders);
    // Every acknowledged event, exactly once, through /sync on the survivors (a position the killed
    // process held in flight is given up by the others after 10 s).
    const st: SyncState = { events: [] };
    await syncUntil(users[1]!, roomId, st, acked.length, 60_000, "k-");
    expect(st.events.map((e) => e.body).filter((b) => b.startsWith("k-")).sort()).toEqual([...acked].sort());
    console.log(`SIGKILL under load: ${acked.length} acknowledged sends, all delivered once`);
  }, 120_000);
});

test.if(!enabled)("scale-out test skipped: needs TEST_POSTGRES_URL and nginx", () => {});
