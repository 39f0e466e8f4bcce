// Server-Server API endpoints for end-to-end encryption:
//   GET  /_matrix/federation/v1/user/devices/{userId}   (user_devices.yaml, "Device Management")
//   POST /_matrix/federation/v1/user/keys/query          (user_keys.yaml, "End-to-End Encryption")
//   POST /_matrix/federation/v1/user/keys/claim
// Every handler first authenticates the origin server (X-Matrix). Only local users are answered
// for; device display names only when [federation] allow_device_name_lookup_over_federation is on.
import { MatrixError } from "../../protocol/errors.ts";
import { isValidUserId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { jsonBody } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const F = "/_matrix/federation/v1";

export function federationE2eeRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "GET", path: `${F}/user/devices/:userId`, api: "server-server", access: "server", params: { userId: param.raw } }, async ({ request, params }) => {
    const userId = params.userId ?? "";
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    return svc.e2ee.keys.federationUserDevices(userId);
  });

  route({ method: "POST", path: `${F}/user/keys/query`, api: "server-server", access: "server" }, async ({ request, body }) => {
    return svc.e2ee.keys.federationQuery(jsonBody(body));
  });

  route({ method: "POST", path: `${F}/user/keys/claim`, api: "server-server", access: "server" }, async ({ request, body }) => {
    return svc.e2ee.keys.federationClaim(jsonBody(body));
  });
}
