import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTar, TarWriter } from "./tar.ts";

async function collect(stream: PassThrough): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c as Uint8Array);
  return new Uint8Array(Buffer.concat(parts));
}

test("round trip: small, empty, long-named and streamed files", async () => {
  const out = new PassThrough();
  const done = collect(out);
  const w = new TarWriter(out);
  const long = `media/${"x".repeat(150)}/file.bin`;
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  await w.addBytes("manifest.json", new TextEncoder().encode('{"a":1}'));
  await w.addBytes("empty", new Uint8Array(0));
  await w.addStream(long, big.length, (async function* () {
    for (let i = 0; i < big.length; i += 70_000) yield big.subarray(i, i + 70_000);
  })());
  await w.finish();
  out.end();
  const bytes = await done;
  expect(bytes.length % 512).toBe(0);

  const seen: Array<[string, number, Uint8Array]> = [];
  for await (const e of readTar((async function* () {
    for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000);
  })())) {
    const parts: Uint8Array[] = [];
    for await (const c of e.content) parts.push(c);
    seen.push([e.name, e.size, new Uint8Array(Buffer.concat(parts))]);
  }
  expect(seen.map(([n, s]) => [n, s])).toEqual([["manifest.json", 7], ["empty", 0], [long, big.length]]);
  expect(seen[2]![2]).toEqual(big);

  // GNU tar reads what we write (when installed, as on Debian).
  const dir = mkdtempSync(join(tmpdir(), "hs-tar-"));
  writeFileSync(join(dir, "a.tar"), bytes);
  const list = Bun.spawnSync(["tar", "-tf", join(dir, "a.tar")]);
  if (list.exitCode === 0) expect(list.stdout.toString().trim().split("\n")).toEqual(["manifest.json", "empty", long]);
  // And we read what GNU tar writes.
  writeFileSync(join(dir, "f.txt"), "hello");
  const mk = Bun.spawnSync(["tar", "-cf", join(dir, "b.tar"), "-C", dir, "f.txt"]);
  if (mk.exitCode === 0) {
    const b = readFileSync(join(dir, "b.tar"));
    const names: string[] = [];
    for await (const e of readTar((async function* () { yield new Uint8Array(b); })())) {
      names.push(e.name);
      for await (const _ of e.content) void _;
    }
    expect(names).toEqual(["f.txt"]);
  }
});

test("truncated and corrupt archives are refused", async () => {
  const out = new PassThrough();
  const done = collect(out);
  const w = new TarWriter(out);
  await w.addBytes("x", new Uint8Array(2000));
  await w.finish();
  out.end();
  const bytes = await done;
  const drain = async (b: Uint8Array) => {
    for await (const e of readTar((async function* () { yield b; })())) for await (const _ of e.content) void _;
  };
  await expect(drain(bytes.subarray(0, 1024))).rejects.toThrow(/ends early/);
  const bad = bytes.slice();
  bad[0] = 0x41;
  await expect(drain(bad)).rejects.toThrow(/checksum/);
});
