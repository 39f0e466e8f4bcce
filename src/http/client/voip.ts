// GET /_matrix/client/v3/voip/turnServer (spec: voip.yaml): TURN credentials for calls.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export function voipRoutes(app: App, svc: Pick<Services, "auth" | "turn" | "config">): void {
  const route = routes(app, svc);
  route(
    {
      method: "GET", path: "/_matrix/client/v3/voip/turnServer", api: "client-server", access: "user",
      // Not on the spec's guest list: open to guests only by this setting.
      guestsBySetting: "[voip] turn_allow_guests", guestsAllowed: () => svc.config.voip.turn_allow_guests,
    },
    ({ who }) => svc.turn.credentials(who.userId, who.isGuest),
  );
}
