// Several hs processes on one PostgreSQL database (docs/SCALING.md, "Federation and background
// work"): a destination's queue is sent by one process at a time; SIGKILL of that process under
// load moves its queue to another, with no PDU lost or sent under two transaction IDs; the
// background work is done by one process and re-elected when it dies; inbound transactions are
// claimed atomically across processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { roleOfRequest } from "../../src/homeserver.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { FederationReceivedTxnsRepo } from "../../src/storage/repos/federation-received-txns.ts";
import { ProcessLeasesRepo } from "../../src/storage/repos/process-leases.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { ServeProcess } from "../helpers/serve-process.ts";
import { freshPostgresDatabase, startTestServer, tempDir, testCertificate, type TestServer } from "../helpers/server.ts";
import { freePort } from "../helpers/spawn.ts";
import { enc } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const PG = process.env.TEST_POSTGRES_URL;

test("[worker] roles: which role each API needs", () => {
  const h = new Headers();
  expect(roleOfRequest("/_matrix/client/v3/sync", h)).toBe("client");
  expect(roleOfRequest("/_matrix/client/v1/media/download/a.b/x", h)).toBe("media");
  expect(roleOfRequest("/_matrix/media/v3/upload", h)).toBe("media");
  expect(roleOfRequest("/_matrix/federation/v1/send/t", h)).toBe("federation_inbound");
  expect(roleOfRequest("/_matrix/key/v2/server", h)).toBe("federation_inbound");
  // Synapse 1.67 fetches media on the federation address, signed.
  expect(roleOfRequest("/_matrix/media/v3/download/a.b/x", new Headers({ authorization: "X-Matrix origin=a.b,key=k,sig=s" }))).toBe("media");
  expect(roleOfRequest("/health", h)).toBeUndefined();
  expect(roleOfRequest("/_hs/metrics", h)).toBeUndefined();
});

if (!PG) test.skip("federation and background work across processes (needs TEST_POSTGRES_URL)", () => {});
else {
  /** One `/send` seen by the proxy in front of the remote server. */
  interface SeenTxn {
    txnId: string;
    bodies: string[];
  }

  /**
   * The remote server's federation address: a TLS proxy that records every transaction, holds
   * each /send for a while (so the sending process keeps its lease under load) and counts how
   * many are in flight at once.
   */
  function recordingProxy(port: number, target: string, delayMs: number) {
    const cert = testCertificate();
    const seen: SeenTxn[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port,
      tls: { cert: readFileSync(cert.certPath, "utf8"), key: readFileSync(cert.keyPath, "utf8") },
      async fetch(req) {
        const url = new URL(req.url);
        const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
        const m = /^\/_matrix\/federation\/v1\/send\/([^/]+)$/.exec(url.pathname);
        if (m && req.method === "PUT" && body) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          const txn = JSON.parse(new TextDecoder().decode(body)) as { pdus?: Array<{ type?: string; content?: { body?: unknown } }> };
          const bodies = (txn.pdus ?? []).filter((p) => p.type === "m.room.message" && typeof p.content?.body === "string").map((p) => p.content!.body as string);
          seen.push({ txnId: decodeURIComponent(m[1]!), bodies });
          await Bun.sleep(delayMs);
        }
        try {
          const headers = new Headers(req.headers);
          headers.delete("host");
          headers.delete("content-length");
          const r = await fetch(`${target}${url.pathname}${url.search}`, { method: req.method, headers, body, tls: { rejectUnauthorized: false } } as RequestInit);
          const out = new Headers(r.headers);
          out.delete("content-encoding");
          out.delete("content-length");
          return new Response(await r.arrayBuffer(), { status: r.status, headers: out });
        } finally {
          if (m && req.method === "PUT") inFlight--;
        }
      },
    });
    return { server, seen, maxInFlight: () => maxInFlight };
  }

  describe("federation and background work across processes [postgres]", () => {
    const dir = tempDir("hs-cluster-fed-");
    const cert = testCertificate();
    let dropDb: (() => Promise<void>) | undefined;
    let dbUrl = "";
    let remote: TestServer;
    let proxy: ReturnType<typeof recordingProxy>;
    let remoteName = "";
    const procs: Record<string, ServeProcess> = {};
    const logs: Record<string, string> = {};
    let clusterName = "";
    let clientUrl = "";
    let alice: TestClient;
    let bob: TestClient;
    let sql: ReturnType<typeof postgres>;

    function writeConfig(name: string, roles: string[], federationPort: number | undefined, clientPort: number): string {
      const path = join(dir, `${name}.toml`);
      logs[name] = join(dir, `${name}.log`);
      const listeners = [
        federationPort !== undefined ? `[[listeners]]\nbind_address = "127.0.0.1"\nport = ${federationPort}\ntls = true\nresources = ["federation", "keys"]\n` : "",
        `[[listeners]]\nbind_address = "127.0.0.1"\nport = ${clientPort}\nresources = ["client", "media"]\n`,
      ].join("");
      writeFileSync(
        path,
        `server_name = "${clusterName}"
signing_key_path = "${join(dir, "signing.key")}"
[database]
backend = "postgres"
url = "${dbUrl}"
# Small pools: the test PostgreSQL serves other suites too.
max_connections = 4
${listeners}
[tls]
certificate_path = "${cert.certPath}"
private_key_path = "${cert.keyPath}"
[federation]
ip_range_denylist = []
trusted_key_servers = []
ca_files = ["${cert.certPath}"]
[http_client]
ip_range_denylist = []
[registration]
shared_secret = "cluster-secret"
[media]
store_path = "${join(dir, "media")}"
[logging]
level = "info"
file = "${logs[name]}"
[ratelimit]
enabled = false
[worker]
roles = ${JSON.stringify(roles)}
instance_name = "${name}"
lease_seconds = 3
`,
      );
      return path;
    }

    const holderOf = async (lease: string): Promise<string | undefined> => {
      const rows = await sql`SELECT owner FROM process_leases WHERE name = ${lease} AND expires_ts >= ${Date.now()}`;
      return rows[0] ? String(rows[0].owner).split("/")[0] : undefined;
    };
    const logOf = (name: string) => (existsSync(logs[name]!) ? readFileSync(logs[name]!, "utf8") : "");

    beforeAll(async () => {
      mkdirSync(join(dir, "media"), { recursive: true });
      const pg = await freshPostgresDatabase();
      dbUrl = pg.url;
      dropDb = pg.drop;
      sql = postgres(dbUrl, { max: 2, onnotice: () => {} });
      // The remote server, behind the recording proxy that carries its name.
      const proxyPort = freePort();
      const remotePort = freePort();
      remoteName = `localhost:${proxyPort}`;
      remote = await startTestServer({
        serverName: remoteName,
        config: {
          tls: { certificate_path: cert.certPath, private_key_path: cert.keyPath },
          listeners: [
            { bind_address: "127.0.0.1", port: remotePort, tls: true, resources: ["federation", "keys"] },
            { bind_address: "127.0.0.1", port: 0, resources: ["client", "media"] },
          ],
          federation: { ip_range_denylist: [], trusted_key_servers: [], ca_files: [cert.certPath] },
        },
      });
      proxy = recordingProxy(proxyPort, `https://127.0.0.1:${remotePort}`, 150);
      // The cluster: web answers the client and federation APIs; sender2 and sender3 only send
      // and run the background work.
      const fedPort = freePort();
      clusterName = `localhost:${fedPort}`;
      const webPort = freePort();
      clientUrl = `http://127.0.0.1:${webPort}`;
      procs.web = new ServeProcess(writeConfig("web", ["client", "federation_inbound", "media"], fedPort, webPort), clientUrl);
      await procs.web.start(60_000);
      for (const name of ["sender2", "sender3"]) {
        const port = freePort();
        procs[name] = new ServeProcess(writeConfig(name, ["federation_sender", "background"], undefined, port), `http://127.0.0.1:${port}`);
        await procs[name]!.start(60_000);
      }
      alice = await registerUser({ url: clientUrl, serverName: clusterName, config: { registration: { shared_secret: "cluster-secret" } } }, "alice");
      bob = await registerUser(remote, "bob");
    }, 180_000);

    afterAll(async () => {
      for (const p of Object.values(procs)) if (p.alive) await p.kill("SIGTERM");
      proxy?.server.stop(true);
      await remote?.stop();
      await sql?.end();
      await dropDb?.();
    }, 60_000);

    test("a process without a role answers that role's API with 404 M_UNRECOGNIZED; /health everywhere", async () => {
      const r = await fetch(`${procs.sender2!.url}/_matrix/client/versions`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { errcode: string }).errcode).toBe("M_UNRECOGNIZED");
      expect((await fetch(`${procs.sender2!.url}/health`)).status).toBe(200);
      expect((await fetch(`${clientUrl}/_matrix/client/versions`)).status).toBe(200);
    });

    test("the background work is done by one process with the role, and moves when it is killed", async () => {
      const first = await eventually(() => holderOf("background"), 15_000, "a background holder");
      expect(["sender2", "sender3"]).toContain(first);
      const logged = (name: string) => logOf(name).includes("running the background jobs");
      await eventually(async () => (logged(first) ? true : undefined), 10_000, "the holder's log line");
      const other = first === "sender2" ? "sender3" : "sender2";
      expect(logged(other)).toBe(false);
      expect(logged("web")).toBe(false);
      // SIGKILL: no clean release; the other process takes over once the lease (3 s) lapses.
      await procs[first]!.kill("SIGKILL");
      const next = await eventually(async () => ((await holderOf("background")) === other ? other : undefined), 20_000, "the takeover");
      expect(next).toBe(other);
      await eventually(async () => (logged(other) ? true : undefined), 10_000, "the new holder's log line");
      expect(logged("web")).toBe(false);
      // Back to two senders for the next test.
      await procs[first]!.start(60_000);
    }, 90_000);

    test("a destination's queue is sent by one process; SIGKILL of it under load loses no PDU and sends none under two transaction IDs", async () => {
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(clusterName)}`, {});
      await eventually(async () => {
        const r = await alice.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId!)}`);
        return r.status === 200 && r.body.membership === "join" ? true : undefined;
      }, 20_000, "bob's join in the cluster");

      const lease = `federation_sender:${remoteName}`;
      const total = 40;
      const sent: string[] = [];
      let killed: string | undefined;
      for (let i = 0; i < total; i++) {
        const body = `m-${i}`;
        await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t${i}`, { msgtype: "m.text", body });
        sent.push(body);
        if (i === 15) {
          // Kill whichever sender holds the queue now (it is busy: the remote answers slowly).
          killed = await eventually(() => holderOf(lease), 15_000, "a holder of the queue");
          await procs[killed]!.kill("SIGKILL");
        }
        await Bun.sleep(30);
      }
      expect(["sender2", "sender3"]).toContain(killed!);

      // Every message reaches the remote, once in its timeline.
      const timeline = await eventually(async () => {
        const r = await bob.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=200`);
        if (r.status !== 200) return undefined;
        const got = (r.body.chunk as any[]).filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
        return sent.every((b) => got.includes(b)) ? got : undefined;
      }, 60_000, "every message at the remote");
      for (const b of sent) expect(timeline.filter((x) => x === b).length).toBe(1);

      // On the wire: one transaction in flight at a time, and each PDU under one transaction ID
      // (a transaction repeated after the takeover keeps its ID: the receiver's dedupe applies).
      expect(proxy.maxInFlight()).toBe(1);
      for (const b of sent) {
        const ids = new Set(proxy.seen.filter((t) => t.bodies.includes(b)).map((t) => t.txnId));
        expect(ids.size).toBe(1);
      }
      // The survivor sent the rest; the queue and the in-flight record are empty.
      await eventually(async () => {
        const [q] = await sql`SELECT COUNT(*)::int AS n FROM federation_outbox`;
        const [f] = await sql`SELECT COUNT(*)::int AS n FROM federation_inflight_txns`;
        return q!.n === 0 && f!.n === 0 ? true : undefined;
      }, 20_000, "an empty queue");
      if (process.env.HS_TEST_VERBOSE) {
        const repeated = proxy.seen.filter((t, i) => proxy.seen.findIndex((u) => u.txnId === t.txnId) !== i).length;
        console.log(`transactions: ${proxy.seen.length}, repeated under their ID after the takeover: ${repeated}`);
      }
    }, 180_000);

    test("a pusher set through a client-only process is delivered by the background holder (which reads pushers set elsewhere), once per event", async () => {
      const received: any[] = [];
      const gw = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: async (req) => {
          received.push(await req.json());
          return Response.json({ rejected: [] });
        },
      });
      try {
        const carol = await registerUser({ url: clientUrl, serverName: clusterName, config: { registration: { shared_secret: "cluster-secret" } } }, "carol");
        const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "trusted_private_chat", invite: [carol.userId] })).room_id as string;
        await carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
        await alice.ok("POST", "/_matrix/client/v3/pushers/set", {
          kind: "http",
          app_id: "org.example.cluster",
          pushkey: "cluster-1",
          app_display_name: "Example",
          device_display_name: "phone",
          lang: "en",
          data: { url: `http://127.0.0.1:${gw.port}/_matrix/push/v1/notify` },
        });
        // The web process has no background role, hence no pusher worker: the holder finds the
        // pusher in the database. A process starting now loads it too, but delivers only if it holds the work.
        for (const name of ["sender2", "sender3"]) if (!procs[name]!.alive) await procs[name]!.start(60_000);
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push((await carol.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/p${i}`, { msgtype: "m.text", body: `push ${i}` })).event_id);
        }
        const forEvent = (id: string) => received.filter((b) => b.notification?.event_id === id);
        await eventually(async () => (ids.every((id) => forEvent(id).length > 0) ? true : undefined), 30_000, "the notifications");
        // Give a second deliverer time to show itself, then: one notification per event.
        await Bun.sleep(2500);
        for (const id of ids) expect(forEvent(id).length).toBe(1);
      } finally {
        gw.stop(true);
      }
    }, 120_000);

    test("an inbound transaction reaching two processes at once is claimed by one; a claim whose process died is taken over", async () => {
      // Two connection pools stand for two processes.
      const a = await openDatabase({ backend: "postgres", url: dbUrl, path: "", max_connections: 4 } as never);
      const b = await openDatabase({ backend: "postgres", url: dbUrl, path: "", max_connections: 4 } as never);
      try {
        const ra = new FederationReceivedTxnsRepo(a);
        const rb = new FederationReceivedTxnsRepo(b);
        const now = Date.now();
        const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? ra : rb).claim("origin.test", "txn-1", now)));
        expect(claims.filter((c) => c.state === "claimed").length).toBe(1);
        expect(claims.filter((c) => c.state === "busy").length).toBe(19);
        await ra.complete("origin.test", "txn-1", '{"pdus":{}}', Date.now());
        expect(await rb.claim("origin.test", "txn-1", Date.now())).toEqual({ state: "done", response: '{"pdus":{}}' });
        // A claim whose heartbeat stopped: taken over by exactly one of two racing processes.
        expect((await ra.claim("origin.test", "txn-2", now - 60_000)).state).toBe("claimed");
        const busy = await rb.claim("origin.test", "txn-2", Date.now());
        expect(busy.state).toBe("busy");
        const ts = (busy as { heartbeatTs: number }).heartbeatTs;
        const took = await Promise.all([ra.takeOver("origin.test", "txn-2", ts, Date.now()), rb.takeOver("origin.test", "txn-2", ts, Date.now())]);
        expect(took.filter(Boolean).length).toBe(1);
        // Leases: one holder among racing processes; a lapsed lease moves.
        const la = new ProcessLeasesRepo(a);
        const lb = new ProcessLeasesRepo(b);
        const t = Date.now();
        const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? la : lb).acquire("test-lease", i % 2 ? "A" : "B", t + 1000, t)));
        const owners = new Set(got.flatMap((ok, i) => (ok ? [i % 2 ? "A" : "B"] : [])));
        expect(owners.size).toBe(1);
        const winner = [...owners][0];
        expect((await (winner === "A" ? lb : la).acquire("test-lease", winner === "A" ? "B" : "A", t + 1000, t))).toBe(false);
        expect(await (winner === "A" ? lb : la).acquire("test-lease", winner === "A" ? "B" : "A", t + 5000, t + 2000)).toBe(true);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}

if (PG) {
  describe("federation state across two servers on one PostgreSQL database", () => {
    test("the same transaction received by both at once is processed once, both answer the same; a member event on one drops the servers of the room the other cached", async () => {
      const a = await startTestServer({ backend: "postgres", serverName: "cluster.test" });
      const b = await startTestServer({ backend: "postgres", serverName: "cluster.test", config: { database: { url: a.config.database.url } } });
      try {
        let calls = 0;
        for (const s of [a, b]) {
          // Counts the PDUs processed, slowly, so that both requests overlap.
          (s.hs.services.roomFederation.receiver as { receivePdu: unknown }).receivePdu = async () => {
            calls++;
            await Bun.sleep(300);
            return { eventId: "$counted", error: "counted" };
          };
        }
        const body = { origin: "remote.test", origin_server_ts: Date.now(), pdus: [{ room_id: "!r:remote.test", type: "m.room.message" }], edus: [] };
        const [ra, rb] = await Promise.all([
          a.hs.services.roomFederation.serve.receiveTransaction("remote.test", "t-1", body),
          b.hs.services.roomFederation.serve.receiveTransaction("remote.test", "t-1", body),
        ]);
        expect(calls).toBe(1);
        expect(ra).toEqual({ pdus: { $counted: { error: "counted" } } });
        expect(rb).toEqual(ra);
        // Later retries get the recorded answer from either.
        expect(await b.hs.services.roomFederation.serve.receiveTransaction("remote.test", "t-1", body)).toEqual(ra);
        expect(calls).toBe(1);
        // A processing failure releases the claim: the retry processes it.
        for (const s of [a, b]) {
          (s.hs.services.roomFederation.receiver as { receivePdu: unknown }).receivePdu = async () => {
            calls++;
            if (calls === 2) throw new Error("database went away");
            return { eventId: "$counted", error: "counted" };
          };
        }
        await expect(a.hs.services.roomFederation.serve.receiveTransaction("remote.test", "t-2", body)).rejects.toThrow("database went away");
        expect(await b.hs.services.roomFederation.serve.receiveTransaction("remote.test", "t-2", body)).toEqual(ra);
        expect(calls).toBe(3);

        // A member event persisted by one server drops the other's cached list of the room's
        // servers (whom its PDUs go to): it asks the database again.
        const alice = await registerUser(a, "alice");
        const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
        const membership = b.hs.services.roomFederation.membership as { serversInRoom(roomId: string): Promise<string[]> };
        const original = membership.serversInRoom.bind(membership);
        let asked = 0;
        membership.serversInRoom = (r: string) => {
          asked++;
          return original(r);
        };
        expect(await b.hs.services.roomFederation.serversInRoom(roomId)).toEqual(["cluster.test"]);
        expect(await b.hs.services.roomFederation.serversInRoom(roomId)).toEqual(["cluster.test"]);
        expect(asked).toBe(1);
        await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId!)}`, { membership: "join", displayname: "Alice" });
        await eventually(async () => {
          await b.hs.services.roomFederation.serversInRoom(roomId);
          return asked >= 2 ? true : undefined;
        }, 10_000, "the other server to forget the room's servers");
      } finally {
        await b.stop();
        await a.stop();
      }
    }, 60_000);
  });
}
