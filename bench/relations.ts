// Benchmark: the cost of bundled aggregations on /messages. Two rooms of N messages: a plain one,
// and one where every message is a thread root with 3 replies, an edit and a reaction. Times
// GET /messages?limit=50 (bundles computed for the whole page at once), GET /relations of one
// root and GET /threads, on SQLite and on PostgreSQL when TEST_POSTGRES_URL is set.
// Prints `name value` lines.
//   bun bench/relations.ts [messages=300] [samples=50]
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";
import { registerUser, type TestClient } from "../tests/helpers/client.ts";

const N = Number(process.argv[2] ?? 300);
const SAMPLES = Number(process.argv[3] ?? 50);
const enc = encodeURIComponent;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function time(c: TestClient, path: string): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES + 3; i++) {
    const t0 = performance.now();
    await c.ok("GET", path);
    if (i >= 3) times.push(performance.now() - t0);
  }
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

let txn = 0;
const send = async (c: TestClient, roomId: string, content: Record<string, unknown>, type = "m.room.message") =>
  (await c.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/${type}/b${++txn}`, content)).event_id as string;

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const alice = await registerUser(s, "alice");
    const plain = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
    const rich = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
    let root = "";
    for (let i = 0; i < N; i++) {
      await send(alice, plain, { msgtype: "m.text", body: `message ${i}` });
      root = await send(alice, rich, { msgtype: "m.text", body: `root ${i}` });
      for (let j = 0; j < 3; j++) await send(alice, rich, { msgtype: "m.text", body: `reply ${j}`, "m.relates_to": { rel_type: "m.thread", event_id: root } });
      await send(alice, rich, { msgtype: "m.text", body: "* edited", "m.new_content": { msgtype: "m.text", body: "edited" }, "m.relates_to": { rel_type: "m.replace", event_id: root } });
      await send(alice, rich, { "m.relates_to": { rel_type: "m.annotation", event_id: root, key: "👍" } }, "m.reaction");
    }
    const m1 = await time(alice, `/_matrix/client/v3/rooms/${enc(plain)}/messages?dir=b&limit=50`);
    const m2 = await time(alice, `/_matrix/client/v3/rooms/${enc(rich)}/messages?dir=b&limit=50`);
    const r = await time(alice, `/_matrix/client/v1/rooms/${enc(rich)}/relations/${enc(root)}`);
    const t = await time(alice, `/_matrix/client/v1/rooms/${enc(rich)}/threads?limit=20`);
    console.log(`${backend}.messages_plain_p50_ms ${m1.p50.toFixed(2)}`);
    console.log(`${backend}.messages_plain_p99_ms ${m1.p99.toFixed(2)}`);
    console.log(`${backend}.messages_with_relations_p50_ms ${m2.p50.toFixed(2)}`);
    console.log(`${backend}.messages_with_relations_p99_ms ${m2.p99.toFixed(2)}`);
    console.log(`${backend}.relations_p50_ms ${r.p50.toFixed(2)}`);
    console.log(`${backend}.threads_p50_ms ${t.p50.toFixed(2)}`);
  } finally {
    await s.stop();
  }
}
