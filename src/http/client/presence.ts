// GET/PUT /presence/{userId}/status (presence.yaml; client-server-api modules/presence.md).
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import { PRESENCE_STATES, type PresenceState } from "../../services/presence.ts";
import type { App } from "../app.ts";
import { optString } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

const PATH = "/_matrix/client/v3/presence/:userId/status";

export function presenceRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "PUT", path: PATH, api: "client-server", access: "user", params: { userId: param.raw }, body: body.object }, async ({ who, params, body: b }) => {
    const presence = b.presence;
    if (presence === undefined || presence === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'presence'");
    if (typeof presence !== "string" || !PRESENCE_STATES.includes(presence as PresenceState)) {
      throw new MatrixError("M_INVALID_PARAM", "'presence' must be one of online, unavailable, offline");
    }
    const statusMsg = optString(b, "status_msg");
    await svc.presence.setStatus(who.userId, param.userId(params.userId, "userId"), presence as PresenceState, statusMsg);
    return {};
  });
  route({ method: "GET", path: PATH, api: "client-server", access: "user", params: { userId: param.userId } }, ({ who, params }) => svc.presence.get(who.userId, params.userId));
}
