// GET /account/whoami, POST /account/password, POST /account/deactivate, and the third-party
// identifier endpoints (/account/3pid*, /account/password/{email,msisdn}/requestToken).
// Spec: data/api/client-server/whoami.yaml, password_management.yaml, account_deactivation.yaml,
// administrative_contact.yaml.
//
// This server never verifies e-mail addresses or phone numbers and talks to no identity server, so
// accounts have no third-party identifiers (m.3pid_changes is disabled): listing gives [], adding
// is refused with the codes the spec gives for each endpoint. Password reset therefore needs an
// access token (password changes are authenticated with the current password).
import { MatrixError, badJson, forbidden } from "../../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD } from "../../protocol/uia.ts";
import { checkNewPassword } from "../../services/accounts.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { authenticate, connectionOf } from "../auth.ts";
import { jsonBody, optBool, optString, reqString, withoutAuth } from "../params.ts";
import { checkRequestTokenBody } from "./register.ts";

export type AccountDeps = Pick<AccountServices, "auth" | "accounts" | "uia">;

const PASSWORD_URI = "/_matrix/client/v3/account/password";
const DEACTIVATE_URI = "/_matrix/client/v3/account/deactivate";

export function accountRoutes(app: App, deps: AccountDeps): void {
  app.get("/_matrix/client/v3/account/whoami", async ({ request }) => {
    const r = await authenticate(deps, request);
    const out: Record<string, unknown> = { user_id: r.userId, is_guest: r.isGuest };
    if (r.deviceId !== null) out.device_id = r.deviceId;
    return out;
  });

  app.post(PASSWORD_URI, async ({ request, body: raw }) => {
    const r = await authenticate(deps, request);
    const body = jsonBody(raw);
    // Type checks before authentication, so that a client does not enter a password in vain.
    if (body.new_password !== undefined) deps.accounts.checkPasswordPolicy(checkNewPassword(body.new_password, "new_password"));
    optBool(body, "logout_devices");
    const outcome = await deps.uia.authenticate(body.auth, {
      flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
      method: "POST",
      uri: PASSWORD_URI,
      userId: r.userId,
      clientDict: withoutAuth(body),
      ip: connectionOf(request).ip,
    });
    const newPassword = checkNewPassword(body.new_password, "new_password");
    deps.accounts.checkPasswordPolicy(newPassword);
    const logoutDevices = optBool(body, "logout_devices") ?? (outcome.clientDict.logout_devices === false ? false : true);
    await deps.accounts.changePassword(r.userId, newPassword, { logoutDevices, keep: r });
    await deps.uia.finish(outcome.sessionId);
    return {};
  });

  app.post(DEACTIVATE_URI, async ({ request, body: raw }) => {
    const r = await authenticate(deps, request);
    const body = jsonBody(raw);
    optString(body, "id_server");
    const erase = optBool(body, "erase") ?? false;
    // An application service deactivates its users without user-interactive auth (they have no
    // password; as Synapse, and as the spec has it for deleting their devices).
    if (r.appserviceId !== undefined) return deps.accounts.deactivate(r.userId, { erase });
    const outcome = await deps.uia.authenticate(body.auth, {
      flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
      method: "POST",
      uri: DEACTIVATE_URI,
      userId: r.userId,
      clientDict: withoutAuth(body),
      ip: connectionOf(request).ip,
    });
    await deps.uia.finish(outcome.sessionId);
    return deps.accounts.deactivate(r.userId, { erase: erase || outcome.clientDict.erase === true });
  });

  // ---- third-party identifiers

  app.get("/_matrix/client/v3/account/3pid", async ({ request }) => {
    await authenticate(deps, request);
    return { threepids: [] };
  });

  // Deprecated equivalent of /3pid/bind: needs an identity server, and none is trusted.
  app.post("/_matrix/client/v3/account/3pid", async ({ request, body }) => {
    await authenticate(deps, request);
    const creds = jsonBody(body).three_pid_creds;
    if (creds === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'three_pid_creds'");
    if (typeof creds !== "object" || creds === null) throw badJson("'three_pid_creds' must be an object");
    throw new MatrixError("M_SERVER_NOT_TRUSTED", "This server does not use identity servers", {}, 403);
  });

  app.post("/_matrix/client/v3/account/3pid/bind", async ({ request, body: raw }) => {
    await authenticate(deps, request);
    const body = jsonBody(raw);
    for (const k of ["client_secret", "id_server", "id_access_token", "sid"]) reqString(body, k);
    throw new MatrixError("M_SERVER_NOT_TRUSTED", "This server does not use identity servers", {}, 403);
  });

  app.post("/_matrix/client/v3/account/3pid/add", async ({ request, body: raw }) => {
    await authenticate(deps, request);
    const body = jsonBody(raw);
    reqString(body, "client_secret");
    reqString(body, "sid");
    throw forbidden("Third-party identifier changes are disabled on this server (see m.3pid_changes)");
  });

  for (const action of ["delete", "unbind"] as const) {
    app.post(`/_matrix/client/v3/account/3pid/${action}`, async ({ request, body: raw }) => {
      await authenticate(deps, request);
      const body = jsonBody(raw);
      const medium = reqString(body, "medium");
      reqString(body, "address");
      optString(body, "id_server");
      if (medium !== "email" && medium !== "msisdn") throw new MatrixError("M_INVALID_PARAM", "medium must be email or msisdn");
      throw new MatrixError("M_THREEPID_NOT_FOUND", "This third-party identifier is not associated with the account");
    });
  }

  for (const medium of ["email", "msisdn"] as const) {
    app.post(`/_matrix/client/v3/account/3pid/${medium}/requestToken`, ({ body }) => {
      checkRequestTokenBody(jsonBody(body), medium);
      throw new MatrixError("M_THREEPID_MEDIUM_NOT_SUPPORTED", `Adding ${medium === "email" ? "e-mail addresses" : "phone numbers"} is not supported on this server`);
    });
    app.post(`/_matrix/client/v3/account/password/${medium}/requestToken`, ({ body }) => {
      checkRequestTokenBody(jsonBody(body), medium);
      throw new MatrixError("M_THREEPID_DENIED", "Password reset by third-party identifier is not supported on this server");
    });
  }
}
