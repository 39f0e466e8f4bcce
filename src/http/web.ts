// The embedded web client (issue 11): serves web/dist (built by scripts/build-web.ts, compiled into
// the binary as assets) on listeners with the `client` resource.
//   GET /                  index.html (no-cache, ETag, strict Content-Security-Policy)
//   GET /assets/<hashed>   JS/CSS with content hashes in their names: cached for a year, immutable
//   GET /favicon.svg       the icon (cached for a day)
//   GET <other page path>  index.html when the browser asks for HTML (SPA fallback: /admin, /room/...)
// Precompressed .br/.gz siblings are chosen by Accept-Encoding. API paths (/_matrix, /_synapse,
// /.well-known, /health) never reach the fallback, so their 404/405 answers stay Matrix JSON.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.ts";
import { requestMeta, type App } from "./app.ts";

/** The route label of every web-client request (metrics, logs). */
export const WEB_CLIENT_ROUTE = "web_client";

/** Content types by extension (the precompressed siblings keep the original file's type). */
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
  wasm: "application/wasm",
  webmanifest: "application/manifest+json",
  woff2: "font/woff2",
  txt: "text/plain; charset=utf-8",
};

/**
 * The page may load only its own scripts and styles; it talks only to this server; images come from
 * blob: URLs (authenticated media is fetched with the access token) or data: URLs; no frames, no
 * plugins, no inline script. 'wasm-unsafe-eval' lets the page compile WebAssembly (the Rust crypto of
 * end-to-end encryption, from /assets like the scripts); it allows no eval() of JavaScript.
 */
export const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": WEB_CSP,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
};

/** Paths that belong to APIs: never answered with the web client. */
const API_PREFIXES = ["/_matrix/", "/_synapse/", "/_hs/", "/.well-known/"];
const API_EXACT = new Set(["/_matrix", "/_synapse", "/health"]);

interface WebFile {
  /** The file itself; undefined when only its precompressed siblings are there (see loadFiles). */
  path?: string;
  type: string;
  size: number;
  br?: string;
  gz?: string;
  /** Content-hashed name: cache forever. */
  immutable: boolean;
  etag: string;
}

/** The file scripts/build-web.ts writes beside index.html: marks a directory as the built client. */
export const WEB_MANIFEST = "hs-web.json";

/** Where the built client is: embedded in the compiled binary, or web/dist of the source tree. */
export function findWebRoot(): string | undefined {
  const candidates = [
    join(import.meta.dir, "dist"), // compiled binary: `assets: ["web/dist"]` lands at <bunfs root>/dist
    join(import.meta.dir, "web/dist"),
    join(import.meta.dir, "../../web/dist"), // running from source: src/http → repository root
  ];
  return candidates.find((d) => existsSync(join(d, WEB_MANIFEST)) && existsSync(join(d, "index.html")));
}

function listFiles(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(root, r)).isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out;
}

/**
 * The served files. The compiled binary leaves out the uncompressed copy of large files that have a
 * .gz sibling (the 5 MB WebAssembly of end-to-end encryption: scripts/build.ts); such a file is
 * served from its .br/.gz, and unzipped on the fly for the rare client that takes neither.
 */
function loadFiles(root: string): Map<string, WebFile> {
  const all = new Set(listFiles(root));
  const names = new Set<string>();
  for (const rel of all) {
    if (rel === WEB_MANIFEST) continue;
    if (rel.endsWith(".gz")) names.add(rel.slice(0, -3));
    else if (!rel.endsWith(".br")) names.add(rel);
  }
  const files = new Map<string, WebFile>();
  for (const rel of names) {
    const ext = rel.slice(rel.lastIndexOf(".") + 1).toLowerCase();
    const path = all.has(rel) ? join(root, rel) : undefined;
    const size = statSync(path ?? join(root, `${rel}.gz`)).size;
    const immutable = rel.startsWith("assets/");
    const etag = immutable
      ? `"${rel.replace(/^.*-([A-Za-z0-9]+)\.[a-z0-9]+$/, "$1")}"`
      : `"${Bun.hash(readFileSync(path ?? join(root, `${rel}.gz`))).toString(36)}"`;
    files.set(`/${rel}`, {
      path,
      type: TYPES[ext] ?? "application/octet-stream",
      size,
      br: all.has(`${rel}.br`) ? join(root, `${rel}.br`) : undefined,
      gz: all.has(`${rel}.gz`) ? join(root, `${rel}.gz`) : undefined,
      immutable,
      etag,
    });
  }
  return files;
}

function isApiPath(path: string): boolean {
  return API_EXACT.has(path) || API_PREFIXES.some((p) => path.startsWith(p));
}

/** Decoded path segments, or undefined when a segment is unsafe (`..`, `.`, encoded slashes, NUL). */
function safeSegments(path: string): string[] | undefined {
  const segs = path.split("/").slice(1);
  const out: string[] = [];
  for (const raw of segs) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (s === ".." || s === "." || s.includes("/") || s.includes("\\") || s.includes("\0")) return undefined;
    out.push(s);
  }
  return out;
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...SECURITY_HEADERS } });
}

function serveFile(req: Request, f: WebFile): Response {
  const headers: Record<string, string> = {
    "Content-Type": f.type,
    "Cache-Control": f.immutable ? "public, max-age=31536000, immutable" : f.type.startsWith("text/html") ? "no-cache" : "public, max-age=86400",
    ETag: f.etag,
    Vary: "Accept-Encoding",
    ...SECURITY_HEADERS,
  };
  if (req.headers.get("if-none-match") === f.etag) return new Response(null, { status: 304, headers });
  const accept = req.headers.get("accept-encoding") ?? "";
  let path = f.path;
  if (f.br && /\bbr\b/.test(accept)) {
    path = f.br;
    headers["Content-Encoding"] = "br";
  } else if (f.gz && /\bgzip\b/.test(accept)) {
    path = f.gz;
    headers["Content-Encoding"] = "gzip";
  }
  if (req.method === "HEAD") return new Response(null, { status: 200, headers });
  if (path === undefined) return new Response(Bun.file(f.gz!).stream().pipeThrough(new DecompressionStream("gzip")), { status: 200, headers });
  return new Response(Bun.file(path), { status: 200, headers });
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>hs</title>
<p>This hs was started from source without a built web client. Run <code>make web</code> (or <code>make build</code>) and restart.</p>`;

export interface WebClientOptions {
  /** Directory of the built client; found automatically when omitted. */
  root?: string;
}

/** Mounts the web client on the app (a request hook: it must not add routes that change API 404/405s). */
export function webClientRoutes(app: App, deps: { config: Config }, opts: WebClientOptions = {}): void {
  if (!deps.config.web_client.enabled) return;
  // Embedded in the binary the files never change; from source, `make web` may rebuild them while
  // the server runs (new hashed names), so the listing is reloaded when the build marker changes.
  let root = opts.root ?? findWebRoot();
  const embedded = import.meta.dir.startsWith("/$bunfs") || /^[A-Z]:[\\/]~BUN/.test(import.meta.dir);
  let files = new Map<string, WebFile>();
  let builtAt: number | undefined; // the marker's mtime when loaded (0 inside the binary's bunfs)
  const refresh = () => {
    root ??= findWebRoot();
    if (!root) return;
    try {
      const mtime = statSync(join(root, WEB_MANIFEST)).mtimeMs;
      if (mtime === builtAt) return;
      files = loadFiles(root);
      builtAt = mtime;
    } catch {
      files = new Map(); // mid-rebuild: answer "not built" until the new files are in place
      builtAt = undefined;
    }
  };
  refresh();

  app.onRequest(({ request }) => {
    if (request.method !== "GET" && request.method !== "HEAD") return;
    const url = new URL(request.url);
    const path = url.pathname;
    if (isApiPath(path)) return;
    const response = serveWeb(request, path);
    // Metrics and logs: one route label for the whole web client (never the raw path).
    if (response) requestMeta(request).route = WEB_CLIENT_ROUTE;
    return response;
  });

  function serveWeb(request: Request, path: string): Response | undefined {
    if (!embedded) refresh();
    const index = files.get("/index.html");
    const segs = safeSegments(path);
    if (!segs) return plain(400, "Bad path");
    const clean = `/${segs.join("/")}`;
    const file = files.get(clean);
    if (file && clean !== "/index.html") return serveFile(request, file);
    if (clean.startsWith("/assets/")) return plain(404, "Not found");
    const wantsHtml = path === "/" || clean === "/index.html" || (request.headers.get("accept") ?? "").includes("text/html");
    if (!wantsHtml) return; // API clients keep getting 404 M_UNRECOGNIZED
    if (!index) {
      return new Response(NOT_BUILT, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", ...SECURITY_HEADERS } });
    }
    return serveFile(request, index);
  }
}
