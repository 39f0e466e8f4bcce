// Benchmark: several hs processes on one PostgreSQL behind nginx (docs/SCALING.md): events per
// second into one room and into 50 rooms (16 concurrent senders, requests spread round-robin),
// and send→sync latency with the long-poll waiting on another process than the send.
// Needs TEST_POSTGRES_URL and nginx. Prints `name value` lines.
//   bun bench/cluster.ts [events=600] [processes=1,3]
import { registerUser, type TestClient } from "../tests/helpers/client.ts";
import { startCluster } from "../tests/helpers/cluster.ts";

const total = Number(process.argv[2] ?? 600);
const counts = (process.argv[3] ?? "1,3").split(",").map(Number);
const concurrency = 16;
const enc = encodeURIComponent;

async function sendMany(client: TestClient, rooms: string[], n: number): Promise<number> {
  let next = 0;
  const run = crypto.randomUUID().slice(0, 8);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        await client.ok("PUT", `/_matrix/client/v3/rooms/${enc(rooms[i % rooms.length]!)}/send/m.room.message/${run}-${i}`, { msgtype: "m.text", body: `benchmark message ${i}` });
      }
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const n of counts) {
  const cl = await startCluster(n);
  try {
    const alice = await registerUser({ ...cl, url: cl.url }, "bench");
    const one = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    await sendMany(alice, [one], 50);
    const oneRate = await sendMany(alice, [one], total);
    const many: string[] = [];
    for (let i = 0; i < 50; i++) many.push((await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id);
    const manyRate = await sendMany(alice, many, total);

    // Latency: bob long-polls on process (i+1) % n, alice sends on process i % n.
    const bob = await registerUser({ ...cl, url: cl.url }, "bench_reader");
    await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(one)}/join`, {});
    const lat: number[] = [];
    let since = (await bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    for (let i = 0; i < 20; i++) {
      const reader = new (bob.constructor as typeof TestClient)(cl.processes[(i + 1) % n]!.url, bob.accessToken);
      const writer = new (alice.constructor as typeof TestClient)(cl.processes[i % n]!.url, alice.accessToken);
      const waiting = reader.ok("GET", `/_matrix/client/v3/sync?since=${enc(since)}&timeout=10000`);
      await Bun.sleep(30);
      const t0 = performance.now();
      const sent = writer.ok("PUT", `/_matrix/client/v3/rooms/${enc(one)}/send/m.room.message/lat${i}`, { msgtype: "m.text", body: "latency" });
      const r = await waiting;
      lat.push(performance.now() - t0);
      await sent;
      since = r.next_batch;
    }
    console.log(`cluster_${n}p_send_one_room_events_per_s ${oneRate.toFixed(0)}`);
    console.log(`cluster_${n}p_send_many_rooms_events_per_s ${manyRate.toFixed(0)}`);
    console.log(`cluster_${n}p_send_to_sync_other_process_ms_median ${median(lat).toFixed(1)}`);
  } finally {
    await cl.stop();
  }
}
