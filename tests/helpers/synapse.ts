// A real Synapse 1.67 (../shared/synapse-1.67/synapse-peer) started from an hs-style TOML, for
// tests that need Synapse's own database (hs import-synapse) or a Synapse peer.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./spawn.ts";
import { tempDir } from "./server.ts";

export const SYNAPSE_KIT = process.env.HS_SYNAPSE_KIT ?? "/work/shared/synapse-1.67";

/** Why Synapse cannot run here, or null when it can (the kit and its Python dependencies are present). */
export function synapseUnavailable(): string | null {
  if (!existsSync(join(SYNAPSE_KIT, "synapse-peer"))) return `no Synapse kit at ${SYNAPSE_KIT}`;
  const r = Bun.spawnSync(["/usr/bin/python3", "-c", "import twisted, signedjson, nacl, bcrypt, canonicaljson, frozendict, pymacaroons, jsonschema, PIL"]);
  if (r.exitCode !== 0) return `Synapse's Python dependencies are missing (run ${SYNAPSE_KIT}/install-deps.sh)`;
  return null;
}

/** Where synapse-peer unpacks Synapse's sources (for running its scripts, e.g. synapse_port_db). */
export function synapseSourceDir(): string {
  return join(process.env.TMPDIR ?? "/tmp", "hs-synapse-1.67.0");
}

export interface SynapseServer {
  url: string;
  /** The TLS federation port (0 without `tls`). */
  fedPort: number;
  serverName: string;
  dir: string;
  dbPath: string;
  mediaPath: string;
  signingKeyPath: string;
  config: { registration: { shared_secret: string } };
  stop(): Promise<void>;
}

/**
 * Starts Synapse on a free loopback port (plain HTTP, client + federation + media). With `tls`, it
 * federates: its name is localhost:<TLS port>, where federation and keys are served over TLS with
 * that certificate, and `url` is a plain-HTTP client listener.
 */
export async function startSynapse(opts: { serverName?: string; dir?: string; tls?: { certPath: string; keyPath: string } } = {}): Promise<SynapseServer> {
  const dir = opts.dir ?? tempDir("synapse-");
  mkdirSync(dir, { recursive: true });
  const port = freePort();
  const fedPort = opts.tls ? freePort() : 0;
  const serverName = opts.tls ? `localhost:${fedPort}` : (opts.serverName ?? "localhost");
  const secret = "synapse-shared-secret";
  const toml = [
    `server_name = "${serverName}"`,
    `public_baseurl = "http://127.0.0.1:${port}/"`,
    `signing_key_path = "${join(dir, "signing.key")}"`,
    `[registration]`,
    `enabled = true`,
    `shared_secret = "${secret}"`,
    `allow_guests = true`,
    `[database]`,
    `path = "${join(dir, "homeserver.db")}"`,
    `[media]`,
    `store_path = "${join(dir, "media")}"`,
    `[logging]`,
    `level = "warning"`,
    `file = "${join(dir, "synapse.log")}"`,
    `[[listeners]]`,
    `bind_address = "127.0.0.1"`,
    `port = ${port}`,
    opts.tls ? `resources = ["client", "media"]` : `resources = ["client", "federation", "media"]`,
    ...(opts.tls
      ? [
          `[[listeners]]`,
          `bind_address = "127.0.0.1"`,
          `port = ${fedPort}`,
          `tls = true`,
          `resources = ["federation", "keys"]`,
          `[tls]`,
          `certificate_path = "${opts.tls.certPath}"`,
          `private_key_path = "${opts.tls.keyPath}"`,
        ]
      : []),
    "",
  ].join("\n");
  const cfg = join(dir, "homeserver.toml");
  writeFileSync(cfg, toml);
  const proc = Bun.spawn([join(SYNAPSE_KIT, "synapse-peer"), "serve", "--config", cfg], { stdout: "ignore", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/_matrix/client/versions`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`Synapse exited (${proc.exitCode}): ${await stderr}`);
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error("Synapse did not start within 60 s");
    }
    await Bun.sleep(200);
  }
  return {
    url,
    fedPort,
    serverName,
    dir,
    dbPath: join(dir, "homeserver.db"),
    mediaPath: join(dir, "media"),
    signingKeyPath: join(dir, "signing.key"),
    config: { registration: { shared_secret: secret } },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}
