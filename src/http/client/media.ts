// Content repository (client-server-api "Content repository"; content-repo.yaml and
// authed-content-repo.yaml):
//   POST /_matrix/media/v3/upload                              upload (?filename=)
//   POST /_matrix/media/v1/create                              reserve an mxc:// URI (async upload)
//   PUT  /_matrix/media/v3/upload/{serverName}/{mediaId}       its content
//   GET  /_matrix/client/v1/media/config                       (and deprecated /_matrix/media/v3/config)
//   GET  /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
//   GET  /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}
//   GET  /_matrix/client/v1/media/preview_url                  (and deprecated /_matrix/media/v3/preview_url)
//   GET  /_matrix/media/v3/download|thumbnail/...               deprecated, unauthenticated, frozen for new
//                                                               media by [media] enable_authenticated_media
// Upload bodies are streamed to disk (src/homeserver.ts RAW_BODY_PREFIXES keeps the JSON parser off
// them). Media is served with the spec's security headers, Content-Disposition inline only for the
// spec's safe types, ETags and single byte ranges.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { MediaFile } from "../../services/media/media.ts";
import { CORS_HEADERS, matrixErrorResponse, type App } from "../app.ts";
import { authenticateServer, type FederationAuthDeps } from "../federation/auth.ts";
import { routes } from "../endpoint.ts";
import { param, query as q } from "../schema.ts";

const CS = "client-server" as const;
const media3 = (v: string) => (v === "r0" ? "legacy" : CS);

/** Types served `inline` (spec "Serving inline content"); everything else is an attachment. */
export const INLINE_CONTENT_TYPES = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

/** Headers on every media answer: no scripts or plugins if a browser renders it, no sniffing. */
export const MEDIA_SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Resource-Policy": "cross-origin",
  "Referrer-Policy": "no-referrer",
};

const RFC5987_EXTRA = /['()*]/g;

/** `inline`/`attachment` with the file name, as a quoted string when plain ASCII, else RFC 5987 UTF-8. */
export function contentDisposition(type: "inline" | "attachment", filename: string | null | undefined): string {
  if (!filename) return type;
  if (/^[\x20-\x7e]*$/.test(filename) && !/["\\]/.test(filename)) return `${type}; filename="${filename}"`;
  const enc = encodeURIComponent(filename).replace(RFC5987_EXTRA, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename*=utf-8''${enc}`;
}

export function dispositionFor(contentType: string, filename: string | null | undefined): string {
  const base = contentType.split(";")[0]!.trim().toLowerCase();
  return contentDisposition(INLINE_CONTENT_TYPES.has(base) ? "inline" : "attachment", filename);
}

/** A header-safe Content-Type (stored types are validated; this is the last line of defence). */
function safeContentType(ct: string): string {
  return /^[\x20-\x7e]+$/.test(ct) ? ct : "application/octet-stream";
}

type Range = { start: number; end: number } | "unsatisfiable" | undefined;

/** A single `bytes=` range (RFC 9110 §14); undefined means: serve the whole file. */
export function parseRange(header: string | null, size: number): Range {
  if (header === null) return undefined;
  const m = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return undefined; // several ranges or malformed: ignored
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/** Serves a file: ETag / If-None-Match, single ranges, and the media security headers. */
export function mediaResponse(request: Request, file: MediaFile, headers: Record<string, string>): Response {
  const etag = `"${file.sha256}"`;
  const base: Record<string, string> = {
    ...CORS_HEADERS,
    ...MEDIA_SECURITY_HEADERS,
    "Content-Type": safeContentType(file.contentType),
    "Accept-Ranges": "bytes",
    ETag: etag,
    ...headers,
  };
  const inm = request.headers.get("if-none-match");
  if (inm !== null && inm.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return new Response(null, { status: 304, headers: base });
  }
  const ifRange = request.headers.get("if-range");
  const range = ifRange === null || ifRange.trim() === etag ? parseRange(request.headers.get("range"), file.size) : undefined;
  if (range === "unsatisfiable") {
    return matrixErrorResponse(new MatrixError("M_UNKNOWN", "Requested range not satisfiable", {}, 416), {
      ...MEDIA_SECURITY_HEADERS,
      "Content-Range": `bytes */${file.size}`,
    });
  }
  if (range) {
    return new Response(file.content.slice(range.start, range.end + 1), {
      status: 206,
      headers: { ...base, "Content-Range": `bytes ${range.start}-${range.end}/${file.size}` },
    });
  }
  return new Response(file.content, { status: 200, headers: base });
}

/** width/height/method/animated of a thumbnail request, with the spec's errors. */
export function thumbnailParams(qs: URLSearchParams): { width: number; height: number; method: "crop" | "scale"; animated: boolean | undefined } {
  const width = q.int({ min: 1 })(qs, "width");
  const height = q.int({ min: 1 })(qs, "height");
  if (width === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'width'");
  if (height === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'height'");
  const method = qs.get("method") ?? "scale";
  if (method !== "crop" && method !== "scale") throw new MatrixError("M_INVALID_PARAM", "'method' must be 'crop' or 'scale'");
  return { width, height, method, animated: q.bool(qs, "animated") };
}

function timeoutParam(qs: URLSearchParams): number | undefined {
  return q.int()(qs, "timeout_ms");
}

function contentLengthOf(request: Request): number | null {
  const h = request.headers.get("content-length");
  if (h === null) return null;
  if (!/^\d{1,15}$/.test(h.trim())) throw new MatrixError("M_INVALID_PARAM", "Invalid Content-Length");
  return Number(h);
}

/** A request signed by another server (Authorization: X-Matrix ...). */
export function isServerSigned(request: Request): boolean {
  return /^X-Matrix\s/i.test(request.headers.get("authorization") ?? "");
}

export function mediaRoutes(app: App, svc: Pick<Services, "auth" | "media" | "urlPreviews"> & FederationAuthDeps): void {
  const media = svc.media;

  const route = routes(app, svc);
  const mediaParams = { serverName: param.raw, mediaId: param.raw };
  const dl = { serverName: param.raw, mediaId: param.raw, fileName: param.optional };

  // ---- uploads

  for (const v of ["v3", "r0"]) {
    route({ method: "POST", path: `/_matrix/media/${v}/upload`, api: media3(v), access: "user", suspended: "refuse", query: { filename: q.raw } }, async ({ who, query, request }) => {
      const contentUri = await media.upload({
        userId: who.userId,
        unlimited: who.isAdmin,
        contentType: request.headers.get("content-type"),
        filename: query.filename ?? null,
        body: request.body,
        contentLength: contentLengthOf(request),
      });
      return { content_uri: contentUri };
    });
  }

  route({ method: "POST", path: "/_matrix/media/v1/create", api: CS, access: "user", suspended: "refuse" }, ({ who }) => media.create(who.userId));

  route(
    { method: "PUT", path: "/_matrix/media/v3/upload/:serverName/:mediaId", api: CS, access: "user", suspended: "refuse", params: mediaParams, query: { filename: q.raw } },
    async ({ who, params, query, request }) => {
      await media.uploadTo({
        userId: who.userId,
        unlimited: who.isAdmin,
        serverName: params.serverName,
        mediaId: params.mediaId,
        contentType: request.headers.get("content-type"),
        filename: query.filename ?? null,
        body: request.body,
        contentLength: contentLengthOf(request),
      });
      return {};
    },
  );

  // ---- config

  for (const [path, api] of [
    ["/_matrix/client/v1/media/config", CS],
    ["/_matrix/media/v3/config", CS],
    ["/_matrix/media/r0/config", "legacy"],
  ] as const) {
    route({ method: "GET", path, api, access: "user" }, () => media.mediaConfig());
  }

  // ---- downloads

  /**
   * Servers that predate authenticated media (Synapse <= 1.x before v1.11) fetch our media on the
   * legacy path with an X-Matrix signature: a valid one is served our own media like the
   * federation media endpoints (never frozen, never remote); a bad one is 401.
   */
  const fromServer = async (request: Request, serverName: string): Promise<boolean> => {
    if (!isServerSigned(request)) return false;
    await authenticateServer(svc, request);
    if (serverName !== svc.config.server_name) throw new MatrixError("M_NOT_FOUND", "Media not found");
    return true;
  };

  const download = async (request: Request, params: { serverName: string; mediaId: string; fileName?: string }, legacy: boolean) => {
    const qs = new URL(request.url).searchParams;
    if (legacy && (await fromServer(request, params.serverName))) {
      const file = await media.downloadForFederation(params.mediaId, timeoutParam(qs));
      const name = params.fileName !== undefined && params.fileName !== "" ? params.fileName : file.uploadName;
      return mediaResponse(request, file, { "Content-Disposition": dispositionFor(file.contentType, name), "Cache-Control": "private, max-age=86400" });
    }
    const file = await media.download({
      serverName: params.serverName,
      mediaId: params.mediaId,
      allowRemote: legacy ? (q.bool(qs, "allow_remote") ?? true) : true,
      timeoutMs: timeoutParam(qs),
      legacy,
    });
    const name = params.fileName !== undefined && params.fileName !== "" ? params.fileName : file.uploadName;
    return mediaResponse(request, file, {
      "Content-Disposition": dispositionFor(file.contentType, name),
      "Cache-Control": legacy ? "public, max-age=86400, s-maxage=86400" : "private, max-age=86400",
    });
  };
  for (const suffix of ["", "/:fileName"]) {
    route({ method: "GET", path: `/_matrix/client/v1/media/download/:serverName/:mediaId${suffix}`, api: CS, access: "guest", params: dl }, ({ request, params }) =>
      download(request, params, false),
    );
    // The deprecated unauthenticated download (no token looked at; another server may sign it: fromServer).
    for (const v of ["v3", "r0"]) {
      route({ method: "GET", path: `/_matrix/media/${v}/download/:serverName/:mediaId${suffix}`, api: media3(v), access: "none", params: dl }, ({ request, params }) =>
        download(request, params, true),
      );
    }
  }

  const thumbnail = async (request: Request, params: { serverName: string; mediaId: string }, legacy: boolean) => {
    const qs = new URL(request.url).searchParams;
    const signed = legacy && (await fromServer(request, params.serverName));
    const t = await media.thumbnail({
      serverName: params.serverName,
      mediaId: params.mediaId,
      ...thumbnailParams(qs),
      allowRemote: signed ? false : legacy ? (q.bool(qs, "allow_remote") ?? true) : true,
      timeoutMs: timeoutParam(qs),
      legacy: legacy && !signed,
    });
    const ext = t.contentType.split("/")[1]?.split(";")[0] ?? "bin";
    return mediaResponse(request, t, {
      "Content-Disposition": contentDisposition("inline", t.kind === "thumbnail" ? `thumbnail.${ext}` : t.uploadName),
      "Cache-Control": legacy ? "public, max-age=86400, s-maxage=86400" : "private, max-age=86400",
    });
  };
  route({ method: "GET", path: "/_matrix/client/v1/media/thumbnail/:serverName/:mediaId", api: CS, access: "guest", params: mediaParams }, ({ request, params }) =>
    thumbnail(request, params, false),
  );
  for (const v of ["v3", "r0"]) {
    route({ method: "GET", path: `/_matrix/media/${v}/thumbnail/:serverName/:mediaId`, api: media3(v), access: "none", params: mediaParams }, ({ request, params }) =>
      thumbnail(request, params, true),
    );
  }

  // ---- URL previews

  for (const [path, api] of [
    ["/_matrix/client/v1/media/preview_url", CS],
    ["/_matrix/media/v3/preview_url", CS],
    ["/_matrix/media/r0/preview_url", "legacy"],
  ] as const) {
    route({ method: "GET", path, api, access: "user" }, ({ request }) => {
      if (!svc.urlPreviews.enabled) throw new MatrixError("M_UNRECOGNIZED", "URL previews are disabled on this server", {}, 404);
      const qs = new URL(request.url).searchParams;
      const url = qs.get("url");
      if (url === null || url === "") throw new MatrixError("M_MISSING_PARAM", "Missing 'url'");
      q.int()(qs, "ts"); // validated; a newer preview may be served (the spec allows it)
      return svc.urlPreviews.preview(url);
    });
  }
}
