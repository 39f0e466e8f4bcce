// The CLI's prompts on a real pseudo-terminal (tests/helpers/pty_run.py), as a person types them:
// a plain question followed by hidden ones (the crash "ReadableStream is locked" only showed on a
// terminal), the confirmation, the admin question, Ctrl-C, and echo staying off for passwords.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loginUser, uniqueLocalpart } from "../helpers/client.ts";
import { startTestServer } from "../helpers/server.ts";
import { ROOT, hsCommand, runHs } from "../helpers/spawn.ts";

const PYTHON = Bun.which("python3");
if (!PYTHON) console.log("tests/cli/prompts.test.ts: skipped, python3 (needed for a pseudo-terminal) is not installed");
const ptyTest = PYTHON ? test : test.skip;

interface Step {
  expect: string;
  send: string;
}

async function onPty(args: string[], steps: Step[], timeout = 30): Promise<{ code: number; transcript: string; timedOut: boolean }> {
  const spec = { cmd: [...hsCommand(), ...args], cwd: ROOT, steps, timeout };
  const p = Bun.spawn([PYTHON!, join(import.meta.dir, "../helpers/pty_run.py"), JSON.stringify(spec)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  if (!out.trim()) throw new Error(`pty_run.py failed: ${err}`);
  return JSON.parse(out);
}

describe("prompts on a terminal", () => {
  ptyTest("register-user: localpart, hidden password twice, admin question; the user logs in as admin", async () => {
    const s = await startTestServer();
    try {
      const name = uniqueLocalpart("ptyadmin");
      const r = await onPty(["register-user", "-k", s.config.registration.shared_secret, s.url], [
        { expect: "New user localpart: ", send: `${name}\r` },
        { expect: "Password: ", send: "pty-secret-1\r" },
        { expect: "Confirm password: ", send: "pty-secret-1\r" },
        { expect: "Make admin \\[no\\]: ", send: "yes\r" },
      ]);
      expect(r.transcript).not.toContain("ReadableStream");
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(0);
      expect(r.transcript).toContain(`Success! Registered @${name}:${s.serverName} (admin)`);
      // The typed localpart is echoed (cooked mode), the password never is.
      expect(r.transcript).toContain(name);
      expect(r.transcript).not.toContain("pty-secret-1");
      const c = await loginUser(s, name, "pty-secret-1");
      expect((await c.get("/_synapse/admin/v1/registration_tokens")).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  ptyTest("register-user: a mistyped confirmation is refused; Backspace edits the hidden answer", async () => {
    const s = await startTestServer();
    try {
      const name = uniqueLocalpart("ptyconf");
      const r = await onPty(["register-user", "-k", s.config.registration.shared_secret, "--no-admin", s.url], [
        { expect: "New user localpart: ", send: `${name}\r` },
        { expect: "Password: ", send: "first-pw\r" },
        { expect: "Confirm password: ", send: "other-pw\r" },
      ]);
      expect(r.code).toBe(1);
      expect(r.transcript).toContain("passwords do not match");

      const name2 = uniqueLocalpart("ptybs");
      const ok = await onPty(["register-user", "-k", s.config.registration.shared_secret, "--no-admin", s.url], [
        { expect: "New user localpart: ", send: `${name2}\r` },
        { expect: "Password: ", send: "typoX\u007f-pw\r" },
        { expect: "Confirm password: ", send: "typo-pw\r" },
      ]);
      expect(ok.code).toBe(0);
      expect(ok.transcript).toContain(`Registered @${name2}:${s.serverName}`);
      expect(ok.transcript).not.toContain("(admin)");
      await loginUser(s, name2, "typo-pw");
    } finally {
      await s.stop();
    }
  });

  ptyTest("Ctrl-C at the hidden password and at the admin question: exit 130, nothing registered", async () => {
    const s = await startTestServer();
    try {
      const name = uniqueLocalpart("ptyint");
      const a = await onPty(["register-user", "-k", s.config.registration.shared_secret, s.url], [
        { expect: "New user localpart: ", send: `${name}\r` },
        { expect: "Password: ", send: "half\u0003" },
      ]);
      expect(a.timedOut).toBe(false);
      expect(a.code).toBe(130);
      expect(a.transcript).toContain("hs register-user: interrupted");

      const b = await onPty(["register-user", "-k", s.config.registration.shared_secret, s.url], [
        { expect: "New user localpart: ", send: `${name}\r` },
        { expect: "Password: ", send: "pw-abcdefgh\r" },
        { expect: "Confirm password: ", send: "pw-abcdefgh\r" },
        { expect: "Make admin \\[no\\]: ", send: "\u0003" },
      ]);
      expect(b.timedOut).toBe(false);
      expect(b.code).toBe(130);
      expect(b.transcript).toContain("interrupted");
      // Neither attempt created the account.
      const login = await fetch(`${s.url}/_matrix/client/v3/login`, {
        method: "POST",
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "pw-abcdefgh" }),
      });
      expect(login.status).toBe(403);
    } finally {
      await s.stop();
    }
  });

  ptyTest("hash-password asks twice on a terminal; piped, it reads one line without confirmation", async () => {
    const r = await onPty(["hash-password"], [
      { expect: "Password: ", send: "tty-pw-123\r" },
      { expect: "Confirm password: ", send: "tty-pw-123\r" },
    ]);
    expect(r.code).toBe(0);
    const hash = r.transcript.match(/\$argon2id\$\S+/)?.[0];
    expect(hash).toBeDefined();
    expect(await Bun.password.verify("tty-pw-123", hash!)).toBe(true);
    expect(r.transcript).not.toContain("tty-pw-123");

    const piped = await runHs(["hash-password"], { stdin: "piped-pw\n" });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain("Confirm");
    expect(await Bun.password.verify("piped-pw", piped.stdout.trim())).toBe(true);
  });
});
