// Client-Server API coverage: which non-deprecated endpoints of the spec (the OpenAPI files in
// data/api/client-server of the spec scripts/matrix-spec.ts finds) hs routes. The route table is the real one: the
// Elysia app `buildApp` builds on services over a throwaway SQLite database.
//
//   bun scripts/spec-coverage.ts                   prints the count and the missing endpoints
//   bun scripts/spec-coverage.ts --json            the same as JSON ({total, covered: [...], missing: [...]})
//   bun scripts/spec-coverage.ts --update-baseline rewrites tests/spec-coverage.baseline.json
//
// tests/spec-coverage.test.ts runs it and checks that every endpoint of the baseline is still
// routed (coverage never regresses); update the baseline when endpoints are added.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { validateConfig } from "../src/config/load.ts";
import { buildApp } from "../src/homeserver.ts";
import type { App } from "../src/http/app.ts";
import { declaredEndpoints, type EndpointInfo } from "../src/http/endpoint.ts";
import { createServices } from "../src/services/index.ts";
import { ensureSigningKey } from "../src/services/signing-key-file.ts";
import { openDatabase } from "../src/storage/engines/open.ts";
import { configureLogging } from "../src/util/log.ts";
import { specAbsentNote, specPath } from "./matrix-spec.ts";

/** The spec's Client-Server OpenAPI directory, or undefined when no spec is available. */
export const SPEC_CS_DIR = specPath("data/api/client-server");
export const BASELINE_FILE = resolve(import.meta.dir, "../tests/spec-coverage.baseline.json");

/** The endpoints (endpointKey) known to be routed: the test fails if one goes missing. */
export function readBaseline(): string[] {
  return JSON.parse(readFileSync(BASELINE_FILE, "utf8")) as string[];
}

export interface SpecEndpoint {
  method: string;
  /** Full path as the spec spells it, e.g. /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}. */
  path: string;
  /** The OpenAPI file (without .yaml). */
  file: string;
}

/** "GET /_matrix/client/v3/..." */
export const endpointKey = (e: { method: string; path: string }) => `${e.method.toUpperCase()} ${e.path}`;

/** Every operation of the Client-Server API that is not marked deprecated. */
export function specEndpoints(dir = SPEC_CS_DIR): SpecEndpoint[] {
  if (!dir) throw new Error(specAbsentNote("the coverage count"));
  const out: SpecEndpoint[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const doc = Bun.YAML.parse(readFileSync(join(dir, f), "utf8")) as {
      paths?: Record<string, Record<string, { deprecated?: boolean }>>;
      servers?: Array<{ variables?: { basePath?: { default?: string } } }>;
    };
    const base = doc.servers?.[0]?.variables?.basePath?.default ?? "";
    for (const [p, ops] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(ops)) {
        if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
        if (op?.deprecated === true) continue;
        // peeking_events.yaml spells its path "/events " to keep it apart from old_sync.yaml's.
        out.push({ method: method.toUpperCase(), path: base + p.trim(), file: f.replace(/\.yaml$/, "") });
      }
    }
  }
  return out;
}

/** A route pattern (Elysia syntax: `:param`, `*`) as a regex over concrete paths. */
function routeRegex(path: string): RegExp {
  const parts = path.split("/").map((seg) => {
    if (seg === "*") return ".*";
    if (seg.startsWith(":")) return "[^/]+";
    return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/")}/?$`);
}

/** The spec path with each {param} replaced by a sample value, as a request would carry it. */
function concrete(specPath: string): string {
  return specPath.replace(/\{[^}]+\}/g, "x");
}

export interface Coverage {
  total: number;
  covered: SpecEndpoint[];
  missing: SpecEndpoint[];
}

export function computeCoverage(endpoints: readonly SpecEndpoint[], routes: ReadonlyArray<{ method: string; path: string }>): Coverage {
  const compiled = routes.map((r) => ({ method: r.method.toUpperCase(), re: routeRegex(r.path) }));
  const covered: SpecEndpoint[] = [];
  const missing: SpecEndpoint[] = [];
  for (const e of endpoints) {
    const p = concrete(e.path);
    if (compiled.some((r) => r.method === e.method && r.re.test(p))) covered.push(e);
    else missing.push(e);
  }
  return { total: endpoints.length, covered, missing };
}

/** The route table of the real app, built on services over a temporary SQLite database. */
export async function appRoutes(): Promise<Array<{ method: string; path: string }>> {
  return withApp((app) => app.routes.map((r) => ({ method: r.method, path: r.path })));
}

/** The real app's route table and endpoint declarations (src/http/endpoint.ts). */
export async function appEndpoints(): Promise<{ routes: Array<{ method: string; path: string }>; declared: EndpointInfo[] }> {
  return withApp((app) => ({ routes: app.routes.map((r) => ({ method: r.method, path: r.path })), declared: [...declaredEndpoints(app)] }));
}

/** Runs `fn` on the real app, built on services over a temporary SQLite database. */
async function withApp<T>(fn: (app: App) => T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "hs-coverage-"));
  configureLogging({ level: "error" });
  try {
    const { config } = validateConfig(
      { server_name: "coverage.invalid", logging: { level: "error" }, federation: { enabled: false } },
      "spec-coverage",
      dir,
    );
    const key = ensureSigningKey(config.signing_key_path, config.server_name);
    const db = await openDatabase(config.database);
    const services = await createServices(config, db, key);
    try {
      return fn(buildApp(services));
    } finally {
      for (const hook of services.shutdownHooks) await hook();
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function specCoverage(): Promise<Coverage> {
  return computeCoverage(specEndpoints(), await appRoutes());
}

if (import.meta.main) {
  const cov = await specCoverage();
  if (process.argv.includes("--update-baseline")) {
    writeFileSync(BASELINE_FILE, JSON.stringify(cov.covered.map(endpointKey).sort(), null, 2) + "\n");
    console.log(`wrote ${cov.covered.length} endpoints to ${BASELINE_FILE}`);
  } else if (process.argv.includes("--json")) {
    console.log(JSON.stringify({ total: cov.total, covered: cov.covered.map(endpointKey), missing: cov.missing.map(endpointKey) }, null, 2));
  } else {
    console.log(`Client-Server API (non-deprecated endpoints): ${cov.covered.length} of ${cov.total} routed`);
    const byFile = new Map<string, SpecEndpoint[]>();
    for (const e of cov.missing) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
    if (cov.missing.length) console.log(`\nMissing (${cov.missing.length}):`);
    for (const [file, list] of [...byFile].sort()) {
      for (const e of list) console.log(`  ${file.padEnd(28)} ${endpointKey(e)}`);
    }
  }
}
