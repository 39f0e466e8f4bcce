// Access token extraction for client endpoints (spec: client-server-api "Using access tokens").
// The token comes from `Authorization: Bearer <token>` or the deprecated `access_token` query
// parameter; a request using both is refused (as Synapse does). Every authenticated endpoint calls
// `authenticate(svc, request, opts)` first.
import { MatrixError } from "../protocol/errors.ts";
import { refuseIfSuspended, type AuthService, type Requester } from "../services/auth.ts";
import { requestMeta } from "./app.ts";

export type { Requester };

export interface AuthOptions {
  /**
   * Whether guests may call this endpoint: its declared access is "guest" (src/http/endpoint.ts; the
   * spec's Guest Access list), it needs no token at all (authenticateOptional), or an operator setting
   * opens it. Otherwise a guest gets 403 M_GUEST_ACCESS_FORBIDDEN.
   */
  guests?: boolean;
  /** Expired (refreshable) tokens are accepted, e.g. for /logout. */
  allowExpired?: boolean;
  /** A locked account may use this endpoint (only /logout and /logout/all; spec "Account locking"). */
  allowLocked?: boolean;
  /** A suspended account gets 403 M_USER_SUSPENDED here (spec "Account suspension"). */
  refuseSuspended?: boolean;
}

const missingToken = (msg = "Missing access token") => new MatrixError("M_MISSING_TOKEN", msg);

/** The access token of a request, or undefined when it has none. Throws M_MISSING_TOKEN when malformed. */
export function accessTokenOf(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  const query = request.url.includes("access_token=") ? new URL(request.url).searchParams.get("access_token") : null;
  if (header !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw missingToken("Invalid Authorization header");
    if (query !== null) throw missingToken("Mixing Authorization headers and access_token query parameters");
    return m[1];
  }
  return query || undefined;
}

/** The client's address (set by the listener, X-Forwarded-For aware) and user agent. */
export function connectionOf(request: Request): { ip: string; userAgent: string } {
  return { ip: requestMeta(request).ip, userAgent: request.headers.get("user-agent") ?? "" };
}

/**
 * Validates the request's access token. Throws 401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN (with
 * soft_logout for expired tokens) or 403 M_GUEST_ACCESS_FORBIDDEN.
 */
export async function authenticate(svc: { auth: AuthService }, request: Request, opts: AuthOptions = {}): Promise<Requester> {
  const token = accessTokenOf(request);
  if (token === undefined) throw missingToken();
  const url = new URL(request.url);
  const requester = await svc.auth.validateAccessToken(token, connectionOf(request), {
    allowExpired: opts.allowExpired,
    allowLocked: opts.allowLocked,
    userIdParam: url.searchParams.get("user_id") ?? undefined,
    deviceIdParam: url.searchParams.get("device_id") ?? url.searchParams.get("org.matrix.msc3202.device_id") ?? undefined,
  });
  if (requester.isGuest && !opts.guests) {
    throw new MatrixError("M_GUEST_ACCESS_FORBIDDEN", "Guest access not allowed");
  }
  if (opts.refuseSuspended) refuseIfSuspended(requester);
  return requester;
}

/**
 * Like authenticate, but undefined for a request without any token (an invalid one still fails).
 * Such an endpoint needs no account, so guests may call it too.
 */
export async function authenticateOptional(svc: { auth: AuthService }, request: Request, opts: AuthOptions = {}): Promise<Requester | undefined> {
  if (accessTokenOf(request) === undefined) return undefined;
  return authenticate(svc, request, { guests: true, ...opts });
}

/** Throws 403 M_FORBIDDEN unless the requester is a server admin (Synapse admin API). */
export function requireAdmin(r: Requester): void {
  if (!r.isAdmin) throw new MatrixError("M_FORBIDDEN", "You are not a server admin");
}
