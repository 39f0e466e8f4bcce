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
import { authenticate } from "../auth.ts";
import { authenticateServer, type FederationAuthDeps } from "../federation/auth.ts";
import { boolQuery, intQuery, queryOf } from "./query-params.ts";

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
export function thumbnailParams(q: URLSearchParams): { width: number; height: number; method: "crop" | "scale"; animated: boolean | undefined } {
  const width = intQuery(q, "width", 1);
  const height = intQuery(q, "height", 1);
  if (width === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'width'");
  if (height === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'height'");
  const method = q.get("method") ?? "scale";
  if (method !== "crop" && method !== "scale") throw new MatrixError("M_INVALID_PARAM", "'method' must be 'crop' or 'scale'");
  return { width, height, method, animated: boolQuery(q, "animated") };
}

function timeoutParam(q: URLSearchParams): number | undefined {
  return intQuery(q, "timeout_ms", 0);
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

  // ---- uploads

  const upload = async (request: Request) => {
    const who = await authenticate(svc, request, { refuseSuspended: true });
    const q = queryOf(request);
    const contentUri = await media.upload({
      userId: who.userId,
      unlimited: who.isAdmin,
      contentType: request.headers.get("content-type"),
      filename: q.get("filename"),
      body: request.body,
      contentLength: contentLengthOf(request),
    });
    return { content_uri: contentUri };
  };
  app.post("/_matrix/media/v3/upload", ({ request }) => upload(request));
  app.post("/_matrix/media/r0/upload", ({ request }) => upload(request));

  app.post("/_matrix/media/v1/create", async ({ request }) => {
    const who = await authenticate(svc, request, { refuseSuspended: true });
    return media.create(who.userId);
  });

  const uploadTo = async (request: Request, params: { serverName: string; mediaId: string }) => {
    const who = await authenticate(svc, request, { refuseSuspended: true });
    await media.uploadTo({
      userId: who.userId,
      unlimited: who.isAdmin,
      serverName: params.serverName,
      mediaId: params.mediaId,
      contentType: request.headers.get("content-type"),
      filename: queryOf(request).get("filename"),
      body: request.body,
      contentLength: contentLengthOf(request),
    });
    return {};
  };
  app.put("/_matrix/media/v3/upload/:serverName/:mediaId", ({ request, params }) => uploadTo(request, params));

  // ---- config

  const config = async (request: Request) => {
    await authenticate(svc, request);
    return media.mediaConfig();
  };
  app.get("/_matrix/client/v1/media/config", ({ request }) => config(request));
  app.get("/_matrix/media/v3/config", ({ request }) => config(request));
  app.get("/_matrix/media/r0/config", ({ request }) => config(request));

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
    if (!legacy) await authenticate(svc, request);
    const q = queryOf(request);
    if (legacy && (await fromServer(request, params.serverName))) {
      const file = await media.downloadForFederation(params.mediaId, timeoutParam(q));
      const name = params.fileName !== undefined && params.fileName !== "" ? params.fileName : file.uploadName;
      return mediaResponse(request, file, { "Content-Disposition": dispositionFor(file.contentType, name), "Cache-Control": "private, max-age=86400" });
    }
    const file = await media.download({
      serverName: params.serverName,
      mediaId: params.mediaId,
      allowRemote: legacy ? (boolQuery(q, "allow_remote") ?? true) : true,
      timeoutMs: timeoutParam(q),
      legacy,
    });
    const name = params.fileName !== undefined && params.fileName !== "" ? params.fileName : file.uploadName;
    return mediaResponse(request, file, {
      "Content-Disposition": dispositionFor(file.contentType, name),
      "Cache-Control": legacy ? "public, max-age=86400, s-maxage=86400" : "private, max-age=86400",
    });
  };
  app.get("/_matrix/client/v1/media/download/:serverName/:mediaId", ({ request, params }) => download(request, params, false));
  app.get("/_matrix/client/v1/media/download/:serverName/:mediaId/:fileName", ({ request, params }) => download(request, params, false));
  for (const v of ["v3", "r0"]) {
    app.get(`/_matrix/media/${v}/download/:serverName/:mediaId`, ({ request, params }) => download(request, params, true));
    app.get(`/_matrix/media/${v}/download/:serverName/:mediaId/:fileName`, ({ request, params }) => download(request, params, true));
  }

  const thumbnail = async (request: Request, params: { serverName: string; mediaId: string }, legacy: boolean) => {
    if (!legacy) await authenticate(svc, request);
    const q = queryOf(request);
    const signed = legacy && (await fromServer(request, params.serverName));
    const t = await media.thumbnail({
      serverName: params.serverName,
      mediaId: params.mediaId,
      ...thumbnailParams(q),
      allowRemote: signed ? false : legacy ? (boolQuery(q, "allow_remote") ?? true) : true,
      timeoutMs: timeoutParam(q),
      legacy: legacy && !signed,
    });
    const ext = t.contentType.split("/")[1]?.split(";")[0] ?? "bin";
    return mediaResponse(request, t, {
      "Content-Disposition": contentDisposition("inline", t.kind === "thumbnail" ? `thumbnail.${ext}` : t.uploadName),
      "Cache-Control": legacy ? "public, max-age=86400, s-maxage=86400" : "private, max-age=86400",
    });
  };
  app.get("/_matrix/client/v1/media/thumbnail/:serverName/:mediaId", ({ request, params }) => thumbnail(request, params, false));
  app.get("/_matrix/media/v3/thumbnail/:serverName/:mediaId", ({ request, params }) => thumbnail(request, params, true));
  app.get("/_matrix/media/r0/thumbnail/:serverName/:mediaId", ({ request, params }) => thumbnail(request, params, true));

  // ---- URL previews

  const preview = async (request: Request) => {
    await authenticate(svc, request);
    if (!svc.urlPreviews.enabled) throw new MatrixError("M_UNRECOGNIZED", "URL previews are disabled on this server", {}, 404);
    const q = queryOf(request);
    const url = q.get("url");
    if (url === null || url === "") throw new MatrixError("M_MISSING_PARAM", "Missing 'url'");
    intQuery(q, "ts", 0); // validated; a newer preview may be served (the spec allows it)
    return svc.urlPreviews.preview(url);
  };
  app.get("/_matrix/client/v1/media/preview_url", ({ request }) => preview(request));
  app.get("/_matrix/media/v3/preview_url", ({ request }) => preview(request));
  app.get("/_matrix/media/r0/preview_url", ({ request }) => preview(request));
}
