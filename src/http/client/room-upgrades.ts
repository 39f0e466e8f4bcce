// POST /_matrix/client/v3/rooms/{roomId}/upgrade (room_upgrades.yaml)
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { reqString } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

export function roomUpgradeRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    {
      method: "POST", path: "/_matrix/client/v3/rooms/:roomId/upgrade", api: "client-server", access: "user", suspended: "refuse",
      params: { roomId: param.raw }, body: body.object,
    },
    async ({ who, params, body: b }) => {
      const newVersion = reqString(b, "new_version");
      let additional: string[] = [];
      if (b.additional_creators !== undefined) {
        if (!Array.isArray(b.additional_creators) || b.additional_creators.some((u) => typeof u !== "string")) {
          throw new MatrixError("M_BAD_JSON", "'additional_creators' must be a list of user IDs");
        }
        additional = b.additional_creators as string[];
      }
      const replacement = await svc.roomUpgrades.upgrade(who, param.roomId(params.roomId, "roomId"), newVersion, additional);
      return { replacement_room: replacement };
    },
  );
}
