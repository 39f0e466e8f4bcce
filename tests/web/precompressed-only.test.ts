// The compiled binary embeds large web-client files (the end-to-end encryption WebAssembly) only as
// .br and .gz: such a file is still served, precompressed when the client takes it, unzipped on the
// fly when it takes neither, with the same type, caching and ETag.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { webClientRoutes } from "../../src/http/web.ts";
import type { Config } from "../../src/config/schema.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";

const wasm = new Uint8Array(200_000).map((_, i) => (i < 4 ? [0, 0x61, 0x73, 0x6d][i]! : (i * 7) % 251));
const NAME = "assets/crypto-abc123.wasm";
let s: TestServer;

beforeAll(async () => {
  const root = tempDir("hs-web-root-");
  mkdirSync(join(root, "assets"));
  writeFileSync(join(root, "hs-web.json"), "{}");
  writeFileSync(join(root, "index.html"), '<!doctype html><div id="app"></div>');
  // No assets/crypto-abc123.wasm itself: only its siblings.
  writeFileSync(join(root, `${NAME}.gz`), gzipSync(wasm));
  writeFileSync(join(root, `${NAME}.br`), brotliCompressSync(wasm));
  s = await startTestServer({
    config: { web_client: { enabled: false } },
    extraRoutes: (app) => webClientRoutes(app, { config: { web_client: { enabled: true } } as Config }, { root }),
  });
});
afterAll(() => s.stop());

test("a file with only .br/.gz siblings: br, gzip, or unzipped for identity", async () => {
  const br = await fetch(`${s.url}/${NAME}`, { headers: { "Accept-Encoding": "br" }, decompress: false } as RequestInit);
  expect(br.status).toBe(200);
  expect(br.headers.get("content-encoding")).toBe("br");
  expect(br.headers.get("content-type")).toBe("application/wasm");
  expect(br.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  await br.arrayBuffer();
  const gz = await fetch(`${s.url}/${NAME}`, { headers: { "Accept-Encoding": "gzip" }, decompress: false } as RequestInit);
  expect(gz.headers.get("content-encoding")).toBe("gzip");
  expect(new Uint8Array(Bun.gunzipSync(new Uint8Array(await gz.arrayBuffer())))).toEqual(wasm);
  const plain = await fetch(`${s.url}/${NAME}`, { headers: { "Accept-Encoding": "identity" } });
  expect(plain.status).toBe(200);
  expect(plain.headers.get("content-encoding")).toBeNull();
  expect(plain.headers.get("content-type")).toBe("application/wasm");
  expect(new Uint8Array(await plain.arrayBuffer())).toEqual(wasm);
  const head = await fetch(`${s.url}/${NAME}`, { method: "HEAD", headers: { "Accept-Encoding": "identity" } });
  expect(head.status).toBe(200);
  expect(head.headers.get("etag")).toBe('"abc123"');
});
