// Synapse's server admin endpoints: GET /_synapse/admin/v1/server_version (no authentication, as
// in Synapse) and GET /_synapse/admin/v1/background_updates/status (hs migrates its schema at
// start-up and runs no background database updates, so the list is always empty); and hs's own
// GET /_hs/admin/v1/server (admins: uptime, database engine and size, counts) for the console, with
// GET /_hs/admin/v1/server/stats?days=N (the time series the console charts, 1 to 31 days, 7 by
// default) and GET /_hs/admin/v1/server/warnings (risky settings, for its banner).
import { SERVER_VERSION } from "../../protocol/versions.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { query } from "../schema.ts";
import { STATS_RETENTION_DAYS } from "../../services/admin/stats.ts";

export function serverAdminRoutes(app: App, svc: Pick<Services, "auth" | "adminServer" | "adminStats">): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/_synapse/admin/v1/server_version", api: "synapse-admin", access: "none" }, () => ({ server_version: SERVER_VERSION }));
  route({ method: "GET", path: "/_synapse/admin/v1/background_updates/status", api: "synapse-admin", access: "admin" }, async ({ request }) => {
    return { enabled: true, current_updates: {} };
  });
  route({ method: "GET", path: "/_hs/admin/v1/server", api: "hs", access: "admin" }, async ({ request }) => {
    return svc.adminServer.overview();
  });
  route({ method: "GET", path: "/_hs/admin/v1/server/stats", api: "hs", access: "admin", query: { days: query.int({ min: 1, def: 7 }) } }, async ({ query: q }) => {
    if (q.days > STATS_RETENTION_DAYS) throw new MatrixError("M_INVALID_PARAM", `'days' must be at most ${STATS_RETENTION_DAYS}`);
    return svc.adminStats.series(q.days);
  });
  route({ method: "GET", path: "/_hs/admin/v1/server/warnings", api: "hs", access: "admin" }, () => ({ warnings: svc.adminServer.warnings() }));
}
