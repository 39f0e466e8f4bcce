// POST /_matrix/client/v3/user/{userId}/openid/request_token and
// GET /_matrix/federation/v1/openid/userinfo (data/api/{client-server,server-server}/openid.yaml).
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { requireFederationEnabled } from "../federation/auth.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

export function openIdRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "POST", path: "/_matrix/client/v3/user/:userId/openid/request_token", api: "client-server", access: "user", params: { userId: param.raw } }, async ({ who, request, params }) => {
    if (params.userId !== who.userId) throw new MatrixError("M_FORBIDDEN", "You can only request an OpenID token for yourself");
    return svc.openId.issue(who.userId);
  });
  // Called by third parties with the token itself (no X-Matrix signature: they are not servers).
  route({ method: "GET", path: "/_matrix/federation/v1/openid/userinfo", api: "server-server", access: "none" }, ({ request }) => {
    requireFederationEnabled(svc);
    const token = new URL(request.url).searchParams.get("access_token");
    if (!token) throw new MatrixError("M_MISSING_TOKEN", "Missing access_token", {}, 401);
    const sub = svc.openId.userOf(token);
    if (!sub) throw new MatrixError("M_UNKNOWN_TOKEN", "Access token unknown or expired", {}, 401);
    return { sub };
  });
}
