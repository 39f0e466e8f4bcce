// The Elysia application: Matrix error mapping, CORS, JSON body parsing, request logging and the
// 404/405 distinction. Route modules add endpoints with the usual app.get/put/...; the set of
// known paths comes from the app's route table (405 M_UNRECOGNIZED on a known path, wrong method).
import { Elysia } from "elysia";
import { MatrixError } from "../protocol/errors.ts";
import { jsonTooDeep } from "../util/json-depth.ts";
import { log } from "../util/log.ts";
import { randomString } from "../util/random.ts";

export const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
};

/** Per-request facts set by the listener before Elysia sees the request. */
export interface RequestMeta {
  id: string;
  start: number;
  ip: string;
  /** The scheme the client used (X-Forwarded-Proto from a trusted proxy, else the listener's). */
  proto?: string;
  /** The matched route template (e.g. /_matrix/client/v3/rooms/:roomId/send/...), for metrics. */
  route?: string;
}
const meta = new WeakMap<Request, RequestMeta>();

export function requestMeta(req: Request): RequestMeta {
  let m = meta.get(req);
  if (!m) {
    m = { id: randomString(10), start: performance.now(), ip: "unknown" };
    meta.set(req, m);
  }
  return m;
}

export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** A body that the route reads itself (uploads): the JSON parser leaves it alone. */
export const RAW_BODY = Symbol("raw body");

interface KnownRoute {
  method: Method;
  regex: RegExp;
}

function patternToRegex(path: string): RegExp {
  const parts = path.split("/").map((seg) => {
    if (seg === "*") return ".*";
    if (seg.startsWith(":")) return seg.endsWith("?") ? "[^/]*" : "[^/]+";
    return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/")}/?$`);
}

/**
 * Deepest nesting accepted in a JSON request body (the top-level value is level 1). The same bound
 * as canonical JSON's, so that anything deeper is refused before a handler sees it.
 */
export const MAX_BODY_DEPTH = 512;

export interface AppOptions {
  /** Largest JSON body accepted (bytes); larger bodies get 413 M_TOO_LARGE. */
  maxJsonBodySize: number;
  /** Path prefixes whose bodies are streamed by the handler instead of parsed as JSON. */
  rawBodyPrefixes?: string[];
}

/** Maps an Elysia/TypeBox validation failure onto the Matrix error a client can act on. */
function validationError(error: unknown): MatrixError {
  const e = error as { type?: string; message?: string; all?: Array<{ path?: string; message?: string; summary?: string; schema?: unknown; value?: unknown }> };
  const first = e.all?.[0];
  const where = e.type ?? "body";
  const field = (first?.path ?? "").replace(/^\//, "").replace(/\//g, ".");
  if (first && first.value === undefined) {
    return new MatrixError("M_MISSING_PARAM", `Missing ${where === "body" ? "" : where + " "}parameter${field ? ` '${field}'` : ""}`);
  }
  const detail = first?.summary ?? first?.message ?? "invalid value";
  if (where === "body") return new MatrixError("M_BAD_JSON", `Invalid ${field ? `'${field}'` : "body"}: ${detail}`);
  return new MatrixError("M_INVALID_PARAM", `Invalid ${where} parameter${field ? ` '${field}'` : ""}: ${detail}`);
}

/** SQLite's SQLITE_FULL / PostgreSQL's disk_full (53100): the disk the database lives on is full. */
function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === "SQLITE_FULL" || code === "53100" || code === "ENOSPC";
}

/**
 * PostgreSQL's character_not_in_repertoire (22021): text with U+0000, which PostgreSQL cannot store in
 * a text column (SQLite can; JSON columns hold it escaped). The client sent it: 400, not 500.
 */
function isUnstorableText(e: unknown): boolean {
  return (e as { code?: unknown })?.code === "22021";
}

export function matrixErrorResponse(err: MatrixError, extraHeaders: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { "Content-Type": "application/json", ...CORS_HEADERS, ...extraHeaders },
  });
}

export function createApp(opts: AppOptions) {
  let known: KnownRoute[] | undefined;
  // Built lazily from the routes registered on the app (only needed for 404/405 answers).
  const knownRoutes = (): KnownRoute[] =>
    (known ??= app.routes
      .filter((r) => ["GET", "POST", "PUT", "DELETE"].includes(r.method))
      .map((r) => ({ method: r.method as Method, regex: patternToRegex(r.path) })));
  const rawPrefixes = opts.rawBodyPrefixes ?? [];

  const app = new Elysia({ normalize: false, aot: true })
    .onRequest(({ request, set }) => {
      requestMeta(request);
      Object.assign(set.headers, CORS_HEADERS);
      if (request.method === "OPTIONS") {
        return new Response(null, { status: 204, headers: CORS_HEADERS });
      }
    })
    .onTransform(({ params, request, route }) => {
      requestMeta(request).route = route;
      // A malformed percent-escape in a path segment reaches us as a non-string parameter.
      for (const [k, v] of Object.entries((params ?? {}) as Record<string, unknown>)) {
        if (typeof v !== "string") throw new MatrixError("M_INVALID_PARAM", `Invalid percent-encoding in path parameter '${k}'`);
      }
    })
    .onParse(async ({ request, contentType }) => {
      const path = new URL(request.url).pathname;
      if (rawPrefixes.some((p) => path.startsWith(p))) return RAW_BODY;
      // Matrix bodies are JSON whatever Content-Type a client sends (as in Synapse).
      void contentType;
      const len = Number(request.headers.get("content-length") ?? "0");
      if (len > opts.maxJsonBodySize) throw new MatrixError("M_TOO_LARGE", "Request body too large");
      const text = decodeUtf8Body(await request.arrayBuffer());
      if (text.length > opts.maxJsonBodySize) throw new MatrixError("M_TOO_LARGE", "Request body too large");
      if (text.trim() === "") return {};
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw new MatrixError("M_NOT_JSON", "Content not JSON.");
      }
      // JSON.parse accepts any depth; the code behind it (and canonical JSON) does not.
      // Each level takes two characters at least, so only longer bodies can be too deep. Measured: the
      // walk costs 0–30% of JSON.parse (none for short bodies or long strings, most for many small objects).
      const deep = text.length > 2 * MAX_BODY_DEPTH ? jsonTooDeep(value, MAX_BODY_DEPTH) : null;
      if (deep !== null) throw new MatrixError("M_BAD_JSON", `JSON nested deeper than ${MAX_BODY_DEPTH} levels at ${deep}`);
      // Duplicate keys: the last value wins (as in JSON.parse, Python's json and so Synapse), the same
      // value everywhere the body is used, since the body is parsed once, here.
      return value;
    })
    .onError(({ code, error, request, path }) => {
      if (error instanceof MatrixError) return matrixErrorResponse(error);
      // Errors thrown by the body parser arrive wrapped in Elysia's ParseError.
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof MatrixError) return matrixErrorResponse(cause);
      switch (code) {
        case "NOT_FOUND": {
          const method = request.method;
          const p = new URL(request.url).pathname;
          const sameRoute = knownRoutes().filter((r) => r.regex.test(p));
          if (sameRoute.length > 0 && !sameRoute.some((r) => r.method === method)) {
            return matrixErrorResponse(new MatrixError("M_UNRECOGNIZED", "Unrecognized request method", {}, 405), {
              Allow: [...new Set(sameRoute.map((r) => r.method))].join(", "),
            });
          }
          return matrixErrorResponse(new MatrixError("M_UNRECOGNIZED", "Unrecognized request", {}, 404));
        }
        case "PARSE":
          return matrixErrorResponse(new MatrixError("M_NOT_JSON", "Content not JSON."));
        case "VALIDATION":
          return matrixErrorResponse(validationError(error));
        default: {
          const m = requestMeta(request);
          if (isUnstorableText(error)) {
            return matrixErrorResponse(new MatrixError("M_BAD_JSON", "Text containing U+0000 (NUL) cannot be stored here"));
          }
          if (isStorageFull(error)) {
            // Writes fail cleanly while the disk is full; reads go on.
            log.error("storage full", { request_id: m.id, method: request.method, path });
            return matrixErrorResponse(new MatrixError("M_UNKNOWN", "The server's storage is full; try again later", {}, 503), { "Retry-After": "60" });
          }
          log.error("unhandled error", {
            request_id: m.id,
            method: request.method,
            path,
            error: error instanceof Error ? error.message : String(error),
            stack: error instanceof Error ? error.stack : undefined,
          });
          return matrixErrorResponse(
            new MatrixError("M_UNKNOWN", `Internal server error (request ${m.id})`, {}, 500),
          );
        }
      }
    });

  return app;
}

export type App = ReturnType<typeof createApp>;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A JSON body must be UTF-8 (RFC 8259): invalid bytes are M_NOT_JSON, not replaced by U+FFFD. */
export function decodeUtf8Body(bytes: ArrayBuffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new MatrixError("M_NOT_JSON", "Content not JSON: invalid UTF-8");
  }
}
