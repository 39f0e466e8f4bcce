// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}, /rooms/{roomId}/report (v1.13),
// /users/{userId}/report (v1.14) (report_content.yaml)
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody, optString, reqString } from "../params.ts";
import { eventIdParam, roomIdParam, userIdParam } from "./query-params.ts";

export function reportRoutes(app: App, svc: Services): void {
  for (const p of ["/_matrix/client/v3"]) {
    app.post(`${p}/rooms/:roomId/report/:eventId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const b = jsonBody(body);
      const reason = optString(b, "reason");
      // `score` was removed in v1.18; an integer from older clients is kept for admins.
      const score = typeof b.score === "number" && Number.isInteger(b.score) ? b.score : undefined;
      await svc.reports.reportEvent(who.userId, roomIdParam(params.roomId), eventIdParam(params.eventId), reason, score);
      return {};
    });
    app.post(`${p}/rooms/:roomId/report`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const reason = reqString(jsonBody(body), "reason");
      await svc.reports.reportRoom(who.userId, roomIdParam(params.roomId), reason);
      return {};
    });
  }
  app.post("/_matrix/client/v3/users/:userId/report", async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    const reason = reqString(jsonBody(body), "reason");
    await svc.reports.reportUser(who.userId, userIdParam(params.userId), reason);
    return {};
  });
}
