// sharp's native addon inside the compiled binary (TOOLCHAIN.md §4). scripts/build.ts resolves
// sharp's `require("@img/sharp-linux-<arch>/sharp.node")` to this module and embeds two files with
// it: libvips (`hs-native:libvips`) and the addon (`hs-native:addon`). A compiled binary cannot
// dlopen files inside itself, so both are copied to a private directory ($HS_NATIVE_DIR, else
// ~/.cache/hs, else a per-user directory under the system temp dir; it must not be mounted noexec),
// libvips is dlopened first (the addon names it by soname), then the addon is required.
// Any failure throws: the thumbnailer catches it, logs once and serves originals.
// Only the build uses this file; under `bun run`, sharp loads from node_modules.
import { chmodSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { dlopen } from "bun:ffi";
import vipsPath from "hs-native:libvips" with { type: "file" };
import addonPath from "hs-native:addon" with { type: "file" };

/** A directory only we can write to (created 0700), or undefined when not usable. */
function privateDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return undefined;
    if ((st.mode & 0o022) !== 0) chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}

/** Copies an embedded file out (atomically; skipped when an identical copy is there). */
function extract(embedded: string, dir: string, name: string): string {
  const dest = join(dir, name);
  const bytes = readFileSync(embedded);
  if (existsSync(dest) && statSync(dest).size === bytes.byteLength) {
    const have = readFileSync(dest);
    if (Buffer.compare(have, bytes) === 0) return dest;
  }
  const tmp = `${dest}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, dest);
  return dest;
}

const candidates = [
  process.env.HS_NATIVE_DIR,
  join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hs", "native"),
  join(tmpdir(), `hs-native-${process.getuid?.() ?? "user"}`),
].filter((d): d is string => !!d);
let dir: string | undefined;
for (const c of candidates) if ((dir = privateDir(c))) break;
if (!dir) throw new Error(`no writable directory for sharp's native files (tried ${candidates.join(", ")}; set HS_NATIVE_DIR)`);

// The file name does not matter: once loaded, libvips is found by its soname (DT_SONAME), which is
// what the addon's DT_NEEDED names.
const vips = extract(vipsPath, dir, "libvips-cpp.so");
const addon = extract(addonPath, dir, "sharp.node");
// bun:ffi refuses an empty symbol table: ask for one symbol libvips has.
dlopen(vips, { vips_version: { args: ["i32"], returns: "i32" } });
module.exports = createRequire(import.meta.url)(addon);
