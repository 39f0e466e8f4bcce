// Memory of a real `hs serve` process (SQLite): resident size at idle, after a load, and with a
// small [caches] memory_target_mb. The load: users, rooms, messages, initial and incremental syncs,
// /messages pages and profile lookups, so the caches fill up. Prints `name value` lines.
//   bun bench/memory.ts [users=50] [rooms=100] [messages=5000] [binary=dist/hs]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser, TestClient } from "../tests/helpers/client.ts";
import { tempDir } from "../tests/helpers/server.ts";
import { freePort, hsCommand } from "../tests/helpers/spawn.ts";

const USERS = Number(process.argv[2] ?? 50);
const ROOMS = Number(process.argv[3] ?? 100);
const MESSAGES = Number(process.argv[4] ?? 5000);
const BINARY = process.argv[5];
const CONCURRENCY = 8;
const enc = encodeURIComponent;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m![1]) / 1024);
}

async function pool<T>(items: T[], f: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) {
      const i = next++;
      await f(items[i]!, i);
    }
  }));
}

async function run(label: string, memoryTargetMb?: number) {
  const dir = tempDir("hs-mem-");
  const port = freePort();
  const metricsPort = freePort();
  writeFileSync(
    join(dir, "hs.toml"),
    `server_name = "mem.test"
signing_key_path = "${join(dir, "signing.key")}"
[database]
path = "${join(dir, "hs.db")}"
[[listeners]]
port = ${port}
[[listeners]]
port = ${metricsPort}
resources = ["metrics"]
[registration]
shared_secret = "bench"
[ratelimit]
enabled = false
[logging]
level = "warn"
${memoryTargetMb ? `[caches]\nmemory_target_mb = ${memoryTargetMb}\n` : ""}`,
  );
  const proc = Bun.spawn([...hsCommand(BINARY), "serve", "-c", join(dir, "hs.toml")], { stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      if ((await fetch(`${url}/_matrix/client/versions`)).ok) break;
    } catch {
      await Bun.sleep(50);
    }
  }
  await Bun.sleep(2000);
  Bun.gc(true);
  console.log(`${label}.idle_rss_mb ${rssMb(proc.pid)}`);

  const server = { url, serverName: "mem.test", config: { registration: { shared_secret: "bench" } } };
  const users: TestClient[] = [];
  await pool(Array.from({ length: USERS }, (_, i) => i), async (i) => {
    users[i] = await registerUser(server, `user${i}`, "pw");
  });
  const rooms: string[] = [];
  await pool(Array.from({ length: ROOMS }, (_, i) => i), async (i) => {
    const owner = users[i % USERS]!;
    const room = (await owner.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: `room ${i}` })).room_id as string;
    rooms[i] = room;
    // Each room gets 10 members.
    for (let k = 1; k < 10; k++) await users[(i + k) % USERS]!.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
  });
  const t0 = performance.now();
  await pool(Array.from({ length: MESSAGES }, (_, i) => i), async (i) => {
    const r = i % ROOMS;
    const sender = users[(r + (i % 10)) % USERS]!;
    await sender.ok("PUT", `/_matrix/client/v3/rooms/${enc(rooms[r]!)}/send/m.room.message/m${i}`, { msgtype: "m.text", body: `message ${i} ${"lorem ipsum ".repeat(8)}` });
  });
  console.log(`${label}.messages_per_second ${Math.round(MESSAGES / ((performance.now() - t0) / 1000))}`);
  await pool(users, async (u) => {
    const s = await u.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    await u.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(s.next_batch)}`);
  });
  await pool(rooms, async (room, i) => {
    await users[i % USERS]!.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=50`);
  });
  Bun.gc(true);
  await Bun.sleep(1000);
  console.log(`${label}.loaded_rss_mb ${rssMb(proc.pid)}`);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/_hs/metrics`)).text();
  const events = /hs_cache_size\{cache="events"\} (\d+)/.exec(metrics)?.[1];
  const cap = /hs_cache_capacity\{cache="events"\} (\d+)/.exec(metrics)?.[1];
  console.log(`${label}.events_cache ${events}/${cap}`);
  proc.kill("SIGTERM");
  await proc.exited;
}

await run("default");
await run("target64", 64);
