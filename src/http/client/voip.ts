// GET /_matrix/client/v3/voip/turnServer (spec: voip.yaml): TURN credentials for calls.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";

export function voipRoutes(app: App, svc: Pick<Services, "auth" | "turn">): void {
  const handler = async ({ request }: { request: Request }) => {
    const r = await authenticate(svc, request, { allowGuest: true });
    return svc.turn.credentials(r.userId, r.isGuest);
  };
  app.get("/_matrix/client/v3/voip/turnServer", handler);
  app.get("/_matrix/client/r0/voip/turnServer", handler);
}
