// Starts real hs servers on random ports for HTTP tests, on SQLite and (when TEST_POSTGRES_URL is
// set) on PostgreSQL, each with a fresh database.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { validateConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import type { Db } from "../../src/storage/engines/db.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { startHomeserver, type Homeserver, type StartOptions } from "../../src/homeserver.ts";
import { randomString } from "../../src/util/random.ts";

export type Backend = "sqlite" | "postgres";

/** SQLite always; PostgreSQL too when TEST_POSTGRES_URL points at a role allowed to CREATE DATABASE. */
export const BACKENDS: Backend[] = process.env.TEST_POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];

export interface TestServer {
  /** The running homeserver (replaced by restart()). */
  hs: Homeserver;
  url: string;
  serverName: string;
  config: Config;
  dir: string;
  stop(): Promise<void>;
  /** Stops the server, runs `during` while it is down, and starts it again on the same data and ports. */
  restart(during?: () => Promise<void>): Promise<void>;
}

export interface TestServerOptions {
  backend?: Backend;
  serverName?: string;
  /** TOML-shaped overrides, e.g. { registration: { enabled: true } }. */
  config?: Record<string, unknown>;
  /** Test-only routes mounted before the app is compiled. */
  extraRoutes?: StartOptions["extraRoutes"];
}

export function tempDir(prefix = "hs-test-"): string {
  const base = join(tmpdir(), "hs-tests");
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

/** Creates a fresh PostgreSQL database; returns its URL and a function that drops it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (!adminUrl) throw new Error("TEST_POSTGRES_URL is not set");
  const name = `hs_test_${randomString(12).toLowerCase()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    // A test database is throwaway: when PostgreSQL will not drop it yet (a background worker of
    // another role still attached), try a few times, then leave it.
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            return;
          } catch (e) {
            if (attempt >= 4) return;
            await Bun.sleep(200 * (attempt + 1));
          }
        }
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * A fresh, migrated database on `backend` for storage tests (a new PostgreSQL database, or a SQLite
 * file in a temporary folder); its close() also drops the PostgreSQL database.
 */
export async function openTestDatabase(backend: Backend, postgresConnections = 4): Promise<Db> {
  if (backend === "sqlite") return openDatabase({ backend, path: join(tempDir(), "hs.db"), url: "", max_connections: 1 });
  const pg = await freshPostgresDatabase();
  const db = await openDatabase({ backend, url: pg.url, path: "", max_connections: postgresConnections });
  const close = db.close.bind(db);
  return Object.assign(db, { close: () => close().then(pg.drop) });
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const backend = opts.backend ?? "sqlite";
  const dir = tempDir();
  const serverName = opts.serverName ?? "localhost";
  let dropDb: (() => Promise<void>) | undefined;
  const database: Record<string, unknown> = { backend };
  if (backend === "postgres") {
    const pg = await freshPostgresDatabase();
    database.url = pg.url;
    dropDb = pg.drop;
  }
  const doc = merge(
    {
      server_name: serverName,
      registration: { shared_secret: "test-shared-secret" },
      database,
      listeners: [{ bind_address: "127.0.0.1", port: 0 }],
      logging: { level: process.env.HS_TEST_LOG ?? "error" },
      ratelimit: { enabled: false },
      // Every test server shares this process, so its resident size is that of all of them: the
      // memory guard would trim caches at random moments (src/util/memory-guard.test.ts tests it).
      caches: { memory_target_mb: 8192 },
    },
    opts.config ?? {},
  );
  const { config } = validateConfig(doc, "test-config", dir);
  const hs = await startHomeserver(config, { extraRoutes: opts.extraRoutes });
  // The first plain-HTTP client listener (test clients do not trust the test TLS certificate).
  const url = (hs.listeners.find((l) => !l.tls && l.resources.includes("client")) ?? hs.listeners[0]!).url;
  const server: TestServer = {
    hs,
    url,
    serverName,
    config,
    dir,
    async stop() {
      await server.hs.stop(2000);
      await dropDb?.();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(during) {
      // The same database, data directory and ports: clients keep their URLs.
      const ports = server.hs.listeners.map((l) => l.port);
      await server.hs.stop(2000);
      await during?.();
      const pinned = { ...config, listeners: config.listeners.map((l, i) => ({ ...l, port: ports[i] ?? l.port })) };
      server.hs = await startHomeserver(pinned, { extraRoutes: opts.extraRoutes });
    },
  };
  return server;
}

// ---- federation: several servers talking to each other over TLS on loopback.

export interface TestCertificate {
  certPath: string;
  keyPath: string;
}

let testCert: TestCertificate | undefined;

/** A self-signed certificate for localhost and 127.0.0.1 (made once per test process with openssl). */
export function testCertificate(): TestCertificate {
  if (testCert) return testCert;
  const dir = tempDir("hs-cert-");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const gen = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    { stderr: "pipe", stdout: "pipe" },
  );
  if (gen.exitCode !== 0) throw new Error(`openssl failed: ${gen.stderr.toString()}`);
  testCert = { certPath, keyPath };
  return testCert;
}

export interface FederatingServer extends TestServer {
  /** https://127.0.0.1:<port>, the TLS listener serving the federation and keys resources. */
  federationUrl: string;
  /** The federation port (also the port in the server name). */
  port: number;
}

export interface FederatingOptions {
  backend?: Backend;
  /** Config overrides for every server, or per server (by index). */
  config?: Record<string, unknown> | ((index: number) => Record<string, unknown>);
  /**
   * How servers trust each other's certificate: "ca_files" (default: verification on, the test
   * certificate listed in [federation] ca_files), "no_verify" (verify_tls = false) or "default"
   * (verification on, default CAs only: the self-signed test certificate is refused).
   */
  tls?: "ca_files" | "no_verify" | "default";
  extraRoutes?: StartOptions["extraRoutes"];
}

/**
 * Starts `n` servers named `localhost:<port>` that federate with each other: each has a TLS listener
 * on that port (federation, keys) and a plain-HTTP listener for test clients (`url`). Loopback is
 * allowed (ip_range_denylist = []) and no notaries are configured.
 */
export async function startFederatingServers(n: number, opts: FederatingOptions = {}): Promise<FederatingServer[]> {
  const cert = testCertificate();
  const { freePort } = await import("./spawn.ts");
  const servers: FederatingServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const extra = typeof opts.config === "function" ? opts.config(i) : (opts.config ?? {});
      let lastError: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        const port = freePort();
        const serverName = `localhost:${port}`;
        const base: Record<string, unknown> = {
          tls: { certificate_path: cert.certPath, private_key_path: cert.keyPath },
          listeners: [
            { bind_address: "127.0.0.1", port, tls: true, resources: ["federation", "keys"] },
            { bind_address: "127.0.0.1", port: 0, resources: ["client", "media"] },
          ],
          federation: {
            ip_range_denylist: [],
            trusted_key_servers: [],
            ...(opts.tls === "no_verify" ? { verify_tls: false } : opts.tls === "default" ? {} : { ca_files: [cert.certPath] }),
          },
        };
        try {
          const ts = await startTestServer({ backend: opts.backend, serverName, config: merge(base, extra), extraRoutes: opts.extraRoutes });
          servers.push(Object.assign(ts, { federationUrl: `https://127.0.0.1:${port}`, port }));
          lastError = undefined;
          break;
        } catch (e) {
          lastError = e; // most likely the port was taken meanwhile: try another
        }
      }
      if (lastError) throw lastError;
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return servers;
}
