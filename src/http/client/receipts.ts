// Ephemeral room data from clients:
//   PUT  /rooms/{roomId}/typing/{userId}                 (typing.yaml)
//   POST /rooms/{roomId}/receipt/{receiptType}/{eventId} (receipts.yaml)
//   POST /rooms/{roomId}/read_markers                    (read_markers.yaml)
// Spec: modules/typing_notifications.md, receipts.md, read_markers.md.
import { MatrixError } from "../../protocol/errors.ts";
import { isValidRoomId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody, optInt } from "../params.ts";

const PREFIXES = ["/_matrix/client/v3"];

function roomIdParam(v: string | undefined): string {
  if (!v || !isValidRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
  return v;
}

export function ephemeralRoutes(app: App, svc: Services): void {
  for (const p of PREFIXES) {
    app.put(`${p}/rooms/:roomId/typing/:userId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const b = jsonBody(body);
      if (b.typing === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'typing'");
      if (typeof b.typing !== "boolean") throw new MatrixError("M_BAD_JSON", "'typing' must be a boolean");
      const timeout = optInt(b, "timeout");
      if (timeout !== undefined && timeout < 0) throw new MatrixError("M_BAD_JSON", "'timeout' must not be negative");
      // A shadow-banned user's typing is shown to nobody.
      if (who.isShadowBanned) return {};
      await svc.typing.setTyping(who.userId, roomIdParam(params.roomId), params.userId, b.typing, timeout);
      return {};
    });
    app.post(`${p}/rooms/:roomId/receipt/:receiptType/:eventId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await svc.receipts.postReceipt(who.userId, roomIdParam(params.roomId), params.receiptType, params.eventId, jsonBody(body));
      return {};
    });
    app.post(`${p}/rooms/:roomId/read_markers`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await svc.receipts.setReadMarkers(who.userId, roomIdParam(params.roomId), jsonBody(body));
      return {};
    });
  }
}
