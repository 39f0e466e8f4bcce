// POST /_synapse/admin/v1/send_server_notice and PUT /_synapse/admin/v1/send_server_notice/{txnId}
// (Synapse docs admin_api/server_notices.md): {user_id, content, type?, state_key?} → {event_id}.
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { type Requester } from "../auth.ts";
import { isJsonObject, jsonBody, optString, reqString } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

export function serverNoticeAdminRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const send = async (who: Requester, body: unknown, txnId?: string) => {
    const b = jsonBody(body);
    const userId = reqString(b, "user_id");
    if (b.content === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'content'");
    if (!isJsonObject(b.content)) throw new MatrixError("M_BAD_JSON", "'content' must be an object");
    const type = optString(b, "type");
    if (type === "") throw new MatrixError("M_BAD_JSON", "'type' must not be empty");
    const eventId = await svc.serverNotices.send({
      userId,
      content: b.content as JsonObject,
      type,
      stateKey: optString(b, "state_key"),
      txn: txnId === undefined ? undefined : { deviceId: `admin_api:${who.userId}:${who.deviceId ?? ""}`, txnId },
    });
    return { event_id: eventId };
  };
  route({ method: "POST", path: "/_synapse/admin/v1/send_server_notice", api: "synapse-admin", access: "admin" }, async ({ who, request, body }) => {
    return send(who, body);
  });
  route({ method: "PUT", path: "/_synapse/admin/v1/send_server_notice/:txnId", api: "synapse-admin", access: "admin", params: { txnId: param.raw } }, async ({ who, request, params, body }) => {
    if (!params.txnId) throw new MatrixError("M_INVALID_PARAM", "Missing transaction ID");
    return send(who, body, params.txnId);
  });
}
