// A small streaming tar (POSIX ustar with pax headers for long names) writer and reader, for
// `hs backup` / `hs restore`: files of any size pass through without being held in memory.
import type { Readable, Writable } from "node:stream";

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: string, size: number, mtime: number, type: "0" | "5" | "x", mode: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (s: string, off: number, len: number) => h.set(encoder.encode(s).subarray(0, len), off);
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(Math.floor(mtime / 1000), 12), 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + " ", 148, 8);
  return h;
}

function paxRecord(key: string, value: string): string {
  // "<len> key=value\n" where len counts itself.
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

async function write(out: Writable, chunk: Uint8Array): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve, reject) => {
    const onDrain = () => { out.off("error", onError); resolve(); };
    const onError = (e: Error) => { out.off("drain", onDrain); reject(e); };
    out.once("drain", onDrain);
    out.once("error", onError);
  });
}

export class TarWriter {
  constructor(private readonly out: Writable) {}

  private async entryHeader(name: string, size: number, mtime: number, type: "0" | "5", mode: number): Promise<void> {
    if (Buffer.byteLength(name) > 99) {
      const pax = encoder.encode(paxRecord("path", name));
      await write(this.out, header("PaxHeader", pax.length, mtime, "x", 0o644));
      await this.body(pax);
      name = name.slice(0, 99);
    }
    await write(this.out, header(name, size, mtime, type, mode));
  }

  private async body(data: Uint8Array): Promise<void> {
    await write(this.out, data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) await write(this.out, new Uint8Array(pad));
  }

  /** Adds a file from bytes. */
  async addBytes(name: string, data: Uint8Array, mtime = Date.now(), mode = 0o600): Promise<void> {
    await this.entryHeader(name, data.length, mtime, "0", mode);
    await this.body(data);
  }

  /** Adds a file from a stream of exactly `size` bytes. */
  async addStream(name: string, size: number, source: AsyncIterable<Uint8Array>, mtime = Date.now(), mode = 0o600): Promise<void> {
    await this.entryHeader(name, size, mtime, "0", mode);
    let written = 0;
    for await (const chunk of source) {
      written += chunk.length;
      if (written > size) throw new Error(`${name} grew while it was being archived`);
      await write(this.out, chunk);
    }
    if (written !== size) throw new Error(`${name} shrank while it was being archived`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await write(this.out, new Uint8Array(pad));
  }

  /** Ends the archive (two zero blocks). The caller ends the output stream. */
  async finish(): Promise<void> {
    await write(this.out, new Uint8Array(BLOCK * 2));
  }
}

export interface TarEntry {
  name: string;
  size: number;
  type: "file" | "directory" | "other";
  /** The content, streamed; read it fully before asking for the next entry. */
  content: AsyncIterable<Uint8Array>;
}

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  private buf = new Uint8Array(0);
  private readonly it: AsyncIterator<Uint8Array>;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        const next = new Uint8Array(this.buf.length + r.value.length);
        next.set(this.buf);
        next.set(r.value, this.buf.length);
        this.buf = next;
      }
    }
    return this.buf.length >= n;
  }

  async read(n: number): Promise<Uint8Array | undefined> {
    if (!(await this.fill(n))) return undefined;
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return out;
  }

  /** Up to `max` bytes (at least 1 unless the stream ended). */
  async readSome(max: number): Promise<Uint8Array | undefined> {
    if (this.buf.length === 0 && !(await this.fill(1))) return undefined;
    const n = Math.min(max, this.buf.length);
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return out;
  }
}

function field(h: Uint8Array, off: number, len: number): string {
  const s = decoder.decode(h.subarray(off, off + len));
  const nul = s.indexOf("\0");
  return nul >= 0 ? s.slice(0, nul) : s;
}

/** Entries of a tar stream; throws on a corrupt header. */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let paxPath: string | undefined;
  for (;;) {
    const h = await r.read(BLOCK);
    if (!h) throw new Error("the archive ends early (truncated?)");
    if (h.every((b) => b === 0)) return;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const want = Number.parseInt(field(h, 148, 8).trim(), 8);
    if (sum !== want) throw new Error("corrupt archive: header checksum mismatch");
    const size = Number.parseInt(field(h, 124, 12).trim() || "0", 8);
    const typeFlag = String.fromCharCode(h[156]!);
    const prefix = field(h, 345, 155);
    let name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK);
    if (typeFlag === "x" || typeFlag === "g") {
      const data = await r.read(padded);
      if (!data) throw new Error("the archive ends early (truncated?)");
      for (const line of decoder.decode(data.subarray(0, size)).split("\n")) {
        const m = /^\d+ path=(.*)$/.exec(line);
        if (m && typeFlag === "x") paxPath = m[1];
      }
      continue;
    }
    if (paxPath !== undefined) {
      name = paxPath;
      paxPath = undefined;
    }
    let remaining = size;
    let consumed = false;
    const content = (async function* () {
      consumed = true;
      while (remaining > 0) {
        const chunk = await r.readSome(Math.min(remaining, 1 << 20));
        if (!chunk) throw new Error("the archive ends early (truncated?)");
        remaining -= chunk.length;
        yield chunk;
      }
    })();
    yield { name, size, type: typeFlag === "0" || typeFlag === "\0" ? "file" : typeFlag === "5" ? "directory" : "other", content };
    if (!consumed || remaining > 0) for await (const _ of content) void _;
    const pad = padded - size;
    if (pad && !(await r.read(pad))) throw new Error("the archive ends early (truncated?)");
  }
}

/** A Node readable as an async iterable of Uint8Array chunks. */
export function chunksOf(stream: Readable): AsyncIterable<Uint8Array> {
  return stream as AsyncIterable<Uint8Array>;
}
