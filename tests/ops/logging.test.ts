// No access token or password ever reaches the log: a real `hs serve` at level debug writing JSON
// to a file gets tokens in headers and query strings, logins with passwords (good and bad),
// shared-secret registration, password changes and admin password resets; then the file is
// searched for every secret. The same run checks the log is really written (module, request lines).
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser, TestClient, withPasswordAuth } from "../helpers/client.ts";
import { tempDir } from "../helpers/server.ts";
import { freePort, startServe } from "../helpers/spawn.ts";

test("secrets never appear in the log file", async () => {
  const dir = tempDir("hs-log-");
  const port = freePort();
  const logFile = join(dir, "hs.log");
  const sharedSecret = "Shared-Secret-Never-Logged-42";
  writeFileSync(
    join(dir, "hs.toml"),
    `server_name = "log.test"
signing_key_path = "${join(dir, "signing.key")}"
[database]
path = "${join(dir, "hs.db")}"
[[listeners]]
bind_address = "127.0.0.1"
port = ${port}
[registration]
shared_secret = "${sharedSecret}"
[logging]
level = "debug"
file = "${logFile}"
format = "json"
[ratelimit]
enabled = false
`,
  );
  const url = `http://127.0.0.1:${port}`;
  const srv = await startServe(join(dir, "hs.toml"), { url });
  expect(srv.firstStatus).toBe(200);
  const secrets: string[] = [sharedSecret];
  try {
    const server = { url, serverName: "log.test", config: { registration: { shared_secret: sharedSecret } } };
    const admin = await registerUser(server, "admin", "Admin-Pass-Never-Logged", true);
    const alice = await registerUser(server, "alice", "Alice-Pass-Never-Logged");
    secrets.push("Admin-Pass-Never-Logged", "Alice-Pass-Never-Logged", admin.accessToken!, alice.accessToken!);

    const anon = new TestClient(url);
    const login = await anon.ok("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "Alice-Pass-Never-Logged" });
    secrets.push(login.access_token);
    const bad = await anon.post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "Wrong-Pass-Never-Logged" });
    expect(bad.status).toBe(403);
    secrets.push("Wrong-Pass-Never-Logged");

    // Tokens in the header, in the query string, on known and unknown paths, valid and not.
    await alice.ok("GET", "/_matrix/client/v3/account/whoami");
    expect((await anon.get(`/_matrix/client/v3/account/whoami?access_token=${login.access_token}`)).status).toBe(200);
    expect((await anon.get(`/_matrix/client/v3/no/such/endpoint?access_token=${login.access_token}`)).status).toBe(404);
    const forged = "hs_ForgedTokenNeverLogged0123456789";
    expect((await anon.get(`/_matrix/client/v3/sync?access_token=${forged}`)).status).toBe(401);
    expect((await anon.request("GET", "/_matrix/client/v3/account/whoami", undefined, { Authorization: `Bearer ${forged}2` })).status).toBe(401);
    secrets.push(forged);

    // Password change (UIA with the old password), admin reset, login as user, login token.
    const changed = await withPasswordAuth(alice, "POST", "/_matrix/client/v3/account/password", { new_password: "Changed-Pass-Never-Logged", logout_devices: false }, "Alice-Pass-Never-Logged");
    expect(changed.status).toBe(200);
    await admin.ok("POST", `/_synapse/admin/v1/reset_password/${encodeURIComponent(alice.userId!)}`, { new_password: "Reset-Pass-Never-Logged", logout_devices: false });
    const puppet = await admin.ok("POST", `/_synapse/admin/v1/users/${encodeURIComponent(alice.userId!)}/login`, {});
    secrets.push("Changed-Pass-Never-Logged", "Reset-Pass-Never-Logged", puppet.access_token);
    // A malformed body carrying a password.
    expect((await anon.request("POST", "/_matrix/client/v3/login", '{"type":"m.login.password","password":"Broken-Json-Never-Logged"', { "Content-Type": "application/json" })).status).toBe(400);
    secrets.push("Broken-Json-Never-Logged");
  } finally {
    srv.proc.kill("SIGTERM");
    await srv.proc.exited;
  }
  const text = readFileSync(logFile, "utf8");
  const lines = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  // The log is really there: request lines of the http module, paths without query strings.
  const requests = lines.filter((l) => l.module === "http" && l.msg === "request");
  expect(requests.length).toBeGreaterThanOrEqual(12);
  expect(requests.some((l) => l.path === "/_matrix/client/v3/sync" && l.status === 401)).toBe(true);
  expect(lines.some((l) => l.level === "debug" || l.level === "info")).toBe(true);
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(10);
    if (text.includes(secret)) throw new Error(`the log contains a secret: ${secret.slice(0, 6)}…`);
  }
  expect(text).not.toContain("access_token=hs_");
  expect(text).not.toMatch(/Bearer hs_/);
});
