// Benchmark: /sync over HTTP, on SQLite (and PostgreSQL when TEST_POSTGRES_URL is set).
//   - send-to-sync latency: a user waits in a long-poll, another sends a message; the time from
//     starting the send to the waiting sync's response (p50, p99);
//   - initial sync time for a user in many rooms with many events each (default 500 × 50), and
//     the process's resident memory after that load.
// Prints `name value` lines.
//   bun bench/sync.ts [rooms=500] [events-per-room=50] [latency-samples=200]
import { BACKENDS, startTestServer, type TestServer } from "../tests/helpers/server.ts";
import { registerUser, TestClient } from "../tests/helpers/client.ts";
import { startHomeserver } from "../src/homeserver.ts";

const ROOMS = Number(process.argv[2] ?? 500);
const EVENTS_PER_ROOM = Number(process.argv[3] ?? 50);
const SAMPLES = Number(process.argv[4] ?? 200);
const CONCURRENCY = 16;

const enc = encodeURIComponent;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function latency(s: TestServer, alice: TestClient, bob: TestClient): Promise<number[]> {
  const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
  await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
  let since = (await bob.ok("GET", "/_matrix/client/v3/sync?filter=" + enc(JSON.stringify({ room: { timeline: { limit: 1 } } })))).next_batch as string;
  const notifier = s.hs.services.notifier;
  const out: number[] = [];
  for (let i = 0; i < SAMPLES + 10; i++) {
    const waiting = notifier.waiting;
    const pending = bob.ok("GET", `/_matrix/client/v3/sync?since=${enc(since)}&timeout=30000`);
    // Wait until the long-poll is registered with the notifier.
    while (notifier.waiting <= waiting) await Bun.sleep(1);
    const t0 = performance.now();
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/lat${i}`, { msgtype: "m.text", body: `ping ${i}` });
    const r = await pending;
    const dt = performance.now() - t0;
    if (!r.rooms.join[roomId]) throw new Error("sync returned without the message");
    since = r.next_batch;
    if (i >= 10) out.push(dt); // the first rounds warm up
  }
  return out;
}

async function fill(user: TestClient): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= ROOMS) return;
        const roomId = (await user.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: `Room ${i}` })).room_id as string;
        // createRoom writes 7 events (create, member, power levels, join rules, history
        // visibility, guest access, name); messages make up the rest.
        for (let j = 7; j < EVENTS_PER_ROOM; j++) {
          await user.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/f${i}-${j}`, {
            msgtype: "m.text",
            body: `message ${j} in room ${i}, with a little text to make it realistic`,
          });
        }
      }
    }),
  );
}

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const alice = await registerUser(s, "alice");
    const bob = await registerUser(s, "bob");
    const lat = await latency(s, alice, bob);
    console.log(`sync_delivery_latency_p50_ms_${backend} ${pct(lat, 50).toFixed(2)}`);
    console.log(`sync_delivery_latency_p99_ms_${backend} ${pct(lat, 99).toFixed(2)}`);

    const carol = await registerUser(s, "carol");
    const fillStart = performance.now();
    await fill(carol);
    console.log(`fill_${ROOMS}x${EVENTS_PER_ROOM}_s_${backend} ${((performance.now() - fillStart) / 1000).toFixed(1)}`);
    // Restart on the same database so the first initial sync starts with empty caches.
    await s.hs.stop();
    const hs2 = await startHomeserver(s.config);
    const c2 = new TestClient(hs2.listeners[0]!.url, carol.accessToken, carol.userId, carol.deviceId);
    const times: number[] = [];
    let lazyMs = 0;
    try {
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await c2.ok("GET", "/_matrix/client/v3/sync");
        times.push(performance.now() - t0);
        const n = Object.keys(r.rooms.join).length;
        if (n !== ROOMS) throw new Error(`initial sync returned ${n} rooms`);
      }
      const t0 = performance.now();
      await c2.ok("GET", "/_matrix/client/v3/sync?filter=" + enc(JSON.stringify({ room: { state: { lazy_load_members: true } } })));
      lazyMs = performance.now() - t0;
      Bun.gc(true);
      console.log(`rss_after_initial_sync_mb_${backend} ${(process.memoryUsage().rss / 1048576).toFixed(0)}`);
    } finally {
      await hs2.stop();
    }
    console.log(`initial_sync_${ROOMS}_rooms_first_ms_${backend} ${times[0]!.toFixed(0)}`);
    console.log(`initial_sync_${ROOMS}_rooms_median_ms_${backend} ${pct(times, 50).toFixed(0)}`);
    console.log(`initial_sync_${ROOMS}_rooms_lazy_ms_${backend} ${lazyMs.toFixed(0)}`);
  } finally {
    await s.stop();
  }
}
process.exit(0);
