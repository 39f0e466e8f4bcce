// Synapse's federation admin API (docs/usage/administration/admin_api/federation.md), for admins:
//   GET  /_synapse/admin/v1/federation/destinations                    from, limit, order_by, dir, destination
//   GET  /_synapse/admin/v1/federation/destinations/{destination}
//   GET  /_synapse/admin/v1/federation/destinations/{destination}/rooms from, limit
//   POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate, requireAdmin } from "../auth.ts";
import { queryInt } from "./query.ts";

const BASE = "/_synapse/admin/v1/federation/destinations";

export function federationAdminRoutes(app: App, svc: Pick<Services, "auth" | "adminFederation">): void {
  const admin = async (request: Request) => requireAdmin(await authenticate(svc, request));

  app.get(BASE, async ({ request, query }) => {
    await admin(request);
    return svc.adminFederation.list({
      from: queryInt(query, "from"),
      limit: queryInt(query, "limit", { min: 1, max: 1000 }),
      orderBy: query.order_by,
      dir: query.dir,
      destination: query.destination,
    });
  });
  app.get(`${BASE}/:destination`, async ({ request, params }) => {
    await admin(request);
    return svc.adminFederation.get(params.destination);
  });
  app.get(`${BASE}/:destination/rooms`, async ({ request, params, query }) => {
    await admin(request);
    return svc.adminFederation.rooms(params.destination, { from: queryInt(query, "from"), limit: queryInt(query, "limit", { min: 1, max: 1000 }) });
  });
  app.post(`${BASE}/:destination/reset_connection`, async ({ request, params }) => {
    await admin(request);
    await svc.adminFederation.resetConnection(params.destination);
    return {};
  });
}
