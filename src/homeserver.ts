// The composition root: opens the database, loads the signing key, builds the services and the
// HTTP app, and opens the listeners once everything is ready to answer.
import { readFileSync } from "node:fs";
import type { Server } from "bun";
import type { Config } from "./config/schema.ts";
import { createApp, matrixErrorResponse, requestMeta, type App } from "./http/app.ts";
import { mountRoutes } from "./http/routes.ts";
import { MatrixError } from "./protocol/errors.ts";
import { createServices, type Services } from "./services/index.ts";
import { ensureSigningKey, type ServerSigningKey } from "./services/signing-key-file.ts";
import type { Db } from "./storage/engines/db.ts";
import { openDatabase } from "./storage/engines/open.ts";
import { acquireServeLock } from "./storage/engines/sqlite-lock.ts";
import { processesHoldingFile } from "./cli/running.ts";
import { configureLogging, log, logger } from "./util/log.ts";
import { IpRangeSet } from "./util/ip-range.ts";
import { startMemoryGuard } from "./util/memory-guard.ts";
import { clientAddress } from "./http/forwarded.ts";
import { withCurrentPath } from "./http/legacy-paths.ts";
import { WorkerRoles, type WorkerRole } from "./services/workers.ts";

const httpLog = logger("http");

export interface ListenerInfo {
  url: string;
  port: number;
  tls: boolean;
  resources: string[];
}

export interface Homeserver {
  config: Config;
  db: Db;
  signingKey: ServerSigningKey;
  services: Services;
  app: App;
  listeners: ListenerInfo[];
  /** Stops accepting, waits for in-flight requests (at most `graceMs`), closes the database. */
  stop(graceMs?: number): Promise<void>;
}

/** Which listener resource a path belongs to; undefined = served everywhere. */
export function resourceOf(path: string): string | undefined {
  if (path.startsWith("/_matrix/federation/") || path.startsWith("/_matrix/policy/") || path === "/.well-known/matrix/server") return "federation";
  if (path.startsWith("/_matrix/key/")) return "keys";
  if (path.startsWith("/_matrix/media/") || path.startsWith("/_matrix/client/v1/media/")) return "media";
  if (path === "/_hs/metrics" || path === "/metrics") return "metrics";
  if (path === "/health") return undefined;
  return "client";
}

/**
 * Servers without authenticated media (Synapse 1.67) fetch media from the federation address on
 * the legacy download/thumbnail paths, signed with X-Matrix: the federation resource serves them.
 */
export function isLegacyServerMediaRequest(path: string, headers: Headers): boolean {
  return /^\/_matrix\/media\/(r0|v3|v1)\/(download|thumbnail)\//.test(path) && /^X-Matrix\s/i.test(headers.get("authorization") ?? "");
}

/**
 * The [worker] role a request needs ("client", "federation_inbound", "media"); undefined for what
 * every process answers (/health, metrics). Legacy X-Matrix media requests on the federation
 * resource are media.
 */
export function roleOfRequest(path: string, headers: Headers): WorkerRole | undefined {
  const res = resourceOf(path);
  if (res === "client") return "client";
  if (res === "media") return "media";
  if (res === "federation" || res === "keys") return isLegacyServerMediaRequest(path, headers) ? "media" : "federation_inbound";
  return undefined;
}

export const RAW_BODY_PREFIXES = ["/_matrix/media/v3/upload", "/_matrix/media/r0/upload", "/_matrix/media/v1/upload"];

export function buildApp(svc: Services): App {
  const app = createApp({ maxJsonBodySize: svc.config.max_json_body_size, rawBodyPrefixes: RAW_BODY_PREFIXES });
  mountRoutes(app, svc);
  return app;
}

export interface StartOptions {
  /** Log in human-readable lines instead of JSON. */
  prettyLog?: boolean;
  /** Mounts extra routes before the app is compiled (tests add test-only endpoints this way). */
  extraRoutes?: (app: App, services: Services) => void;
}

export async function startHomeserver(config: Config, opts: StartOptions = {}): Promise<Homeserver> {
  configureLogging({
    level: config.logging.level,
    file: config.logging.file,
    pretty: opts.prettyLog,
    format: config.logging.format === "auto" ? undefined : config.logging.format,
    modules: config.logging.modules,
  });
  // Every cache is sized from [caches] memory_target_mb, and trimmed when the process outgrows it.
  const memoryGuard = startMemoryGuard(config.caches.memory_target_mb);
  const signingKey = ensureSigningKey(config.signing_key_path, config.server_name);
  // One process per SQLite database (several processes need PostgreSQL: docs/SCALING.md).
  const serveLock =
    config.database.backend === "sqlite" && config.database.path !== ":memory:"
      ? acquireServeLock(config.database.path, () =>
          processesHoldingFile(config.database.path)
            .map((p) => `pid ${p.pid}: ${p.command}`)
            .join("; "),
        )
      : undefined;
  let db: Db;
  try {
    db = await openDatabase(config.database);
  } catch (e) {
    serveLock?.release();
    throw e;
  }
  let services: Services;
  try {
    services = await createServices(config, db, signingKey);
  } catch (e) {
    await db.close();
    serveLock?.release();
    throw e;
  }
  const app = buildApp(services);
  opts.extraRoutes?.(app, services);
  app.compile();

  // The largest body any endpoint takes (uploads); JSON endpoints enforce their own, smaller limit.
  const maxBody = Math.max(config.media.max_upload_size, config.max_json_body_size);
  const roles = new WorkerRoles(config.worker.roles);
  const servers: Server<undefined>[] = [];
  const listeners: ListenerInfo[] = [];
  let inFlight = 0;
  let drained: (() => void) | undefined;
  try {
    for (const l of config.listeners) {
      const resources = new Set(l.resources);
      const trusted = l.x_forwarded ? new IpRangeSet(l.trusted_proxies) : undefined;
      const tls = l.tls
        ? { cert: readFileSync(config.tls.certificate_path, "utf8"), key: readFileSync(config.tls.private_key_path, "utf8") }
        : undefined;
      const server = Bun.serve({
        hostname: l.bind_address,
        port: l.port,
        tls,
        // Bun's own limit is a backstop: above it Bun answers a bare 413 and closes. Declared sizes up to
        // it are checked below and the body is read and discarded, so clients get a Matrix error.
        maxRequestBodySize: maxBody + OVERSIZE_DRAIN_BYTES,
        idleTimeout: 120,
        fetch: async (original, srv) => {
          const path = new URL(original.url).pathname;
          // /_matrix/client/r0/... is served as /_matrix/client/v3/... (src/http/legacy-paths.ts).
          const req = withCurrentPath(original);
          const res = resourceOf(path);
          // Key endpoints are part of the federation resource too (as in Synapse).
          if (res !== undefined && !resources.has(res) && !(res === "keys" && resources.has("federation")) && !(res === "media" && resources.has("federation") && isLegacyServerMediaRequest(path, req.headers))) {
            return matrixErrorResponse(new MatrixError("M_UNRECOGNIZED", "Unrecognized request", {}, 404));
          }
          // A process dedicated to other roles ([worker] roles) answers as a listener without the resource.
          const role = roleOfRequest(path, req.headers);
          if (role !== undefined && !roles.has(role)) return matrixErrorResponse(new MatrixError("M_UNRECOGNIZED", "Unrecognized request", {}, 404));
          const declared = Number(req.headers.get("content-length") ?? "0");
          if (declared > maxBody) {
            // A client (Node's fetch, browsers) sends the whole body before it reads the answer: closing
            // now would hand it EPIPE or a reset instead of the 413. Read and discard the body first;
            // Bun itself refuses bodies past maxRequestBodySize, which bounds the reading.
            await discardBody(req);
            return matrixErrorResponse(new MatrixError("M_TOO_LARGE", `Request body too large (at most ${maxBody} bytes)`));
          }
          // The client behind a trusted reverse proxy (X-Forwarded-For/-Proto), else the peer.
          const { ip, proto } = clientAddress(srv.requestIP(original)?.address ?? "unknown", req.headers, l.tls ? "https" : "http", trusted);
          const meta = requestMeta(req);
          meta.ip = ip;
          meta.proto = proto;
          inFlight++;
          services.metrics.requestStarted();
          let status = 500;
          try {
            const response = await app.handle(req);
            status = response.status;
            return response;
          } finally {
            if (--inFlight === 0) drained?.();
            const ms = performance.now() - meta.start;
            // By route template (never the raw path: IDs would make unbounded label sets).
            services.metrics.requestFinished(req.method, meta.route ?? "unmatched", status, ms / 1000);
            // Path only: query strings may carry access tokens.
            httpLog.info("request", {
              request_id: meta.id,
              ip,
              method: req.method,
              path,
              status,
              ms: Math.round(ms * 10) / 10,
            });
          }
        },
        error(err) {
          log.error("listener error", { error: err.message });
          return matrixErrorResponse(new MatrixError("M_UNKNOWN", "Internal server error", {}, 500));
        },
      });
      servers.push(server);
      const host = l.bind_address.includes(":") ? `[${l.bind_address}]` : l.bind_address;
      const info = { url: `${l.tls ? "https" : "http"}://${host}:${server.port}`, port: server.port ?? l.port, tls: l.tls, resources: l.resources };
      listeners.push(info);
      log.info("listening", { url: info.url, resources: l.resources });
    }
  } catch (e) {
    for (const s of servers) s.stop(true);
    await db.close();
    serveLock?.release();
    throw e;
  }

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10000) =>
    (stopping ??= (async () => {
      log.info("shutting down");
      memoryGuard.stop();
      for (const s of servers) void s.stop(false);
      for (const hook of services.shutdownHooks) await hook();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((r) => (drained = r)),
          new Promise<void>((r) => setTimeout(r, graceMs)),
        ]);
      }
      for (const s of servers) s.stop(true);
      await db.close();
      serveLock?.release();
      log.info("stopped");
    })());

  return { config, db, signingKey, services, app, listeners, stop };
}

/** How far past the largest accepted body an oversized one is still read (and discarded) to answer 413. */
export const OVERSIZE_DRAIN_BYTES = 16 * 1048576;

/** Reads a request body to its end and throws it away (errors mean the client went away). */
async function discardBody(req: Request): Promise<void> {
  const reader = req.body?.getReader();
  if (!reader) return;
  try {
    for (;;) if ((await reader.read()).done) return;
  } catch {
    // The client closed the connection: nothing left to answer.
  }
}
