// GET /devices, GET/PUT/DELETE /devices/{deviceId}, POST /delete_devices.
// Spec: data/api/client-server/device_management.yaml (Device Management module).
import { badJson, missingParam } from "../../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD } from "../../protocol/uia.ts";
import type { Device } from "../../services/accounts.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { connectionOf, type Requester } from "../auth.ts";
import { optString, withoutAuth, type JsonObject } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

export type DevicesDeps = Pick<AccountServices, "auth" | "accounts" | "uia"> & {
  /** Application services create devices with PUT and delete them without UIA (spec v1.17). */
  appservices?: { putDevice(r: Requester, deviceId: string, displayName: string | undefined): Promise<void> };
};

/** The spec's client_device shape: absent fields are left out. */
export function deviceJson(d: Device): Record<string, unknown> {
  const out: Record<string, unknown> = { device_id: d.deviceId };
  if (d.displayName !== null) out.display_name = d.displayName;
  if (d.lastSeenIp !== null) out.last_seen_ip = d.lastSeenIp;
  if (d.lastSeenTs !== null) out.last_seen_ts = d.lastSeenTs;
  return out;
}

const CS = "client-server" as const;

export function devicesRoutes(app: App, deps: DevicesDeps): void {
  const route = routes(app, deps);
  route({ method: "GET", path: "/_matrix/client/v3/devices", api: CS, access: "guest" }, async ({ who }) => ({
    devices: (await deps.accounts.listDevices(who.userId)).map(deviceJson),
  }));

  route({ method: "GET", path: "/_matrix/client/v3/devices/:deviceId", api: CS, access: "guest", params: { deviceId: param.raw } }, async ({ who, params }) =>
    deviceJson(await deps.accounts.getDevice(who.userId, params.deviceId)),
  );

  route(
    { method: "PUT", path: "/_matrix/client/v3/devices/:deviceId", api: CS, access: "guest", params: { deviceId: param.raw }, body: body.object },
    async ({ who: r, params, body }) => {
      // Application services may create devices this way; users may only rename.
      const name = optString(body, "display_name");
      if (r.appserviceId !== undefined && deps.appservices) await deps.appservices.putDevice(r, params.deviceId, name);
      else await deps.accounts.updateDevice(r.userId, params.deviceId, name);
      return {};
    },
  );

  const deleteWithUia = async (r: Requester, request: Request, body: JsonObject, uri: string, method: string, ids: (body: JsonObject) => string[]) => {
    // Application services delete their users' devices without user-interactive auth (spec v1.17).
    if (r.appserviceId !== undefined) {
      await deps.accounts.deleteDevices(r.userId, ids(withoutAuth(body)));
      return {};
    }
    // Checked before authentication; a request carrying only `auth` reuses the session's parameters.
    if (body.auth === undefined || Object.keys(withoutAuth(body)).length > 0) ids(body);
    const outcome = await deps.uia.authenticate(body.auth, {
      flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
      method,
      uri,
      userId: r.userId,
      clientDict: withoutAuth(body),
      ip: connectionOf(request).ip,
    });
    const deviceIds = ids(outcome.clientDict);
    await deps.uia.finish(outcome.sessionId);
    await deps.accounts.deleteDevices(r.userId, deviceIds);
    return {};
  };

  route(
    { method: "DELETE", path: "/_matrix/client/v3/devices/:deviceId", api: CS, access: "user", params: { deviceId: param.raw }, body: body.object },
    ({ who, request, params, body }) => deleteWithUia(who, request, body, `/_matrix/client/v3/devices/${params.deviceId}`, "DELETE", () => [params.deviceId]),
  );

  route({ method: "POST", path: "/_matrix/client/v3/delete_devices", api: CS, access: "user", body: body.object }, ({ who, request, body }) =>
    deleteWithUia(who, request, body, "/_matrix/client/v3/delete_devices", "POST", (b) => {
      if (b.devices === undefined) throw missingParam("Missing 'devices'");
      if (!Array.isArray(b.devices) || b.devices.some((d) => typeof d !== "string")) throw badJson("'devices' must be an array of strings");
      return b.devices as string[];
    }),
  );
}
