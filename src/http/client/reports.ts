// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}, /rooms/{roomId}/report (v1.13),
// /users/{userId}/report (v1.14) (report_content.yaml)
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { optString, reqString } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const CS = "client-server" as const;

export function reportRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    { method: "POST", path: `${V3}/rooms/:roomId/report/:eventId`, api: CS, access: "user", params: { roomId: param.raw, eventId: param.raw }, body: body.object },
    async ({ who, params, body: b }) => {
      const reason = optString(b, "reason");
      // `score` was removed in v1.18; an integer from older clients is kept for admins.
      const score = typeof b.score === "number" && Number.isInteger(b.score) ? b.score : undefined;
      await svc.reports.reportEvent(who.userId, param.roomId(params.roomId, "roomId"), param.eventId(params.eventId, "eventId"), reason, score);
      return {};
    },
  );
  route({ method: "POST", path: `${V3}/rooms/:roomId/report`, api: CS, access: "user", params: { roomId: param.raw }, body: body.object }, async ({ who, params, body }) => {
    const reason = reqString(body, "reason");
    await svc.reports.reportRoom(who.userId, param.roomId(params.roomId, "roomId"), reason);
    return {};
  });
  route({ method: "POST", path: `${V3}/users/:userId/report`, api: CS, access: "user", params: { userId: param.raw }, body: body.object }, async ({ who, params, body }) => {
    const reason = reqString(body, "reason");
    await svc.reports.reportUser(who.userId, param.userId(params.userId, "userId"), reason);
    return {};
  });
}
