// GET /_matrix/client/v3/voip/turnServer (spec: voip.yaml): TURN credentials for calls.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";

export function voipRoutes(app: App, svc: Pick<Services, "auth" | "turn" | "config">): void {
  app.get("/_matrix/client/v3/voip/turnServer", async ({ request }) => {
    // Not on the spec's guest list: open to guests only by [voip] turn_allow_guests (GUEST_BY_SETTING).
    const r = await authenticate(svc, request, { openToGuests: svc.config.voip.turn_allow_guests });
    return svc.turn.credentials(r.userId, r.isGuest);
  });
}
