// The hs command line as a user meets it: usage errors, generate-config, serve, signals, TLS.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { tempDir } from "../helpers/server.ts";
import { freePort, runHs, startServe } from "../helpers/spawn.ts";

describe("usage", () => {
  test("no command prints usage and exits 2; help exits 0", async () => {
    const none = await runHs([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain("Usage: hs <command>");
    const help = await runHs(["help"]);
    expect(help.code).toBe(0);
    for (const c of ["serve", "generate-config", "register-user", "hash-password", "version"]) expect(help.stdout).toContain(c);
  });

  test("every command explains its flags with --help", async () => {
    for (const c of ["serve", "generate-config", "register-user", "hash-password"]) {
      const r = await runHs([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: hs ${c}`);
      expect(r.stdout).toContain("--");
    }
  });

  test("wrong usage: one clear line, exit 2", async () => {
    for (const args of [["frobnicate"], ["serve", "--bogus"], ["generate-config"], ["generate-config", "--server-name", "bad name!"], ["serve", "extra"]]) {
      const r = await runHs(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^hs/);
    }
  });

  test("mistakes get hs's own words: nearest command, unknown and value-less options, -v", async () => {
    const cases: Array<[string[], string]> = [
      [["sreve"], "hs: unknown command 'sreve' (did you mean `hs serve`?); see hs help"],
      [["help", "genrate-config"], "hs: unknown command 'genrate-config' (did you mean `hs generate-config`?); see hs help"],
      [["frobnicate"], "hs: unknown command 'frobnicate'; see hs help"],
      [["serve", "--confg", "x"], "hs serve: unknown option --confg (did you mean --config?) (see hs serve --help)"],
      [["serve", "--config"], "hs serve: option --config needs a value (see hs serve --help)"],
      [["register-user", "--admin=yes"], "hs register-user: option --admin takes no value (see hs register-user --help)"],
      [["admin", "tokns", "list"], "hs admin: unknown admin subcommand 'tokns' (did you mean `hs admin tokens`?); subcommands: tokens, users, rooms, media (see hs admin --help)"],
    ];
    for (const [args, line] of cases) {
      const r = await runHs(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(line + "\n");
    }
    for (const flag of ["-v", "--version", "-V"]) {
      const r = await runHs([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^hs \d+\.\d+\.\d+/);
    }
  });

  test("hs admin --help lists the subcommands with their actions; hs admin TOPIC --help that topic's options", async () => {
    const r = await runHs(["admin", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("Usage: hs admin <subcommand> <action> [options]");
    expect(r.stdout).toContain("Subcommands:\n  tokens     registration tokens\n      create [--token T");
    expect(r.stdout).toMatch(/\n  users +users\n/);
    const t = await runHs(["admin", "users", "--help"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain("hs admin users reset-password USER");
    expect(t.stdout).toContain("--keep-devices");
    expect(t.stdout).not.toContain("--uses-allowed");
  });

  test("version", async () => {
    const r = await runHs(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hs \d+\.\d+\.\d+/);
  });

  test("hash-password prints a verifiable argon2id hash", async () => {
    const r = await runHs(["hash-password", "--password", "correct horse"]);
    expect(r.code).toBe(0);
    const hash = r.stdout.trim();
    expect(hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("correct horse", hash)).toBe(true);
    // Piped: one line, no confirmation (the confirmation on a terminal: tests/cli/prompts.test.ts).
    const b = await runHs(["hash-password"], { stdin: "pw1\n" });
    expect(b.code).toBe(0);
    expect(await Bun.password.verify("pw1", b.stdout.trim())).toBe(true);
    const empty = await runHs(["hash-password"], { stdin: "" });
    expect(empty.code).toBe(1);
  });
});

describe("generate-config", () => {
  test("writes a commented config, a Synapse-format key and a shared secret; never overwrites", async () => {
    const dir = tempDir();
    const r = await runHs(["generate-config", "--server-name", "example.org", "--config-path", "hs.toml", "--data-dir", "d"], { cwd: dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, "hs.toml"), "utf8");
    expect(text).toContain('server_name = "example.org"');
    expect(text).toContain("# Who may sign up through /register");
    // Generated configs ask for 10-character passwords, and the output says what to do next.
    expect((parse(text) as any).password_policy.minimum_length).toBe(10);
    expect(r.stderr).toContain("Next steps:\n  - Start the server:        hs serve --config hs.toml\n  - Create the first admin:  hs register-user --config hs.toml --admin");
    expect(r.stderr).toContain("Open https://example.org/ in a browser");
    const doc = parse(text) as any;
    expect(doc.registration.shared_secret.length).toBeGreaterThanOrEqual(32);
    expect(doc.signing_key_path).toBe("./d/example.org.signing.key");
    const key = readFileSync(join(dir, "d/example.org.signing.key"), "utf8");
    expect(key).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);

    const again = await runHs(["generate-config", "--server-name", "example.org", "--config-path", "hs.toml", "--data-dir", "d"], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    expect(readFileSync(join(dir, "d/example.org.signing.key"), "utf8")).toBe(key);

    // A new config next to an existing key keeps the key.
    const other = await runHs(["generate-config", "--server-name", "example.org", "--config-path", "hs2.toml", "--data-dir", "d"], { cwd: dir });
    expect(other.code).toBe(0);
    expect(other.stderr).toContain("keeping the existing signing key");
    expect(readFileSync(join(dir, "d/example.org.signing.key"), "utf8")).toBe(key);
  });

  test("HS_CONFIG is the default config path", async () => {
    const dir = tempDir();
    const r = await runHs(["generate-config", "--server-name", "a.example"], { cwd: dir, env: { HS_CONFIG: join(dir, "env.toml") } });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "env.toml"))).toBe(true);
  });
});

describe("serve", () => {
  test("a missing or invalid config: one line, exit 1", async () => {
    const dir = tempDir();
    const missing = await runHs(["serve", "--config", join(dir, "none.toml")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such config file");
    writeFileSync(join(dir, "bad.toml"), 'server_name = "x.org"\n[registration]\nenabled = "yes"\n');
    const bad = await runHs(["serve", "--config", join(dir, "bad.toml")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(`hs serve: ${join(dir, "bad.toml")}: registration.enabled: expected true or false, found the string "yes"`);
    writeFileSync(join(dir, "syntax.toml"), "server_name = \n");
    const syntax = await runHs(["serve", "--config", join(dir, "syntax.toml")]);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toContain("invalid TOML");
    // In a long file: file:line:column, the line itself and a caret under the column.
    const long = readFileSync(join(import.meta.dir, "../../homeserver.toml"), "utf8").split("\n");
    const at = long.findIndex((l) => l.startsWith("[registration]")) + 1;
    long.splice(at, 0, "shared secret = \"x\"");
    writeFileSync(join(dir, "long.toml"), long.join("\n"));
    const l = await runHs(["serve", "--config", join(dir, "long.toml")]);
    expect(l.code).toBe(1);
    expect(l.stderr).toBe(
      `hs serve: ${join(dir, "long.toml")}:${at + 1}:8: invalid TOML: illegal character in key\n${at + 1} | shared secret = "x"\n${" ".repeat(String(at + 1).length + 3 + 7)}^\n`,
    );
  });

  test("creates database and key, warns about unknown keys, is ready when the port opens, exits 0 on SIGTERM", async () => {
    const dir = tempDir();
    const port = freePort();
    writeFileSync(
      join(dir, "hs.toml"),
      `server_name = "serve.test"\nsigning_key_pth = "x"\n[[listeners]]\nport = ${port}\n[logging]\nlevel = "info"\n`,
    );
    const s = await startServe(join(dir, "hs.toml"), { url: `http://127.0.0.1:${port}` });
    expect(s.firstStatus).toBe(200);
    expect(existsSync(join(dir, "homeserver.db"))).toBe(true);
    expect(readFileSync(join(dir, "serve.test.signing.key"), "utf8")).toMatch(/^ed25519 /);
    const started = performance.now();
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(10000);
    const log = await s.stderr();
    expect(log).toContain("unknown key signing_key_pth (did you mean signing_key_path?)");
    expect(log).toContain("created signing key");
    expect(log).toContain("creating SQLite database");
    // The first start: one schema line, not one per migration, and what to do next.
    expect(log).toContain("created the database schema");
    expect(log).not.toContain("applied database migration");
    const next = log.split("\n").find((l) => l.includes("next steps"));
    expect(JSON.parse(next!)).toMatchObject({ msg: "no accounts yet: next steps", open: "https://serve.test/", first_admin: `hs register-user --config ${join(dir, "hs.toml")} --admin` });
  });

  test("HTTPS listener from [tls]", async () => {
    const dir = tempDir();
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=localhost"]);
    expect(gen.exitCode).toBe(0);
    const port = freePort();
    writeFileSync(
      join(dir, "hs.toml"),
      `server_name = "tls.test"\n[tls]\ncertificate_path = "cert.pem"\nprivate_key_path = "key.pem"\n[[listeners]]\nport = ${port}\ntls = true\n`,
    );
    const s = await startServe(join(dir, "hs.toml"), { url: `https://127.0.0.1:${port}` });
    try {
      expect(s.firstStatus).toBe(200);
      const r = await fetch(`https://127.0.0.1:${port}/_matrix/client/versions`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect((await r.json()).versions).toContain("v1.1");
      // Plain HTTP on the TLS port fails.
      await expect(fetch(`http://127.0.0.1:${port}/_matrix/client/versions`)).rejects.toThrow();
    } finally {
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
    }
  });
});
