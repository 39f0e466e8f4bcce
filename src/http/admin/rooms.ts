// Synapse's room admin API (docs/admin_api/rooms.md), for server admins:
//   GET    /_synapse/admin/v1/rooms                         list (from, limit, order_by, dir,
//                                                           search_term, public_rooms, empty_rooms)
//   GET    /_synapse/admin/v1/rooms/{roomId}                details
//   GET    /_synapse/admin/v1/rooms/{roomId}/members        joined members
//   GET    /_synapse/admin/v1/rooms/{roomId}/state          current state [?type=]
//   GET|PUT /_synapse/admin/v1/rooms/{roomId}/block         {block}
//   POST   /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin {user_id?}
//   POST   /_synapse/admin/v1/join/{roomIdOrAlias}          {user_id}: makes a local user join
//   DELETE /_synapse/admin/v1/rooms/{roomId}                shut down (and purge) before answering
//   DELETE /_synapse/admin/v2/rooms/{roomId}                the same in the background → {delete_id}
//   GET    /_synapse/admin/v2/rooms/{roomId}/delete_status, /_synapse/admin/v2/rooms/delete_status/{deleteId}
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { boundedSearchTerm, isJsonObject, jsonBody } from "../params.ts";
import { queryBool, queryInt } from "./query.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

type Deps = Pick<Services, "auth" | "adminRooms">;

export function roomAdminRoutes(app: App, svc: Deps): void {
  const route = routes(app, svc);

  route({ method: "GET", path: "/_synapse/admin/v1/rooms", api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    return svc.adminRooms.list({
      from: queryInt(query, "from"),
      limit: queryInt(query, "limit", { min: 1 }),
      orderBy: query.order_by,
      dir: query.dir,
      searchTerm: boundedSearchTerm(query.search_term, "search_term"),
      publicRooms: queryBool(query, "public_rooms"),
      emptyRooms: queryBool(query, "empty_rooms"),
    });
  });

  route({ method: "GET", path: "/_synapse/admin/v1/rooms/:roomId", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params }) => {
    return svc.adminRooms.details(params.roomId);
  });
  route({ method: "GET", path: "/_synapse/admin/v1/rooms/:roomId/members", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params }) => {
    return svc.adminRooms.members(params.roomId);
  });
  route({ method: "GET", path: "/_synapse/admin/v1/rooms/:roomId/state", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params, query }) => {
    return svc.adminRooms.state(params.roomId, query.type);
  });

  route({ method: "GET", path: "/_synapse/admin/v1/rooms/:roomId/block", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params }) => {
    return svc.adminRooms.blockStatus(params.roomId);
  });
  route({ method: "PUT", path: "/_synapse/admin/v1/rooms/:roomId/block", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ who: r, request, params, body }) => {
    return svc.adminRooms.setBlocked(params.roomId, jsonBody(body).block, r.userId);
  });

  route({ method: "POST", path: "/_synapse/admin/v1/rooms/:roomId/make_room_admin", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ who: r, request, params, body }) => {
    const userId = jsonBody(body).user_id ?? r.userId;
    if (typeof userId !== "string") throw new MatrixError("M_BAD_JSON", "'user_id' must be a string");
    await svc.adminRooms.makeRoomAdmin(params.roomId, userId);
    return {};
  });

  route({ method: "POST", path: "/_synapse/admin/v1/join/:roomIdOrAlias", api: "synapse-admin", access: "admin", params: { roomIdOrAlias: param.raw } }, async ({ who: r, request, params, body }) => {
    const userId = jsonBody(body).user_id;
    if (typeof userId !== "string") throw new MatrixError("M_MISSING_PARAM", "Missing 'user_id' (a string)");
    return svc.adminRooms.joinUser(r.userId, params.roomIdOrAlias, userId);
  });

  // The body must be a JSON object (at least {}), as in Synapse.
  const deleteBody = (body: unknown) => {
    if (!isJsonObject(body)) throw new MatrixError("M_NOT_JSON", "The body must be a JSON object (at least {})");
    return svc.adminRooms.parseDeleteOptions(body);
  };
  route({ method: "DELETE", path: "/_synapse/admin/v1/rooms/:roomId", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ who: r, request, params, body }) => {
    return svc.adminRooms.deleteNow(params.roomId, deleteBody(body), r.userId);
  });
  route({ method: "DELETE", path: "/_synapse/admin/v2/rooms/:roomId", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ who: r, request, params, body }) => {
    return svc.adminRooms.startDelete(params.roomId, deleteBody(body), r.userId);
  });
  route({ method: "GET", path: "/_synapse/admin/v2/rooms/:roomId/delete_status", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params }) => {
    return svc.adminRooms.deleteStatusOfRoom(params.roomId);
  });
  route({ method: "GET", path: "/_synapse/admin/v2/rooms/delete_status/:deleteId", api: "synapse-admin", access: "admin", params: { deleteId: param.raw } }, async ({ request, params }) => {
    return svc.adminRooms.deleteStatus(params.deleteId);
  });
}
