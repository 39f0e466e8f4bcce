// Benchmark: POST /search over HTTP on a room with 10,000 messages, on SQLite (FTS5) and on
// PostgreSQL (tsvector) when TEST_POSTGRES_URL is set. Messages are written through the normal
// event path (so indexing cost is part of the fill time); then each query is timed N times.
// Prints `name value` lines.
//   bun bench/search.ts [messages=10000] [samples=50]
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";
import { registerUser, type TestClient } from "../tests/helpers/client.ts";

const MESSAGES = Number(process.argv[2] ?? 10_000);
const SAMPLES = Number(process.argv[3] ?? 50);

const WORDS = (
  "the a and of to in is it that for on with as was at by be this have from or one had not but what all were when we there can an your which " +
  "their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make " +
  "than first been its who now people my made over did down only way find use may water long little very after words called just where most know " +
  "garden coffee train meeting holiday photo dinner music weather project school birthday recipe football budget server backup printer"
).split(" ");

/** A deterministic pseudo-random generator (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function timeSearch(c: TestClient, criteria: Record<string, unknown>): Promise<{ p50: number; p99: number; results: number; count: number }> {
  const times: number[] = [];
  let last: any;
  for (let i = 0; i < SAMPLES + 3; i++) {
    const t0 = performance.now();
    last = await c.ok("POST", "/_matrix/client/v3/search", { search_categories: { room_events: criteria } });
    if (i >= 3) times.push(performance.now() - t0);
  }
  const re = last.search_categories.room_events;
  return { p50: pct(times, 50), p99: pct(times, 99), results: re.results.length, count: re.count };
}

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend });
  try {
    const alice = await registerUser(s, "alice");
    const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Big room" })).room_id as string;
    const random = rng(42);
    const fillStart = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      const n = 6 + Math.floor(random() * 14);
      const words = Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]!);
      // One message in a thousand mentions a rare word.
      if (i % 1000 === 500) words.splice(Math.floor(n / 2), 0, "zeppelin");
      await s.hs.services.events.send({ roomId, sender: alice.userId!, type: "m.room.message", content: { msgtype: "m.text", body: words.join(" ") } });
    }
    const fillS = (performance.now() - fillStart) / 1000;
    console.log(`search_fill_${MESSAGES}_messages_s_${backend} ${fillS.toFixed(1)}`);
    console.log(`search_fill_messages_per_s_${backend} ${(MESSAGES / fillS).toFixed(0)}`);

    const cases: Array<[string, Record<string, unknown>]> = [
      ["rare_word_rank", { search_term: "zeppelin" }],
      ["common_word_rank", { search_term: "garden" }],
      ["very_common_word_rank", { search_term: "the" }],
      ["common_word_recent", { search_term: "garden", order_by: "recent" }],
      ["two_words_rank", { search_term: "coffee train" }],
      ["prefix_rank", { search_term: "birth" }],
      ["common_word_context", { search_term: "garden", event_context: { before_limit: 5, after_limit: 5, include_profile: true } }],
      ["common_word_grouped", { search_term: "garden", order_by: "recent", groupings: { group_by: [{ key: "room_id" }, { key: "sender" }] } }],
    ];
    for (const [name, criteria] of cases) {
      const r = await timeSearch(alice, criteria);
      console.log(`search_${name}_p50_ms_${backend} ${r.p50.toFixed(2)}`);
      console.log(`search_${name}_p99_ms_${backend} ${r.p99.toFixed(2)}`);
      console.log(`search_${name}_hits_${backend} ${r.count}`);
    }
  } finally {
    await s.stop();
  }
}
