// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]] (relations.yaml)
// GET /_matrix/client/v1/rooms/{roomId}/threads (threads_list.yaml)
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { boolQuery, dirQuery, eventIdParam, intQuery, queryOf, roomIdParam, strQuery } from "./query-params.ts";

const viewer = (who: { userId: string; deviceId: string | null }) => ({ userId: who.userId, deviceId: who.deviceId ?? undefined });

export function relationsRoutes(app: App, svc: Services): void {
  const relations = async (request: Request, params: Record<string, string | undefined>) => {
    const who = await authenticate(svc, request);
    const q = queryOf(request);
    const relType = params.relType;
    const eventType = params.eventType;
    if (relType === "") throw new MatrixError("M_INVALID_PARAM", "Empty relType");
    if (eventType === "") throw new MatrixError("M_INVALID_PARAM", "Empty eventType");
    return svc.relations.relations(viewer(who), roomIdParam(params.roomId), eventIdParam(params.eventId), {
      relType,
      eventType,
      from: strQuery(q, "from"),
      to: strQuery(q, "to"),
      limit: intQuery(q, "limit"),
      dir: dirQuery(q, "b"),
      recurse: boolQuery(q, "recurse") ?? boolQuery(q, "org.matrix.msc3981.recurse"),
    });
  };
  const base = "/_matrix/client/v1/rooms/:roomId/relations/:eventId";
  app.get(base, ({ request, params }) => relations(request, params));
  app.get(`${base}/:relType`, ({ request, params }) => relations(request, params));
  app.get(`${base}/:relType/:eventType`, ({ request, params }) => relations(request, params));

  app.get("/_matrix/client/v1/rooms/:roomId/threads", async ({ request, params }) => {
    const who = await authenticate(svc, request);
    const q = queryOf(request);
    const include = q.get("include") ?? "all";
    if (include !== "all" && include !== "participated") throw new MatrixError("M_INVALID_PARAM", "'include' must be 'all' or 'participated'");
    return svc.relations.threads(viewer(who), roomIdParam(params.roomId), {
      include,
      from: strQuery(q, "from"),
      limit: intQuery(q, "limit", 1),
    });
  });
}
