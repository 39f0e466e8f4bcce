// hs port-db: a server's SQLite database moved to a fresh PostgreSQL database (row counts checked),
// then the server runs on PostgreSQL with the same users, rooms, messages, search and admin state.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { loginUser, registerUser, TestClient } from "../helpers/client.ts";
import { configuredServer } from "../helpers/ops.ts";
import { freshPostgresDatabase } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";

const enc = encodeURIComponent;

test.skipIf(!process.env.TEST_POSTGRES_URL)("SQLite → PostgreSQL round trip: the server runs on the copy with the same data", async () => {
  const s = await configuredServer("sqlite", { serverName: "port.test" });
  const pg = await freshPostgresDatabase();
  try {
    await s.start();
    const alice = await registerUser(s, "alice", "alicepw", true);
    const bob = await registerUser(s, "bob", "bobpw");
    const room = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { name: "Ported", preset: "public_chat", room_alias_name: "ported" })).room_id;
    await bob.ok("POST", `/_matrix/client/v3/join/${enc(room)}`, {});
    for (let i = 0; i < 30; i++) await (i % 2 ? bob : alice).ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/m${i}`, { msgtype: "m.text", body: `message ${i} pineapple` });
    await alice.ok("PUT", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/org.example.settings`, { theme: "dark" });
    const blocked = "!blocked:elsewhere.test";
    await alice.ok("PUT", `/_synapse/admin/v1/rooms/${enc(blocked)}/block`, { block: true });
    const before = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100`);
    await s.stop();

    // Refusals first: a non-empty target, a missing source.
    const port = await runHs(["port-db", "--from", `sqlite:${s.dir}/data/homeserver.db`, "--to", `postgres:${pg.url}`]);
    expect(port.stderr).toBe("");
    expect(port.code).toBe(0);
    expect(port.stdout).toMatch(/Copied \d+ rows in \d+ tables at schema version \d+ .*row counts verified/);
    expect(port.stdout).toMatch(/ events +\d+ rows/);
    const again = await runHs(["port-db", "--from", `sqlite:${s.dir}/data/homeserver.db`, "--to", pg.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("not empty");
    expect((await runHs(["port-db", "--from", "sqlite:/nonexistent.db", "--to", pg.url])).code).toBe(1);

    // The same server, now on PostgreSQL.
    const cfg = readFileSync(s.configPath, "utf8").replace(/\[database\][^[]*/, `[database]\nbackend = "postgres"\nurl = "${pg.url}"\n`);
    writeFileSync(s.configPath, cfg);
    expect((await runHs(["db", "check", "-c", s.configPath])).code).toBe(0);
    await s.start();
    const a2 = await loginUser(s, "alice", "alicepw");
    const b2 = await loginUser(s, "bob", "bobpw");
    expect((await b2.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).toEqual([room]);
    const after = await a2.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100`);
    expect(after.chunk.map((e: { event_id: string }) => e.event_id)).toEqual(before.chunk.map((e: { event_id: string }) => e.event_id));
    expect((await a2.ok("GET", `/_matrix/client/v3/user/${enc(alice.userId!)}/account_data/org.example.settings`)).theme).toBe("dark");
    expect((await new TestClient(s.url, b2.accessToken).ok("POST", `/_matrix/client/v3/join/${enc("#ported:port.test")}`, {})).room_id).toBe(room);
    expect(await a2.ok("GET", `/_synapse/admin/v1/rooms/${enc(blocked)}/block`)).toMatchObject({ block: true });
    // Server-side search works on the rebuilt PostgreSQL index.
    const found = await a2.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "pineapple" } } });
    expect(found.status).toBe(200);
    expect(found.body.search_categories.room_events.count).toBe(30);
    // New events continue the stream; incremental sync sees them.
    const sync = await b2.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    await a2.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/new`, { msgtype: "m.text", body: "first on postgres" });
    const next = await b2.ok("GET", `/_matrix/client/v3/sync?timeout=5000&since=${enc(sync.next_batch)}`);
    expect(next.rooms.join[room].timeline.events.map((e: { content: { body: string } }) => e.content.body)).toContain("first on postgres");
  } finally {
    await s.cleanup();
    await pg.drop();
  }
}, 60000);

test("refuses a database a running server has open, before touching the target", async () => {
  const s = await configuredServer("sqlite", { serverName: "portrun.test" });
  try {
    await s.start();
    // The target does not even need to exist: the refusal comes first.
    const r = await runHs(["port-db", "--from", `sqlite:${s.dir}/data/homeserver.db`, "--to", "postgres:postgres://nobody:x@127.0.0.1:1/none"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`hs port-db: ${s.dir}/data/homeserver.db is open in a running process (pid ${process.pid}:`);
    expect(r.stderr).toContain("stop the server first");
  } finally {
    await s.stop();
  }
});

test.skipIf(!process.env.TEST_POSTGRES_URL)("a wrong PostgreSQL password or a missing database is said plainly; nothing was copied", async () => {
  const s = await configuredServer("sqlite", { serverName: "portpw.test" });
  try {
    await s.start();
    await s.stop();
    const u = new URL(process.env.TEST_POSTGRES_URL!);
    u.password = "certainly-wrong";
    const bad = await runHs(["port-db", "--from", `sqlite:${s.dir}/data/homeserver.db`, "--to", `postgres:${u}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`PostgreSQL refused the login ${decodeURIComponent(u.username)}@${u.host}${u.pathname}`);
    expect(bad.stderr).toContain("Check the user name and password in the --to URL (nothing was copied)");
    expect(bad.stderr).not.toContain("may hold part of the data");
    const none = new URL(process.env.TEST_POSTGRES_URL!);
    none.pathname = "/hs_no_such_db_for_port";
    const missing = await runHs(["port-db", "--from", `sqlite:${s.dir}/data/homeserver.db`, "--to", `postgres:${none}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("PostgreSQL has no database");
  } finally {
    await s.stop().catch(() => {});
  }
});
