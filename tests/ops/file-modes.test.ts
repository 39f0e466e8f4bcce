// Data files are private: `hs serve` started with umask 022 (as a login shell would) creates the
// database, its -wal/-shm, the media store, the signing key and backups 0600 in 0700 directories,
// and `hs db check` warns when one of them is readable by other local users. Run as the unprivileged
// user "nobody" when the tests run as root (as CI does), as the current user otherwise.
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/server.ts";
import { freePort, runHs, startServe } from "../helpers/spawn.ts";

const root = process.getuid?.() === 0;
const setpriv = Bun.which("setpriv");
// The unprivileged account (uid/gid 65534) exists on Debian; when it does not, run as the current user.
const asNobody = root && !!setpriv;
const UMASK_022 = ["sh", "-c", 'umask 022; exec "$0" "$@"'];
const prefix = asNobody ? [setpriv!, "--reuid=65534", "--regid=65534", "--clear-groups", ...UMASK_022] : UMASK_022;
if (root && !setpriv) console.log("file-modes: setpriv not found; running as root (with umask 022)");

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8).padStart(4, "0");

function walk(dir: string): string[] {
  const out: string[] = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

describe("data files are private whatever the umask", () => {
  test("hs serve (umask 022): database, -wal/-shm, media, key, backup are 0600 in 0700 directories; db check warns about looser modes", async () => {
    const dir = tempDir("hs-modes-");
    if (asNobody) chownSync(dir, 65534, 65534);
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    const gen = await runHs(["generate-config", "--server-name", "modes.test", "--config-path", "hs.toml", "--data-dir", "data", "--port", String(port), "--public-baseurl", `${url}/`], { cwd: dir, prefix });
    expect(gen.code).toBe(0);
    const s = await startServe(join(dir, "hs.toml"), { prefix, url, cwd: dir });
    try {
      expect(s.firstStatus).toBe(200);
      const reg = await runHs(["register-user", "--config", "hs.toml", "--user", "mo", "--password", "modes-pw-123", "--no-admin"], { cwd: dir, prefix });
      expect(reg.code).toBe(0);
      const login = await (
        await fetch(`${url}/_matrix/client/v3/login`, {
          method: "POST",
          body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "mo" }, password: "modes-pw-123" }),
        })
      ).json();
      const up = await fetch(`${url}/_matrix/media/v3/upload`, { method: "POST", headers: { Authorization: `Bearer ${login.access_token}`, "Content-Type": "text/plain" }, body: "private bytes" });
      expect(up.status).toBe(200);

      const data = join(dir, "data");
      for (const f of ["homeserver.db", "homeserver.db-wal", "homeserver.db-shm", "modes.test.signing.key"]) {
        expect(existsSync(join(data, f))).toBe(true);
        expect(`${f} ${mode(join(data, f))}`).toBe(`${f} 0600`);
      }
      const media = walk(join(data, "media"));
      expect(media.some((p) => statSync(p).isFile())).toBe(true);
      for (const p of [data, ...media]) expect(`${p} ${mode(p)}`).toBe(`${p} ${statSync(p).isDirectory() ? "0700" : "0600"}`);
      if (asNobody) expect(statSync(join(data, "homeserver.db")).uid).toBe(65534);

      const backup = await runHs(["backup", "--config", "hs.toml", "--output", "b.tar.gz"], { cwd: dir, prefix });
      expect(backup.stderr).not.toContain("rror");
      expect(backup.code).toBe(0);
      expect(mode(join(dir, "b.tar.gz"))).toBe("0600");

      const ok = await runHs(["db", "check", "--config", "hs.toml"], { cwd: dir, prefix });
      expect(ok.code).toBe(0);
      expect(ok.stdout).not.toContain("WARNING");
      chmodSync(join(data, "homeserver.db"), 0o644);
      const warn = await runHs(["db", "check", "--config", "hs.toml", "--json"], { cwd: dir, prefix });
      expect(warn.code).toBe(0);
      const j = JSON.parse(warn.stdout);
      expect(j.warnings).toHaveLength(1);
      expect(j.warnings[0]).toContain(`${join(data, "homeserver.db")} is mode 0644: other local users can read it (chmod 600`);
    } finally {
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  }, 60_000);
});

describe("database problems name the path, the user and what to check", () => {
  test("a directory that cannot be made, a directory the user may not write, a read-only database", async () => {
    const dir = tempDir("hs-dbmsg-");
    if (asNobody) chownSync(dir, 65534, 65534);
    const gen = await runHs(["generate-config", "--server-name", "dbmsg.test", "--config-path", "hs.toml", "--data-dir", "data", "--port", "0"], { cwd: dir, prefix });
    expect(gen.code).toBe(0);
    const cfg = join(dir, "hs.toml");
    const setDbPath = async (p: string) => {
      const text = await Bun.file(cfg).text();
      await Bun.write(cfg, text.replace(/^path = ".*homeserver\.db"$/m, `path = "${p}"`));
      if (asNobody) chownSync(cfg, 65534, 65534);
    };
    const serve = () => runHs(["serve", "--config", "hs.toml"], { cwd: dir, prefix });
    const who = asNobody ? "user nobody (uid 65534)" : `uid ${process.getuid?.()}`;

    await setDbPath("/proc/nope/homeserver.db");
    const a = await serve();
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("hs serve: SQLite database /proc/nope/homeserver.db:");
    expect(a.stderr).toContain("the directory /proc/nope does not exist and could not be created as");
    expect(a.stderr).toContain(who);

    if (asNobody) {
      // A directory owned by root, 0755: nobody may not create the database in it.
      const locked = join(dir, "locked");
      await Bun.write(join(locked, ".keep"), "");
      chmodSync(locked, 0o755);
      await setDbPath(join(locked, "homeserver.db"));
      const b = await serve();
      expect(b.code).toBe(1);
      expect(b.stderr).toContain(`SQLite database ${join(locked, "homeserver.db")}: EACCES`);
      expect(b.stderr).toContain(`user nobody (uid 65534) may not open it: check that ${locked} exists and that this user owns it or may write to it`);

      // The database belongs to nobody but the directory does not (no -wal possible), file read-only.
      await Bun.write(join(locked, "homeserver.db"), "");
      chownSync(join(locked, "homeserver.db"), 65534, 65534);
      chmodSync(join(locked, "homeserver.db"), 0o400);
      const c = await serve();
      expect(c.code).toBe(1);
      expect(c.stderr).toContain(`SQLite database ${join(locked, "homeserver.db")}:`);
      expect(c.stderr).toMatch(/read-only for user nobody|may not open it/);
    } else {
      console.log("file-modes: not root, so the permission cases (as user nobody) are not run");
    }
  }, 60_000);
});
