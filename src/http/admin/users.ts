// Synapse's user admin API (docs/admin_api/user_admin_api.md), for server admins:
//   GET    /_synapse/admin/v2/users                       list (from, limit, user_id, name, guests,
//                                                          admins, deactivated, not_user_type, order_by, dir)
//   GET    /_synapse/admin/v3/users                       the same, `deactivated` filters both ways
//   GET    /_synapse/admin/v2/users/{userId}              query
//   PUT    /_synapse/admin/v2/users/{userId}              create (201) or modify (200)
//   POST   /_synapse/admin/v1/deactivate/{userId}         {erase}
//   POST   /_synapse/admin/v1/reset_password/{userId}     {new_password, logout_devices}
//   GET    /_synapse/admin/v1/users/{userId}/admin        PUT {admin}
//   GET    /_synapse/admin/v1/users/{userId}/joined_rooms, /memberships
//   GET    /_synapse/admin/v2/users/{userId}/devices      POST {device_id}
//   GET|PUT|DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}
//   POST   /_synapse/admin/v2/users/{userId}/delete_devices {devices}
//   POST   /_synapse/admin/v1/users/{userId}/login        {valid_until_ms}
//   GET    /_synapse/admin/v1/username_available?username=
//   PUT    /_synapse/admin/v1/suspend/{userId}            {suspend}
//   POST|DELETE /_synapse/admin/v1/users/{userId}/shadow_ban
// and the spec's account moderation endpoints (client-server-api "Server administration"):
//   GET|PUT /_matrix/client/v1/admin/lock/{userId}         {locked}
//   GET|PUT /_matrix/client/v1/admin/suspend/{userId}      {suspended}
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { boundedSearchTerm, jsonBody } from "../params.ts";
import { queryAll, queryBool, queryInt, type Query } from "./query.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

type Deps = Pick<Services, "auth" | "adminUsers" | "registration">;

export function userAdminRoutes(app: App, svc: Deps): void {
  const route = routes(app, svc);

  const list = async (request: Request, query: Query, v3: boolean) => {
    const deactivated = queryBool(query, "deactivated");
    return svc.adminUsers.list({
      from: queryInt(query, "from"),
      limit: queryInt(query, "limit", { min: 1 }),
      userId: boundedSearchTerm(query.user_id, "user_id"),
      name: boundedSearchTerm(query.name, "name"),
      guests: queryBool(query, "guests"),
      admins: queryBool(query, "admins"),
      // v2: deactivated=true includes them (default: excluded); v3: true = only them, false = none.
      deactivated: v3 ? (deactivated === undefined ? "include" : deactivated ? "only" : "exclude") : deactivated ? "include" : "exclude",
      notUserTypes: queryAll(request, "not_user_type"),
      orderBy: query.order_by,
      dir: query.dir,
    });
  };
  route({ method: "GET", path: "/_synapse/admin/v2/users", api: "synapse-admin", access: "admin" }, ({ request, query }) => list(request, query, false));
  route({ method: "GET", path: "/_synapse/admin/v3/users", api: "synapse-admin", access: "admin" }, ({ request, query }) => list(request, query, true));

  route({ method: "GET", path: "/_synapse/admin/v2/users/:userId", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    return svc.adminUsers.get(params.userId);
  });
  route({ method: "PUT", path: "/_synapse/admin/v2/users/:userId", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body, set }) => {
    const { created, user } = await svc.adminUsers.createOrModify(r, params.userId, jsonBody(body));
    set.status = created ? 201 : 200;
    return user;
  });

  route({ method: "POST", path: "/_synapse/admin/v1/deactivate/:userId", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params, body }) => {
    const b = jsonBody(body);
    const erase = b.erase ?? false;
    if (typeof erase !== "boolean") throw new MatrixError("M_BAD_JSON", "'erase' must be a boolean, if given");
    return svc.adminUsers.deactivate(params.userId, erase);
  });
  route({ method: "POST", path: "/_synapse/admin/v1/reset_password/:userId", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body }) => {
    const b = jsonBody(body);
    await svc.adminUsers.resetPassword(r, params.userId, b.new_password, b.logout_devices);
    return {};
  });

  route({ method: "GET", path: "/_synapse/admin/v1/users/:userId/admin", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    return { admin: (await svc.adminUsers.get(params.userId)).admin };
  });
  route({ method: "PUT", path: "/_synapse/admin/v1/users/:userId/admin", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body }) => {
    await svc.adminUsers.setAdmin(r, params.userId, jsonBody(body).admin);
    return {};
  });

  route({ method: "GET", path: "/_synapse/admin/v1/users/:userId/joined_rooms", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    return svc.adminUsers.joinedRooms(params.userId);
  });
  route({ method: "GET", path: "/_synapse/admin/v1/users/:userId/memberships", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    return svc.adminUsers.memberships(params.userId);
  });

  route({ method: "GET", path: "/_synapse/admin/v2/users/:userId/devices", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    return svc.adminUsers.devices(params.userId);
  });
  route({ method: "POST", path: "/_synapse/admin/v2/users/:userId/devices", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params, body }) => {
    await svc.adminUsers.createDevice(params.userId, jsonBody(body).device_id);
    return {};
  });
  route({ method: "GET", path: "/_synapse/admin/v2/users/:userId/devices/:deviceId", api: "synapse-admin", access: "admin", params: { userId: param.raw, deviceId: param.raw } }, async ({ request, params }) => {
    return svc.adminUsers.device(params.userId, params.deviceId);
  });
  route({ method: "PUT", path: "/_synapse/admin/v2/users/:userId/devices/:deviceId", api: "synapse-admin", access: "admin", params: { userId: param.raw, deviceId: param.raw } }, async ({ request, params, body }) => {
    await svc.adminUsers.updateDevice(params.userId, params.deviceId, jsonBody(body).display_name);
    return {};
  });
  route({ method: "DELETE", path: "/_synapse/admin/v2/users/:userId/devices/:deviceId", api: "synapse-admin", access: "admin", params: { userId: param.raw, deviceId: param.raw } }, async ({ request, params }) => {
    await svc.adminUsers.deleteDevices(params.userId, [params.deviceId]);
    return {};
  });
  route({ method: "POST", path: "/_synapse/admin/v2/users/:userId/delete_devices", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params, body }) => {
    await svc.adminUsers.deleteDevices(params.userId, jsonBody(body).devices);
    return {};
  });

  route({ method: "POST", path: "/_synapse/admin/v1/users/:userId/login", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body }) => {
    return svc.adminUsers.loginAs(r, params.userId, jsonBody(body).valid_until_ms);
  });

  route({ method: "GET", path: "/_synapse/admin/v1/username_available", api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    const username = query.username;
    if (typeof username !== "string") throw new MatrixError("M_MISSING_PARAM", "Missing 'username'");
    await svc.registration.checkAvailable(svc.registration.localpartFor(username));
    return { available: true };
  });

  route({ method: "POST", path: "/_synapse/admin/v1/users/:userId/shadow_ban", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    await svc.adminUsers.setShadowBanned(params.userId, true);
    return {};
  });
  route({ method: "DELETE", path: "/_synapse/admin/v1/users/:userId/shadow_ban", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    await svc.adminUsers.setShadowBanned(params.userId, false);
    return {};
  });

  route({ method: "PUT", path: "/_synapse/admin/v1/suspend/:userId", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body }) => {
    const on = await svc.adminUsers.setModeration(r, params.userId, "suspended", jsonBody(body).suspend);
    return { [`user_${params.userId}_suspended`]: on };
  });

  // The admin check comes before any lookup of the target (no user enumeration).
  for (const [path, flag] of [["lock", "locked"], ["suspend", "suspended"]] as const) {
    route({ method: "GET", path: `/_matrix/client/v1/admin/${path}/:userId`, api: "client-server", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params }) => {
      return { [flag]: await svc.adminUsers.moderation(r, params.userId, flag) };
    });
    route({ method: "PUT", path: `/_matrix/client/v1/admin/${path}/:userId`, api: "client-server", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params, body }) => {
      const b = jsonBody(body);
      if (b[flag] === undefined) throw new MatrixError("M_MISSING_PARAM", `Missing '${flag}'`);
      return { [flag]: await svc.adminUsers.setModeration(r, params.userId, flag, b[flag]) };
    });
  }
}
