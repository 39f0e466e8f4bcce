// GET/POST /_synapse/admin/v1/register: Synapse's shared-secret registration (register_new_matrix_user,
// `hs register-user`). GET gives a single-use nonce; POST registers with an HMAC-SHA1 of
// nonce\0username\0password\0admin|notadmin[\0user_type] keyed with [registration] shared_secret.
// Without a configured secret both answer 400 "Shared secret registration is not enabled".
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { jsonBody } from "../params.ts";
import { routes } from "../endpoint.ts";

export function sharedSecretRegisterRoutes(app: App, deps: Pick<AccountServices, "registration">): void {
  const route = routes(app, deps);
  route({ method: "GET", path: "/_synapse/admin/v1/register", api: "synapse-admin", access: "none" }, () => ({ nonce: deps.registration.newNonce() }));
  route({ method: "POST", path: "/_synapse/admin/v1/register", api: "synapse-admin", access: "none" }, ({ body }) => deps.registration.registerWithSharedSecret(jsonBody(body)));
}
