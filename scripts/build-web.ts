// Builds the web client (web/src → web/dist) with `bun build`: a minified entry bundle and one CSS
// file with content-hashed names under assets/, an index.html that loads them (no inline script or
// style, for the strict CSP), the icon, and .br/.gz siblings of every file so the server sends
// precompressed bytes. Code splitting puts what is imported dynamically (the end-to-end encryption
// layer, web/src/crypto.ts) into chunks loaded after the first paint; the Rust crypto's WebAssembly
// (@matrix-org/matrix-sdk-crypto-wasm) is copied in as assets/crypto-<hash>.wasm and its URL compiled
// in as HS_CRYPTO_WASM_URL. `bun scripts/build-web.ts` (also run by `make build`, `make run`, `make test`).
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

/** The Rust crypto's WebAssembly module (the same one matrix-js-sdk and Element Web load). */
export const CRYPTO_WASM = join(import.meta.dir, "../node_modules/@matrix-org/matrix-sdk-crypto-wasm/pkg/matrix_sdk_crypto_wasm_bg.wasm");

const ROOT = join(import.meta.dir, "..");
const WEB = join(ROOT, "web");
const OUT = join(WEB, "dist");

export interface WebBuildResult {
  /** Files written, relative to web/dist, with raw/gzip/brotli sizes. */
  files: Array<{ name: string; raw: number; gzip: number; brotli: number }>;
  ms: number;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? allFiles(join(dir, f)) : [join(dir, f)]));
}

/** The newest modification time among the client's sources (and this script). */
export function webSourcesMtime(): number {
  const files = [...allFiles(join(WEB, "src")), join(WEB, "index.html"), join(WEB, "favicon.svg"), join(ROOT, "scripts/build-web.ts"), CRYPTO_WASM];
  return Math.max(...files.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

/** True when web/dist is missing or older than a source file. */
export function webBuildStale(): boolean {
  const index = join(OUT, "index.html");
  return !existsSync(index) || statSync(index).mtimeMs < webSourcesMtime();
}

export async function buildWeb(): Promise<WebBuildResult> {
  const started = performance.now();
  const tmp = join(WEB, `.dist-${process.pid}-${Date.now()}`);
  mkdirSync(join(tmp, "assets"), { recursive: true });
  try {
    const wasm = readFileSync(CRYPTO_WASM);
    const wasmName = `crypto-${Bun.hash(wasm).toString(36)}.wasm`;
    writeFileSync(join(tmp, "assets", wasmName), wasm);
    const result = await Bun.build({
      entrypoints: [join(WEB, "src/main.tsx")],
      outdir: join(tmp, "assets"),
      target: "browser",
      format: "esm",
      splitting: true,
      minify: true,
      sourcemap: "none",
      naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
      define: { "process.env.NODE_ENV": '"production"', HS_CRYPTO_WASM_URL: JSON.stringify(`/assets/${wasmName}`) },
      tsconfig: join(WEB, "tsconfig.json"),
    } as Bun.BuildConfig);
    if (!result.success) {
      for (const m of result.logs) console.error(m);
      throw new Error("web client build failed");
    }
    const names = result.outputs.map((o) => basename(o.path));
    const js = result.outputs.filter((o) => o.kind === "entry-point" && o.path.endsWith(".js")).map((o) => basename(o.path))[0];
    const css = names.find((n) => n.endsWith(".css"));
    if (!js || !css) throw new Error(`web client build: expected an entry .js and one .css, got ${names.join(", ")}`);
    const template = readFileSync(join(WEB, "index.html"), "utf8");
    writeFileSync(join(tmp, "index.html"), template.replace("%CSS%", `/assets/${css}`).replace("%JS%", `/assets/${js}`));
    writeFileSync(join(tmp, "favicon.svg"), readFileSync(join(WEB, "favicon.svg")));

    const files: WebBuildResult["files"] = [];
    for (const f of allFiles(tmp)) {
      const data = readFileSync(f);
      const gz = gzipSync(data, { level: 9 });
      // Quality 11 takes ~50 s on the 5 MB WebAssembly module; 9 takes ~3 s for 13% more bytes.
      const br = brotliCompressSync(data, {
        params: { [constants.BROTLI_PARAM_QUALITY]: data.length > 1 << 20 ? 9 : 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      });
      writeFileSync(`${f}.gz`, gz);
      writeFileSync(`${f}.br`, br);
      files.push({ name: f.slice(tmp.length + 1), raw: data.length, gzip: gz.length, brotli: br.length });
    }
    // The marker the server looks for (src/http/web.ts), with what was built.
    writeFileSync(join(tmp, "hs-web.json"), JSON.stringify({ built: new Date().toISOString(), files }, null, 1));
    // Swap in the new build in one step (a running dev server or a parallel test sees old or new).
    const old = `${OUT}.old-${process.pid}`;
    if (existsSync(OUT)) renameSync(OUT, old);
    renameSync(tmp, OUT);
    rmSync(old, { recursive: true, force: true });
    return { files, ms: performance.now() - started };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds web/dist unless it is up to date. */
export async function ensureWebBuilt(): Promise<void> {
  if (webBuildStale()) await buildWeb();
}

/** What the first paint loads (index.html, the entry bundle, the CSS) against the crypto layer loaded after it. */
export function loadSizes(r: WebBuildResult): { first: { gzip: number; brotli: number }; crypto: { gzip: number; brotli: number } } {
  const sum = (fs: WebBuildResult["files"]) => fs.reduce((a, f) => ({ gzip: a.gzip + f.gzip, brotli: a.brotli + f.brotli }), { gzip: 0, brotli: 0 });
  const first = r.files.filter((f) => f.name === "index.html" || /^assets\/main-[^/]+\.(js|css)$/.test(f.name));
  const later = r.files.filter((f) => f.name.startsWith("assets/") && !first.includes(f));
  return { first: sum(first), crypto: sum(later) };
}

if (import.meta.main) {
  const r = await buildWeb();
  const kib = (n: number) => (n / 1024).toFixed(1);
  for (const f of r.files) console.log(`  web/dist/${f.name}  ${kib(f.raw)} KiB  (gzip ${kib(f.gzip)}, br ${kib(f.brotli)})`);
  const { first, crypto } = loadSizes(r);
  console.log(`built web/dist in ${Math.round(r.ms)} ms: first load ${kib(first.gzip)} KiB gzip, ${kib(first.brotli)} KiB brotli; encryption (loaded after the first paint) ${kib(crypto.gzip)} KiB gzip, ${kib(crypto.brotli)} KiB brotli`);
}
