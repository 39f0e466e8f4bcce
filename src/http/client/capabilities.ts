// GET /_matrix/client/v3/capabilities. Spec: data/api/client-server/capabilities.yaml.
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";

export function capabilitiesRoutes(app: App, deps: Pick<AccountServices, "auth" | "capabilities">): void {
  app.get("/_matrix/client/v3/capabilities", async ({ request }) => {
    const r = await authenticate(deps, request);
    return { capabilities: deps.capabilities.for(r) };
  });
}
