// A real Synapse 1.67 as the second server of federation tests (issue 17): ../shared/synapse-1.67's
// `synapse-peer serve --config homeserver.toml` takes the TOML an hs test server gets and runs
// Synapse in the foreground. Like startFederatingServers' servers it is named localhost:<port>, with
// a TLS listener (federation, keys) on that port and a plain-HTTP listener for test clients.
//
//   const why = synapseUnavailable();           // a reason to skip, or undefined
//   const syn = await startSynapsePeer();      // ~5 s
//   const bob = await registerUser(syn, "bob"); // the shared-secret admin API, as with hs
//
// hs import-synapse's tests use the same server for its database: `keepData` leaves the files
// (dbPath, mediaPath, signingKeyPath, synapse.yaml in dir) after stop().
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, ROOT } from "./spawn.ts";
import { tempDir, testCertificate } from "./server.ts";

/** ../shared/synapse-1.67 beside the project (HS_SYNAPSE_KIT overrides it). */
export const SYNAPSE_KIT = process.env.HS_SYNAPSE_KIT ?? resolve(ROOT, "../shared/synapse-1.67");
const PEER = join(SYNAPSE_KIT, "synapse-peer");

let unavailable: string | null | undefined;

/** Why Synapse cannot run here (kit or Python packages missing), or undefined when it can. */
export function synapseUnavailable(): string | undefined {
  if (unavailable !== undefined) return unavailable ?? undefined;
  if (!existsSync(PEER)) {
    unavailable = `${SYNAPSE_KIT} is absent`;
  } else {
    // A few of the packages install-deps.sh installs; if they import, the rest are there too.
    const r = Bun.spawnSync(["/usr/bin/python3", "-c", "import twisted, signedjson, canonicaljson, nacl, jsonschema, frozendict, bcrypt, PIL, pymacaroons, msgpack, phonenumbers, prometheus_client, netaddr, jinja2, bleach, ijson, treq, yaml, attr, sortedcontainers, unpaddedbase64, OpenSSL, pydantic"], { stdout: "ignore", stderr: "pipe" });
    unavailable = r.exitCode === 0 ? null : `Synapse's Python packages are missing (run ${SYNAPSE_KIT}/install-deps.sh)`;
  }
  return unavailable ?? undefined;
}

export interface SynapsePeer {
  kind: "synapse";
  /** http://127.0.0.1:<port>, the client and media listener. */
  url: string;
  /** https://127.0.0.1:<port> (federation, keys). */
  federationUrl: string;
  port: number;
  serverName: string;
  config: { registration: { shared_secret: string } };
  dir: string;
  /** Synapse's own log. */
  logFile: string;
  /** Its SQLite database, media store and signing key (synapse-peer writes synapse.yaml into dir). */
  dbPath: string;
  mediaPath: string;
  signingKeyPath: string;
  /** Stops Synapse (idempotent) and, unless started with keepData, deletes its files. */
  stop(): Promise<void>;
  /** Stops Synapse, runs `during` while it is down, and starts it again on the same data and ports. */
  restart(during?: () => Promise<void>): Promise<void>;
}

const SECRET = "synapse-test-shared-secret";

/** Where synapse-peer unpacks Synapse's sources (for running its scripts, e.g. synapse_port_db). */
export function synapseSourceDir(): string {
  return join(process.env.TMPDIR ?? "/tmp", "hs-synapse-1.67.0");
}

export async function startSynapsePeer(opts: { timeoutMs?: number; keepData?: boolean } = {}): Promise<SynapsePeer> {
  const why = synapseUnavailable();
  if (why) throw new Error(why);
  const cert = testCertificate();
  const dir = tempDir("synapse-peer-");
  const port = freePort();
  const clientPort = freePort();
  const serverName = `localhost:${port}`;
  const logFile = join(dir, "homeserver.log");
  mkdirSync(join(dir, "media"), { recursive: true });
  const toml = [
    `server_name = "${serverName}"`,
    `public_baseurl = "http://127.0.0.1:${clientPort}/"`,
    `signing_key_path = "${join(dir, "signing.key")}"`,
    "",
    "[registration]",
    "enabled = false",
    `shared_secret = "${SECRET}"`,
    "allow_guests = true",
    "",
    "[database]",
    `path = "${join(dir, "homeserver.db")}"`,
    "",
    "[tls]",
    `certificate_path = "${cert.certPath}"`,
    `private_key_path = "${cert.keyPath}"`,
    "",
    "[media]",
    `store_path = "${join(dir, "media")}"`,
    "",
    "[logging]",
    `level = "${process.env.SYNAPSE_TEST_LOG ?? "info"}"`,
    `file = "${logFile}"`,
    "",
    "[[listeners]]",
    'bind_address = "127.0.0.1"',
    `port = ${port}`,
    "tls = true",
    'resources = ["federation", "keys"]',
    "",
    "[[listeners]]",
    'bind_address = "127.0.0.1"',
    `port = ${clientPort}`,
    'resources = ["client", "media"]',
    "",
  ].join("\n");
  const configPath = join(dir, "homeserver.toml");
  writeFileSync(configPath, toml);
  const url = `http://127.0.0.1:${clientPort}`;
  let proc: ReturnType<typeof Bun.spawn> | undefined;

  const start = async () => {
    proc = Bun.spawn([PEER, "serve", "--config", configPath], { stdout: "ignore", stderr: "pipe", cwd: dir });
    const stderr = new Response(proc.stderr as ReadableStream).text();
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      try {
        const r = await fetch(`${url}/_matrix/client/versions`);
        if (r.ok) {
          // The federation listener too (keys are fetched from it).
          const k = await fetch(`https://127.0.0.1:${port}/_matrix/key/v2/server`, { tls: { rejectUnauthorized: false } } as RequestInit);
          if (k.ok) return;
        }
      } catch {
        // not up yet
      }
      if (proc.exitCode !== null) throw new Error(`synapse-peer exited with ${proc.exitCode}: ${(await stderr).slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`synapse-peer did not start within ${opts.timeoutMs ?? 60_000} ms (log: ${logFile})`);
      await Bun.sleep(100);
    }
  };
  const halt = async () => {
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc?.kill("SIGKILL"), 10_000);
    await proc.exited;
    clearTimeout(t);
  };
  await start();
  return {
    kind: "synapse",
    url,
    federationUrl: `https://127.0.0.1:${port}`,
    port,
    serverName,
    config: { registration: { shared_secret: SECRET } },
    dir,
    logFile,
    dbPath: join(dir, "homeserver.db"),
    mediaPath: join(dir, "media"),
    signingKeyPath: join(dir, "signing.key"),
    async stop() {
      await halt();
      if (!opts.keepData) rmSync(dir, { recursive: true, force: true });
    },
    async restart(during) {
      await halt();
      await during?.();
      await start();
    },
  };
}
