// GET /_matrix/client/v1/rooms/{roomId}/hierarchy (space_hierarchy.yaml) and
// GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (room_summary.yaml, v1.15).
// Spec: client-server-api modules/spaces.md, "Room Summaries".
import { MatrixError } from "../../protocol/errors.ts";
import { isValidServerName } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate, authenticateOptional } from "../auth.ts";
import { boolQuery, intQuery, queryOf, roomIdParam, strQuery } from "./query-params.ts";

export function spacesRoutes(app: App, svc: Services): void {
  const hierarchy = async (request: Request, roomId: string | undefined) => {
    const who = await authenticate(svc, request);
    const q = queryOf(request);
    return svc.spaces.hierarchy(who.userId, roomIdParam(roomId), {
      suggestedOnly: boolQuery(q, "suggested_only") ?? false,
      limit: intQuery(q, "limit", 1),
      maxDepth: intQuery(q, "max_depth", 0),
      from: strQuery(q, "from"),
    });
  };
  app.get("/_matrix/client/v1/rooms/:roomId/hierarchy", ({ request, params }) => hierarchy(request, params.roomId));

  const summary = async (request: Request, roomIdOrAlias: string | undefined) => {
    const who = await authenticateOptional(svc, request);
    if (!roomIdOrAlias || (!roomIdOrAlias.startsWith("!") && !roomIdOrAlias.startsWith("#"))) {
      throw new MatrixError("M_INVALID_PARAM", "Expected a room ID or alias");
    }
    const via = queryOf(request).getAll("via");
    for (const v of via) if (!isValidServerName(v)) throw new MatrixError("M_INVALID_PARAM", `Invalid server name in 'via': ${v}`);
    return svc.spaces.roomSummary(who?.userId, roomIdOrAlias, via);
  };
  app.get("/_matrix/client/v1/room_summary/:roomIdOrAlias", ({ request, params }) => summary(request, params.roomIdOrAlias));
  // MSC3266's unstable path, which matrix-js-sdk and Element still call.
  app.get("/_matrix/client/unstable/im.nheko.summary/summary/:roomIdOrAlias", ({ request, params }) => summary(request, params.roomIdOrAlias));
}
