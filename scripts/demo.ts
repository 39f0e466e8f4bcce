// `make demo`: three hs servers federating on localhost, each with a user, like Synapse's old
// demo/start.sh. `make demo-stop` ends them. Everything lives under ./demo/ (delete it to start over).
//   server N: federation (TLS, self-signed) on https://localhost:848N, clients on http://127.0.0.1:808N
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const DEMO = join(ROOT, "demo");
const BUN = process.execPath;
const HS = join(ROOT, "bin/hs.ts");
const USERS = ["alice", "bob", "carol"];
const PASSWORD = "demo-password";

async function stop(): Promise<void> {
  const pidFile = join(DEMO, "pids");
  if (!existsSync(pidFile)) {
    console.log("no demo running");
    return;
  }
  for (const pid of readFileSync(pidFile, "utf8").split("\n").filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGTERM");
      console.log(`stopped ${pid}`);
    } catch {
      // already gone
    }
  }
  writeFileSync(pidFile, "");
}

async function waitFor(url: string, timeoutMs = 20000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${url} did not come up`);
    await Bun.sleep(100);
  }
}

async function start(): Promise<void> {
  mkdirSync(DEMO, { recursive: true });
  const cert = join(DEMO, "cert.pem");
  const key = join(DEMO, "key.pem");
  if (!existsSync(cert)) {
    const r = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "365", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  }
  const pids: number[] = [];
  const lines: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const dir = join(DEMO, `hs${i}`);
    mkdirSync(dir, { recursive: true });
    const fedPort = 8480 + i;
    const clientPort = 8080 + i;
    const serverName = `localhost:${fedPort}`;
    const config = join(dir, "homeserver.toml");
    if (!existsSync(config)) {
      writeFileSync(
        config,
        [
          `server_name = "${serverName}"`,
          `public_baseurl = "http://127.0.0.1:${clientPort}/"`,
          `signing_key_path = "./signing.key"`,
          `[registration]`,
          `shared_secret = "demo-secret-${i}"`,
          `[database]`,
          `path = "./homeserver.db"`,
          `[media]`,
          `store_path = "./media"`,
          `[tls]`,
          `certificate_path = "${cert}"`,
          `private_key_path = "${key}"`,
          `[federation]`,
          `ca_files = ["${cert}"]`,
          `ip_range_denylist = []`,
          `trusted_key_servers = []`,
          `[[listeners]]`,
          `port = ${clientPort}`,
          `resources = ["client", "media"]`,
          `[[listeners]]`,
          `port = ${fedPort}`,
          `tls = true`,
          `resources = ["federation", "keys"]`,
          `[logging]`,
          `file = "./homeserver.log"`,
          "",
        ].join("\n"),
      );
    }
    const proc = Bun.spawn([BUN, HS, "serve", "--config", config], { cwd: dir, stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    proc.unref();
    pids.push(proc.pid);
    const url = `http://127.0.0.1:${clientPort}`;
    await waitFor(`${url}/_matrix/client/versions`);
    const user = USERS[i - 1]!;
    const reg = Bun.spawnSync([BUN, HS, "register-user", "--config", config, "--user", user, "--password", PASSWORD, "--no-admin", url], { stdout: "pipe", stderr: "pipe" });
    const registered = reg.exitCode === 0 ? "registered" : reg.stderr.toString().includes("User ID already taken") || reg.stderr.toString().includes("M_USER_IN_USE") ? "exists" : `registration failed: ${reg.stderr.toString().trim()}`;
    lines.push(`hs${i}: ${serverName}  client URL ${url}  user @${user}:${serverName} / ${PASSWORD} (${registered})`);
  }
  writeFileSync(join(DEMO, "pids"), pids.join("\n") + "\n");
  console.log(lines.join("\n"));
  console.log(`\nLogs: demo/hs*/homeserver.log. Stop with: make demo-stop`);
  console.log(`Try: log in as @alice:localhost:8481 at http://127.0.0.1:8081 and join #room:localhost:8482 after bob creates it.`);
}

if (process.argv[2] === "stop") await stop();
else await start();
