// Benchmark: events sent per second over HTTP, into one room and into 100 rooms in parallel,
// on SQLite (and PostgreSQL when TEST_POSTGRES_URL is set). Prints `name value` lines.
//   bun bench/rooms.ts [events=2000]
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";
import { registerUser, type TestClient } from "../tests/helpers/client.ts";

const total = Number(process.argv[2] ?? 2000);
const concurrency = 16;

async function sendMany(client: TestClient, rooms: string[], n: number): Promise<number> {
  let next = 0;
  const run = crypto.randomUUID().slice(0, 8);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const room = rooms[i % rooms.length]!;
        await client.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/${run}-${i}`, {
          msgtype: "m.text",
          body: `benchmark message ${i} with a little text to make it realistic`,
        });
      }
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const alice = await registerUser(s, "bench");
    const one = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id as string;
    await sendMany(alice, [one], 100); // warm-up
    const oneRate = await sendMany(alice, [one], total);
    const many: string[] = [];
    for (let i = 0; i < 100; i++) many.push((await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" })).room_id);
    const manyRate = await sendMany(alice, many, total);
    console.log(`send_one_room_events_per_s_${backend} ${oneRate.toFixed(0)}`);
    console.log(`send_100_rooms_events_per_s_${backend} ${manyRate.toFixed(0)}`);
    console.log(`rss_after_send_mb_${backend} ${(process.memoryUsage().rss / 1048576).toFixed(0)}`);
  } finally {
    await s.stop();
  }
}
process.exit(0);
