// Benchmark: `hs import-synapse` on a Synapse database of N events (100,000 by default).
//
// Creating that many events through Synapse's HTTP API takes hours here, so this takes a small real
// Synapse 1.67 database made by ../shared/synapse-1.67/synapse-peer (one room version 10, two users,
// a few messages) and appends N messages to it directly in Synapse's schema, as Synapse itself would
// have written them: `events`, `event_json` (hashed and signed with the server's signing key, event
// IDs from the reference hash, checked against Synapse's own last event first), `event_edges`,
// `event_auth`, `event_to_state_groups` (the room's current state group: a message changes no
// state), `event_search`, `event_push_actions` (the other member is notified),
// `stream_ordering_to_exterm`, the forward extremity, consecutive stream orderings and depths.
// Then it times `dist/hs import-synapse` into a new hs database on SQLite (and on PostgreSQL when
// TEST_POSTGRES_URL is set) and prints events/s and MB/s (the Synapse database's size over the
// import's wall time), with the load average at the time.
//
//   bun scripts/build.ts native && bun bench/import-synapse.ts [events=100000] [--base DIR] [--keep]
//
// --base DIR reuses a Synapse directory from an earlier run (its homeserver.db is copied, never
// changed); without it a Synapse is started once (about 20 s).
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { decodeBase64 } from "../src/core/base64.ts";
import { computeEventId } from "../src/core/event-id.ts";
import { hashAndSignEvent } from "../src/core/pdu.ts";
import { getRoomVersion } from "../src/core/room-versions.ts";
import { signingKeyFromSeed } from "../src/core/signing.ts";
import { registerUser } from "../tests/helpers/client.ts";
import { freshPostgresDatabase, tempDir } from "../tests/helpers/server.ts";
import { ROOT } from "../tests/helpers/spawn.ts";
import { startSynapsePeer } from "../tests/helpers/synapse.ts";

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 100_000);
const baseIdx = args.indexOf("--base");
const keep = args.includes("--keep");
const HS = join(ROOT, "dist", "hs");
if (!existsSync(HS)) throw new Error(`${HS} is missing: run bun scripts/build.ts native first`);

/** A Synapse directory with a small database: one v10 room, alice (admin) and bob, five messages. */
async function makeBase(): Promise<string> {
  const syn = await startSynapsePeer({ keepData: true });
  const alice = await registerUser(syn, "alice", "alice-password", true);
  const bob = await registerUser(syn, "bob", "bob-password");
  const room = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", preset: "public_chat", name: "Bench" })).room_id as string;
  await bob.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, {});
  for (let i = 0; i < 5; i++) await alice.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t${i}`, { msgtype: "m.text", body: `hello ${i}` });
  await syn.stop();
  return syn.dir;
}

const WORDS = "the a and of to in is it that for on with as was at by be this have from or garden coffee train meeting holiday photo dinner music weather project".split(" ");

/** Appends n messages to the (only) room of the Synapse database at `path`; returns the room ID. */
function appendEvents(path: string, serverName: string, keyFile: string, n: number): string {
  const [alg, version, seed] = readFileSync(keyFile, "utf8").trim().split(/\s+/);
  if (alg !== "ed25519" || !version || !seed) throw new Error(`${keyFile} is not a Synapse signing key`);
  const key = signingKeyFromSeed(decodeBase64(seed), version);
  const db = new Database(path);
  const one = <T>(sql: string, ...p: unknown[]) => db.query(sql).get(...(p as never[])) as T;
  const { room_id: roomId, room_version: rv } = one<{ room_id: string; room_version: string }>("SELECT room_id, room_version FROM rooms");
  const roomVersion = getRoomVersion(rv);
  // Check the recipe against Synapse's own last event: same hashes, signature and event ID.
  const last = one<{ event_id: string; json: string; stream_ordering: number; depth: number; origin_server_ts: number; state_group: number }>(
    "SELECT e.event_id, j.json, e.stream_ordering, e.depth, e.origin_server_ts, sg.state_group FROM events e JOIN event_json j USING (event_id) JOIN event_to_state_groups sg USING (event_id) WHERE e.room_id = ? ORDER BY e.stream_ordering DESC LIMIT 1",
    roomId,
  );
  {
    const ev = JSON.parse(last.json);
    delete ev.unsigned;
    const { hashes, signatures, ...bare } = ev;
    const again = hashAndSignEvent(bare, roomVersion, serverName, key);
    if (again.hashes.sha256 !== hashes.sha256 || JSON.stringify(again.signatures) !== JSON.stringify(signatures) || computeEventId(again, roomVersion) !== last.event_id) {
      throw new Error("hashing or signing does not reproduce Synapse's last event");
    }
  }
  const stateId = (type: string, sk: string) => one<{ event_id: string }>("SELECT event_id FROM current_state_events WHERE room_id = ? AND type = ? AND state_key = ?", roomId, type, sk).event_id;
  const users = (db.query("SELECT state_key FROM current_state_events WHERE room_id = ? AND type = 'm.room.member' AND membership = 'join' ORDER BY state_key").all(roomId) as Array<{ state_key: string }>).map((r) => r.state_key);
  const auth = new Map(users.map((u) => [u, [stateId("m.room.create", ""), stateId("m.room.power_levels", ""), stateId("m.room.member", u)]]));
  const tokenOf = new Map(users.map((u) => [u, (one<{ id: number } | null>("SELECT id FROM access_tokens WHERE user_id = ? ORDER BY id LIMIT 1", u))?.id ?? null]));

  const ins = {
    events: db.query(
      "INSERT INTO events (stream_ordering, topological_ordering, event_id, type, room_id, content, unrecognized_keys, processed, outlier, depth, origin_server_ts, received_ts, sender, contains_url, instance_name, state_key, rejection_reason) VALUES (?, ?, ?, 'm.room.message', ?, NULL, NULL, 1, 0, ?, ?, ?, ?, 0, 'master', NULL, NULL)",
    ),
    json: db.query("INSERT INTO event_json (event_id, room_id, internal_metadata, json, format_version) VALUES (?, ?, ?, ?, 3)"),
    edge: db.query("INSERT INTO event_edges (event_id, prev_event_id, room_id, is_state) VALUES (?, ?, NULL, 0)"),
    auth: db.query("INSERT INTO event_auth (event_id, auth_id, room_id) VALUES (?, ?, ?)"),
    sg: db.query("INSERT INTO event_to_state_groups (event_id, state_group) VALUES (?, ?)"),
    search: db.query("INSERT INTO event_search (event_id, room_id, sender, key, value) VALUES (?, ?, ?, 'content.body', ?)"),
    push: db.query(
      "INSERT INTO event_push_actions (room_id, event_id, user_id, profile_tag, actions, topological_ordering, stream_ordering, notif, highlight, unread) VALUES (?, ?, ?, NULL, ?, ?, ?, 1, 0, 0)",
    ),
    exterm: db.query("INSERT INTO stream_ordering_to_exterm (stream_ordering, room_id, event_id) VALUES (?, ?, ?)"),
  };
  const actions = JSON.stringify(["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight", value: false }]);
  let prev = last.event_id;
  let seedN = 7;
  const word = () => WORDS[(seedN = (seedN * 1103515245 + 12345) & 0x7fffffff) % WORDS.length];
  db.exec("BEGIN");
  for (let i = 1; i <= n; i++) {
    const sender = users[i % users.length]!;
    const stream = last.stream_ordering + i;
    const depth = last.depth + i;
    const ts = last.origin_server_ts + i * 50;
    const body = `message ${i}: ${Array.from({ length: 8 }, word).join(" ")}`;
    const ev = hashAndSignEvent(
      {
        auth_events: auth.get(sender)!,
        prev_events: [prev],
        type: "m.room.message",
        room_id: roomId,
        sender,
        content: { msgtype: "m.text", body },
        depth,
        prev_state: [],
        origin: serverName,
        origin_server_ts: ts,
      },
      roomVersion,
      serverName,
      key,
    );
    const id = computeEventId(ev, roomVersion);
    ins.events.run(stream, depth, id, roomId, depth, ts, ts + 5, sender);
    ins.json.run(id, roomId, JSON.stringify({ token_id: tokenOf.get(sender), txn_id: `b${i}`, historical: false }), JSON.stringify({ ...ev, unsigned: { age_ts: ts } }));
    ins.edge.run(id, prev);
    for (const a of auth.get(sender)!) ins.auth.run(id, a, roomId);
    ins.sg.run(id, last.state_group);
    ins.search.run(id, roomId, sender, body);
    for (const u of users) if (u !== sender) ins.push.run(roomId, id, u, actions, depth, stream);
    ins.exterm.run(stream, roomId, id);
    prev = id;
  }
  db.query("DELETE FROM event_forward_extremities WHERE room_id = ?").run(roomId);
  db.query("INSERT INTO event_forward_extremities (event_id, room_id) VALUES (?, ?)").run(prev, roomId);
  db.exec("COMMIT");
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return roomId;
}

function hsConfig(dir: string, serverName: string, database: string): string {
  const cfg = join(dir, "homeserver.toml");
  writeFileSync(cfg, [`server_name = "${serverName}"`, `signing_key_path = "${join(dir, "signing.key")}"`, "[database]", database, "[media]", `store_path = "${join(dir, "media")}"`, ""].join("\n"));
  return cfg;
}

async function timeImport(label: string, synDb: string, synDir: string, serverName: string, database: string, dir: string): Promise<void> {
  const cfg = hsConfig(dir, serverName, database);
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const proc = Bun.spawn([HS, "import-synapse", "--database", `sqlite:${synDb}`, "--signing-key", join(synDir, "signing.key"), "--media-store", join(synDir, "media"), "-c", cfg], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const secs = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`import failed (${code}):\n${out}\n${err.slice(-3000)}`);
  if (!out.includes("verification passed")) throw new Error(`the verification did not pass:\n${out}`);
  const events = (new Database(synDb, { readonly: true }).query("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
  const mb = statSync(synDb).size / 1e6;
  const load1 = loadavg()[0]!;
  console.log(out.split("\n").filter((l) => /^(events|state|push|current|event edges|auth edges|Imported|search)/i.test(l.trim())).join("\n"));
  console.log(`import_${label}_events ${events}`);
  console.log(`import_${label}_synapse_db_mb ${mb.toFixed(1)}`);
  console.log(`import_${label}_seconds ${secs.toFixed(1)}`);
  console.log(`import_${label}_events_per_s ${Math.round(events / secs)}`);
  console.log(`import_${label}_mb_per_s ${(mb / secs).toFixed(1)}`);
  console.log(`import_${label}_load_avg_1min ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
}

const base = baseIdx >= 0 ? args[baseIdx + 1]! : await makeBase();
const work = tempDir("bench-import-");
const synDb = join(work, "synapse.db");
copyFileSync(join(base, "homeserver.db"), synDb);
copyFileSync(join(base, "signing.key"), join(work, "signing.key"));
const serverName = (readFileSync(join(base, "homeserver.toml"), "utf8").match(/^server_name = "(.*)"$/m) ?? [])[1]!;
const ta = performance.now();
appendEvents(synDb, serverName, join(work, "signing.key"), N);
console.log(`appended ${N} events in ${((performance.now() - ta) / 1000).toFixed(1)} s (base: ${base})`);
// The importer copies media from here: an empty store.
const synDir = work;
Bun.spawnSync(["mkdir", "-p", join(work, "media")]);

const sqliteDir = tempDir("bench-import-hs-");
await timeImport("sqlite", synDb, synDir, serverName, `path = "${join(sqliteDir, "hs.db")}"`, sqliteDir);
if (!keep) rmSync(sqliteDir, { recursive: true, force: true });
if (process.env.TEST_POSTGRES_URL) {
  const pg = await freshPostgresDatabase();
  const pgDir = tempDir("bench-import-hs-pg-");
  try {
    await timeImport("postgres", synDb, synDir, serverName, `backend = "postgres"\nurl = "${pg.url}"`, pgDir);
  } finally {
    await pg.drop();
    rmSync(pgDir, { recursive: true, force: true });
  }
}
if (!keep) rmSync(work, { recursive: true, force: true });
