// `hs import-synapse` end to end: a real Synapse 1.67 (../shared/synapse-1.67/synapse-peer) gets
// users, rooms of two versions, messages, an edit, a reaction, a thread, a redaction, receipts,
// account data, push rules, media, device keys, cross-signing keys and a key backup; what it serves
// is recorded; it is stopped; its database is imported into hs (SQLite, and PostgreSQL when
// TEST_POSTGRES_URL is set); hs then serves the same sessions, rooms, state and history.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { validateConfig } from "../../src/config/load.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { registerUser, TestClient, withPasswordAuth } from "../helpers/client.ts";
import { BACKENDS, freshPostgresDatabase, tempDir } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";
import { startSynapsePeer, SYNAPSE_KIT, synapseSourceDir, synapseUnavailable, type SynapsePeer } from "../helpers/synapse.ts";
import { Database } from "bun:sqlite";
import postgres from "postgres";
import { createRoom, enc, invite, join, send, setState } from "../helpers/sync.ts";
import { CrossSigning, TestDevice } from "../e2ee/helpers.ts";
import { eventually } from "../helpers/wait.ts";

const unavailable = synapseUnavailable();
if (unavailable) console.warn(`skipping hs import-synapse tests: ${unavailable}`);

type Ev = { event_id: string; type: string; sender: string; content: unknown; state_key?: string; origin_server_ts: number };

/** What Synapse served before it was stopped, to compare hs's answers with. */
interface Recorded {
  tokens: { alice: string; bob: string };
  userIds: { alice: string; bob: string; carol: string; guest: string };
  rooms: string[];
  invitedTo: string;
  history: Map<string, Ev[]>;
  state: Map<string, string[]>;
  edited: Set<string>;
  /** The thread root, its reply in the thread and the reaction to it. */
  threadRoot: string;
  threadReply: string;
  reaction: string;
  redacted: string;
  mediaUri: string;
  media: Uint8Array;
  devices: { alice: string; bob: string };
  masterKey: unknown;
  backupVersion: string;
  filterId: string;
  /** The event bob's read receipt points at. */
  receipted: string;
  /** bob's last sync token from Synapse, a pagination token from it, and what Synapse paginated from there. */
  bobSince: string;
  prevBatch: string;
  pageFromPrevBatch: string[];
  /** dave read only the first message: his unread counts in the main room as Synapse gave them. */
  daveToken: string;
  daveUnread: { notification_count: number; highlight_count: number };
}

const strip = (e: Ev) => ({ event_id: e.event_id, type: e.type, sender: e.sender, content: e.content, state_key: e.state_key, origin_server_ts: e.origin_server_ts });

async function history(c: TestClient, roomId: string): Promise<Ev[]> {
  const out: Ev[] = [];
  let from: string | undefined;
  for (;;) {
    const r = await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50${from ? `&from=${enc(from)}` : ""}`);
    out.push(...r.chunk);
    if (!r.end || r.chunk.length === 0) break;
    from = r.end;
  }
  return out;
}

async function stateIds(c: TestClient, roomId: string): Promise<string[]> {
  const r = await c.ok<Ev[]>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`);
  return r.map((e) => e.event_id).sort();
}

async function populate(syn: SynapsePeer): Promise<Recorded> {
  const alice = await registerUser(syn, "alice", "alice-password", true);
  const bob = await registerUser(syn, "bob", "bob-password");
  const carol = await registerUser(syn, "carol", "carol-password");
  const guest = await new TestClient(syn.url).ok("POST", "/_matrix/client/v3/register?kind=guest", {});

  await alice.ok("PUT", `/_matrix/client/v3/profile/${enc(alice.userId!)}/displayname`, { displayname: "Alice A." });
  await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/org.example.settings`, { theme: "dark" });
  await alice.ok("PUT", "/_matrix/client/v3/pushrules/global/content/cake", { pattern: "cake", actions: ["notify"] });
  await alice.ok("PUT", "/_matrix/client/v3/pushrules/global/override/.m.rule.suppress_notices/enabled", { enabled: false });
  const filter = await alice.ok("POST", `/_matrix/client/v3/user/${enc(alice.userId!)}/filter`, { room: { timeline: { limit: 7 } } });

  const main = await createRoom(alice, { room_version: "10", name: "Main", room_alias_name: "main", preset: "public_chat", visibility: "public" });
  const old = await createRoom(alice, { room_version: "1", name: "Old v1 room" });
  const priv = await createRoom(alice, { room_version: "10", preset: "private_chat" });
  await join(bob, main);
  await invite(alice, old, bob.userId!);
  await join(bob, old);
  await invite(alice, priv, bob.userId!); // bob stays invited
  await join(carol, main);
  const dave = await registerUser(syn, "dave", "dave-password");
  await join(dave, main);

  const first = await send(alice, main, "hello world");
  await dave.ok("POST", `/_matrix/client/v3/rooms/${enc(main)}/receipt/m.read/${enc(first)}`, {});
  await send(bob, main, "hi alice");
  const toEdit = await send(alice, main, "typo mesage");
  await send(alice, main, { msgtype: "m.text", body: "* typo message", "m.new_content": { msgtype: "m.text", body: "typo message" }, "m.relates_to": { rel_type: "m.replace", event_id: toEdit } });
  const reaction = await send(bob, main, { "m.relates_to": { rel_type: "m.annotation", event_id: first, key: "👍" } }, "m.reaction");
  const threadReply = await send(bob, main, { msgtype: "m.text", body: "in a thread", "m.relates_to": { rel_type: "m.thread", event_id: first } });
  const gone = await send(bob, main, "oops, secret");
  await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(main)}/redact/${enc(gone)}/r1`, { reason: "secret" });
  await setState(alice, main, "m.room.topic", { topic: "The main room" });
  for (let i = 0; i < 30; i++) await send(i % 2 ? alice : bob, main, `message ${i}`);
  for (let i = 0; i < 5; i++) await send(alice, old, `old room ${i}`);
  const last = await send(alice, main, "last one");
  await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(main)}/receipt/m.read/${enc(last)}`, {});
  await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(main)}/read_markers`, { "m.fully_read": last });
  await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/rooms/${enc(main)}/tags/u.work`, { order: 0.5 });

  // carol leaves and is deactivated by the admin.
  await alice.ok("POST", `/_synapse/admin/v1/deactivate/${enc(carol.userId!)}`, {});

  // Media.
  const media = new Uint8Array(4096).map((_, i) => (i * 7) % 256);
  const up = await alice.request("POST", "/_matrix/media/v3/upload?filename=blob.bin", media, { "Content-Type": "application/octet-stream" });
  expect(up.status).toBe(200);

  // End-to-end encryption: device keys, one-time and fallback keys, cross-signing, a key backup.
  const aliceDev = new TestDevice(alice);
  await aliceDev.upload(3, true);
  const bobDev = new TestDevice(bob);
  await bobDev.upload(2, false);
  const cs = new CrossSigning(alice.userId!);
  const up1 = await withPasswordAuth(alice, "POST", "/_matrix/client/v3/keys/device_signing/upload", cs.body(), "alice-password");
  expect(up1.status).toBe(200);
  const backup = await alice.ok("POST", "/_matrix/client/v3/room_keys/version", { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data: { public_key: "abcdefg" } });
  await alice.ok("PUT", `/_matrix/client/v3/room_keys/keys/${enc(main)}/sess1?version=${backup.version}`, {
    first_message_index: 1,
    forwarded_count: 0,
    is_verified: true,
    session_data: { ephemeral: "e", ciphertext: "c", mac: "m" },
  });

  const rec: Recorded = {
    tokens: { alice: alice.accessToken!, bob: bob.accessToken! },
    userIds: { alice: alice.userId!, bob: bob.userId!, carol: carol.userId!, guest: guest.user_id },
    rooms: [main, old],
    invitedTo: priv,
    history: new Map(),
    state: new Map(),
    edited: new Set([toEdit]),
    threadRoot: first,
    threadReply,
    reaction,
    redacted: gone,
    mediaUri: up.body.content_uri,
    media,
    devices: { alice: alice.deviceId!, bob: bob.deviceId! },
    masterKey: cs.masterKey(),
    backupVersion: backup.version,
    filterId: filter.filter_id,
    receipted: last,
    bobSince: "",
    prevBatch: "",
    pageFromPrevBatch: [],
    daveToken: dave.accessToken!,
    daveUnread: { notification_count: -1, highlight_count: -1 },
  };
  // Synapse summarises push actions in the background: wait until its answer is stable.
  let prev = "";
  rec.daveUnread = await eventually(async () => {
    const u = (await dave.ok("GET", "/_matrix/client/v3/sync")).rooms.join[main].unread_notifications;
    const same = JSON.stringify(u) === prev;
    prev = JSON.stringify(u);
    if (!same) await Bun.sleep(1000);
    return same ? u : undefined;
  }, 30_000, "stable unread counts on Synapse");
  const bs = await bob.ok("GET", "/_matrix/client/v3/sync?filter=" + enc(JSON.stringify({ room: { timeline: { limit: 3 } } })));
  rec.bobSince = bs.next_batch;
  rec.prevBatch = bs.rooms.join[main].timeline.prev_batch;
  const page = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(main)}/messages?dir=b&limit=5&from=${enc(rec.prevBatch)}`);
  rec.pageFromPrevBatch = page.chunk.map((e: Ev) => e.event_id);
  // A to-device message bob has not received yet.
  await alice.ok("PUT", "/_matrix/client/v3/sendToDevice/org.example.ping/td1", { messages: { [bob.userId!]: { [bob.deviceId!]: { n: 42 } } } });
  for (const r of [main, old]) {
    rec.history.set(r, await history(bob, r));
    rec.state.set(r, await stateIds(bob, r));
  }
  return rec;
}

// These need no Synapse.
test("import-synapse: --help, usage errors exit 2, bad inputs exit 1 with one line", async () => {
  const help = await runHs(["import-synapse", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: hs import-synapse");
  const none = await runHs(["import-synapse", "-c", "/nonexistent/hs.toml"]);
  expect(none.code).toBe(2);
  expect(none.stderr.trim().split("\n")).toHaveLength(1);

  const dir = tempDir("import-args-");
  const cfg = pathJoin(dir, "homeserver.toml");
  writeFileSync(cfg, `server_name = "example.org"\n[database]\npath = "${pathJoin(dir, "hs.db")}"\n`);
  const missing = await runHs(["import-synapse", "--synapse-config", pathJoin(dir, "nope.yaml"), "-c", cfg]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("cannot read the Synapse config");
  const yaml = pathJoin(dir, "homeserver.yaml");
  writeFileSync(yaml, `server_name: other.example\ndatabase:\n  name: sqlite3\n  args:\n    database: ${pathJoin(dir, "synapse.db")}\n`);
  const other = await runHs(["import-synapse", "--synapse-config", yaml, "-c", cfg]);
  expect(other.code).toBe(1);
  expect(other.stderr).toContain("Synapse's server_name is other.example but hs's is example.org");
  writeFileSync(yaml, `server_name: example.org\ndatabase:\n  name: mysql\n`);
  const engine = await runHs(["import-synapse", "--synapse-config", yaml, "-c", cfg]);
  expect(engine.code).toBe(1);
  expect(engine.stderr).toContain("unknown database engine");
  writeFileSync(yaml, `server_name: example.org\ndatabase:\n  name: sqlite3\n  args:\n    database: ${pathJoin(dir, "synapse.db")}\n`);
  const nodb = await runHs(["import-synapse", "--synapse-config", yaml, "-c", cfg]);
  expect(nodb.code).toBe(1);
  expect(nodb.stderr).toContain("no Synapse database at");
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function waitForBackgroundUpdates(syn: SynapsePeer): Promise<void> {
  await eventually(
    async () => {
      const db = new Database(syn.dbPath, { readonly: true });
      try {
        db.exec("PRAGMA busy_timeout = 5000");
        return (db.query("SELECT COUNT(*) AS n FROM background_updates").get() as { n: number }).n === 0 ? true : undefined;
      } finally {
        db.close();
      }
    },
    120_000,
    "Synapse's background updates",
    1000,
  );
}

async function portSynapseToPostgres(syn: SynapsePeer): Promise<{ url: string; drop: () => Promise<void> }> {
  // Synapse insists on C collation for a new database.
  const adminUrl = process.env.TEST_POSTGRES_URL!;
  const name = `hs_test_synapse_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const pg = {
    url: u.toString(),
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
  const yaml = pathJoin(syn.dir, "port-postgres.yaml");
  writeFileSync(
    yaml,
    JSON.stringify({
      server_name: syn.serverName,
      report_stats: false,
      signing_key_path: syn.signingKeyPath,
      database: {
        name: "psycopg2",
        args: { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), host: u.hostname, port: Number(u.port || 5432), database: u.pathname.slice(1) },
      },
    }),
  );
  const proc = Bun.spawn(["/usr/bin/python3", "-m", "synapse._scripts.synapse_port_db", "--sqlite-database", syn.dbPath, "--postgres-config", yaml], {
    env: { ...process.env, PYTHONPATH: `${synapseSourceDir()}:${pathJoin(SYNAPSE_KIT, "pylib")}` },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`synapse_port_db failed (${code}): ${out.slice(-2000)}\n${err.slice(-2000)}`);
  return pg;
}

describe.skipIf(unavailable !== undefined)("hs import-synapse", () => {
  let syn: SynapsePeer;
  let rec: Recorded;

  beforeAll(async () => {
    syn = await startSynapsePeer({ keepData: true });
    rec = await populate(syn);
    // synapse_port_db (for the PostgreSQL source) wants Synapse's background updates finished,
    // as they are on any Synapse that has run for a while.
    if (process.env.TEST_POSTGRES_URL) await waitForBackgroundUpdates(syn);
  }, 180_000);
  afterAll(async () => {
    await syn?.stop();
    if (syn && !process.env.HS_KEEP_TEST_DIRS) rmSync(syn.dir, { recursive: true, force: true });
  });

  test("refuses while Synapse runs", async () => {
    const dir = tempDir("import-");
    const cfg = pathJoin(dir, "homeserver.toml");
    writeFileSync(cfg, `server_name = "${syn.serverName}"\n[database]\npath = "${pathJoin(dir, "hs.db")}"\n`);
    const r = await runHs(["import-synapse", "--synapse-config", pathJoin(syn.dir, "synapse.yaml"), "-c", cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Synapse is running");
  }, 30_000);

  /** A Synapse database on PostgreSQL, ported from the SQLite one by Synapse's own synapse_port_db. */
  let synapsePg: { url: string; drop: () => Promise<void> } | undefined;
  afterAll(async () => {
    await synapsePg?.drop();
  });
  const combos: Array<{ source: "sqlite" | "postgres"; backend: (typeof BACKENDS)[number] }> = BACKENDS.map((backend) => ({ source: "sqlite", backend }));
  if (process.env.TEST_POSTGRES_URL) combos.push({ source: "postgres", backend: "sqlite" });

  for (const { source, backend } of combos) {
    describe(`from Synapse on ${source} into hs on ${backend}`, () => {
      let hs: Homeserver;
      let url: string;
      let dir: string;
      let cfg: string;
      let output = "";
      let dropDb: (() => Promise<void>) | undefined;

      beforeAll(async () => {
        await syn.stop(); // idempotent: the first describe stops it
        let sourceArgs = ["--synapse-config", pathJoin(syn.dir, "synapse.yaml")];
        if (source === "postgres") {
          synapsePg ??= await portSynapseToPostgres(syn);
          sourceArgs = ["--database", synapsePg.url, "--signing-key", syn.signingKeyPath, "--media-store", syn.mediaPath];
        }
        dir = tempDir("import-");
        let db = `path = "${pathJoin(dir, "hs.db")}"`;
        let pgUrl = "";
        if (backend === "postgres") {
          const pg = await freshPostgresDatabase();
          dropDb = pg.drop;
          pgUrl = pg.url;
          db = `backend = "postgres"\nurl = "${pg.url}"`;
        }
        cfg = pathJoin(dir, "homeserver.toml");
        writeFileSync(
          cfg,
          [
            `server_name = "${syn.serverName}"`,
            `signing_key_path = "${pathJoin(dir, "signing.key")}"`,
            `[database]`,
            db,
            `[media]`,
            `store_path = "${pathJoin(dir, "media")}"`,
            `[registration]`,
            `shared_secret = "x"`,
            `[ratelimit]`,
            `enabled = false`,
            `[logging]`,
            `level = "error"`,
            `[[listeners]]`,
            `bind_address = "127.0.0.1"`,
            `port = 0`,
            "",
          ].join("\n"),
        );
        const check = await runHs(["import-synapse", ...sourceArgs, "-c", cfg, "--check"]);
        expect(check.code).toBe(0);
        expect(check.stdout).toContain("dry run");
        const r = await runHs(["import-synapse", ...sourceArgs, "-c", cfg]);
        output = r.stdout;
        if (r.code !== 0) throw new Error(`import failed (${r.code}): ${r.stdout}\n${r.stderr}`);
        const { config } = validateConfig(
          {
            server_name: syn.serverName,
            signing_key_path: pathJoin(dir, "signing.key"),
            database: backend === "postgres" ? { backend, url: pgUrl } : { path: pathJoin(dir, "hs.db") },
            media: { store_path: pathJoin(dir, "media") },
            registration: { shared_secret: "x" },
            ratelimit: { enabled: false },
            logging: { level: "error" },
            listeners: [{ bind_address: "127.0.0.1", port: 0 }],
            caches: { memory_target_mb: 8192 },
          },
          "test-config",
          dir,
        );
        hs = await startHomeserver(config);
        url = hs.listeners[0]!.url;
      }, 120_000);
      afterAll(async () => {
        await hs?.stop(2000);
        await dropDb?.();
        if (!process.env.HS_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
      });

      test("hs db check finds the imported database consistent", async () => {
        const r = await runHs(["db", "check", "-c", cfg]);
        expect(r.stdout).toContain("Database OK");
        expect(r.code).toBe(0);
      }, 30_000);

      test("the dry run wrote nothing and the import printed a passing verification table", () => {
        expect(output).toContain("Verification (");
        expect(output).toContain("verification passed");
        expect(output).not.toContain("MISMATCH");
      });

      test("a second import into the now non-empty database is refused", async () => {
        const r = await runHs(["import-synapse", "--synapse-config", pathJoin(syn.dir, "synapse.yaml"), "-c", cfg]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("not empty");
      }, 30_000);

      test("the same access tokens work, and passwords (bcrypt) still log in", async () => {
        const alice = new TestClient(url, rec.tokens.alice);
        const who = await alice.ok("GET", "/_matrix/client/v3/account/whoami");
        expect(who).toMatchObject({ user_id: rec.userIds.alice, device_id: rec.devices.alice });
        const login = await new TestClient(url).request("POST", "/_matrix/client/v3/login", {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: "bob" },
          password: "bob-password",
        });
        expect(login.status).toBe(200);
        const wrong = await new TestClient(url).request("POST", "/_matrix/client/v3/login", {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: "bob" },
          password: "nope",
        });
        expect(wrong.status).toBe(403);
      });

      test("admin, deactivated and guest accounts keep their status", async () => {
        const alice = new TestClient(url, rec.tokens.alice);
        const carol = await alice.ok("GET", `/_synapse/admin/v2/users/${enc(rec.userIds.carol)}`);
        expect(carol.deactivated).toBe(true);
        const a = await alice.ok("GET", `/_synapse/admin/v2/users/${enc(rec.userIds.alice)}`);
        expect(a.admin).toBe(true);
        const g = await alice.ok("GET", `/_synapse/admin/v2/users/${enc(rec.userIds.guest)}`);
        expect(g.is_guest).toBe(true);
        const login = await new TestClient(url).request("POST", "/_matrix/client/v3/login", {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: "carol" },
          password: "carol-password",
        });
        expect(login.status).toBe(403);
      });

      test("/sync returns the same rooms; state and history match what Synapse served", async () => {
        const bob = new TestClient(url, rec.tokens.bob);
        const s = await bob.ok("GET", "/_matrix/client/v3/sync");
        expect(Object.keys(s.rooms?.join ?? {}).sort()).toEqual([...rec.rooms].sort());
        expect(Object.keys(s.rooms?.invite ?? {})).toEqual([rec.invitedTo]);
        for (const room of rec.rooms) {
          expect(await stateIds(bob, room)).toEqual(rec.state.get(room)!);
          const before = rec.history.get(room)!;
          const after = await history(bob, room);
          expect(after.map((e) => e.event_id)).toEqual(before.map((e) => e.event_id));
          // Synapse 1.67 still showed edits applied to the original's content (MSC3925 came later).
          const cmp = (l: Ev[]) => l.filter((e) => !rec.edited.has(e.event_id)).map(strip);
          expect(cmp(after)).toEqual(cmp(before));
          const timeline = s.rooms.join[room].timeline.events as Ev[];
          expect(timeline.at(-1)!.event_id).toBe(before[0]!.event_id);
        }
        const redacted = rec.history.get(rec.rooms[0]!)!.find((e) => e.event_id === rec.redacted)!;
        expect(redacted.content).toEqual({});
      });

      test("Synapse's sync and pagination tokens still work: sync carries on, /messages pages from the same place", async () => {
        expect(rec.bobSince).toMatch(/^s\d+_\d+_/);
        const bob = new TestClient(url, rec.tokens.bob);
        const s = await bob.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(rec.bobSince)}`);
        const old = new Set([...rec.history.values()].flat().map((e) => e.event_id));
        for (const r of Object.values(s.rooms?.join ?? {}) as Array<{ timeline: { events: Ev[] } }>) {
          for (const e of r.timeline.events) expect(old.has(e.event_id)).toBe(false);
        }
        // Device lists: every user with devices is marked changed, so clients refetch their keys.
        expect(s.device_lists?.changed).toContain(rec.userIds.alice);
        // The pending to-device message.
        expect(s.to_device?.events).toEqual([{ sender: rec.userIds.alice, type: "org.example.ping", content: { n: 42 } }]);
        const page = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(rec.rooms[0]!)}/messages?dir=b&limit=5&from=${enc(rec.prevBatch)}`);
        expect(page.chunk.map((e: Ev) => e.event_id)).toEqual(rec.pageFromPrevBatch);
      });

      test("unread notification counts are Synapse's", async () => {
        // (before the tests below send new messages)
        expect(rec.daveUnread.notification_count).toBeGreaterThan(10);
        const dave = new TestClient(url, rec.daveToken);
        const s = await dave.ok("GET", "/_matrix/client/v3/sync");
        expect(s.rooms.join[rec.rooms[0]!].unread_notifications).toEqual(rec.daveUnread);
      });

      test("account data, tags, push rules, filters and receipts come along", async () => {
        const alice = new TestClient(url, rec.tokens.alice);
        expect(await alice.ok("GET", `/_matrix/client/v3/user/${enc(rec.userIds.alice)}/account_data/org.example.settings`)).toEqual({ theme: "dark" });
        const tags = await alice.ok("GET", `/_matrix/client/v3/user/${enc(rec.userIds.alice)}/rooms/${enc(rec.rooms[0]!)}/tags`);
        expect(tags.tags).toEqual({ "u.work": { order: 0.5 } });
        const rule = await alice.ok("GET", "/_matrix/client/v3/pushrules/global/content/cake");
        expect(rule).toMatchObject({ rule_id: "cake", pattern: "cake", actions: ["notify"], enabled: true });
        const sup = await alice.ok("GET", "/_matrix/client/v3/pushrules/global/override/.m.rule.suppress_notices/enabled");
        expect(sup.enabled).toBe(false);
        const f = await alice.ok("GET", `/_matrix/client/v3/user/${enc(rec.userIds.alice)}/filter/${rec.filterId}`);
        expect(f.room.timeline.limit).toBe(7);
        const profile = await alice.ok("GET", `/_matrix/client/v3/profile/${enc(rec.userIds.alice)}`);
        expect(profile.displayname).toBe("Alice A.");
        const s = await alice.ok("GET", "/_matrix/client/v3/sync");
        const receipts = (s.rooms.join[rec.rooms[0]!].ephemeral.events as Array<{ type: string; content: Record<string, any> }>).find((e) => e.type === "m.receipt");
        expect(receipts?.content[rec.receipted]?.["m.read"]?.[rec.userIds.bob]).toBeDefined();
      });

      test("the alias resolves, the room is in the directory, and new messages can be sent", async () => {
        const alice = new TestClient(url, rec.tokens.alice);
        const a = await alice.ok("GET", `/_matrix/client/v3/directory/room/${enc(`#main:${syn.serverName}`)}`);
        expect(a.room_id).toBe(rec.rooms[0]);
        const pub = await alice.ok("GET", "/_matrix/client/v3/publicRooms");
        expect(pub.chunk.map((r: { room_id: string }) => r.room_id)).toContain(rec.rooms[0]);
        for (const room of rec.rooms) {
          const id = await send(alice, room, "after the move");
          const h = await history(alice, room);
          expect(h[0]!.event_id).toBe(id);
          expect(h[1]!.event_id).toBe(rec.history.get(room)![0]!.event_id);
        }
      });

      test("relations and threads are indexed (in the background after the first start)", async () => {
        const bob = new TestClient(url, rec.tokens.bob);
        const room = enc(rec.rooms[0]!);
        const rel = await eventually(async () => {
          const r = await bob.ok("GET", `/_matrix/client/v1/rooms/${room}/relations/${enc(rec.threadRoot)}`);
          return r.chunk.length >= 2 ? r : undefined;
        });
        expect(rel.chunk.map((e: Ev) => e.event_id).sort()).toEqual([rec.reaction, rec.threadReply].sort());
        const threads = await bob.ok("GET", `/_matrix/client/v1/rooms/${room}/threads`);
        expect(threads.chunk.map((e: Ev) => e.event_id)).toEqual([rec.threadRoot]);
      });

      test("server-side search and the user directory find imported events and users", async () => {
        const bob = new TestClient(url, rec.tokens.bob);
        const search = (term: string) => bob.ok("POST", "/_matrix/client/v3/search", { search_categories: { room_events: { search_term: term } } });
        const hit = await search("thread");
        expect(hit.search_categories.room_events.results.map((r: { result: Ev }) => r.result.event_id)).toEqual([rec.threadReply]);
        expect((await search("secret")).search_categories.room_events.results).toEqual([]); // redacted
        const users = await bob.ok("POST", "/_matrix/client/v3/user_directory/search", { search_term: "alice" });
        expect(users.results.map((u: { user_id: string }) => u.user_id)).toContain(rec.userIds.alice);
        expect(users.results.find((u: { user_id: string }) => u.user_id === rec.userIds.alice).display_name).toBe("Alice A.");
      });

      test("media downloads byte-identical", async () => {
        const alice = new TestClient(url, rec.tokens.alice);
        const mxc = rec.mediaUri.slice("mxc://".length);
        const r = await fetch(`${url}/_matrix/client/v1/media/download/${mxc}`, { headers: { Authorization: `Bearer ${alice.accessToken}` } });
        expect(r.status).toBe(200);
        expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(rec.media))).toBe(true);
      });

      test("device keys, one-time keys, cross-signing keys and the key backup come along", async () => {
        const bob = new TestClient(url, rec.tokens.bob);
        const q = await bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [rec.userIds.alice]: [] } });
        expect(Object.keys(q.device_keys[rec.userIds.alice])).toEqual([rec.devices.alice]);
        expect(q.master_keys[rec.userIds.alice].keys).toEqual((rec.masterKey as { keys: unknown }).keys);
        const claim = await bob.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [rec.userIds.alice]: { [rec.devices.alice]: "signed_curve25519" } } });
        expect(Object.keys(claim.one_time_keys[rec.userIds.alice][rec.devices.alice])[0]).toStartWith("signed_curve25519:");
        const alice = new TestClient(url, rec.tokens.alice);
        const v = await alice.ok("GET", "/_matrix/client/v3/room_keys/version");
        expect(v.version).toBe(rec.backupVersion);
        const k = await alice.ok("GET", `/_matrix/client/v3/room_keys/keys/${enc(rec.rooms[0]!)}/sess1?version=${rec.backupVersion}`);
        expect(k.session_data).toEqual({ ephemeral: "e", ciphertext: "c", mac: "m" });
      });

      test("the server signs with Synapse's key", async () => {
        const keys = await (await fetch(`${url}/_matrix/key/v2/server`)).json();
        const synKey = (await Bun.file(syn.signingKeyPath).text()).split(/\s+/)[1]!;
        expect(Object.keys(keys.verify_keys)).toEqual([`ed25519:${synKey}`]);
      });
    });
  }

  test("--force empties a non-empty hs database and imports again", async () => {
    await syn.stop();
    const dir = tempDir("import-force-");
    const cfg = pathJoin(dir, "homeserver.toml");
    writeFileSync(cfg, `server_name = "${syn.serverName}"\nsigning_key_path = "${pathJoin(dir, "signing.key")}"\n[database]\npath = "${pathJoin(dir, "hs.db")}"\n[media]\nstore_path = "${pathJoin(dir, "media")}"\n`);
    const args = ["import-synapse", "--synapse-config", pathJoin(syn.dir, "synapse.yaml"), "-c", cfg];
    expect((await runHs(args)).code).toBe(0);
    const again = await runHs([...args, "--force"]);
    expect(again.stdout).toContain("verification passed");
    expect(again.code).toBe(0);
    const check = await runHs(["db", "check", "-c", cfg]);
    expect(check.code).toBe(0);
    // Appservice positions: hs carries on after the last event and transaction ID Synapse used.
    const copy = pathJoin(dir, "synapse-copy.db");
    copyFileSync(syn.dbPath, copy);
    const w = new Database(copy);
    w.exec("INSERT INTO application_services_state (as_id, state) VALUES ('bridge', 'up')");
    w.exec("UPDATE appservice_stream_position SET stream_ordering = 5");
    w.exec("INSERT INTO application_services_txns (as_id, txn_id, event_ids) VALUES ('bridge', 41, '[]')");
    w.close();
    const before = Date.now();
    const again2 = await runHs(["import-synapse", "--database", `sqlite:${copy}`, "-c", cfg, "--force"]);
    expect(again2.code).toBe(0);
    const hsDb = new Database(pathJoin(dir, "hs.db"), { readonly: true });
    // Above Synapse's highest transaction ID left (41), and above the ones it deleted: the time in ms.
    const states = hsDb.query("SELECT as_id, stream_ordering, next_txn_id FROM appservice_states").all() as Array<{ as_id: string; stream_ordering: number; next_txn_id: number }>;
    expect(states).toEqual([{ as_id: "bridge", stream_ordering: 5, next_txn_id: expect.any(Number) }]);
    expect(states[0]!.next_txn_id).toBeGreaterThanOrEqual(before);
    hsDb.close();
    // An hs database is not a Synapse one.
    const wrong = await runHs(["import-synapse", "--database", `sqlite:${pathJoin(dir, "hs.db")}`, "-c", cfg, "--check"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("is not a Synapse database");
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
