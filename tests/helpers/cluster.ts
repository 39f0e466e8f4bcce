// Several `hs serve` processes on one PostgreSQL database behind a real nginx (Debian's package,
// run unprivileged in the foreground with a temporary config): the scale-out deployment of
// docs/SCALING.md, for tests.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freshPostgresDatabase, tempDir } from "./server.ts";
import { ServeProcess } from "./serve-process.ts";
import { freePort } from "./spawn.ts";

export const NGINX = "/usr/sbin/nginx";

export interface Cluster {
  dir: string;
  serverName: string;
  /** The PostgreSQL database URL (tests may look at rows). */
  dbUrl: string;
  /** For registerUser(). */
  config: { registration: { shared_secret: string } };
  processes: ServeProcess[];
  /** The load balancer's URL (round-robin over every process). */
  url: string;
  stop(): Promise<void>;
}

/** The nginx config in front of `ports` (also the sample in docs/SCALING.md, with paths for a test). */
export function nginxConfig(dir: string, listenPort: number, ports: readonly number[]): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream hs {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join("\n")}
    keepalive 32;
  }
  # /hierarchy pagination sessions live in one process: one client's requests go to one process.
  upstream hs_by_token {
    hash $http_authorization consistent;
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join("\n")}
  }
  server {
    listen 127.0.0.1:${listenPort};
    client_max_body_size 100m;
    location ~ ^/_matrix/client/v1/rooms/[^/]+/hierarchy {
      proxy_pass http://hs_by_token;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
      proxy_read_timeout 120s;
      add_header X-Hs-Upstream $upstream_addr always;
    }
    location / {
      proxy_pass http://hs;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_read_timeout 120s;
      add_header X-Hs-Upstream $upstream_addr always;
    }
  }
}
`;
}

/** Starts `n` processes on a fresh PostgreSQL database and nginx in front of them. */
export async function startCluster(n = 3, opts: { serverName?: string; extra?: string } = {}): Promise<Cluster> {
  const pg = await freshPostgresDatabase();
  const dir = tempDir("hs-cluster-");
  const serverName = opts.serverName ?? "cluster.test";
  const secret = "cluster-secret";
  const ports = Array.from({ length: n }, () => freePort());
  const processes: ServeProcess[] = [];
  for (let i = 0; i < n; i++) {
    // One config per process only for its port: same server name, database, signing key and media.
    const configPath = join(dir, `hs${i}.toml`);
    writeFileSync(
      configPath,
      `server_name = "${serverName}"
signing_key_path = "${join(dir, "signing.key")}"
${opts.extra ?? ""}
[database]
backend = "postgres"
url = "${pg.url}"
# The test PostgreSQL serves other suites too: 5 + 1 (LISTEN) + 2 (bookkeeping) per process.
max_connections = 5
[registration]
shared_secret = "${secret}"
[media]
store_path = "${join(dir, "media")}"
[ratelimit]
enabled = false
[federation]
enabled = false
[[listeners]]
bind_address = "127.0.0.1"
port = ${ports[i]}
x_forwarded = true
[logging]
level = "${process.env.HS_TEST_LOG ?? "warn"}"
file = "${join(dir, `hs${i}.log`)}"
`,
    );
    processes.push(new ServeProcess(configPath, `http://127.0.0.1:${ports[i]}`));
  }
  // The first creates the schema and the signing key; the others start together.
  await processes[0]!.start(30_000);
  await Promise.all(processes.slice(1).map((p) => p.start(30_000)));
  const lbPort = freePort();
  for (const d of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "nginx.conf"), nginxConfig(dir, lbPort, ports));
  const nginx = Bun.spawn([NGINX, "-e", join(dir, "nginx-error.log"), "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });
  const url = `http://127.0.0.1:${lbPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${await new Response(nginx.stderr).text()}`);
    if (i > 400) throw new Error("nginx did not start");
    await Bun.sleep(25);
  }
  return {
    dir,
    serverName,
    dbUrl: pg.url,
    config: { registration: { shared_secret: secret } },
    processes,
    url,
    async stop() {
      if (process.env.HS_KEEP_CLUSTER) return;
      nginx.kill("SIGTERM");
      await nginx.exited;
      await Promise.all(processes.map((p) => (p.alive ? p.kill("SIGTERM") : null)));
      await pg.drop();
    },
  };
}
