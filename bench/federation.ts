// Benchmark: federation between two hs servers on loopback (TLS), SQLite.
//   - remote join of a room with N members (default 10,000): wall time of bob's /join on hs2,
//     and hs2's resident-memory growth during it (both servers share this process, so this is
//     the growth, not a separate process's peak);
//   - events received per second over /send: alice on hs1 sends M messages; time until hs2 has all.
// Prints `name value` lines.   bun bench/federation.ts [members=10000] [messages=2000]
import { registerUser } from "../tests/helpers/client.ts";
import { startFederatingServers } from "../tests/helpers/server.ts";

const MEMBERS = Number(process.argv[2] ?? 10000);
const MESSAGES = Number(process.argv[3] ?? 2000);
const enc = encodeURIComponent;

const [hs1, hs2] = await startFederatingServers(2);
try {
  const alice = await registerUser(hs1!, "alice");
  const bob = await registerUser(hs2!, "bob");
  const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;

  // N members on hs1 (member events made through the service layer: no accounts needed).
  const events = hs1!.hs.services.events;
  const t0 = performance.now();
  for (let i = 0; i < MEMBERS; i++) {
    const u = `@member${i}:${hs1!.serverName}`;
    await events.send({ roomId, sender: u, type: "m.room.member", stateKey: u, content: { membership: "join", displayname: `Member ${i}` } });
  }
  console.log(`generate_${MEMBERS}_members_s ${((performance.now() - t0) / 1000).toFixed(1)}`);

  Bun.gc(true);
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(hs1!.serverName)}`, {});
  const joinMs = performance.now() - started;
  clearInterval(sampler);
  console.log(`remote_join_${MEMBERS}_members_ms ${joinMs.toFixed(0)}`);
  console.log(`remote_join_rss_growth_mb ${((peak - rssBefore) / 1048576).toFixed(0)}`);
  const members = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
  if (Object.keys(members.joined).length < MEMBERS) throw new Error("hs2 does not have the full member list");

  // Throughput of /send: messages from hs1 reaching hs2.
  const room2 = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
  await bob.ok("POST", `/_matrix/client/v3/join/${enc(room2)}?via=${enc(hs1!.serverName)}`, {});
  const count = async () =>
    Number((await hs2!.hs.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM events WHERE room_id = ? AND type = 'm.room.message'", [room2]))?.n ?? 0);
  const sendStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < MESSAGES) {
        const i = next++;
        await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room2)}/send/m.room.message/bench${i}`, { msgtype: "m.text", body: `m${i}` });
      }
    }),
  );
  while ((await count()) < MESSAGES) await Bun.sleep(20);
  const seconds = (performance.now() - sendStart) / 1000;
  console.log(`federation_events_received_per_s ${(MESSAGES / seconds).toFixed(0)}`);
} finally {
  await hs1!.stop();
  await hs2!.stop();
}
process.exit(0);
