// hs's data files are private to the account it runs as: the database (and SQLite's -wal/-shm), the
// media store, backups and the signing key are created 0600 in 0700 directories, whatever the umask
// (an unprivileged local user must not read password hashes or messages). `hs` itself also sets
// umask 077 at start (src/cli/main.ts), which covers files that SQLite creates beside the database.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { userInfo } from "node:os";

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Creates `dir` (and missing parents) 0700. Directories that already exist keep their mode: the
 * operator may have chosen it (e.g. /var/lib shared with a group); `hs db check` reports loose ones.
 */
export function ensurePrivateDir(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!first) return;
  // mkdir's mode is reduced by the umask: set it on every directory this call created.
  const target = resolve(dir);
  let p = resolve(first);
  chmodSync(p, PRIVATE_DIR_MODE);
  for (const part of relative(p, target).split(sep).filter(Boolean)) {
    p = resolve(p, part);
    chmodSync(p, PRIVATE_DIR_MODE);
  }
}

/** Creates an empty file 0600 (in a 0700 directory when that is new) unless it exists. */
export function ensurePrivateFile(path: string): void {
  ensurePrivateDir(dirname(path));
  if (existsSync(path)) return;
  closeSync(openSync(path, "a", PRIVATE_FILE_MODE));
  chmodSync(path, PRIVATE_FILE_MODE);
}

/** "user hs (uid 999)": who this process runs as, for error messages about files. */
export function runningAs(): string {
  const uid = process.getuid?.();
  if (uid === undefined) return "this user";
  let name: string | undefined;
  try {
    // os.userInfo() says "unknown" under Bun for accounts without $USER (systemd, setpriv).
    name = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f[2] === String(uid))?.[0];
  } catch {
    name = undefined;
  }
  if (!name) {
    try {
      const u = userInfo().username;
      if (u && u !== "unknown") name = u;
    } catch {
      name = undefined;
    }
  }
  return name ? `user ${name} (uid ${uid})` : `uid ${uid}`;
}

/** Lines naming paths that other local users can read or write (group/other bits set). */
export function looseModes(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    const mode = st.mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    const want = st.isDirectory() ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
    out.push(`${p} is mode ${mode.toString(8).padStart(4, "0")}: other local users can ${mode & 0o044 ? "read" : "reach"} it (chmod ${want.toString(8)} ${p})`);
  }
  return out;
}
