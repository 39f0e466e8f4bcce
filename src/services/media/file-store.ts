// Media files on disk, named by the sha256 of their content (identical uploads share one file):
//   <store_path>/content/ab/cd/abcd…    the files
//   <store_path>/tmp/                   uploads being written (moved into content/ when complete)
// Content is streamed to disk while it is hashed and counted, never held whole in memory. Placing a
// file and deleting an unused one run under a per-hash lock, so a deletion cannot remove a file that
// an upload of the same content has just started to use.
import { readdirSync, rmSync, statSync } from "node:fs";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { KeyedMutex } from "../../util/mutex.ts";
import { randomString } from "../../util/random.ts";
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../../util/private-files.ts";

export class TooLargeError extends Error {
  override name = "TooLargeError";
  constructor(readonly limit: number) {
    super(`content exceeds ${limit} bytes`);
  }
}

export interface StoredFile {
  sha256: string;
  size: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** How long an upload in tmp/ may go unwritten before another process's start-up removes it. */
const STALE_TMP_MS = 60 * 60_000;

export class FileStore {
  readonly root: string;
  readonly #locks = new KeyedMutex();

  constructor(
    root: string,
    /**
     * Several processes share the store (PostgreSQL, docs/SCALING.md): the content lock across
     * processes, and start-up leaves other processes' uploads in tmp/ alone.
     */
    private readonly shared?: { lock<T>(sha256: string, fn: () => Promise<T>): Promise<T> },
  ) {
    this.root = root;
  }

  /**
   * Creates the directories and, with `cleanTmp` (the server at start-up; not the command line,
   * which may run beside a server), removes uploads a previous run left half-written.
   */
  init(cleanTmp = true): void {
    // Private to hs (0700 directories, 0600 files): see src/util/private-files.ts.
    ensurePrivateDir(join(this.root, "content"));
    const tmp = join(this.root, "tmp");
    ensurePrivateDir(tmp);
    if (!cleanTmp) return;
    // Shared: only files nobody has written to for an hour (another process may be receiving one now).
    const before = this.shared ? Date.now() - STALE_TMP_MS : Infinity;
    for (const f of readdirSync(tmp)) {
      const path = join(tmp, f);
      try {
        if (statSync(path).mtimeMs < before) rmSync(path, { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }

  pathOf(sha256: string): string {
    if (!HEX64.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.root, "content", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /** The file as a lazily read Blob (Bun.file), or undefined when it is missing. */
  async file(sha256: string): Promise<Blob | undefined> {
    const f = Bun.file(this.pathOf(sha256));
    return (await f.exists()) ? f : undefined;
  }

  /**
   * Streams content into a temporary file, hashing and counting it; throws TooLargeError past
   * `maxBytes` (the partial file is removed). Call `place` (under `withLock`) to keep it.
   */
  async receive(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | ReadableStream<Uint8Array> | null, maxBytes: number): Promise<PendingFile> {
    const tmp = join(this.root, "tmp", randomString(20));
    const fh = await open(tmp, "wx", PRIVATE_FILE_MODE);
    const hasher = new Bun.CryptoHasher("sha256");
    let size = 0;
    let ok = false;
    try {
      if (chunks) {
        for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
          size += chunk.byteLength;
          if (size > maxBytes) throw new TooLargeError(maxBytes);
          hasher.update(chunk);
          let off = 0;
          while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
        }
      }
      await fh.datasync();
      ok = true;
    } finally {
      await fh.close();
      if (!ok) await unlink(tmp).catch(() => {});
    }
    return new PendingFile(this, tmp, hasher.digest("hex"), size);
  }

  /** Stores bytes already in memory (thumbnails, small images). Call under `withLock`. */
  async writeBytes(bytes: Uint8Array): Promise<StoredFile> {
    const pending = await this.receive([bytes], Number.MAX_SAFE_INTEGER);
    await pending.place();
    return { sha256: pending.sha256, size: pending.size };
  }

  /** Runs fn holding the lock of one content hash. */
  withLock<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    const shared = this.shared;
    return this.#locks.run(sha256, shared ? () => shared.lock(sha256, fn) : fn);
  }

  /** Deletes the file of `sha256` when `refs()` says nothing names it any more. */
  async removeIfUnused(sha256: string, refs: () => Promise<number>): Promise<boolean> {
    return this.withLock(sha256, async () => {
      if ((await refs()) > 0) return false;
      await unlink(this.pathOf(sha256)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
      return true;
    });
  }

  /** Bytes used by the content directory (walks it: for the CLI and tests, not hot paths). */
  async diskUsage(): Promise<number> {
    let total = 0;
    const walk = async (dir: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e);
        const s = await stat(p);
        if (s.isDirectory()) await walk(p);
        else total += s.size;
      }
    };
    await walk(join(this.root, "content"));
    return total;
  }

  /** @internal */
  async _place(tmp: string, sha256: string): Promise<void> {
    const dest = this.pathOf(sha256);
    if (await Bun.file(dest).exists()) {
      await unlink(tmp).catch(() => {});
      return;
    }
    await mkdir(join(this.root, "content", sha256.slice(0, 2), sha256.slice(2, 4)), { recursive: true, mode: PRIVATE_DIR_MODE });
    await rename(tmp, dest);
  }
}

/** Content received into a temporary file, not yet in the store. */
export class PendingFile {
  #done = false;
  constructor(
    private readonly store: FileStore,
    private readonly tmp: string,
    readonly sha256: string,
    readonly size: number,
  ) {}

  /** Moves the file into the store (dropping it when identical content is already there). */
  async place(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.store._place(this.tmp, this.sha256);
  }

  /** Removes the temporary file (when the upload is refused after all). */
  async discard(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await unlink(this.tmp).catch(() => {});
  }
}
