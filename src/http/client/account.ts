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
import { connectionOf } from "../auth.ts";
import { routes } from "../endpoint.ts";
import { body as bodyOf } from "../schema.ts";
import { optBool, optString, reqString, withoutAuth } from "../params.ts";
import { checkRequestTokenBody } from "./register.ts";

export type AccountDeps = Pick<AccountServices, "auth" | "accounts" | "uia">;

const PASSWORD_URI = "/_matrix/client/v3/account/password";
const DEACTIVATE_URI = "/_matrix/client/v3/account/deactivate";

const CS = "client-server" as const;

export function accountRoutes(app: App, deps: AccountDeps): void {
  const route = routes(app, deps);
  route({ method: "GET", path: "/_matrix/client/v3/account/whoami", api: CS, access: "guest" }, ({ who: r }) => {
    const out: Record<string, unknown> = { user_id: r.userId, is_guest: r.isGuest };
    if (r.deviceId !== null) out.device_id = r.deviceId;
    return out;
  });

  // The spec lets these two be called without a token (a password reset by e-mail); hs needs one.
  const needsToken = "no third-party identifiers here: a password reset by e-mail cannot happen, so a token is needed";
  route({ method: "POST", path: PASSWORD_URI, api: CS, access: "user", accessDiffers: needsToken, body: bodyOf.object }, async ({ who: r, body, request }) => {
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

  route({ method: "POST", path: DEACTIVATE_URI, api: CS, access: "user", accessDiffers: needsToken, body: bodyOf.object }, async ({ who: r, body, request }) => {
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

  route({ method: "GET", path: "/_matrix/client/v3/account/3pid", api: CS, access: "user" }, () => {
    return { threepids: [] };
  });

  // Deprecated equivalent of /3pid/bind: needs an identity server, and none is trusted.
  route({ method: "POST", path: "/_matrix/client/v3/account/3pid", api: CS, access: "user", body: bodyOf.object }, ({ body }) => {
    const creds = body.three_pid_creds;
    if (creds === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'three_pid_creds'");
    if (typeof creds !== "object" || creds === null) throw badJson("'three_pid_creds' must be an object");
    throw new MatrixError("M_SERVER_NOT_TRUSTED", "This server does not use identity servers", {}, 403);
  });

  route({ method: "POST", path: "/_matrix/client/v3/account/3pid/bind", api: CS, access: "user", body: bodyOf.object }, ({ body }) => {
    for (const k of ["client_secret", "id_server", "id_access_token", "sid"]) reqString(body, k);
    throw new MatrixError("M_SERVER_NOT_TRUSTED", "This server does not use identity servers", {}, 403);
  });

  route({ method: "POST", path: "/_matrix/client/v3/account/3pid/add", api: CS, access: "user", body: bodyOf.object }, ({ body }) => {
    reqString(body, "client_secret");
    reqString(body, "sid");
    throw forbidden("Third-party identifier changes are disabled on this server (see m.3pid_changes)");
  });

  for (const action of ["delete", "unbind"] as const) {
    route({ method: "POST", path: `/_matrix/client/v3/account/3pid/${action}`, api: CS, access: "user", body: bodyOf.object }, ({ body }) => {
      const medium = reqString(body, "medium");
      reqString(body, "address");
      optString(body, "id_server");
      if (medium !== "email" && medium !== "msisdn") throw new MatrixError("M_INVALID_PARAM", "medium must be email or msisdn");
      throw new MatrixError("M_THREEPID_NOT_FOUND", "This third-party identifier is not associated with the account");
    });
  }

  for (const medium of ["email", "msisdn"] as const) {
    route({ method: "POST", path: `/_matrix/client/v3/account/3pid/${medium}/requestToken`, api: CS, access: "none", body: bodyOf.object }, ({ body }) => {
      checkRequestTokenBody(body, medium);
      throw new MatrixError("M_THREEPID_MEDIUM_NOT_SUPPORTED", `Adding ${medium === "email" ? "e-mail addresses" : "phone numbers"} is not supported on this server`);
    });
    route({ method: "POST", path: `/_matrix/client/v3/account/password/${medium}/requestToken`, api: CS, access: "none", body: bodyOf.object }, ({ body }) => {
      checkRequestTokenBody(body, medium);
      throw new MatrixError("M_THREEPID_DENIED", "Password reset by third-party identifier is not supported on this server");
    });
  }
}
