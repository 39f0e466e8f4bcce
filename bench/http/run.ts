// HTTP benchmarks (issue 23): this process is the client; each workload starts a fresh server as a
// separate process (dist/hs, `bun bin/hs.ts`, or Synapse 1.67 through ../shared/synapse-1.67's
// synapse-peer, which takes the same TOML) and drives it over loopback HTTP only. The in-process
// bench/*.ts stay as micro-benchmarks.
//
//   bun bench/http/run.ts [options]
//     --servers hs[,synapse]   which servers (default hs); --side-by-side = hs,synapse
//     --runs N                 interleaved runs per server (default 1, 3 side by side); medians reported
//     --only a,b               workloads: latency, send1, send100, initsync, fanout, fanout1, fanoutss (default all)
//     --hs PATH|source         the hs binary (default dist/hs, else `bun bin/hs.ts`)
//     --base PATH              a second hs binary, server "base" (--servers hs,base: before/after a change)
//     --duration S             seconds of each throughput window (default 5)
//     --fanout N               members long-polling in the fan-out room (default 300)
//     --fanout-posters P --fanout-rate R   P members post R messages/s each (default 5 × 4)
//     --fanout-messages M      fanout1/fanoutss: messages sent one at a time to the N waiters (default 20)
//     --rooms R --messages M   initial-sync workload size (default 200 × 20)
//     --samples N              send→sync latency samples (default 100)
//     --scale tiny             everything tiny (the smoke test)
//     --json FILE              also write every figure (with the load average at its time) as JSON
//     --postgres ADMIN_URL     hs (and base) on PostgreSQL: a fresh database per server, made and dropped
//                              through ADMIN_URL (a role allowed to CREATE DATABASE); Synapse stays on SQLite
//     --cpu-prof DIR           hs only, from source: run the server under `bun --cpu-prof` (profiles in DIR)
//
// Every figure line is `figure <server> <name> <value> load=<1-min loadavg>`; the summary table has
// the median of each figure per server, the ratio, and the median load average while measured.
// The machine is shared: absolute figures are noisy, ratios from interleaved runs less so.
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Database } from "bun:sqlite";
import postgres from "postgres";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;

// Bun's fetch holds at most 256 requests in flight unless told otherwise; the fan-out needs one
// long-poll per member, so re-run with a higher limit.
if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  const p = Bun.spawn([BUN, ...process.argv.slice(1)], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "8192" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.exit(await p.exited);
}

// ---- options
const argv = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
const flag = (name: string) => argv.includes(`--${name}`);
const tiny = opt("scale") === "tiny";
const sideBySide = flag("side-by-side");
const SERVERS = (opt("servers") ?? (sideBySide ? "hs,synapse" : "hs")).split(",") as Kind[];
const RUNS = Number(opt("runs") ?? (SERVERS.length > 1 ? 3 : 1));
const ALL = ["latency", "send1", "send100", "initsync", "fanout", "fanout1", "fanoutss"];
const ONLY = (opt("only") ?? ALL.join(",")).split(",");
const DURATION_S = Number(opt("duration") ?? (tiny ? 0.5 : 5));
const FANOUT_N = Number(opt("fanout") ?? (tiny ? 4 : 300));
const FANOUT_POSTERS = Number(opt("fanout-posters") ?? (tiny ? 2 : 5));
const FANOUT_RATE = Number(opt("fanout-rate") ?? 4);
const FANOUT_S = Number(opt("fanout-duration") ?? (tiny ? 1 : 10));
const FANOUT_MESSAGES = Number(opt("fanout-messages") ?? (tiny ? 2 : 20));
const SYNC_ROOMS = Number(opt("rooms") ?? (tiny ? 3 : 200));
const SYNC_MESSAGES = Number(opt("messages") ?? (tiny ? 2 : 20));
const SAMPLES = Number(opt("samples") ?? (tiny ? 5 : 100));
const HS_OPT = opt("hs");
const HS_CMD: string[] =
  HS_OPT === "source" || (!HS_OPT && !existsSync(join(ROOT, "dist/hs")))
    ? [BUN, join(ROOT, "bin/hs.ts")]
    : [resolve(HS_OPT ?? join(ROOT, "dist/hs"))];
const BASE_OPT = opt("base");
const CPU_PROF = opt("cpu-prof");
const PG_ADMIN = opt("postgres");
const JSON_OUT = opt("json");
const SYNAPSE_PEER = resolve(process.env.HS_SYNAPSE_KIT ?? join(ROOT, "../shared/synapse-1.67"), "synapse-peer");
const PASSWORD = "bench-password-1";
const SECRET = "bench-shared-secret";
const enc = encodeURIComponent;

for (const w of ONLY) if (!ALL.includes(w)) throw new Error(`unknown workload ${w} (${ALL.join(", ")})`);
if (SERVERS.includes("base") && !BASE_OPT) throw new Error("--servers base needs --base PATH (an hs binary)");
if (SERVERS.includes("synapse") && !existsSync(SYNAPSE_PEER)) throw new Error(`${SYNAPSE_PEER} is absent`);

/** hs (the binary under test), synapse (1.67 via synapse-peer) or base (another hs binary, --base PATH, e.g. before a change). */
type Kind = "hs" | "synapse" | "base";

// ---- measuring the server process
const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields 14 (utime) and 15 (stime), counted from 1 with pid and comm first
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}
/** Private memory only (RssAnon): RSS less the pages of the executable and libraries it maps. */
function rssAnonMiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}
function loadavg(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}
function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

// ---- a server under test
interface Server {
  kind: Kind;
  /** Set when the server runs on PostgreSQL: its database's URL. */
  pgUrl?: string;
  url: string;
  dir: string;
  dbPath: string;
  pid: number;
  /** Milliseconds from spawn to the first answer of /_matrix/client/versions. */
  startMs: number;
  /** Stops and starts again on the same database; returns the start-up time. */
  restart(): Promise<number>;
  stop(keep?: boolean): Promise<void>;
}

async function startServer(kind: Kind): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `hs-bench-${kind}-`));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const dbPath = join(dir, "homeserver.db");
  let pgUrl: string | undefined;
  let pgName: string | undefined;
  if (PG_ADMIN && kind !== "synapse") {
    pgName = `hs_bench_${Math.random().toString(36).slice(2, 12)}`;
    const admin = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${pgName}`);
    await admin.end();
    const u = new URL(PG_ADMIN);
    u.pathname = `/${pgName}`;
    pgUrl = u.toString();
  }
  mkdirSync(join(dir, "media"));
  const toml = `server_name = "bench.test"
public_baseurl = "${url}/"
signing_key_path = "${join(dir, "signing.key")}"

[registration]
enabled = false
shared_secret = "${SECRET}"

[database]
${pgUrl ? `backend = "postgres"\nurl = "${pgUrl}"` : `path = "${dbPath}"`}

[media]
store_path = "${join(dir, "media")}"

[logging]
level = "warn"
file = "${join(dir, "server.log")}"

[ratelimit]
enabled = false
max_sync_waiters = 100000

[[listeners]]
bind_address = "127.0.0.1"
port = ${port}
resources = ["client", "media"]
`;
  const configPath = join(dir, "homeserver.toml");
  writeFileSync(configPath, toml);
  let proc: ReturnType<typeof Bun.spawn>;
  let profRun = 0;
  const launch = async (): Promise<number> => {
    let cmd: string[];
    if (kind === "synapse") cmd = [SYNAPSE_PEER, "serve", "--config", configPath];
    else if (kind === "base") cmd = [resolve(BASE_OPT!), "serve", "--config", configPath];
    else if (CPU_PROF) {
      mkdirSync(CPU_PROF, { recursive: true });
      cmd = [BUN, "--cpu-prof", `--cpu-prof-dir=${resolve(CPU_PROF)}`, `--cpu-prof-name=hs-${Date.now()}-${profRun++}.cpuprofile`, join(ROOT, "bin/hs.ts"), "serve", "--config", configPath];
    } else cmd = [...HS_CMD, "serve", "--config", configPath];
    const t0 = performance.now();
    proc = Bun.spawn(cmd, { cwd: dir, stdout: "ignore", stderr: Bun.file(join(dir, "stderr.log")) });
    const deadline = Date.now() + (kind === "synapse" ? 120_000 : 30_000);
    for (;;) {
      try {
        const r = await fetch(`${url}/_matrix/client/versions`);
        if (r.ok) {
          await r.arrayBuffer();
          return performance.now() - t0;
        }
      } catch {
        // not up yet
      }
      if (proc.exitCode !== null) throw new Error(`${kind} exited with ${proc.exitCode}: ${readFileSync(join(dir, "stderr.log"), "utf8").slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${kind} did not start`);
      await Bun.sleep(2);
    }
  };
  const halt = async () => {
    if (proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    await proc.exited;
    clearTimeout(t);
  };
  const startMs = await launch();
  const server: Server = {
    kind,
    url,
    dir,
    dbPath,
    pgUrl,
    pid: proc!.pid,
    startMs,
    async restart() {
      await halt();
      const ms = await launch();
      server.pid = proc.pid;
      return ms;
    },
    async stop(keep = false) {
      await halt();
      if (pgName && !keep) {
        const admin = postgres(PG_ADMIN!, { max: 1, onnotice: () => {} });
        await admin.unsafe(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`).catch(() => {});
        await admin.end();
      }
      if (!keep && !process.env.HS_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

// ---- a tiny client
class Client {
  constructor(
    readonly url: string,
    readonly token: string,
    readonly userId: string,
  ) {}
  async req<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }
  createRoom(body: Record<string, unknown> = {}): Promise<string> {
    return this.req<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", body).then((r) => r.room_id);
  }
  join(roomId: string) {
    return this.req("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
  }
  private txn = 0;
  send(roomId: string, content: Record<string, unknown>) {
    return this.req<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b${Date.now()}-${this.txn++}`, content);
  }
  sync(params: string) {
    return this.req<any>("GET", `/_matrix/client/v3/sync?${params}`);
  }
}

let userSeq = 0;
async function register(s: Server, name = `u${userSeq++}`): Promise<Client> {
  const anon = (path: string, body?: unknown) =>
    fetch(s.url + path, { method: body ? "POST" : "GET", headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined }).then(async (r) => {
      const t = await r.text();
      if (!r.ok) throw new Error(`${path} → ${r.status} ${t}`);
      return JSON.parse(t);
    });
  const { nonce } = await anon("/_synapse/admin/v1/register");
  const mac = createHmac("sha1", SECRET).update(`${nonce}\x00${name}\x00${PASSWORD}\x00notadmin`).digest("hex");
  const r = await anon("/_synapse/admin/v1/register", { nonce, username: name, password: PASSWORD, admin: false, mac });
  return new Client(s.url, r.access_token, r.user_id);
}

async function pool<T, R>(items: T[], concurrency: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!, i);
      }
    }),
  );
  return out;
}

// A filter both servers accept inline: timeline only, no presence or account data.
const FILTER = enc(JSON.stringify({ presence: { not_types: ["*"] }, account_data: { not_types: ["*"] }, room: { timeline: { limit: 50 }, ephemeral: { not_types: ["*"] }, account_data: { not_types: ["*"] } } }));

// ---- figures
interface Figure {
  server: Kind;
  run: number;
  name: string;
  value: number;
  load: number;
}
const figures: Figure[] = [];
let currentRun = 0;
function record(server: Kind, name: string, value: number) {
  const f = { server, run: currentRun, name, value, load: loadavg() };
  figures.push(f);
  console.log(`figure ${server} ${name} ${Number.isInteger(value) ? value : value.toFixed(3)} load=${f.load}`);
}

// ---- workloads

/** Send → the other user's long-poll /sync: from starting the PUT to the sync's answer. */
async function latency(s: Server) {
  const [alice, bob] = await pool([0, 1], 2, () => register(s));
  const roomId = await alice!.createRoom({ preset: "public_chat" });
  await bob!.join(roomId);
  let since = (await bob!.sync(`filter=${FILTER}`)).next_batch as string;
  const out: number[] = [];
  for (let i = 0; i < SAMPLES + 5; i++) {
    const pending = bob!.sync(`filter=${FILTER}&since=${enc(since)}&timeout=30000`);
    await Bun.sleep(15); // let the long-poll reach the server and wait
    const t0 = performance.now();
    await alice!.send(roomId, { msgtype: "m.text", body: `ping ${i}` });
    let r = await pending;
    // An answer without the message (another kind of wake-up) is followed by another poll.
    while (!r.rooms?.join?.[roomId]?.timeline?.events?.some((e: any) => e.content?.body === `ping ${i}`)) {
      since = r.next_batch;
      r = await bob!.sync(`filter=${FILTER}&since=${enc(since)}&timeout=30000`);
    }
    const dt = performance.now() - t0;
    since = r.next_batch;
    if (i >= 5) out.push(dt);
  }
  record(s.kind, "sync_latency_p50_ms", pct(out, 50));
  record(s.kind, "sync_latency_p99_ms", pct(out, 99));
}

/** Senders PUT messages as fast as they are answered for DURATION_S; events/s, PUT p50, server CPU per event. */
async function throughput(s: Server, name: string, senders: Client[], roomsOf: (i: number) => string[]) {
  let counting = false;
  let stop = false;
  let count = 0;
  const lat: number[] = [];
  const loops = senders.map(async (c, i) => {
    const rooms = roomsOf(i);
    for (let k = 0; !stop; k++) {
      const t0 = performance.now();
      await c.send(rooms[k % rooms.length]!, { msgtype: "m.text", body: `message ${k} from sender ${i}, with a little text to make it realistic` });
      if (counting && !stop) {
        count++;
        lat.push(performance.now() - t0);
      }
    }
  });
  await Bun.sleep(Math.min(1000, DURATION_S * 200)); // warm-up
  const cpu0 = cpuMs(s.pid);
  const t0 = performance.now();
  counting = true;
  await Bun.sleep(DURATION_S * 1000);
  stop = true;
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuMs(s.pid);
  const events = count;
  await Promise.all(loops);
  record(s.kind, `${name}_events_per_s`, events / secs);
  record(s.kind, `${name}_put_p50_ms`, pct(lat, 50));
  record(s.kind, `${name}_cpu_ms_per_event`, (cpu1 - cpu0) / Math.max(1, events));
  record(s.kind, `${name}_server_cpu_pct`, ((cpu1 - cpu0) / (secs * 1000)) * 100);
  record(s.kind, `${name}_rss_mib`, rssMiB(s.pid));
}

/** 8 senders in one room. */
async function send1(s: Server) {
  const users = await pool(Array.from({ length: 8 }, (_, i) => i), 4, () => register(s));
  const roomId = await users[0]!.createRoom({ preset: "public_chat" });
  await pool(users.slice(1), 4, (u) => u.join(roomId));
  await throughput(s, "send1room", users, () => [roomId]);
}

/** 16 senders over 100 rooms: each sender creates its share of the rooms and posts round-robin into them. */
async function send100(s: Server) {
  const users = await pool(Array.from({ length: 16 }, (_, i) => i), 4, () => register(s));
  const rooms: string[][] = users.map(() => []);
  const nRooms = tiny ? 16 : 100;
  await pool(Array.from({ length: nRooms }, (_, i) => i), 8, async (i) => {
    rooms[i % 16]!.push(await users[i % 16]!.createRoom({ preset: "private_chat" }));
  });
  await throughput(s, "send100rooms", users, (i) => rooms[i]!);
}

/** Idle RSS; SYNC_ROOMS × SYNC_MESSAGES; start-up on the existing database; cold initial /sync; bytes per event. */
async function initsync(s: Server) {
  await Bun.sleep(1000);
  record(s.kind, "rss_idle_fresh_mib", rssMiB(s.pid));
  record(s.kind, "rss_anon_idle_fresh_mib", rssAnonMiB(s.pid));
  record(s.kind, "startup_fresh_db_ms", s.startMs);
  const user = await register(s);
  await pool(Array.from({ length: SYNC_ROOMS }, (_, i) => i), 8, async (i) => {
    const roomId = await user.createRoom({ preset: "private_chat", name: `Room ${i}` });
    for (let j = 0; j < SYNC_MESSAGES; j++) await user.send(roomId, { msgtype: "m.text", body: `message ${j} in room ${i}, with a little text to make it realistic` });
  });
  record(s.kind, "rss_after_fill_mib", rssMiB(s.pid));
  const startMs = await s.restart();
  record(s.kind, "startup_existing_db_ms", startMs);
  await Bun.sleep(1000);
  record(s.kind, "rss_idle_existing_db_mib", rssMiB(s.pid));
  record(s.kind, "rss_anon_idle_existing_db_mib", rssAnonMiB(s.pid));
  const t0 = performance.now();
  const r = await user.sync("");
  const dt = performance.now() - t0;
  const joined = Object.keys(r.rooms?.join ?? {}).length;
  if (joined !== SYNC_ROOMS) throw new Error(`initial sync returned ${joined} rooms, not ${SYNC_ROOMS}`);
  record(s.kind, `initial_sync_${SYNC_ROOMS}x${SYNC_MESSAGES}_ms`, dt);
  const t1 = performance.now();
  await user.sync("");
  record(s.kind, `initial_sync_${SYNC_ROOMS}x${SYNC_MESSAGES}_warm_ms`, performance.now() - t1);
  record(s.kind, "rss_after_initial_sync_mib", rssMiB(s.pid));
  record(s.kind, "rss_anon_after_initial_sync_mib", rssAnonMiB(s.pid));
  // Bytes on disk per event, on the stopped server's database: live pages (not the free list),
  // after a checkpoint folds the WAL in.
  await s.stop(true);
  if (s.pgUrl) {
    // PostgreSQL: every relation's size (tables, indexes, TOAST) over the events.
    const pg = postgres(s.pgUrl, { max: 1, onnotice: () => {} });
    const n = Number((await pg`SELECT count(*)::int AS n FROM events`)[0]!.n);
    const bytes = (await pg`SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'm')`)[0]!.bytes;
    const db = (await pg`SELECT pg_database_size(current_database())::bigint AS db`)[0]!.db;
    await pg.end();
    record(s.kind, "db_events", n);
    record(s.kind, "db_bytes_per_event", Number(bytes) / n);
    record(s.kind, "db_file_bytes_per_event", Number(db) / n);
    await s.stop();
    return;
  }
  const db = new Database(s.dbPath);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const events = (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  const pageSize = (db.query("PRAGMA page_size").get() as any).page_size as number;
  const pages = (db.query("PRAGMA page_count").get() as any).page_count as number;
  const free = (db.query("PRAGMA freelist_count").get() as any).freelist_count as number;
  db.close();
  record(s.kind, "db_events", events);
  record(s.kind, "db_bytes_per_event", ((pages - free) * pageSize) / events);
  record(s.kind, "db_file_bytes_per_event", statSync(s.dbPath).size / events);
}

/** N members long-poll /sync; P of them post R messages/s each; delivery latency from the start of each send. */
async function fanout(s: Server) {
  const N = FANOUT_N;
  const members = await pool(Array.from({ length: N }, (_, i) => i), 8, () => register(s));
  const roomId = await members[0]!.createRoom({ preset: "public_chat" });
  await pool(members.slice(1), 8, (u) => u.join(roomId));
  const since: string[] = await pool(members, 16, async (u) => (await u.sync(`filter=${FILTER}`)).next_batch);
  await Bun.sleep(1000);
  const rss0 = rssMiB(s.pid);
  const sent = new Map<string, number>(); // body → send start
  const deliveries: number[] = [];
  let stop = false;
  let received = 0;
  let failures = 0;
  const waiters = members.map(async (u, i) => {
    while (!stop) {
      let r: any;
      try {
        r = await u.sync(`filter=${FILTER}&since=${enc(since[i]!)}&timeout=${tiny ? 2000 : 30000}`);
      } catch {
        // A long-poll that failed or timed out (a saturated server): counted, and polled again.
        if (stop) return;
        failures++;
        await Bun.sleep(100);
        continue;
      }
      const now = performance.now();
      since[i] = r.next_batch;
      for (const e of r.rooms?.join?.[roomId]?.timeline?.events ?? []) {
        const t0 = sent.get(e.content?.body);
        if (t0 !== undefined) {
          deliveries.push(now - t0);
          received++;
        }
      }
    }
  });
  await Bun.sleep(tiny ? 500 : Math.min(10_000, 1000 + N * 5)); // every long-poll reaches the server
  const rssWaiting = rssMiB(s.pid);
  record(s.kind, `fanout${N}_rss_per_idle_connection_kib`, ((rssWaiting - rss0) * 1024) / N);
  record(s.kind, `fanout${N}_rss_waiting_mib`, rssWaiting);
  const posters = members.slice(0, FANOUT_POSTERS);
  const sendLat: number[] = [];
  let nSent = 0;
  const cpu0 = cpuMs(s.pid);
  const client0 = selfCpuMs();
  const t0 = performance.now();
  // Each poster sends on its own schedule (R/s), not waiting for the previous send to finish.
  const sends: Promise<void>[] = [];
  await Promise.all(
    posters.map(async (p, pi) => {
      const n = Math.max(1, Math.round(FANOUT_S * FANOUT_RATE));
      for (let k = 0; k < n; k++) {
        const due = t0 + (k * 1000) / FANOUT_RATE + (pi * 1000) / FANOUT_RATE / FANOUT_POSTERS;
        const wait = due - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        const body = `fan ${pi}-${k}`;
        const ts = performance.now();
        sent.set(body, ts);
        nSent++;
        sends.push(p.send(roomId, { msgtype: "m.text", body }).then(
          () => void sendLat.push(performance.now() - ts),
          () => void failures++,
        ));
      }
    }),
  );
  await Promise.all(sends);
  const sendSecs = (performance.now() - t0) / 1000;
  const expected = nSent * N;
  const drainUntil = performance.now() + (tiny ? 5000 : 30_000);
  while (received < expected && performance.now() < drainUntil) await Bun.sleep(50);
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuMs(s.pid);
  const client1 = selfCpuMs();
  stop = true;
  // Messages answered per second, from the first send to the last answer (the offered rate is P × R).
  record(s.kind, `fanout${N}_messages_per_s`, nSent / sendSecs);
  record(s.kind, `fanout${N}_send_p50_ms`, pct(sendLat, 50));
  record(s.kind, `fanout${N}_delivery_p50_ms`, pct(deliveries, 50));
  record(s.kind, `fanout${N}_delivery_p99_ms`, pct(deliveries, 99));
  record(s.kind, `fanout${N}_delivered_pct`, (100 * received) / expected);
  record(s.kind, `fanout${N}_cpu_us_per_delivery`, ((cpu1 - cpu0) * 1000) / Math.max(1, received));
  record(s.kind, `fanout${N}_server_cpu_pct`, ((cpu1 - cpu0) / (secs * 1000)) * 100);
  record(s.kind, `fanout${N}_client_cpu_pct`, ((client1 - client0) / (secs * 1000)) * 100);
  record(s.kind, `fanout${N}_failed_polls`, failures);
  // The waiters stop with the server.
  void waiters;
}

/**
 * One message at a time to N waiters (the issue's "one message reaches every waiter"): N members
 * long-poll — classic /sync (`fanout1`) or simplified sliding sync (`fanoutss`, one connection each,
 * a list over their rooms) — while one more member sends FANOUT_MESSAGES messages, each once every
 * waiter got the previous one. Per delivery: latency from the start of the send to the waiter's
 * answer; server CPU over the sends and deliveries divided by the deliveries (the send's own cost,
 * push rules for every member included); RSS per idle waiting connection.
 */
async function oneAtATime(s: Server, mode: "sync" | "ss") {
  const N = FANOUT_N;
  const tag = mode === "sync" ? `fanout1_${N}` : `fanoutss_${N}`;
  const [sender, ...members] = await pool(Array.from({ length: N + 1 }, (_, i) => i), 8, () => register(s));
  const roomId = await sender!.createRoom({ preset: "public_chat" });
  await pool(members, 8, (u) => u.join(roomId));
  const SS_BODY = { lists: { all: { ranges: [[0, 9]], timeline_limit: 10, required_state: [] } } };
  const ssPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
  const poll = (u: Client, since: string | undefined, timeout: number) =>
    mode === "sync"
      ? u.sync(`filter=${FILTER}${since ? `&since=${enc(since)}&timeout=${timeout}` : ""}`).then((r) => ({ next: r.next_batch as string, events: (r.rooms?.join?.[roomId]?.timeline?.events ?? []) as any[] }))
      : u.req<any>("POST", `${ssPath}?${since ? `pos=${enc(since)}&timeout=${timeout}` : ""}`, SS_BODY).then((r) => ({ next: r.pos as string, events: (r.rooms?.[roomId]?.timeline ?? []) as any[] }));
  const since: string[] = await pool(members, 16, async (u) => (await poll(u, undefined, 0)).next);
  await Bun.sleep(1000);
  const rss0 = rssMiB(s.pid);
  const sent = new Map<string, number>();
  const got = new Map<string, number>();
  const deliveries: number[] = [];
  let stop = false;
  let failures = 0;
  const waiters = members.map(async (u, i) => {
    while (!stop) {
      let r: { next: string; events: any[] };
      try {
        r = await poll(u, since[i], tiny ? 2000 : 30000);
      } catch {
        if (stop) return;
        failures++;
        await Bun.sleep(100);
        continue;
      }
      const now = performance.now();
      since[i] = r.next;
      for (const e of r.events) {
        const body = e.content?.body;
        const t0 = sent.get(body);
        if (t0 === undefined) continue;
        deliveries.push(now - t0);
        got.set(body, (got.get(body) ?? 0) + 1);
      }
    }
  });
  await Bun.sleep(tiny ? 500 : Math.min(10_000, 1000 + N * 5));
  const rssWaiting = rssMiB(s.pid);
  record(s.kind, `${tag}_rss_per_idle_connection_kib`, ((rssWaiting - rss0) * 1024) / N);
  record(s.kind, `${tag}_rss_waiting_mib`, rssWaiting);
  const sendLat: number[] = [];
  let cpu = 0;
  for (let k = 0; k < FANOUT_MESSAGES; k++) {
    const body = `one ${k}`;
    const c0 = cpuMs(s.pid);
    const ts = performance.now();
    sent.set(body, ts);
    await sender!.send(roomId, { msgtype: "m.text", body }).then(() => void sendLat.push(performance.now() - ts), () => void failures++);
    const until = performance.now() + 10_000;
    while ((got.get(body) ?? 0) < N && performance.now() < until) await Bun.sleep(2);
    cpu += cpuMs(s.pid) - c0;
    // The waiters poll again before the next message.
    await Bun.sleep(tiny ? 50 : 300);
  }
  stop = true;
  const received = [...got.values()].reduce((a, b) => a + b, 0);
  record(s.kind, `${tag}_send_p50_ms`, pct(sendLat, 50));
  record(s.kind, `${tag}_delivery_p50_ms`, pct(deliveries, 50));
  record(s.kind, `${tag}_delivery_p99_ms`, pct(deliveries, 99));
  record(s.kind, `${tag}_delivered_pct`, (100 * received) / (N * FANOUT_MESSAGES));
  record(s.kind, `${tag}_cpu_ms_per_message`, cpu / FANOUT_MESSAGES);
  record(s.kind, `${tag}_cpu_us_per_delivery`, (cpu * 1000) / Math.max(1, received));
  record(s.kind, `${tag}_failed_polls`, failures);
  void waiters;
}
const fanout1 = (s: Server) => oneAtATime(s, "sync");
const fanoutss = (s: Server) => oneAtATime(s, "ss");

const WORKLOADS: Record<string, (s: Server) => Promise<void>> = { latency, send1, send100, initsync, fanout, fanout1, fanoutss };

// Lower is better for these; higher for the rest.
const higherBetter = (name: string) => /per_s|delivered_pct/.test(name);

console.log(`# hs HTTP bench: servers ${SERVERS.join(", ")}; runs ${RUNS}; hs = ${HS_CMD.join(" ")}; ${new Date().toISOString()}`);
console.log(`# machine: ${navigator.hardwareConcurrency} CPUs; load average at start ${readFileSync("/proc/loadavg", "utf8").trim()}`);
for (let run = 0; run < RUNS; run++) {
  currentRun = run;
  for (const w of ONLY) {
    // Interleaved: the order of servers alternates between runs.
    const order = run % 2 ? [...SERVERS].reverse() : SERVERS;
    for (const kind of order) {
      console.log(`## run ${run + 1}/${RUNS} ${w} on ${kind}`);
      // A workload that fails (a server too slow for a client timeout) is reported and the run goes on.
      let s: Server | undefined;
      try {
        s = await startServer(kind);
        await WORKLOADS[w]!(s);
      } catch (e) {
        console.log(`# ${w} on ${kind} failed: ${(e as Error).message?.slice(0, 300)}`);
        record(kind, `${w}_failed`, 1);
      } finally {
        await s?.stop();
      }
    }
  }
}

// ---- summary
const names = [...new Set(figures.map((f) => f.name))];
const cell = (v: number) => (Number.isNaN(v) ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
console.log(`\n# medians of ${RUNS} run(s); load = median 1-min load average while measured`);
const others = SERVERS.includes("hs") ? SERVERS.filter((k) => k !== "hs") : [];
const header = ["figure", ...SERVERS.flatMap((k) => [k, `load`]), ...others.map((k) => `hs vs ${k}`)];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
const summary: Record<string, Record<string, { median: number; load: number; values: number[] }>> = {};
for (const name of names) {
  const row = [name];
  const med: Record<string, number> = {};
  for (const k of SERVERS) {
    const fs = figures.filter((f) => f.name === name && f.server === k);
    med[k] = median(fs.map((f) => f.value));
    (summary[name] ??= {})[k] = { median: med[k]!, load: median(fs.map((f) => f.load)), values: fs.map((f) => f.value) };
    row.push(cell(med[k]!), cell(median(fs.map((f) => f.load))));
  }
  // How many times better hs is (above 1: hs better), whichever way the figure points.
  for (const k of others) {
    const r = higherBetter(name) ? med.hs! / med[k]! : med[k]! / med.hs!;
    row.push(Number.isFinite(r) && !/^db_events$|_server_cpu_pct$|_client_cpu_pct$/.test(name) ? `${r.toFixed(2)}×` : "");
  }
  console.log(`| ${row.join(" | ")} |`);
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), servers: SERVERS, runs: RUNS, hs: HS_CMD, figures, summary }, null, 2));
process.exit(0);
