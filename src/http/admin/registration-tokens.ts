// Synapse's registration token admin API, for server admins:
//   GET    /_synapse/admin/v1/registration_tokens[?valid=true|false]
//   GET    /_synapse/admin/v1/registration_tokens/{token}
//   POST   /_synapse/admin/v1/registration_tokens/new   {token?, length?, uses_allowed?, expiry_time?}
//   PUT    /_synapse/admin/v1/registration_tokens/{token}  {uses_allowed?, expiry_time?}
//   DELETE /_synapse/admin/v1/registration_tokens/{token}
// Request and response shapes and error codes follow Synapse (docs/usage/administration/admin_api/registration_tokens.md).
import { MatrixError } from "../../protocol/errors.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { jsonBody } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const BASE = "/_synapse/admin/v1/registration_tokens";

export function registrationTokenAdminRoutes(app: App, deps: Pick<AccountServices, "auth" | "registrationTokens">): void {
  const route = routes(app, deps);

  route({ method: "GET", path: BASE, api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    let valid: boolean | undefined;
    if (query.valid !== undefined) {
      if (query.valid !== "true" && query.valid !== "false") {
        throw new MatrixError("M_INVALID_PARAM", "Boolean query parameter 'valid' must be one of ['true', 'false']");
      }
      valid = query.valid === "true";
    }
    return { registration_tokens: await deps.registrationTokens.list(valid) };
  });

  route({ method: "POST", path: `${BASE}/new`, api: "synapse-admin", access: "admin" }, async ({ request, body }) => {
    return deps.registrationTokens.create(jsonBody(body));
  });

  route({ method: "GET", path: `${BASE}/:token`, api: "synapse-admin", access: "admin", params: { token: param.raw } }, async ({ request, params }) => {
    return deps.registrationTokens.get(params.token);
  });

  route({ method: "PUT", path: `${BASE}/:token`, api: "synapse-admin", access: "admin", params: { token: param.raw } }, async ({ request, params, body }) => {
    return deps.registrationTokens.update(params.token, jsonBody(body));
  });

  route({ method: "DELETE", path: `${BASE}/:token`, api: "synapse-admin", access: "admin", params: { token: param.raw } }, async ({ request, params }) => {
    await deps.registrationTokens.delete(params.token);
    return {};
  });
}
