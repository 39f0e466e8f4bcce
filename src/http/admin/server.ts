// Synapse's server admin endpoints: GET /_synapse/admin/v1/server_version (no authentication, as
// in Synapse) and GET /_synapse/admin/v1/background_updates/status (hs migrates its schema at
// start-up and runs no background database updates, so the list is always empty); and hs's own
// GET /_hs/admin/v1/server (admins: uptime, database engine and size, counts) for the console.
import { SERVER_VERSION } from "../../protocol/versions.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export function serverAdminRoutes(app: App, svc: Pick<Services, "auth" | "adminServer">): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/_synapse/admin/v1/server_version", api: "synapse-admin", access: "none" }, () => ({ server_version: SERVER_VERSION }));
  route({ method: "GET", path: "/_synapse/admin/v1/background_updates/status", api: "synapse-admin", access: "admin" }, async ({ request }) => {
    return { enabled: true, current_updates: {} };
  });
  route({ method: "GET", path: "/_hs/admin/v1/server", api: "hs", access: "admin" }, async ({ request }) => {
    return svc.adminServer.overview();
  });
}
