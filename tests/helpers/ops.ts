// Servers described by a real homeserver.toml, for the command-line tools that read it (hs admin,
// hs db, hs backup/restore, hs port-db) while the server runs in this process.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { freshPostgresDatabase, tempDir, type Backend } from "./server.ts";

export interface ConfiguredServer {
  dir: string;
  configPath: string;
  serverName: string;
  /** For registerUser(). */
  config: { registration: { shared_secret: string } };
  url: string;
  hs?: Homeserver;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the server and drops its PostgreSQL database. */
  cleanup(): Promise<void>;
}

export const SHARED_SECRET = "ops-test-secret";

/** Writes dir/hs.toml for `serverName` (fresh SQLite file or PostgreSQL database); does not start it. */
export async function configuredServer(backend: Backend, opts: { serverName?: string; dir?: string; extra?: string } = {}): Promise<ConfiguredServer> {
  const dir = opts.dir ?? tempDir("hs-ops-");
  const serverName = opts.serverName ?? "ops.test";
  let database = `backend = "sqlite"\npath = "${join(dir, "data", "homeserver.db")}"`;
  let drop: (() => Promise<void>) | undefined;
  if (backend === "postgres") {
    const pg = await freshPostgresDatabase();
    database = `backend = "postgres"\nurl = "${pg.url}"`;
    drop = pg.drop;
  }
  const configPath = join(dir, "hs.toml");
  writeFileSync(
    configPath,
    `server_name = "${serverName}"
signing_key_path = "${join(dir, "data", "signing.key")}"
${opts.extra ?? ""}
[database]
${database}
[[listeners]]
bind_address = "127.0.0.1"
port = 0
[registration]
shared_secret = "${SHARED_SECRET}"
[media]
store_path = "${join(dir, "data", "media")}"
[logging]
level = "${process.env.HS_TEST_LOG ?? "error"}"
[ratelimit]
enabled = false
`,
  );
  const s: ConfiguredServer = {
    dir,
    configPath,
    serverName,
    config: { registration: { shared_secret: SHARED_SECRET } },
    url: "",
    async start() {
      const { config } = loadConfig(configPath);
      s.hs = await startHomeserver(config);
      s.url = s.hs.listeners[0]!.url;
    },
    async stop() {
      await s.hs?.stop(2000);
      s.hs = undefined;
    },
    async cleanup() {
      await s.stop();
      await drop?.();
    },
  };
  return s;
}
