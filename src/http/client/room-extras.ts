// GET /_matrix/client/v1/mutual_rooms (mutual_rooms.yaml, v1.19)
// GET /_matrix/client/v3/notifications (notifications.yaml)
// GET /_matrix/client/v3/rooms/{roomId}/initialSync (room_initial_sync.yaml)
// GET /_matrix/client/v3/events?room_id= (peeking_events.yaml), and the deprecated GET /events,
// GET /events/{eventId} and GET /initialSync (old_sync.yaml)
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { param, query } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const viewer = (who: { userId: string; deviceId: string | null }) => ({ userId: who.userId, deviceId: who.deviceId ?? undefined });

export function roomExtrasRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    { method: "GET", path: "/_matrix/client/v1/mutual_rooms", api: "client-server", access: "user", query: { user_id: query.userId, from: query.str } },
    ({ who, query }) => svc.mutualRooms.list(who.userId, query.user_id, query.from),
  );
  route(
    { method: "GET", path: `${V3}/notifications`, api: "client-server", access: "user", query: { from: query.str, limit: query.int(), only: query.str } },
    ({ who, query }) => svc.notifications.list(viewer(who), query),
  );
  route(
    { method: "GET", path: `${V3}/rooms/:roomId/initialSync`, api: "client-server", access: "guest", params: { roomId: param.roomId }, query: { limit: query.int() } },
    ({ who, params, query }) => svc.roomPreviews.roomInitialSync(viewer(who), params.roomId, query.limit),
  );
  route(
    {
      method: "GET", path: `${V3}/events`, api: "client-server", access: "guest",
      // `limit` is not in peeking_events.yaml, but Synapse honours it: validated, and caps the chunk.
      query: { room_id: query.roomId, from: query.str, timeout: query.int(), limit: query.int() },
    },
    ({ who, query, request }) =>
      svc.roomPreviews.events(viewer(who), { roomId: query.room_id, from: query.from, timeoutMs: query.timeout, limit: query.limit, signal: request.signal }),
  );
  route({ method: "GET", path: `${V3}/events/:eventId`, api: "client-server", access: "user", params: { eventId: param.raw } }, ({ who, params }) =>
    svc.roomPreviews.event(viewer(who), params.eventId),
  );
  route(
    { method: "GET", path: `${V3}/initialSync`, api: "client-server", access: "user", query: { limit: query.int(), archived: query.bool } },
    ({ who, query }) => svc.roomPreviews.initialSync(viewer(who), query),
  );
}
