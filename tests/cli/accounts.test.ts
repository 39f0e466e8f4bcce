// `hs register-user` against a running server, and `hs admin tokens` on the database.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { startHomeserver } from "../../src/homeserver.ts";
import { expectError, loginUser, TestClient, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer, tempDir } from "../helpers/server.ts";
import { freePort, runHs } from "../helpers/spawn.ts";

describe("hs register-user", () => {
  test("with flags, then with answers on stdin; the users can log in", async () => {
    const s = await startTestServer();
    try {
      const secret = s.config.registration.shared_secret;
      const name = uniqueLocalpart("cli");
      const r = await runHs(["register-user", "--shared-secret", secret, "--user", name, "--password", "cli-pw", "--no-admin", s.url]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Success! Registered @${name}:${s.serverName}`);
      const c = await loginUser(s, name, "cli-pw");
      expect(c.userId).toBe(`@${name}:${s.serverName}`);
      expectError(await c.get("/_synapse/admin/v1/registration_tokens"), 403, "M_FORBIDDEN");

      const admin = uniqueLocalpart("cliadmin");
      const p = await runHs(["register-user", "-k", secret, s.url], { stdin: `${admin}\nadmin-pw\nadmin-pw\nyes\n` });
      expect(p.code).toBe(0);
      expect(p.stdout).toContain("(admin)");
      const a = await loginUser(s, admin, "admin-pw");
      expect((await a.get("/_synapse/admin/v1/registration_tokens")).status).toBe(200);

      // A wrong secret is refused with the server's answer.
      const bad = await runHs(["register-user", "--shared-secret", "wrong", "--user", uniqueLocalpart(), "--password", "x", "--no-admin", s.url]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("M_FORBIDDEN");
    } finally {
      await s.stop();
    }
  });
});

describe("hs register-user with the server down", () => {
  test("says which URL it tried and to start hs serve, before asking anything", async () => {
    const port = freePort();
    const r = await runHs(["register-user", "-k", "secret", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("localpart");
    expect(r.stderr).toContain(`http://127.0.0.1:${port}`);
    expect(r.stderr).toContain("hs serve");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("hs admin tokens", () => {
  test("create, list and delete on the database; the server honours the tokens", async () => {
    const dir = tempDir();
    const gen = await runHs(["generate-config", "--server-name", "tokens.test", "--config-path", "hs.toml", "--data-dir", "data"], { cwd: dir });
    expect(gen.code).toBe(0);
    const cfg = join(dir, "hs.toml");

    const c1 = await runHs(["admin", "tokens", "create", "--token", "welcome", "--uses-allowed", "2", "--config", cfg]);
    expect(c1.code).toBe(0);
    expect(c1.stdout).toContain("welcome");
    // A generated config has registration closed: the CLI says the token cannot be used yet, and how.
    expect(c1.stderr).toContain('Note: Registration is closed on this server ([registration] mode = "closed"), so nobody can sign up with a token yet: set mode = "token"');
    const c2 = await runHs(["admin", "tokens", "create", "--length", "10", "--expiry-time", "2099-01-01T00:00:00Z", "--json", "-c", cfg]);
    expect(c2.code).toBe(0);
    const made = JSON.parse(c2.stdout);
    expect(made.token).toHaveLength(10);
    expect(made.expiry_time).toBe(Date.parse("2099-01-01T00:00:00Z"));
    const dup = await runHs(["admin", "tokens", "create", "--token", "welcome", "-c", cfg]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("already exists");

    const list = await runHs(["admin", "tokens", "list", "--json", "-c", cfg]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).registration_tokens.map((t: { token: string }) => t.token).sort()).toEqual([made.token, "welcome"].sort());
    const del = await runHs(["admin", "tokens", "delete", made.token, "-c", cfg]);
    expect(del.code).toBe(0);
    expect((await runHs(["admin", "tokens", "list", "-c", cfg])).stdout).not.toContain(made.token);
    expect((await runHs(["admin", "tokens", "delete", "nope", "-c", cfg])).code).toBe(1);
    for (const args of [["admin"], ["admin", "tokens"], ["admin", "tokens", "delete"], ["admin", "nosuch", "list"], ["admin", "tokens", "create", "--uses-allowed", "many"]]) {
      const r = await runHs([...args, "-c", cfg]);
      expect(r.code).toBe(2);
    }

    // The running server sees the token made offline.
    await Bun.write(cfg, (await Bun.file(cfg).text()).replace("[registration]\n", '[registration]\nmode = "token"\n'));
    const quiet = await runHs(["admin", "tokens", "create", "--token", "later", "-c", cfg]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe("");
    const { config: loaded } = loadConfig(cfg);
    expect(loaded.registration.mode).toBe("token");
    const config = {
      ...loaded,
      registration: { ...loaded.registration, enabled: true, requires_token: true },
      listeners: [{ ...loaded.listeners[0]!, bind_address: "127.0.0.1", port: 0 }],
      logging: { ...loaded.logging, level: "error" as const },
    };
    const hs = await startHomeserver(config);
    try {
      const anon = new TestClient(hs.listeners[0]!.url);
      const v = await anon.ok("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=welcome");
      expect(v.valid).toBe(true);
      const r = await anon.post("/_matrix/client/v3/register", { username: "viatoken", password: "viatoken-pw1", auth: { type: "m.login.registration_token", token: "welcome" } });
      expect(r.status).toBe(200);
    } finally {
      await hs.stop(1000);
    }
    const after = JSON.parse((await runHs(["admin", "tokens", "list", "--json", "-c", cfg])).stdout);
    expect(after.registration_tokens[0]).toMatchObject({ token: "welcome", completed: 1, pending: 0, uses_allowed: 2 });
  });
});
