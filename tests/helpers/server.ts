// Starts real hs servers on random ports for HTTP tests, on SQLite and (when TEST_POSTGRES_URL is
// set) on PostgreSQL, each with a fresh database.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { validateConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { randomString } from "../../src/util/random.ts";

export type Backend = "sqlite" | "postgres";

/** SQLite always; PostgreSQL too when TEST_POSTGRES_URL points at a role allowed to CREATE DATABASE. */
export const BACKENDS: Backend[] = process.env.TEST_POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];

export interface TestServer {
  hs: Homeserver;
  url: string;
  serverName: string;
  config: Config;
  dir: string;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  backend?: Backend;
  serverName?: string;
  /** TOML-shaped overrides, e.g. { registration: { enabled: true } }. */
  config?: Record<string, unknown>;
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
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
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
    },
    opts.config ?? {},
  );
  const { config } = validateConfig(doc, "test-config", dir);
  const hs = await startHomeserver(config);
  const url = hs.listeners[0]!.url;
  return {
    hs,
    url,
    serverName,
    config,
    dir,
    async stop() {
      await hs.stop(2000);
      await dropDb?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
