// POST /_matrix/client/v3/register, GET /register/available,
// POST /register/{email,msisdn}/requestToken, GET /_matrix/client/v1/register/m.login.registration_token/validity.
// Spec: data/api/client-server/registration.yaml, registration_tokens.yaml; modules/guest_access.md.
import { MatrixError, forbidden, missingParam } from "../../protocol/errors.ts";
import { LOGIN_TYPE_DUMMY, LOGIN_TYPE_REGISTRATION_TOKEN, UiaChallenge } from "../../protocol/uia.ts";
import { checkNewPassword } from "../../services/accounts.ts";
import { checkPasswordPolicy, policyBody } from "../../services/password-policy.ts";
import type { AccountServices } from "../../services/account-services.ts";
import { hashPassword } from "../../services/passwords.ts";
import type { Config } from "../../config/schema.ts";
import type { App } from "../app.ts";
import { accessTokenOf, connectionOf } from "../auth.ts";
import { jsonBody, optBool, optString, reqString, withoutAuth, type JsonObject } from "../params.ts";
import { routes } from "../endpoint.ts";

export type RegisterDeps = Pick<AccountServices, "auth" | "accounts" | "registration" | "registrationTokens" | "uia" | "ratelimits"> & {
  config: Config;
  /** Application services: type m.login.application_service registers in a namespace (no UIA). */
  appservices?: { register(asToken: string | undefined, body: JsonObject): Promise<Record<string, unknown>> };
};

const REGISTER_URI = "/_matrix/client/v3/register";

/** Checks the body of a requestToken call (identity service request_*_validation schemas). */
function checkRequestTokenBody(body: JsonObject, medium: "email" | "msisdn"): void {
  const secret = reqString(body, "client_secret");
  if (!/^[0-9a-zA-Z.=_-]{1,255}$/.test(secret)) throw new MatrixError("M_INVALID_PARAM", "Invalid client_secret");
  if (medium === "email") reqString(body, "email");
  else {
    reqString(body, "country");
    reqString(body, "phone_number");
  }
  if (body.send_attempt === undefined) throw missingParam("Missing 'send_attempt'");
  if (typeof body.send_attempt !== "number" || !Number.isInteger(body.send_attempt)) throw new MatrixError("M_BAD_JSON", "'send_attempt' must be an integer");
}

export function registerRoutes(app: App, deps: RegisterDeps): void {
  const { config } = deps;

  const route = routes(app, deps);
  const CS = "client-server" as const;
  // No token is checked here: an application service's as_token (m.login.application_service) is
  // read by the application service registration itself.
  route({ method: "POST", path: REGISTER_URI, api: CS, access: "none" }, async ({ request, body: rawBody, query }) => {
    const body = jsonBody(rawBody);
    const kind = query.kind ?? "user";
    const { ip } = connectionOf(request);
    if (kind === "guest") {
      if (!config.registration.allow_guests) throw forbidden("Guest access is disabled");
      deps.ratelimits.registration.consume(`ip:${ip}`);
      // Everything but initial_device_display_name is ignored for guests.
      const name = typeof body.initial_device_display_name === "string" ? body.initial_device_display_name : undefined;
      return deps.registration.registerGuest(name);
    }
    if (kind !== "user") throw new MatrixError("M_INVALID_PARAM", `Unknown kind: ${kind}`);
    // Application services register in their namespace with m.login.application_service, with
    // their as_token and without user-interactive auth, even when registration is disabled.
    if (body.type === "m.login.application_service") {
      if (!deps.appservices) throw new MatrixError("M_UNKNOWN_TOKEN", "No application services are configured");
      return deps.appservices.register(accessTokenOf(request), body);
    }
    if (!config.registration.enabled) throw forbidden("Registration is disabled");

    const username = optString(body, "username");
    const deviceId = optString(body, "device_id");
    const initialDeviceDisplayName = optString(body, "initial_device_display_name");
    const inhibitLogin = optBool(body, "inhibit_login") ?? false;
    const refresh = optBool(body, "refresh_token") ?? false;
    const guestToken = optString(body, "guest_access_token");
    // Checked before authentication too, so that nobody completes a registration stage in vain.
    if (body.password !== undefined) checkPasswordPolicy(checkNewPassword(body.password), config.password_policy);

    // Guests upgrade by registering their own localpart with their access token.
    let guestUserId: string | undefined;
    if (guestToken !== undefined) {
      const guest = await deps.auth.validateAccessToken(guestToken);
      if (!guest.isGuest) throw forbidden("guest_access_token is not a guest's access token");
      guestUserId = guest.userId;
    }
    // Username checks come before user-interactive authentication (spec).
    const checkUsername = async (name: string | undefined): Promise<string | undefined> => {
      if (name === undefined) return undefined;
      if (guestUserId !== undefined) {
        // The guest's own (numeric) localpart, which is otherwise reserved.
        if (`@${name.toLowerCase()}:${config.server_name}` !== guestUserId) {
          throw new MatrixError("M_INVALID_USERNAME", "A guest can only register its own user ID");
        }
        return undefined;
      }
      const localpart = deps.registration.localpartFor(name);
      await deps.registration.checkAvailable(localpart);
      return localpart;
    };
    // A retry of a registration that succeeded (same session and parameters, and the account's
    // password): the same user, logged in again, as the spec allows for completed sessions.
    const prior = await deps.uia.finishedResult(body.auth, { method: "POST", uri: REGISTER_URI, clientDict: withoutAuth(body) });
    if (typeof prior?.user_id === "string" && typeof body.password === "string" && (await deps.accounts.checkPassword(prior.user_id, body.password, ip))) {
      const userId = prior.user_id;
      if (inhibitLogin) return { user_id: userId, home_server: config.server_name };
      return { user_id: userId, home_server: config.server_name, ...(await deps.accounts.createSession(userId, { deviceId, initialDeviceDisplayName, refresh })) };
    }
    await checkUsername(username);
    deps.ratelimits.registration.check(`ip:${ip}`);

    const flows = config.registration.requires_token ? [{ stages: [LOGIN_TYPE_REGISTRATION_TOKEN] }] : [{ stages: [LOGIN_TYPE_DUMMY] }];
    let outcome;
    try {
      outcome = await deps.uia.authenticate(body.auth, { flows, method: "POST", uri: REGISTER_URI, clientDict: withoutAuth(body), ip });
    } catch (e) {
      // The session keeps the password's hash: the request that completes it may leave it out.
      if (e instanceof UiaChallenge && typeof body.password === "string") await deps.registration.rememberPassword(e.body.session, body.password);
      throw e;
    }
    // Parameters may come from the first request of the session when this one only carried `auth`
    // (the password as the hash kept with the session); this request's own win.
    const params = outcome.clientDict;
    const given = body.password ?? params.password;
    const remembered = given === undefined ? deps.registration.rememberedPasswordHash(outcome.serverData) : undefined;
    const password = remembered === undefined ? checkNewPassword(given) : undefined;
    if (password !== undefined) checkPasswordPolicy(password, config.password_policy);
    // Checked again: the ID may have been taken while the client was authenticating.
    const localpart = await checkUsername(username ?? (typeof params.username === "string" ? params.username : undefined));
    const passwordHash = remembered ?? (await hashPassword(password!));
    deps.ratelimits.registration.consume(`ip:${ip}`);
    const token = outcome.serverData.registration_token;
    return deps.registration.register({
      localpart,
      upgradeGuest: guestUserId,
      passwordHash,
      session: inhibitLogin || params.inhibit_login === true
        ? false
        : {
            deviceId: deviceId ?? (typeof params.device_id === "string" ? params.device_id : undefined),
            initialDeviceDisplayName:
              initialDeviceDisplayName ?? (typeof params.initial_device_display_name === "string" ? params.initial_device_display_name : undefined),
            refresh: refresh || params.refresh_token === true,
          },
      registrationToken: typeof token === "string" ? token : undefined,
      uiaSessionId: outcome.sessionId,
    });
  });

  const availability = deps.ratelimits.define("username_available", { perMinute: 60, burst: 10 });
  route({ method: "GET", path: "/_matrix/client/v3/register/available", api: CS, access: "none" }, async ({ request, query }) => {
    if (!config.registration.enabled) throw forbidden("Registration is disabled");
    availability.consume(`ip:${connectionOf(request).ip}`);
    const username = query.username;
    if (typeof username !== "string") throw missingParam("Missing 'username'");
    await deps.registration.checkAvailable(deps.registration.localpartFor(username));
    return { available: true };
  });

  // No e-mail or SMS sending here: third-party identifiers cannot be used to register.
  for (const medium of ["email", "msisdn"] as const) {
    route({ method: "POST", path: `/_matrix/client/v3/register/${medium}/requestToken`, api: CS, access: "none" }, ({ body }) => {
      checkRequestTokenBody(jsonBody(body), medium);
      throw new MatrixError("M_THREEPID_DENIED", `Registration with ${medium === "email" ? "an e-mail address" : "a phone number"} is not supported on this server`);
    });
  }

  // The password rules, for clients to show before the user types (Synapse's endpoint; not in the spec).
  for (const v of ["v3", "r0"]) {
    route({ method: "GET", path: `/_matrix/client/${v}/password_policy`, api: "synapse", access: "none" }, () => policyBody(config.password_policy));
  }

  route({ method: "GET", path: "/_matrix/client/v1/register/m.login.registration_token/validity", api: CS, access: "none" }, async ({ request, query }) => {
    if (!config.registration.enabled) throw forbidden("Registration is not enabled on this homeserver.");
    deps.ratelimits.registration.consume(`validity:${connectionOf(request).ip}`);
    const token = query.token;
    if (typeof token !== "string") throw missingParam("Missing 'token'");
    return { valid: await deps.registrationTokens.isValid(token) };
  });
}

export { checkRequestTokenBody };
