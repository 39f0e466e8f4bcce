// GET /_matrix/client/v3/capabilities. Spec: data/api/client-server/capabilities.yaml.
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export function capabilitiesRoutes(app: App, deps: Pick<AccountServices, "auth" | "capabilities">): void {
  const route = routes(app, deps);
  route({ method: "GET", path: "/_matrix/client/v3/capabilities", api: "client-server", access: "user" }, async ({ who: r, request }) => {
    return { capabilities: deps.capabilities.for(r) };
  });
}
