// `hs import-synapse` with an application service: a Synapse 1.67 runs with a bridge registration
// (app_service_config_files), the bridge registers a puppet user with its as_token, the puppet joins
// a room and talks, and Synapse sends the bridge its transactions. Synapse is stopped and imported;
// the import names the registration file to add to hs's config; hs starts with it. Then the as_token
// and the puppet work on hs, and the bridge gets the new events only — nothing Synapse had already
// sent it comes again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { validateConfig } from "../../src/config/load.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { registerUser, TestClient } from "../helpers/client.ts";
import { tempDir } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";
import { startSynapsePeer, SYNAPSE_KIT, synapseSourceDir, synapseUnavailable, type SynapsePeer } from "../helpers/synapse.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const unavailable = synapseUnavailable();
if (unavailable) console.warn(`skipping hs import-synapse appservice tests: ${unavailable}`);

const AS_TOKEN = "as_token_import_bridge_0123456789";
const HS_TOKEN = "hs_token_import_bridge_0123456789";

interface Txn {
  path: string;
  txnId: string;
  token: string | null;
  events: Array<{ event_id: string; type: string; content?: { body?: string } }>;
}

/** The bridge: records transactions from Synapse 1.67 (/transactions/ID?access_token=) and from hs (/_matrix/app/v1/transactions/ID, Bearer). */
function fakeBridge() {
  const txns: Txn[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const url = new URL(req.url);
      const m = /\/transactions\/([^/]+)$/.exec(url.pathname);
      const token = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? url.searchParams.get("access_token");
      if (token !== HS_TOKEN) return Response.json({ errcode: "M_FORBIDDEN" }, { status: 403 });
      if (req.method === "PUT" && m) {
        const body = (await req.json()) as { events?: Txn["events"] };
        txns.push({ path: url.pathname, txnId: decodeURIComponent(m[1]!), token, events: body.events ?? [] });
        return Response.json({});
      }
      return Response.json({ errcode: "M_NOT_FOUND" }, { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, txns, stop: () => server.stop(true) };
}

describe.skipIf(unavailable !== undefined)("hs import-synapse: an application service carries on", () => {
  let syn: SynapsePeer;
  let synProc: ReturnType<typeof Bun.spawn> | undefined;
  let bridge: ReturnType<typeof fakeBridge>;
  let hs: Homeserver | undefined;
  let dir: string;
  let url: string;
  let aliceToken: string;
  let roomId: string;
  let puppet: string;
  let importOutput = "";
  let reg = "";
  let seenOnSynapse: Set<string>;

  const stopSynapse = async () => {
    if (!synProc || synProc.exitCode !== null) return;
    synProc.kill("SIGTERM");
    await synProc.exited;
  };

  beforeAll(async () => {
    bridge = fakeBridge();
    syn = await startSynapsePeer({ keepData: true });
    aliceToken = (await registerUser(syn, "alice", "alice-password")).accessToken!;
    await syn.stop();
    // synapse-peer has no appservice setting: run Synapse on its generated config plus the registration.
    reg = pathJoin(syn.dir, "bridge.json");
    writeFileSync(
      reg,
      JSON.stringify({
        id: "bridge",
        url: bridge.url,
        as_token: AS_TOKEN,
        hs_token: HS_TOKEN,
        sender_localpart: "_bridge_bot",
        namespaces: { users: [{ exclusive: true, regex: "@_bridge_.*" }], aliases: [], rooms: [] },
        rate_limited: false,
      }),
    );
    const yaml = JSON.parse(readFileSync(pathJoin(syn.dir, "synapse.yaml"), "utf8"));
    yaml.app_service_config_files = [reg];
    const synYaml = pathJoin(syn.dir, "synapse-as.yaml");
    writeFileSync(synYaml, JSON.stringify(yaml));
    synProc = Bun.spawn(["/usr/bin/python3", "-m", "synapse.app.homeserver", "--config-path", synYaml], {
      cwd: syn.dir,
      env: { ...process.env, PYTHONPATH: `${synapseSourceDir()}:${pathJoin(SYNAPSE_KIT, "pylib")}`, SYNAPSE_ASYNC_IO_REACTOR: "0" },
      stdout: "ignore",
      stderr: "ignore",
    });
    await eventually(async () => ((await fetch(`${syn.url}/_matrix/client/versions`).catch(() => undefined))?.ok ? true : undefined), 60_000, "Synapse with the bridge", 200);

    const asClient = new TestClient(syn.url, AS_TOKEN);
    puppet = (await asClient.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_bridge_puppet" })).user_id;
    const alice = new TestClient(syn.url, aliceToken);
    roomId = await createRoom(alice, { room_version: "10", preset: "public_chat" });
    await asClient.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?user_id=${enc(puppet)}`, {});
    await asClient.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/p1?user_id=${enc(puppet)}`, { msgtype: "m.text", body: "from the bridge" });
    await send(alice, roomId, "to the bridge on Synapse");
    await eventually(async () => (bridge.txns.some((t) => t.events.some((e) => e.content?.body === "to the bridge on Synapse")) ? true : undefined), 30_000, "Synapse's transaction to the bridge", 200);
    seenOnSynapse = new Set(bridge.txns.flatMap((t) => t.events.map((e) => e.event_id)));
    await stopSynapse();

    dir = tempDir("import-as-");
    const doc = {
      server_name: syn.serverName,
      signing_key_path: pathJoin(dir, "signing.key"),
      database: { path: pathJoin(dir, "hs.db") },
      media: { store_path: pathJoin(dir, "media") },
      registration: { shared_secret: "x" },
      ratelimit: { enabled: false },
      logging: { level: "error" },
      listeners: [{ bind_address: "127.0.0.1", port: 0 }],
      appservices: { config_files: [reg], retry_min_interval_ms: 100 },
      http_client: { ip_range_denylist: [] },
      caches: { memory_target_mb: 8192 },
    };
    const cfg = pathJoin(dir, "homeserver.toml");
    writeFileSync(cfg, `server_name = "${syn.serverName}"\nsigning_key_path = "${doc.signing_key_path}"\n[database]\npath = "${doc.database.path}"\n[media]\nstore_path = "${doc.media.store_path}"\n`);
    const r = await runHs(["import-synapse", "--synapse-config", synYaml, "-c", cfg]);
    importOutput = r.stdout + r.stderr;
    if (r.code !== 0) throw new Error(`import failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    const { config } = validateConfig(doc, "test-config", dir);
    hs = await startHomeserver(config);
    url = hs.listeners[0]!.url;
  }, 240_000);

  afterAll(async () => {
    await hs?.stop(2000);
    await stopSynapse();
    bridge?.stop();
    if (!process.env.HS_KEEP_TEST_DIRS) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (syn) rmSync(syn.dir, { recursive: true, force: true });
    }
  });

  test("the import passes and prints the [appservices] line naming the registration file hs's config lacks", () => {
    expect(importOutput).toContain("verification passed");
    expect(importOutput).toContain("1 appservice registration file(s)");
    expect(importOutput).toContain(`config_files = [${JSON.stringify(reg)}]`);
  });

  test("the as_token and the puppet work on hs", async () => {
    const asClient = new TestClient(url, AS_TOKEN);
    const who = await asClient.ok("GET", `/_matrix/client/v3/account/whoami?user_id=${enc(puppet)}`);
    expect(who.user_id).toBe(puppet);
    const rooms = await asClient.ok("GET", `/_matrix/client/v3/joined_rooms?user_id=${enc(puppet)}`);
    expect(rooms.joined_rooms).toEqual([roomId]);
    // The namespace is still exclusive: nobody else can take a puppet's name.
    const taken = await new TestClient(url).request("POST", "/_matrix/client/v3/register", { username: "_bridge_other", password: "pw-pw-pw-pw", auth: { type: "m.login.dummy" } });
    expect(taken.status).toBeGreaterThanOrEqual(400);
  });

  test("the bridge gets the new events from hs, and none that Synapse had already sent", async () => {
    const before = bridge.txns.length;
    const alice = new TestClient(url, aliceToken);
    const id = await send(alice, roomId, "to the bridge on hs");
    await eventually(async () => (bridge.txns.slice(before).some((t) => t.events.some((e) => e.event_id === id)) ? true : undefined), 30_000, "hs's transaction to the bridge", 200);
    const fromHs = bridge.txns.slice(before);
    expect(fromHs.every((t) => t.path.startsWith("/_matrix/app/v1/transactions/"))).toBe(true);
    const again = fromHs.flatMap((t) => t.events.map((e) => e.event_id)).filter((e) => seenOnSynapse.has(e));
    expect(again).toEqual([]);
    // Transaction IDs do not repeat Synapse's (a bridge drops a transaction whose ID it has seen).
    const synIds = new Set(bridge.txns.slice(0, before).map((t) => t.txnId));
    expect(fromHs.filter((t) => synIds.has(t.txnId))).toEqual([]);
  }, 60_000);
});
