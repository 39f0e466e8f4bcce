// Counts database calls per local send (issue 23): 8 members in one room, N messages sent by 8
// concurrent senders over HTTP; prints calls (and milliseconds, wall) per event by operation and statement, and the
// transaction count. SQLite, and PostgreSQL too when TEST_POSTGRES_URL is set.
//   bun bench/send-queries.ts [events=200] [--top 30]
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";
import { registerUser, type TestClient } from "../tests/helpers/client.ts";

const n = Number(process.argv[2] ?? 200);
const topIdx = process.argv.indexOf("--top");
const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 40;

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const users: TestClient[] = [];
    for (let i = 0; i < 8; i++) users.push(await registerUser(s, `q${i}_${Math.random().toString(36).slice(2, 7)}`));
    const roomId = (await users[0]!.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    for (const u of users.slice(1)) await u.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    const send = async (u: TestClient, i: number) =>
      u.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${crypto.randomUUID()}`, { msgtype: "m.text", body: `message ${i}` });
    for (let i = 0; i < 16; i++) await send(users[i % 8]!, i); // warm-up
    const counts = new Map<string, number>();
    const times = new Map<string, number>();
    const h = s.hs.services.metrics.dbDuration;
    const orig = h.observe.bind(h);
    h.observe = (labels: Record<string, string>, v: number) => {
      const k = `${labels.op} ${labels.query}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
      times.set(k, (times.get(k) ?? 0) + v);
      orig(labels, v);
    };
    let next = 0;
    const t0 = performance.now();
    await Promise.all(users.map(async (u) => { for (;;) { const i = next++; if (i >= n) return; await send(u, i); } }));
    const ms = performance.now() - t0;
    h.observe = orig;
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const byOp = new Map<string, number>();
    for (const [k, c] of counts) byOp.set(k.split(" ")[0]!, (byOp.get(k.split(" ")[0]!) ?? 0) + c);
    console.log(`## ${backend}: ${n} events in ${ms.toFixed(0)} ms (${((n / ms) * 1000).toFixed(0)}/s); ${(total / n).toFixed(2)} db calls per event`);
    console.log([...byOp].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k}=${(c / n).toFixed(2)}`).join(" "));
    for (const [k, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(c / n).toFixed(2).padStart(6)}  ${((times.get(k)! / n) * 1000).toFixed(3).padStart(7)} ms  ${k}`);
  } finally {
    await s.stop();
  }
}
process.exit(0);
