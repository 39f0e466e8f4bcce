// GET /_matrix/client/v1/mutual_rooms (mutual_rooms.yaml, v1.19)
// GET /_matrix/client/v3/notifications (notifications.yaml)
// GET /_matrix/client/v3/rooms/{roomId}/initialSync (room_initial_sync.yaml)
// GET /_matrix/client/v3/events?room_id= (peeking_events.yaml), and the deprecated GET /events,
// GET /events/{eventId} and GET /initialSync (old_sync.yaml)
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { boolQuery, intQuery, queryOf, roomIdParam, strQuery, userIdParam } from "./query-params.ts";

const PREFIXES = ["/_matrix/client/v3"];
const viewer = (who: { userId: string; deviceId: string | null }) => ({ userId: who.userId, deviceId: who.deviceId ?? undefined });

export function roomExtrasRoutes(app: App, svc: Services): void {
  app.get("/_matrix/client/v1/mutual_rooms", async ({ request }) => {
    const who = await authenticate(svc, request);
    const q = queryOf(request);
    return svc.mutualRooms.list(who.userId, userIdParam(q.get("user_id"), "'user_id'"), strQuery(q, "from"));
  });

  for (const p of PREFIXES) {
    app.get(`${p}/notifications`, async ({ request }) => {
      const who = await authenticate(svc, request);
      const q = queryOf(request);
      return svc.notifications.list(viewer(who), { from: strQuery(q, "from"), limit: intQuery(q, "limit"), only: strQuery(q, "only") });
    });

    app.get(`${p}/rooms/:roomId/initialSync`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      const limit = intQuery(queryOf(request), "limit");
      return svc.roomPreviews.roomInitialSync(viewer(who), roomIdParam(params.roomId), limit);
    });

    app.get(`${p}/events`, async ({ request }) => {
      const who = await authenticate(svc, request);
      const q = queryOf(request);
      const roomId = q.get("room_id");
      return svc.roomPreviews.events(viewer(who), {
        roomId: roomId === null ? undefined : roomIdParam(roomId),
        from: strQuery(q, "from"),
        timeoutMs: intQuery(q, "timeout"),
        // Not in peeking_events.yaml, but Synapse honours it: validated, and caps the chunk.
        limit: intQuery(q, "limit"),
        signal: request.signal,
      });
    });

    app.get(`${p}/events/:eventId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return svc.roomPreviews.event(viewer(who), params.eventId ?? "");
    });

    app.get(`${p}/initialSync`, async ({ request }) => {
      const who = await authenticate(svc, request);
      const q = queryOf(request);
      return svc.roomPreviews.initialSync(viewer(who), { limit: intQuery(q, "limit"), archived: boolQuery(q, "archived") });
    });
  }
}
