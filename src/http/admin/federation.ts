// Synapse's federation admin API (docs/usage/administration/admin_api/federation.md), for admins:
//   GET  /_synapse/admin/v1/federation/destinations                    from, limit, order_by, dir, destination
//   GET  /_synapse/admin/v1/federation/destinations/{destination}
//   GET  /_synapse/admin/v1/federation/destinations/{destination}/rooms from, limit
//   POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { queryInt } from "./query.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const BASE = "/_synapse/admin/v1/federation/destinations";

export function federationAdminRoutes(app: App, svc: Pick<Services, "auth" | "adminFederation">): void {
  const route = routes(app, svc);

  route({ method: "GET", path: BASE, api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    return svc.adminFederation.list({
      from: queryInt(query, "from"),
      limit: queryInt(query, "limit", { min: 1, max: 1000 }),
      orderBy: query.order_by,
      dir: query.dir,
      destination: query.destination,
    });
  });
  route({ method: "GET", path: `${BASE}/:destination`, api: "synapse-admin", access: "admin", params: { destination: param.raw } }, async ({ request, params }) => {
    return svc.adminFederation.get(params.destination);
  });
  route({ method: "GET", path: `${BASE}/:destination/rooms`, api: "synapse-admin", access: "admin", params: { destination: param.raw } }, async ({ request, params, query }) => {
    return svc.adminFederation.rooms(params.destination, { from: queryInt(query, "from"), limit: queryInt(query, "limit", { min: 1, max: 1000 }) });
  });
  route({ method: "POST", path: `${BASE}/:destination/reset_connection`, api: "synapse-admin", access: "admin", params: { destination: param.raw } }, async ({ request, params }) => {
    await svc.adminFederation.resetConnection(params.destination);
    return {};
  });
}
