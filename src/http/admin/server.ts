// Synapse's server admin endpoints: GET /_synapse/admin/v1/server_version (no authentication, as
// in Synapse) and GET /_synapse/admin/v1/background_updates/status (hs migrates its schema at
// start-up and runs no background database updates, so the list is always empty); and hs's own
// GET /_hs/admin/v1/server (admins: uptime, database engine and size, counts) for the console.
import { SERVER_VERSION } from "../../protocol/versions.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate, requireAdmin } from "../auth.ts";

export function serverAdminRoutes(app: App, svc: Pick<Services, "auth" | "adminServer">): void {
  app.get("/_synapse/admin/v1/server_version", () => ({ server_version: SERVER_VERSION }));
  app.get("/_synapse/admin/v1/background_updates/status", async ({ request }) => {
    requireAdmin(await authenticate(svc, request));
    return { enabled: true, current_updates: {} };
  });
  app.get("/_hs/admin/v1/server", async ({ request }) => {
    requireAdmin(await authenticate(svc, request));
    return svc.adminServer.overview();
  });
}
