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
import { authenticateServer } from "./auth.ts";

const F = "/_matrix/federation/v1";

export function federationE2eeRoutes(app: App, svc: Services): void {
  app.get(`${F}/user/devices/:userId`, async ({ request, params }) => {
    await authenticateServer(svc, request);
    const userId = params.userId ?? "";
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    return svc.e2ee.keys.federationUserDevices(userId);
  });

  app.post(`${F}/user/keys/query`, async ({ request, body }) => {
    await authenticateServer(svc, request, body);
    return svc.e2ee.keys.federationQuery(jsonBody(body));
  });

  app.post(`${F}/user/keys/claim`, async ({ request, body }) => {
    await authenticateServer(svc, request, body);
    return svc.e2ee.keys.federationClaim(jsonBody(body));
  });
}
