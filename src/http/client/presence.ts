// GET/PUT /presence/{userId}/status (presence.yaml; client-server-api modules/presence.md).
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import { PRESENCE_STATES, type PresenceState } from "../../services/presence.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody, optString } from "../params.ts";
import { userIdParam } from "./query-params.ts";

const PREFIXES = ["/_matrix/client/v3"];

export function presenceRoutes(app: App, svc: Services): void {
  for (const p of PREFIXES) {
    app.put(`${p}/presence/:userId/status`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const b = jsonBody(body);
      const presence = b.presence;
      if (presence === undefined || presence === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'presence'");
      if (typeof presence !== "string" || !PRESENCE_STATES.includes(presence as PresenceState)) {
        throw new MatrixError("M_INVALID_PARAM", "'presence' must be one of online, unavailable, offline");
      }
      const statusMsg = optString(b, "status_msg");
      await svc.presence.setStatus(who.userId, userIdParam(params.userId), presence as PresenceState, statusMsg);
      return {};
    });
    app.get(`${p}/presence/:userId/status`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return svc.presence.get(who.userId, userIdParam(params.userId));
    });
  }
}
