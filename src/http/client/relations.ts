// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]] (relations.yaml)
// GET /_matrix/client/v1/rooms/{roomId}/threads (threads_list.yaml)
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes, type QueryParser } from "../endpoint.ts";
import { param, query } from "../schema.ts";

const viewer = (who: { userId: string; deviceId: string | null }) => ({ userId: who.userId, deviceId: who.deviceId ?? undefined });
const recurseQuery: QueryParser<boolean | undefined> = (q, n) => query.bool(q, n) ?? query.bool(q, "org.matrix.msc3981.recurse");
const includeQuery: QueryParser<"all" | "participated"> = (q, n) => {
  const include = q.get(n) ?? "all";
  if (include !== "all" && include !== "participated") throw new MatrixError("M_INVALID_PARAM", "'include' must be 'all' or 'participated'");
  return include;
};
const nonEmptyIfGiven = (what: string) => (v: string | undefined) => {
  if (v === "") throw new MatrixError("M_INVALID_PARAM", `Empty ${what}`);
  return v;
};

export function relationsRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const base = "/_matrix/client/v1/rooms/:roomId/relations/:eventId";
  for (const path of [base, `${base}/:relType`, `${base}/:relType/:eventType`]) {
    route(
      {
        method: "GET", path, api: "client-server", access: "user",
        params: { roomId: param.roomId, eventId: param.eventId, relType: nonEmptyIfGiven("relType"), eventType: nonEmptyIfGiven("eventType") },
        query: { from: query.str, to: query.str, limit: query.int(), dir: query.dir("b"), recurse: recurseQuery },
      },
      ({ who, params, query }) =>
        svc.relations.relations(viewer(who), params.roomId, params.eventId, { relType: params.relType, eventType: params.eventType, ...query }),
    );
  }

  route(
    {
      method: "GET", path: "/_matrix/client/v1/rooms/:roomId/threads", api: "client-server", access: "user",
      params: { roomId: param.roomId }, query: { include: includeQuery, from: query.str, limit: query.int({ min: 1 }) },
    },
    ({ who, params, query }) => svc.relations.threads(viewer(who), params.roomId, query),
  );
}
