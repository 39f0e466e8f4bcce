// GET /_matrix/client/v1/rooms/{roomId}/hierarchy (space_hierarchy.yaml) and
// GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (room_summary.yaml, v1.15).
// Spec: client-server-api modules/spaces.md, "Room Summaries".
import { MatrixError } from "../../protocol/errors.ts";
import { isValidServerName } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes, type ParamParser, type QueryParser } from "../endpoint.ts";
import { param, query } from "../schema.ts";

const roomIdOrAlias: ParamParser<string> = (v) => {
  if (!v || (!v.startsWith("!") && !v.startsWith("#"))) throw new MatrixError("M_INVALID_PARAM", "Expected a room ID or alias");
  return v;
};
const viaQuery: QueryParser<string[]> = (q, n) => {
  const via = q.getAll(n);
  for (const v of via) if (!isValidServerName(v)) throw new MatrixError("M_INVALID_PARAM", `Invalid server name in 'via': ${v}`);
  return via;
};
const suggestedOnly: QueryParser<boolean> = (q, n) => query.bool(q, n) ?? false;

export function spacesRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    {
      method: "GET", path: "/_matrix/client/v1/rooms/:roomId/hierarchy", api: "client-server", access: "user", params: { roomId: param.roomId },
      query: { suggested_only: suggestedOnly, limit: query.int({ min: 1 }), max_depth: query.int(), from: query.str },
    },
    ({ who, params, query }) =>
      svc.spaces.hierarchy(who.userId, params.roomId, { suggestedOnly: query.suggested_only, limit: query.limit, maxDepth: query.max_depth, from: query.from }),
  );

  for (const [path, api] of [
    ["/_matrix/client/v1/room_summary/:roomIdOrAlias", "client-server"],
    // MSC3266's unstable path, which matrix-js-sdk and Element still call.
    ["/_matrix/client/unstable/im.nheko.summary/summary/:roomIdOrAlias", "unstable"],
  ] as const) {
    route({
      method: "GET", path, api, access: "optional",
      accessDiffers: "room_summary.yaml gives this client endpoint the federation's signedRequest security; its text makes the access token optional",
      params: { roomIdOrAlias }, query: { via: viaQuery },
    }, ({ who, params, query }) =>
      svc.spaces.roomSummary(who?.userId, params.roomIdOrAlias, query.via),
    );
  }
}
