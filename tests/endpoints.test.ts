// The endpoint declarations (src/http/endpoint.ts) against the spec's OpenAPI (data/api of the spec
// scripts/matrix-spec.ts finds): every endpoint declared as a spec API's exists there with its method,
// and its declared access agrees with the operation's `security` (a token, an optional token, none, an
// application service's token, a server's signature). The spec's Guest Access list is exactly the
// client-server endpoints declared "guest". Endpoints outside the spec say why (synapse-admin, legacy,
// unstable, hs).
import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { noteSpecAbsent, specPath } from "../scripts/matrix-spec.ts";
import { appEndpoints } from "../scripts/spec-coverage.ts";
import type { Access, EndpointInfo } from "../src/http/endpoint.ts";

const API_DIR = specPath("data/api");
const GUEST_MODULE = specPath("content/client-server-api/modules/guest_access.md");
if (!API_DIR) noteSpecAbsent("the check of the endpoint declarations against the spec's OpenAPI");

type Security = "none" | "token" | "optional" | "appservice" | "server";

interface SpecOp {
  method: string;
  /** Full path as the spec spells it. */
  path: string;
  security: Security;
  file: string;
}

const SPEC_DIRS = { "client-server": "client-server", "server-server": "server-server" } as const;

function securityOf(sec: Array<Record<string, unknown>> | undefined): Security {
  if (sec === undefined || sec.length === 0) return "none";
  const keys = sec.flatMap((s) => Object.keys(s));
  if (sec.some((s) => Object.keys(s).length === 0)) return "optional";
  if (keys.includes("signedRequest")) return "server";
  if (keys.every((k) => k.startsWith("appservice"))) return "appservice";
  return "token";
}

/** Every operation of one API of the spec, deprecated ones included (hs still serves some). */
function specOps(api: keyof typeof SPEC_DIRS): SpecOp[] {
  const dir = join(API_DIR!, SPEC_DIRS[api]);
  const out: SpecOp[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const doc = Bun.YAML.parse(readFileSync(join(dir, f), "utf8")) as {
      paths?: Record<string, Record<string, { security?: Array<Record<string, unknown>> }>>;
      servers?: Array<{ variables?: { basePath?: { default?: string } } }>;
      security?: Array<Record<string, unknown>>;
    };
    const base = doc.servers?.[0]?.variables?.basePath?.default ?? "";
    for (const [p, ops] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(ops)) {
        if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
        out.push({ method: method.toUpperCase(), path: base + p.trim(), security: securityOf(op?.security ?? doc.security), file: f });
      }
    }
  }
  return out;
}

/** The declared path as the spec spells paths ({param}). */
const specSpelling = (path: string) => path.replace(/:([^/]+)/g, "{$1}");

/** Whether a declared path is the spec path: literal segments equal, parameters in the same places (a literal may fill a spec parameter). */
function samePath(declared: string, spec: string): boolean {
  const d = specSpelling(declared).split("/");
  const s = spec.split("/");
  if (d.length !== s.length) return false;
  return d.every((seg, i) => {
    const t = s[i]!;
    const dParam = /^\{.+\}$/.test(seg);
    const sParam = /^\{.+\}$/.test(t);
    if (sParam) return true;
    return !dParam && seg === t;
  });
}

/** What each kind of spec security allows an endpoint to declare. */
const ALLOWED: Record<Security, Access[]> = {
  none: ["none", "optional"],
  optional: ["optional"],
  token: ["user", "guest", "admin", "appservice"],
  appservice: ["appservice"],
  server: ["server"],
};

/** The endpoints of the Guest Access module's "Client behaviour" list, as full paths. */
function specGuestList(): string[] {
  const md = readFileSync(GUEST_MODULE!, "utf8");
  const section = md.slice(md.indexOf("#### Client behaviour"), md.indexOf("#### Server behaviour"));
  const out: string[] = [];
  for (const m of section.matchAll(/^\s*\*.*?\[(GET|PUT|POST|DELETE) (\/[^\]\s]+)\]\(#(?:get|put|post|delete)_matrix(client)(v\d+)/gm)) {
    const [, method, path, api, version] = m;
    out.push(`${method} /_matrix/${api}/${version}${path}`);
  }
  return out;
}

describe("endpoint declarations", () => {
  let declared: EndpointInfo[];
  let routes: Array<{ method: string; path: string }>;
  beforeAll(async () => {
    ({ declared, routes } = await appEndpoints());
  }, 30_000);

  test("every route is declared, once, and each declaration is routed", () => {
    const declaredKeys = new Set(declared.map((e) => `${e.method} ${e.path}`));
    const undeclared = routes.filter((r) => ["GET", "PUT", "POST", "DELETE"].includes(r.method) && !declaredKeys.has(`${r.method} ${r.path}`));
    expect(undeclared).toEqual([]);
    const keys = declared.map((e) => `${e.method} ${e.path}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    const routed = new Set(routes.map((r) => `${r.method} ${r.path}`));
    expect(keys.filter((k) => !routed.has(k))).toEqual([]);
    expect(declared.length).toBeGreaterThan(250);
  });

  test.skipIf(!API_DIR)("every spec endpoint declared is in the spec's OpenAPI, with a matching access", () => {
    const wrong: string[] = [];
    for (const api of ["client-server", "server-server"] as const) {
      const ops = specOps(api);
      for (const e of declared.filter((d) => d.api === api)) {
        const want = e.specPath ?? e.path;
        const op = ops.find((o) => o.method === e.method && samePath(want, o.path));
        if (!op) {
          wrong.push(`${e.method} ${e.path}: declared ${api}, but not in the spec`);
          continue;
        }
        if (!ALLOWED[op.security].includes(e.access) && e.accessDiffers === undefined) {
          wrong.push(`${e.method} ${e.path}: declared "${e.access}", but the spec's security is ${op.security} (${op.file})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test.skipIf(!API_DIR)("endpoints declared outside the spec are not spec endpoints", () => {
    const ops = [...specOps("client-server"), ...specOps("server-server")];
    const inSpec = declared.filter(
      (e) => (e.api === "synapse-admin" || e.api === "synapse" || e.api === "hs" || e.api === "unstable") && ops.some((o) => o.method === e.method && samePath(e.path, o.path)),
    );
    expect(inSpec.map((e) => `${e.method} ${e.path} (${e.api})`)).toEqual([]);
  });

  test.skipIf(!GUEST_MODULE)("the spec's Guest Access list is exactly the client-server endpoints declared \"guest\"", () => {
    const spec = specGuestList();
    expect(spec.length).toBeGreaterThanOrEqual(25);
    const guests = declared.filter((e) => e.access === "guest" && e.api === "client-server" && e.sameOperationAs === undefined);
    expect(guests.map((e) => `${e.method} ${specSpelling(e.path)}`).sort()).toEqual([...spec].sort());
  });

  test("a declared access that differs from the spec's says why", () => {
    for (const e of declared.filter((e) => e.accessDiffers !== undefined)) expect(e.accessDiffers!.length).toBeGreaterThan(20);
  });

  test("a \"guest\" endpoint off the list is the same operation as a listed one", () => {
    const listed = new Set(declared.filter((e) => e.access === "guest" && e.sameOperationAs === undefined).map((e) => `${e.method} ${specSpelling(e.path)}`));
    const others = declared.filter((e) => e.access === "guest" && e.sameOperationAs !== undefined);
    expect(others.length).toBeGreaterThan(0);
    for (const e of others) expect([e.path, listed.has(e.sameOperationAs!)]).toEqual([e.path, true]);
    // Only "guest" endpoints name one; operator settings that open endpoints to guests are named.
    expect(declared.filter((e) => e.access !== "guest" && e.sameOperationAs !== undefined)).toEqual([]);
    for (const e of declared.filter((e) => e.guestsBySetting !== undefined)) expect(e.guestsBySetting).toMatch(/^\[\w+\] \w+$/);
  });

  test("path matching: literals, parameters, a literal filling a spec parameter", () => {
    expect(samePath("/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}")).toBe(true);
    expect(samePath("/_matrix/client/v3/profile/:userId/displayname", "/_matrix/client/v3/profile/{userId}/{keyName}")).toBe(true);
    expect(samePath("/_matrix/client/v3/rooms/:roomId/:action", "/_matrix/client/v3/rooms/{roomId}/kick")).toBe(false);
    expect(samePath("/_matrix/client/v3/rooms/:roomId/state/:eventType", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}")).toBe(false);
    expect(securityOf([{ accessTokenQuery: [] }, { accessTokenBearer: [] }])).toBe("token");
    expect(securityOf([{ accessTokenBearer: [] }, {}])).toBe("optional");
    expect(securityOf([{ signedRequest: [] }])).toBe("server");
    expect(securityOf(undefined)).toBe("none");
  });
});
