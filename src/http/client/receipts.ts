// Ephemeral room data from clients:
//   PUT  /rooms/{roomId}/typing/{userId}                 (typing.yaml)
//   POST /rooms/{roomId}/receipt/{receiptType}/{eventId} (receipts.yaml)
//   POST /rooms/{roomId}/read_markers                    (read_markers.yaml)
// Spec: modules/typing_notifications.md, receipts.md, read_markers.md.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { optInt } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const CS = "client-server" as const;

export function ephemeralRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    { method: "PUT", path: `${V3}/rooms/:roomId/typing/:userId`, api: CS, access: "user", params: { roomId: param.raw, userId: param.raw }, body: body.object },
    async ({ who, params, body: b }) => {
      if (b.typing === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'typing'");
      if (typeof b.typing !== "boolean") throw new MatrixError("M_BAD_JSON", "'typing' must be a boolean");
      const timeout = optInt(b, "timeout");
      if (timeout !== undefined && timeout < 0) throw new MatrixError("M_BAD_JSON", "'timeout' must not be negative");
      // A shadow-banned user's typing is dropped by the typing service (sending policy).
      await svc.typing.setTyping(who, param.roomId(params.roomId, "roomId"), params.userId, b.typing, timeout);
      return {};
    },
  );
  route(
    {
      method: "POST", path: `${V3}/rooms/:roomId/receipt/:receiptType/:eventId`, api: CS, access: "user",
      params: { roomId: param.roomId, receiptType: param.raw, eventId: param.raw }, body: body.object,
    },
    async ({ who, params, body }) => {
      await svc.receipts.postReceipt(who.userId, params.roomId, params.receiptType, params.eventId, body);
      return {};
    },
  );
  route({ method: "POST", path: `${V3}/rooms/:roomId/read_markers`, api: CS, access: "user", params: { roomId: param.roomId }, body: body.object }, async ({ who, params, body }) => {
    await svc.receipts.setReadMarkers(who.userId, params.roomId, body);
    return {};
  });
}
