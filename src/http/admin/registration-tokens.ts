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
import { authenticate, requireAdmin } from "../auth.ts";
import { jsonBody } from "../params.ts";

const BASE = "/_synapse/admin/v1/registration_tokens";

export function registrationTokenAdminRoutes(app: App, deps: Pick<AccountServices, "auth" | "registrationTokens">): void {
  const admin = async (request: Request) => requireAdmin(await authenticate(deps, request));

  app.get(BASE, async ({ request, query }) => {
    await admin(request);
    let valid: boolean | undefined;
    if (query.valid !== undefined) {
      if (query.valid !== "true" && query.valid !== "false") {
        throw new MatrixError("M_INVALID_PARAM", "Boolean query parameter 'valid' must be one of ['true', 'false']");
      }
      valid = query.valid === "true";
    }
    return { registration_tokens: await deps.registrationTokens.list(valid) };
  });

  app.post(`${BASE}/new`, async ({ request, body }) => {
    await admin(request);
    return deps.registrationTokens.create(jsonBody(body));
  });

  app.get(`${BASE}/:token`, async ({ request, params }) => {
    await admin(request);
    return deps.registrationTokens.get(params.token);
  });

  app.put(`${BASE}/:token`, async ({ request, params, body }) => {
    await admin(request);
    return deps.registrationTokens.update(params.token, jsonBody(body));
  });

  app.delete(`${BASE}/:token`, async ({ request, params }) => {
    await admin(request);
    await deps.registrationTokens.delete(params.token);
    return {};
  });
}
