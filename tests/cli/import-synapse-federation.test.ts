// After `hs import-synapse`, federation carries on: a Synapse 1.67 (named localhost:<port>) shares
// a room with an hs peer; Synapse is stopped and imported; hs starts under the same name, port and
// signing key; then messages flow both ways between the imported server and the peer, and the
// peer's view of the imported server's key is unchanged.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { validateConfig } from "../../src/config/load.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { registerUser, TestClient } from "../helpers/client.ts";
import { startFederatingServers, tempDir, testCertificate, type FederatingServer } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";
import { startSynapsePeer, synapseUnavailable, type SynapsePeer } from "../helpers/synapse.ts";
import { enc, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const unavailable = synapseUnavailable();
if (unavailable) console.warn(`skipping hs import-synapse federation tests: ${unavailable}`);

async function waitForBody(c: TestClient, roomId: string, body: string): Promise<{ event_id: string }> {
  return eventually(
    async () => {
      const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
      return r.status === 200 ? r.body.chunk.find((e: { content?: { body?: string } }) => e.content?.body === body) : undefined;
    },
    20_000,
    `message ${JSON.stringify(body)}`,
  );
}

describe.skipIf(unavailable !== undefined)("hs import-synapse: federation carries on", () => {
  let peer: FederatingServer;
  let syn: SynapsePeer;
  let hs: Homeserver | undefined;
  let dir: string;
  let roomId: string;
  let aliceToken: string;
  let bob: TestClient;

  beforeAll(async () => {
    const cert = testCertificate();
    peer = (await startFederatingServers(1, { config: { federation: { retry_min_interval_ms: 200 } } }))[0]!;
    syn = await startSynapsePeer({ keepData: true });
    const alice = await registerUser(syn, "alice", "alice-password");
    aliceToken = alice.accessToken!;
    bob = await registerUser(peer, "bob");
    roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", preset: "public_chat", room_alias_name: "fed" })).room_id;
    await send(alice, roomId, "from synapse before the move");
    await bob.ok("POST", `/_matrix/client/v3/join/${enc(`#fed:${syn.serverName}`)}`, {});
    await send(bob, roomId, "from the peer to synapse");
    await waitForBody(alice, roomId, "from the peer to synapse");
    await waitForBody(bob, roomId, "from synapse before the move");
    await syn.stop();

    dir = tempDir("import-fed-");
    const cfg = pathJoin(dir, "homeserver.toml");
    const doc = {
      server_name: syn.serverName,
      signing_key_path: pathJoin(dir, "signing.key"),
      database: { path: pathJoin(dir, "hs.db") },
      media: { store_path: pathJoin(dir, "media") },
      registration: { shared_secret: "x" },
      ratelimit: { enabled: false },
      logging: { level: "error" },
      tls: { certificate_path: cert.certPath, private_key_path: cert.keyPath },
      listeners: [
        { bind_address: "127.0.0.1", port: syn.port, tls: true, resources: ["federation", "keys"] },
        { bind_address: "127.0.0.1", port: 0, resources: ["client", "media"] },
      ],
      federation: { ip_range_denylist: [], trusted_key_servers: [], ca_files: [cert.certPath], retry_min_interval_ms: 200 },
      caches: { memory_target_mb: 8192 },
    };
    writeFileSync(cfg, tomlOf(doc));
    const r = await runHs(["import-synapse", "--synapse-config", pathJoin(syn.dir, "synapse.yaml"), "-c", cfg]);
    if (r.code !== 0) throw new Error(`import failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    const { config } = validateConfig(doc, "test-config", dir);
    hs = await startHomeserver(config);
  }, 180_000);

  afterAll(async () => {
    await hs?.stop(2000);
    await syn?.stop();
    await peer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (syn) rmSync(syn.dir, { recursive: true, force: true });
  });

  test("the imported server serves Synapse's key, and messages flow both ways with the peer", async () => {
    const url = hs!.listeners.find((l) => !l.tls)!.url;
    const alice = new TestClient(url, aliceToken);
    // History from before the move, including the peer's message, is there.
    await waitForBody(alice, roomId, "from the peer to synapse");
    // The peer → the imported server.
    await send(bob, roomId, "from the peer to hs");
    await waitForBody(alice, roomId, "from the peer to hs");
    // The imported server → the peer (signed with Synapse's key, which the peer already trusts).
    await send(alice, roomId, "from hs to the peer");
    const got = await waitForBody(bob, roomId, "from hs to the peer");
    expect(got.event_id).toStartWith("$");
    const members = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    expect(Object.keys(members.joined).sort()).toEqual([bob.userId!, `@alice:${syn.serverName}`].sort());
  }, 60_000);
});

/** A minimal TOML writer for the config document above (strings, numbers, booleans, arrays, tables, arrays of tables). */
function tomlOf(doc: Record<string, unknown>): string {
  const lit = (v: unknown): string => (Array.isArray(v) ? `[${v.map(lit).join(", ")}]` : typeof v === "string" ? JSON.stringify(v) : String(v));
  const top: string[] = [];
  const rest: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (Array.isArray(v) && v.length && typeof v[0] === "object") {
      for (const item of v as Array<Record<string, unknown>>) rest.push(`[[${k}]]`, ...Object.entries(item).map(([a, b]) => `${a} = ${lit(b)}`));
    } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      rest.push(`[${k}]`, ...Object.entries(v).map(([a, b]) => `${a} = ${lit(b)}`));
    } else top.push(`${k} = ${lit(v)}`);
  }
  return [...top, ...rest, ""].join("\n");
}
