// POST /_matrix/client/v3/rooms/{roomId}/upgrade (room_upgrades.yaml)
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody, reqString } from "../params.ts";
import { roomIdParam } from "./query-params.ts";

export function roomUpgradeRoutes(app: App, svc: Services): void {
  for (const p of ["/_matrix/client/v3"]) {
    app.post(`${p}/rooms/:roomId/upgrade`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = jsonBody(body);
      const newVersion = reqString(b, "new_version");
      let additional: string[] = [];
      if (b.additional_creators !== undefined) {
        if (!Array.isArray(b.additional_creators) || b.additional_creators.some((u) => typeof u !== "string")) {
          throw new MatrixError("M_BAD_JSON", "'additional_creators' must be a list of user IDs");
        }
        additional = b.additional_creators as string[];
      }
      const replacement = await svc.roomUpgrades.upgrade(who.userId, roomIdParam(params.roomId), newVersion, additional);
      return { replacement_room: replacement };
    });
  }
}
