// Benchmark: simplified sliding sync (MSC4186) for a user in many rooms (default 2,000), on SQLite
// (and PostgreSQL when TEST_POSTGRES_URL is set). Prints `name value` lines:
//   - the first request of a connection for the top 20 rooms by recency (Element X's first list
//     request: timeline_limit 1 and its usual required_state), right after a restart (cold caches)
//     and again on a warm server (new connections);
//   - an incremental request with nothing new (timeout=0): wall time and process CPU time;
//   - idle long-polls: the CPU time of registering one, the process's CPU per second with and
//     without many of them waiting (both are the process's background noise: waiting polls sit in
//     the Notifier), and how many times sliding sync recomputed meanwhile (should be 0);
//   - send-to-long-poll delivery latency for that user.
// Client and server share the process, so CPU figures include the client's side of HTTP.
//   bun bench/sliding-sync.ts [rooms=2000] [long-polls=100]
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";
import { registerUser, TestClient } from "../tests/helpers/client.ts";
import { startHomeserver } from "../src/homeserver.ts";

const ROOMS = Number(process.argv[2] ?? 2000);
const POLLS = Number(process.argv[3] ?? 100);
const CONCURRENCY = 16;
const PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const enc = encodeURIComponent;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// What Element X asks for in its room list.
const REQUIRED_STATE = [
  ["m.room.encryption", ""],
  ["m.room.member", "$LAZY"],
  ["m.room.member", "$ME"],
  ["m.room.name", ""],
  ["m.room.topic", ""],
  ["m.room.avatar", ""],
  ["m.room.canonical_alias", ""],
  ["m.room.power_levels", ""],
  ["m.room.join_rules", ""],
  ["m.room.create", ""],
  ["m.room.tombstone", ""],
  ["m.room.history_visibility", ""],
  ["m.call.member", "*"],
];
const body = (connId: string) => ({
  conn_id: connId,
  lists: { all_rooms: { ranges: [[0, 19]], timeline_limit: 1, required_state: REQUIRED_STATE, filters: { not_room_types: ["m.space"] } } },
  extensions: { to_device: { enabled: true }, e2ee: { enabled: true }, account_data: { enabled: true }, receipts: { enabled: true }, typing: { enabled: true } },
});

async function ss(c: TestClient, b: unknown, q = ""): Promise<any> {
  return c.ok("POST", `${PATH}${q}`, b);
}

async function fill(user: TestClient): Promise<string[]> {
  const rooms: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= ROOMS) return;
        const roomId = (await user.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: `Room ${i}` })).room_id as string;
        await user.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/f${i}`, { msgtype: "m.text", body: `hello ${i}` });
        rooms.push(roomId);
      }
    }),
  );
  return rooms;
}

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const carol = await registerUser(s, "carol");
    const dave = await registerUser(s, "dave");
    const fillStart = performance.now();
    const rooms = await fill(carol);
    console.log(`ss_fill_${ROOMS}_rooms_s_${backend} ${((performance.now() - fillStart) / 1000).toFixed(1)}`);
    // Dave shares one room with carol, to send her messages.
    const shared = rooms[0]!;
    await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(shared)}/invite`, { user_id: dave.userId });
    await dave.ok("POST", `/_matrix/client/v3/join/${enc(shared)}`, {});

    // Restart on the same database: the first request starts with empty caches.
    await s.hs.stop();
    const hs2 = await startHomeserver(s.config);
    const c = new TestClient(hs2.listeners[0]!.url, carol.accessToken, carol.userId, carol.deviceId);
    const d = new TestClient(hs2.listeners[0]!.url, dave.accessToken, dave.userId, dave.deviceId);
    try {
      let t0 = performance.now();
      let r = await ss(c, body("cold"));
      const coldMs = performance.now() - t0;
      if (Object.keys(r.rooms).length !== 20 || r.lists.all_rooms.count !== ROOMS) throw new Error(`unexpected first response: ${Object.keys(r.rooms).length} rooms, count ${r.lists.all_rooms.count}`);
      console.log(`ss_initial_${ROOMS}_rooms_top20_cold_ms_${backend} ${coldMs.toFixed(1)}`);

      // The whole list, 2,000 rooms with one event each (a client growing its window to the end).
      t0 = performance.now();
      const all = await ss(c, { ...body("all"), lists: { all_rooms: { ...body("all").lists.all_rooms, ranges: [[0, ROOMS - 1]] } } });
      console.log(`ss_initial_${ROOMS}_rooms_all_ms_${backend} ${(performance.now() - t0).toFixed(0)}`);
      if (Object.keys(all.rooms).length !== ROOMS) throw new Error("full list incomplete");

      // New connections on a warm server (caches filled, start-up work done).
      await Bun.sleep(1000);
      const warm: number[] = [];
      for (let i = 0; i < 7; i++) {
        t0 = performance.now();
        r = await ss(c, body(`warm${i}`));
        warm.push(performance.now() - t0);
      }
      console.log(`ss_initial_${ROOMS}_rooms_top20_warm_median_ms_${backend} ${pct(warm, 50).toFixed(1)}`);

      // Incremental requests with nothing new.
      let pos = r.pos as string;
      const noop: number[] = [];
      const cpu0 = cpuMs();
      const N = 200;
      for (let i = 0; i < N; i++) {
        t0 = performance.now();
        const x = await ss(c, body(`warm6`), `?pos=${enc(pos)}&timeout=0`);
        noop.push(performance.now() - t0);
        if (Object.keys(x.rooms).length) throw new Error("no-op request returned rooms");
        pos = x.pos;
      }
      console.log(`ss_noop_request_median_ms_${backend} ${pct(noop, 50).toFixed(2)}`);
      console.log(`ss_noop_request_cpu_ms_${backend} ${((cpuMs() - cpu0) / N).toFixed(2)}`);

      // Idle long-polls: many connections waiting with nothing happening.
      const notifier = hs2.services.notifier;
      const positions: string[] = [];
      for (let i = 0; i < POLLS; i++) positions.push((await ss(c, body(`poll${i}`))).pos);
      // The process's own idle CPU (timers of other services), to compare with.
      let idleStart = cpuMs();
      let wallStart = performance.now();
      await Bun.sleep(2000);
      const baseline = (cpuMs() - idleStart) / ((performance.now() - wallStart) / 1000);
      console.log(`ss_idle_baseline_cpu_ms_per_s_${backend} ${baseline.toFixed(2)}`);
      const before = notifier.waiting;
      const cpuReg = cpuMs();
      const polls = positions.map((p, i) => ss(c, body(`poll${i}`), `?pos=${enc(p)}&timeout=20000`));
      while (notifier.waiting < before + POLLS) await Bun.sleep(1);
      console.log(`ss_longpoll_register_cpu_ms_${backend} ${((cpuMs() - cpuReg) / POLLS).toFixed(2)}`);
      const computes = hs2.services.slidingSync.stats.computes;
      idleStart = cpuMs();
      wallStart = performance.now();
      await Bun.sleep(2000);
      const idleCpu = (cpuMs() - idleStart) / ((performance.now() - wallStart) / 1000);
      console.log(`ss_idle_longpolls_${POLLS}_cpu_ms_per_s_${backend} ${idleCpu.toFixed(2)}`);
      // Wake-ups that found nothing to send (another service notifying the user, e.g. presence).
      console.log(`ss_idle_recomputes_${backend} ${hs2.services.slidingSync.stats.computes - computes}`);

      // One message from dave wakes them all (the shared room is in every connection's top 20).
      t0 = performance.now();
      await d.ok("PUT", `/_matrix/client/v3/rooms/${enc(shared)}/send/m.room.message/wake`, { msgtype: "m.text", body: "wake up" });
      const woken = await Promise.all(polls);
      console.log(`ss_wake_${POLLS}_longpolls_ms_${backend} ${(performance.now() - t0).toFixed(0)}`);
      if (woken.some((w) => !w.rooms[shared])) throw new Error("a long-poll answered without the message");

      // Send-to-long-poll latency for the user in many rooms.
      pos = woken[0].pos;
      const lat: number[] = [];
      for (let i = 0; i < 50; i++) {
        const waiting = notifier.waiting;
        const pending = ss(c, body("poll0"), `?pos=${enc(pos)}&timeout=30000`);
        while (notifier.waiting <= waiting) await Bun.sleep(1);
        t0 = performance.now();
        await d.ok("PUT", `/_matrix/client/v3/rooms/${enc(shared)}/send/m.room.message/lat${i}`, { msgtype: "m.text", body: `ping ${i}` });
        const x = await pending;
        lat.push(performance.now() - t0);
        if (!x.rooms[shared]) throw new Error("long-poll answered without the message");
        pos = x.pos;
      }
      console.log(`ss_delivery_latency_p50_ms_${backend} ${pct(lat, 50).toFixed(2)}`);
      console.log(`ss_delivery_latency_p99_ms_${backend} ${pct(lat, 99).toFixed(2)}`);
      Bun.gc(true);
      console.log(`ss_rss_mb_${backend} ${(process.memoryUsage().rss / 1048576).toFixed(0)}`);
    } finally {
      await hs2.stop();
    }
  } finally {
    await s.stop();
  }
}
process.exit(0);
