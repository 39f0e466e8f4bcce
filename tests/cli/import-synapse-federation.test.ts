// After `hs import-synapse`, federation carries on: a Synapse 1.67 (named localhost:<port>) shares
// a room with an hs peer; Synapse is stopped and imported; hs starts under the same name, port and
// signing key; then messages flow both ways between the imported server and the peer, and the
// peer's view of the imported server's key is unchanged. Synapse's remote media cache (a file of the
// peer's that Synapse fetched) comes along: hs serves it with the peer stopped.
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
  let peerStopped = false;
  let peerMedia: { mxc: string; bytes: Uint8Array };

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
    // A file on the peer that Synapse's user downloads: Synapse keeps it in its remote media cache.
    const bytes = new Uint8Array(3000).map((_, i) => (i * 13 + 5) % 256);
    const up = await bob.request("POST", "/_matrix/media/v3/upload?filename=peer.bin", bytes, { "Content-Type": "application/octet-stream" });
    expect(up.status).toBe(200);
    peerMedia = { mxc: up.body.content_uri, bytes };
    const viaSyn = await fetch(`${syn.url}/_matrix/media/v3/download/${peerMedia.mxc.slice("mxc://".length)}`, { headers: { Authorization: `Bearer ${aliceToken}` } });
    expect(viaSyn.status).toBe(200);
    expect(new Uint8Array(await viaSyn.arrayBuffer())).toEqual(bytes);
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
    if (!peerStopped) await peer?.stop();
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

  test("Synapse's remote media cache comes along: the peer's file is served with the peer stopped", async () => {
    const url = hs!.listeners.find((l) => !l.tls)!.url;
    peerStopped = true;
    await peer.stop();
    const r = await fetch(`${url}/_matrix/client/v1/media/download/${peerMedia.mxc.slice("mxc://".length)}`, { headers: { Authorization: `Bearer ${aliceToken}` } });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(peerMedia.bytes))).toBe(true);
  }, 30_000);
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
