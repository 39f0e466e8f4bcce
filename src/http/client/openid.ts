// POST /_matrix/client/v3/user/{userId}/openid/request_token and
// GET /_matrix/federation/v1/openid/userinfo (data/api/{client-server,server-server}/openid.yaml).
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { requireFederationEnabled } from "../federation/auth.ts";

export function openIdRoutes(app: App, svc: Services): void {
  app.post("/_matrix/client/v3/user/:userId/openid/request_token", async ({ request, params }) => {
    const who = await authenticate(svc, request);
    if (params.userId !== who.userId) throw new MatrixError("M_FORBIDDEN", "You can only request an OpenID token for yourself");
    return svc.openId.issue(who.userId);
  });
  // Called by third parties with the token itself (no X-Matrix signature: they are not servers).
  app.get("/_matrix/federation/v1/openid/userinfo", ({ request }) => {
    requireFederationEnabled(svc);
    const token = new URL(request.url).searchParams.get("access_token");
    if (!token) throw new MatrixError("M_MISSING_TOKEN", "Missing access_token", {}, 401);
    const sub = svc.openId.userOf(token);
    if (!sub) throw new MatrixError("M_UNKNOWN_TOKEN", "Access token unknown or expired", {}, 401);
    return { sub };
  });
}
