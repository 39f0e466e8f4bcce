// Legacy path prefixes, in one place: the r0 Client-Server API (what Synapse still serves and older
// clients such as matrix-nio and weechat-matrix use) is the v3 API under another name. A request to
// /_matrix/client/r0/... is routed as /_matrix/client/v3/... before the app sees it, so every
// endpoint exists under both and route modules declare only v3. (Media keeps its own legacy
// /_matrix/media/r0 routes: they differ from v3 in authentication and caching.)

const REWRITES: ReadonlyArray<readonly [legacy: string, current: string]> = [["/_matrix/client/r0/", "/_matrix/client/v3/"]];

/**
 * Single endpoints still reached under `/_matrix/client/unstable/` by clients (and SyTest) from
 * before their stabilisation, as Synapse serves them: the cross-signing uploads (MSC1756).
 * Exact paths only — other unstable paths belong to their MSCs.
 */
const UNSTABLE_ALIASES: ReadonlyMap<string, string> = new Map([
  ["/_matrix/client/unstable/keys/device_signing/upload", "/_matrix/client/v3/keys/device_signing/upload"],
  ["/_matrix/client/unstable/keys/signatures/upload", "/_matrix/client/v3/keys/signatures/upload"],
]);

/** The current path for a legacy one, or undefined when `path` is not legacy. */
export function currentPath(path: string): string | undefined {
  for (const [legacy, current] of REWRITES) {
    if (path.startsWith(legacy)) return current + path.slice(legacy.length);
  }
  return UNSTABLE_ALIASES.get(path);
}

/** The request itself, or a copy addressed to the current path when it used a legacy one. */
export function withCurrentPath(req: Request): Request {
  const url = new URL(req.url);
  const current = currentPath(url.pathname);
  if (current === undefined) return req;
  url.pathname = current;
  return new Request(url, req);
}
