// Server-Server API: GET/POST /_matrix/federation/v1/publicRooms (public_rooms.yaml) and
// GET /_matrix/federation/v1/hierarchy/{roomId} (space_hierarchy.yaml).
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { PublicRoomsRequest } from "../../services/directory/room-directory.ts";
import type { App } from "../app.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";
import { boundedSearchTerm } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const F = "/_matrix/federation/v1";


function intParam(v: string | null, name: string): number | undefined {
  if (v === null || v === "") return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be a non-negative integer`);
  return Number(v);
}

export function federationDirectoryRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const allowed = () => {
    if (!svc.config.room_directory.public_rooms_over_federation) {
      throw new MatrixError("M_FORBIDDEN", "This server does not share its room directory with other servers");
    }
  };

  route({ method: "GET", path: `${F}/publicRooms`, api: "server-server", access: "server" }, async ({ request }) => {
    allowed();
    const q = new URL(request.url).searchParams;
    const req: PublicRoomsRequest = { limit: intParam(q.get("limit"), "limit"), since: q.get("since") || undefined };
    const instance = q.get("third_party_instance_id");
    if (instance && q.get("include_all_networks") !== "true") req.thirdPartyInstanceId = instance;
    return svc.roomDirectory.localPublicRooms(req);
  });
  route({ method: "POST", path: `${F}/publicRooms`, api: "server-server", access: "server" }, async ({ request, body }) => {
    allowed();
    const b = isObject(body) ? body : {};
    const req: PublicRoomsRequest = {};
    if (typeof b.limit === "number") {
      if (!Number.isInteger(b.limit) || b.limit < 0) throw new MatrixError("M_INVALID_PARAM", "'limit' must be a non-negative integer");
      req.limit = b.limit;
    }
    if (typeof b.since === "string") req.since = b.since;
    if (isObject(b.filter)) {
      req.filter = {};
      if (typeof b.filter.generic_search_term === "string") req.filter.generic_search_term = boundedSearchTerm(b.filter.generic_search_term, "filter.generic_search_term");
      if (Array.isArray(b.filter.room_types)) req.filter.room_types = b.filter.room_types.filter((t): t is string | null => t === null || typeof t === "string");
    }
    if (typeof b.third_party_instance_id === "string" && b.include_all_networks !== true) req.thirdPartyInstanceId = b.third_party_instance_id;
    return svc.roomDirectory.localPublicRooms(req);
  });

  route({ method: "GET", path: `${F}/hierarchy/:roomId`, api: "server-server", access: "server", aclRoom: "roomId", params: { roomId: param.raw } }, async ({ who: origin, request, params }) => {
    const roomId = params.roomId;
    const q = new URL(request.url).searchParams;
    const suggested = q.get("suggested_only");
    if (suggested !== null && suggested !== "true" && suggested !== "false") throw new MatrixError("M_INVALID_PARAM", "'suggested_only' must be true or false");
    return svc.spaces.federationHierarchy(origin, roomId, suggested === "true");
  });
}
