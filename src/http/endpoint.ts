// Declared endpoints: every route of the server is one `route(decl, handler)` call whose declaration
// says, in one place, what a newcomer asks first about an endpoint:
//
//   method, path     the full path in Elysia syntax (`:param`); legacy /_matrix/client/r0 paths are
//                    rewritten to v3 before routing (legacy-paths.ts), so only v3 is declared
//   api              the spec API it belongs to ("client-server", "server-server"), checked against the
//                    spec's OpenAPI by tests/http/endpoints.test.ts, or why it is not in the spec
//                    ("synapse-admin", "synapse", "legacy", "unstable", "hs")
//   access           who may call it: "none" (no token looked at), "optional" (a token if given),
//                    "user" (an access token, guests refused), "guest" (an access token, guests too:
//                    the spec's Guest Access list is exactly the client-server routes declared "guest"),
//                    "appservice" (an application service's token), "admin" (a server admin's token),
//                    "server" (another homeserver, X-Matrix signed)
//   suspended        "refuse": a suspended account gets 403 M_USER_SUSPENDED here (what a suspended or
//                    shadow-banned account's events become is the rooms service's sending policy,
//                    src/services/rooms/sending-policy.ts, applied wherever events are created)
//   rateLimit        the rate-limit class charged before the handler runs ("message": per sender)
//   params, query,   parsers for path parameters, query parameters and the JSON body; the handler
//   body             receives their typed results (a bad value is 400 M_INVALID_PARAM / M_BAD_JSON /
//                    M_MISSING_PARAM / M_NOT_JSON, from the parser, before the handler runs)
//
// The order is fixed: authenticate (access; a "refuse" suspension right after) → parse path, query,
// body → rate limit → handler. (For "server" routes the path is parsed first, so a room's server ACL can be applied.)
import { MatrixError } from "../protocol/errors.ts";
import { refuseIfSuspended, type AuthService, type Requester } from "../services/auth.ts";
import type { RateLimits } from "../services/ratelimit.ts";
import type { FederationServices } from "../services/federation/transport.ts";
import type { App, Method } from "./app.ts";
import { authenticate, authenticateOptional, requireAdmin } from "./auth.ts";
import { assertServerAllowedInRoom, authenticateServer, type FederationAuthDeps } from "./federation/auth.ts";

export type Access = "none" | "optional" | "user" | "guest" | "appservice" | "admin" | "server";

/** Where an endpoint is defined: a spec API, or why it is outside the spec. */
export type Api =
  | "client-server"
  | "server-server"
  /** Synapse's admin API (/_synapse/admin), which admin tools and the web console use. */
  | "synapse-admin"
  /** Synapse's own endpoints outside the spec and outside its admin API (e.g. /password_policy). */
  | "synapse"
  /** A form the spec dropped or never had that clients and servers still send (as Synapse serves it). */
  | "legacy"
  /** An MSC's unstable endpoint. */
  | "unstable"
  /** hs's own (metrics, the web client's helpers). */
  | "hs";

export type ParamParser<T> = (raw: string | undefined, name: string) => T;
export type QueryParser<T> = (q: URLSearchParams, name: string) => T;
export type BodyParser<T> = (body: unknown) => T;

type ParamSchema = Record<string, ParamParser<unknown>>;
type QuerySchema = Record<string, QueryParser<unknown>>;

export interface EndpointInfo {
  method: Method;
  path: string;
  api: Api;
  access: Access;
  /** An operator setting that opens a "user" endpoint to guests (e.g. "[voip] turn_allow_guests"). */
  guestsBySetting?: string;
  rateLimit?: "message";
  /**
   * For a "guest" endpoint the spec's Guest Access list does not name: the listed endpoint
   * ("METHOD /path" as the spec spells it) it is the same operation as, addressed differently.
   */
  sameOperationAs?: string;
  /**
   * Why the declared access differs from the spec's `security` for this endpoint (the endpoints test
   * accepts a difference only with a reason).
   */
  accessDiffers?: string;
  /** The spec's path when the route's differs from it (beyond parameter names), e.g. a wildcard route. */
  specPath?: string;
}

export interface RouteDecl<A extends Access, P extends ParamSchema, Q extends QuerySchema, B> extends EndpointInfo {
  access: A;
  /** A suspended account: "refuse" → 403 M_USER_SUSPENDED (finer rules: the rooms service's sending policy). */
  suspended?: "refuse";
  /** Token options: expired (refreshable) tokens accepted (/logout); a locked account allowed. */
  token?: { allowExpired?: boolean; allowLocked?: boolean };
  /** For guestsBySetting: whether the setting is on now. */
  guestsAllowed?: () => boolean;
  /** For "server": the path parameter naming the room whose server ACL the origin must pass. */
  aclRoom?: keyof P & string;
  params?: P;
  query?: Q;
  body?: BodyParser<B>;
}

type Parsed<S> = { [K in keyof S]: S[K] extends (...a: never[]) => infer T ? T : never };

export type Who<A extends Access> = A extends "none"
  ? undefined
  : A extends "optional"
    ? Requester | undefined
    : A extends "server"
      ? string
      : Requester;

/** What a handler receives: the caller and the validated request. */
export interface Req<A extends Access, P, Q, B> {
  who: Who<A>;
  params: Parsed<P>;
  /** The parsed query; without a declared query schema, the query string as given (last value wins). */
  query: keyof Q extends never ? Record<string, string | undefined> : Parsed<Q>;
  body: B;
  request: Request;
  // Elysia's response settings (status, headers), for the few handlers that set them.
  set: { status?: number | string; headers: Record<string, string | number> };
}

/** What `route` needs from the services (each only for the accesses that use it). */
export interface RouteDeps {
  auth?: AuthService;
  ratelimits?: Pick<RateLimits, "consumeMessage">;
  config?: FederationAuthDeps["config"];
  federation?: FederationAuthDeps["federation"] & Partial<Pick<FederationServices, "acls">>;
}

const declared = new WeakMap<object, EndpointInfo[]>();

/** Every endpoint declared on `app`, in declaration order. */
export function declaredEndpoints(app: App): readonly EndpointInfo[] {
  return declared.get(app) ?? [];
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new Error(`route: ${what} missing from the services given to routes()`);
  return v;
};

/**
 * The route declarer for a module: `const route = routes(app, svc)`, then one
 * `route({ method, path, api, access, ... }, handler)` per endpoint.
 */
export function routes(app: App, services: object) {
  const deps = services as RouteDeps;
  const list = declared.get(app) ?? [];
  declared.set(app, list);
  return function route<A extends Access, P extends ParamSchema = {}, Q extends QuerySchema = {}, B = unknown>(
    decl: RouteDecl<A, P, Q, B>,
    handler: (req: Req<A, P, Q, B>) => unknown,
  ): void {
    list.push({
      method: decl.method,
      path: decl.path,
      api: decl.api,
      access: decl.access,
      guestsBySetting: decl.guestsBySetting,
      rateLimit: decl.rateLimit,
      sameOperationAs: decl.sameOperationAs,
      accessDiffers: decl.accessDiffers,
      specPath: decl.specPath,
    });
    const parseParams = (raw: Record<string, string | undefined>): Parsed<P> => {
      const out: Record<string, unknown> = {};
      for (const [k, parse] of Object.entries(decl.params ?? {})) out[k] = parse(raw[k], k);
      return out as Parsed<P>;
    };
    const parseQuery = (request: Request, given: Record<string, string | undefined>): Parsed<Q> => {
      const out: Record<string, unknown> = {};
      const entries = Object.entries(decl.query ?? {});
      if (decl.query === undefined) return given as Parsed<Q>;
      const q = new URL(request.url).searchParams;
      for (const [k, parse] of entries) out[k] = parse(q, k);
      return out as Parsed<Q>;
    };
    const handle = async (ctx: { request: Request; params: Record<string, string | undefined>; query: Record<string, string | undefined>; body: unknown; set: Req<A, P, Q, B>["set"] }) => {
      const { request } = ctx;
      let who: Requester | string | undefined;
      let params: Parsed<P>;
      switch (decl.access) {
        case "none":
          params = parseParams(ctx.params);
          break;
        case "server": {
          const fdeps = { config: need(deps.config, "config"), federation: need(deps.federation, "federation") };
          params = parseParams(ctx.params);
          who = await authenticateServer(fdeps, request, ctx.body);
          if (decl.aclRoom !== undefined) {
            await assertServerAllowedInRoom({ federation: need(deps.federation?.acls && deps.federation, "federation.acls") as Pick<FederationServices, "acls"> }, params[decl.aclRoom] as string, who);
          }
          break;
        }
        case "optional":
          who = await authenticateOptional({ auth: need(deps.auth, "auth") }, request, decl.token);
          params = parseParams(ctx.params);
          break;
        default: {
          const guests = decl.access === "guest" || (decl.guestsAllowed?.() ?? false);
          const r = await authenticate({ auth: need(deps.auth, "auth") }, request, { ...decl.token, guests });
          if (decl.suspended === "refuse") refuseIfSuspended(r);
          if (decl.access === "admin") requireAdmin(r);
          if (decl.access === "appservice" && r.appserviceId === undefined) {
            throw new MatrixError("M_FORBIDDEN", "Only application services can use this endpoint");
          }
          who = r;
          params = parseParams(ctx.params);
        }
      }
      const query = parseQuery(request, ctx.query);
      const body = (decl.body ? decl.body(ctx.body) : ctx.body) as B;
      if (decl.rateLimit === "message" && typeof who === "object") need(deps.ratelimits, "ratelimits").consumeMessage(who);
      return handler({ who: who as Who<A>, params, query: query as Req<A, P, Q, B>["query"], body, request, set: ctx.set });
    };
    const m = decl.method.toLowerCase() as "get" | "put" | "post" | "delete";
    (app[m] as (path: string, h: typeof handle) => unknown).call(app, decl.path, handle);
  };
}

export type Route = ReturnType<typeof routes>;
