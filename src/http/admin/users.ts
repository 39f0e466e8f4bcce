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
import { authenticate, requireAdmin, type Requester } from "../auth.ts";
import { boundedSearchTerm, jsonBody } from "../params.ts";
import { queryAll, queryBool, queryInt, type Query } from "./query.ts";

type Deps = Pick<Services, "auth" | "adminUsers" | "registration">;

export function userAdminRoutes(app: App, svc: Deps): void {
  const admin = async (request: Request): Promise<Requester> => {
    const r = await authenticate(svc, request);
    requireAdmin(r);
    return r;
  };

  const list = async (request: Request, query: Query, v3: boolean) => {
    await admin(request);
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
  app.get("/_synapse/admin/v2/users", ({ request, query }) => list(request, query, false));
  app.get("/_synapse/admin/v3/users", ({ request, query }) => list(request, query, true));

  app.get("/_synapse/admin/v2/users/:userId", async ({ request, params }) => {
    await admin(request);
    return svc.adminUsers.get(params.userId);
  });
  app.put("/_synapse/admin/v2/users/:userId", async ({ request, params, body, set }) => {
    const r = await admin(request);
    const { created, user } = await svc.adminUsers.createOrModify(r, params.userId, jsonBody(body));
    set.status = created ? 201 : 200;
    return user;
  });

  app.post("/_synapse/admin/v1/deactivate/:userId", async ({ request, params, body }) => {
    await admin(request);
    const b = jsonBody(body);
    const erase = b.erase ?? false;
    if (typeof erase !== "boolean") throw new MatrixError("M_BAD_JSON", "'erase' must be a boolean, if given");
    return svc.adminUsers.deactivate(params.userId, erase);
  });
  app.post("/_synapse/admin/v1/reset_password/:userId", async ({ request, params, body }) => {
    const r = await admin(request);
    const b = jsonBody(body);
    await svc.adminUsers.resetPassword(r, params.userId, b.new_password, b.logout_devices);
    return {};
  });

  app.get("/_synapse/admin/v1/users/:userId/admin", async ({ request, params }) => {
    await admin(request);
    return { admin: (await svc.adminUsers.get(params.userId)).admin };
  });
  app.put("/_synapse/admin/v1/users/:userId/admin", async ({ request, params, body }) => {
    const r = await admin(request);
    await svc.adminUsers.setAdmin(r, params.userId, jsonBody(body).admin);
    return {};
  });

  app.get("/_synapse/admin/v1/users/:userId/joined_rooms", async ({ request, params }) => {
    await admin(request);
    return svc.adminUsers.joinedRooms(params.userId);
  });
  app.get("/_synapse/admin/v1/users/:userId/memberships", async ({ request, params }) => {
    await admin(request);
    return svc.adminUsers.memberships(params.userId);
  });

  app.get("/_synapse/admin/v2/users/:userId/devices", async ({ request, params }) => {
    await admin(request);
    return svc.adminUsers.devices(params.userId);
  });
  app.post("/_synapse/admin/v2/users/:userId/devices", async ({ request, params, body }) => {
    await admin(request);
    await svc.adminUsers.createDevice(params.userId, jsonBody(body).device_id);
    return {};
  });
  app.get("/_synapse/admin/v2/users/:userId/devices/:deviceId", async ({ request, params }) => {
    await admin(request);
    return svc.adminUsers.device(params.userId, params.deviceId);
  });
  app.put("/_synapse/admin/v2/users/:userId/devices/:deviceId", async ({ request, params, body }) => {
    await admin(request);
    await svc.adminUsers.updateDevice(params.userId, params.deviceId, jsonBody(body).display_name);
    return {};
  });
  app.delete("/_synapse/admin/v2/users/:userId/devices/:deviceId", async ({ request, params }) => {
    await admin(request);
    await svc.adminUsers.deleteDevices(params.userId, [params.deviceId]);
    return {};
  });
  app.post("/_synapse/admin/v2/users/:userId/delete_devices", async ({ request, params, body }) => {
    await admin(request);
    await svc.adminUsers.deleteDevices(params.userId, jsonBody(body).devices);
    return {};
  });

  app.post("/_synapse/admin/v1/users/:userId/login", async ({ request, params, body }) => {
    const r = await admin(request);
    return svc.adminUsers.loginAs(r, params.userId, jsonBody(body).valid_until_ms);
  });

  app.get("/_synapse/admin/v1/username_available", async ({ request, query }) => {
    await admin(request);
    const username = query.username;
    if (typeof username !== "string") throw new MatrixError("M_MISSING_PARAM", "Missing 'username'");
    await svc.registration.checkAvailable(svc.registration.localpartFor(username));
    return { available: true };
  });

  app.post("/_synapse/admin/v1/users/:userId/shadow_ban", async ({ request, params }) => {
    await admin(request);
    await svc.adminUsers.setShadowBanned(params.userId, true);
    return {};
  });
  app.delete("/_synapse/admin/v1/users/:userId/shadow_ban", async ({ request, params }) => {
    await admin(request);
    await svc.adminUsers.setShadowBanned(params.userId, false);
    return {};
  });

  app.put("/_synapse/admin/v1/suspend/:userId", async ({ request, params, body }) => {
    const r = await admin(request);
    const on = await svc.adminUsers.setModeration(r, params.userId, "suspended", jsonBody(body).suspend);
    return { [`user_${params.userId}_suspended`]: on };
  });

  // The admin check comes before any lookup of the target (no user enumeration).
  for (const [path, flag] of [["lock", "locked"], ["suspend", "suspended"]] as const) {
    app.get(`/_matrix/client/v1/admin/${path}/:userId`, async ({ request, params }) => {
      const r = await admin(request);
      return { [flag]: await svc.adminUsers.moderation(r, params.userId, flag) };
    });
    app.put(`/_matrix/client/v1/admin/${path}/:userId`, async ({ request, params, body }) => {
      const r = await admin(request);
      const b = jsonBody(body);
      if (b[flag] === undefined) throw new MatrixError("M_MISSING_PARAM", `Missing '${flag}'`);
      return { [flag]: await svc.adminUsers.setModeration(r, params.userId, flag, b[flag]) };
    });
  }
}
