// Authenticating requests from other servers (server-server-api.md "Request Authentication") and
// the server ACL check for room-scoped federation endpoints ("Server Access Control Lists (ACLs)").
// Every authenticated federation endpoint starts with:
//   const origin = await authenticateServer(svc, request, body);
//   await assertServerAllowedInRoom(svc, roomId, origin);   // endpoints the ACL section lists
import type { Config } from "../../config/schema.ts";
import { parseXMatrix, requestSignedContent, requestSigningObject } from "../../core/x-matrix.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { parseServerName } from "../../protocol/ids.ts";
import type { FederationServices } from "../../services/federation/transport.ts";

export interface FederationAuthDeps {
  config: Pick<Config, "server_name">;
  federation: Pick<FederationServices, "enabled" | "keyRing" | "isDomainAllowed" | "inboundHooks">;
}

const unauthorized = (msg: string) => new MatrixError("M_UNAUTHORIZED", msg, {}, 401);

/** 403 M_FORBIDDEN when [federation] enabled = false. */
export function requireFederationEnabled(svc: { federation: Pick<FederationServices, "enabled"> }): void {
  if (!svc.federation.enabled) throw new MatrixError("M_FORBIDDEN", "Federation is disabled on this server", {}, 403);
}

/** The request target as sent: path and query, percent-encoding kept. */
export function requestTarget(request: Request): string {
  const u = new URL(request.url);
  return u.pathname + u.search;
}

/**
 * Checks the X-Matrix Authorization header(s) of a request from another server and returns the
 * origin server name. `body` is the parsed JSON body (signed as `content` for PUT and POST).
 * Throws 401 M_UNAUTHORIZED for missing, malformed or wrongly signed requests (and a `destination`
 * that is not us), 403 M_FORBIDDEN when federation is disabled or the origin is not in
 * domain_allowlist.
 */
export async function authenticateServer(svc: FederationAuthDeps, request: Request, body?: unknown): Promise<string> {
  requireFederationEnabled(svc);
  const header = request.headers.get("authorization");
  if (header === null) throw unauthorized("Missing Authorization headers");
  const { auths } = parseXMatrix(header);
  if (auths.length === 0) throw unauthorized("Missing or malformed X-Matrix Authorization header");
  const origin = auths[0]!.origin;
  if (auths.some((a) => a.origin !== origin)) throw unauthorized("X-Matrix headers name different origins");
  // A malformed origin (e.g. a non-numeric port) is a bad request, as in Synapse (400 M_UNAUTHORIZED).
  if (parseServerName(origin) === null) throw new MatrixError("M_UNAUTHORIZED", "Invalid origin in X-Matrix header", {}, 400);
  const ourName = svc.config.server_name;
  for (const a of auths) {
    if (a.destination !== undefined && a.destination !== ourName) {
      throw unauthorized(`Request is addressed to ${a.destination}, not to this server`);
    }
  }
  if (!svc.federation.isDomainAllowed(origin)) {
    throw new MatrixError("M_FORBIDDEN", "Federation with this server is not allowed", {}, 403);
  }
  const method = request.method.toUpperCase();
  const content = method === "PUT" || method === "POST" ? (body === undefined || typeof body === "symbol" ? {} : body) : undefined;
  const toSign = { method, uri: requestTarget(request), origin, destination: ourName, content };
  const signatures: Record<string, string> = {};
  for (const a of auths) signatures[a.key] = a.sig;
  let signed: string;
  try {
    signed = requestSignedContent(toSign);
  } catch {
    throw unauthorized("Request body cannot be canonicalised for signature checking");
  }
  const obj = { ...requestSigningObject(toSign), signatures: { [origin]: signatures } };
  const check = await svc.federation.keyRing.verifyJsonForServer(origin, obj, Date.now(), signed);
  if (!check.ok) throw unauthorized(`Invalid signature: ${check.reason}`);
  // The origin is up: deliveries queued for it need not wait for their back-off any longer.
  for (const hook of svc.federation.inboundHooks) hook(origin);
  return origin;
}

/** 403 M_FORBIDDEN when the room's m.room.server_acl denies `origin`. */
export async function assertServerAllowedInRoom(
  svc: { federation: Pick<FederationServices, "acls"> },
  roomId: string,
  origin: string,
): Promise<void> {
  await svc.federation.acls.assertAllowed(roomId, origin);
}
