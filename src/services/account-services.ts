// Builds the account-related services (auth, accounts, registration, profiles, UIA, registration
// tokens, rate limits, capabilities) and wires them together; src/services/index.ts spreads the
// result into Services.
import type { Config } from "../config/schema.ts";
import { MatrixError } from "../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD, LOGIN_TYPE_REGISTRATION_TOKEN } from "../protocol/uia.ts";
import { AccountsRepo } from "../storage/accounts.ts";
import type { Db } from "../storage/db.ts";
import { AccountsService } from "./accounts.ts";
import { AuthService } from "./auth.ts";
import { accountCapabilities, Capabilities } from "./capabilities.ts";
import { ProfileService } from "./profiles.ts";
import { RateLimits } from "./ratelimit.ts";
import { RegistrationService } from "./registration.ts";
import { RegistrationTokens } from "./registration-tokens.ts";
import { UiaService } from "./uia.ts";

export interface AccountServices {
  readonly ratelimits: RateLimits;
  readonly auth: AuthService;
  readonly accounts: AccountsService;
  readonly registration: RegistrationService;
  readonly registrationTokens: RegistrationTokens;
  readonly profiles: ProfileService;
  readonly uia: UiaService;
  readonly capabilities: Capabilities;
}

export function createAccountServices(config: Config, db: Db): AccountServices {
  const store = new AccountsRepo(db);
  const ratelimits = new RateLimits(config.ratelimit);
  const auth = new AuthService(db, config, store);
  const profiles = new ProfileService(db, store, config.server_name);
  const accounts = new AccountsService(db, config, store, auth, profiles, ratelimits);
  const registrationTokens = new RegistrationTokens(db);
  const uia = new UiaService(db);
  const registration = new RegistrationService(db, config, accounts, profiles, registrationTokens, uia);
  const capabilities = new Capabilities();
  capabilities.providers.push(accountCapabilities(config));

  // m.login.password: the password of the user making the request.
  uia.stages.set(LOGIN_TYPE_PASSWORD, async (authDict, { spec }) => {
    if (spec.userId === undefined) return { ok: false, errcode: "M_FORBIDDEN", error: "Password authentication needs a logged-in user" };
    let named: string;
    try {
      // Clients may leave the identifier out: it can only be the requester.
      named = authDict.identifier === undefined && authDict.user === undefined ? spec.userId : accounts.identifierUser(authDict);
    } catch (e) {
      if (e instanceof MatrixError) return { ok: false, errcode: e.errcode, error: e.message };
      throw e;
    }
    if (typeof authDict.password !== "string") return { ok: false, errcode: "M_MISSING_PARAM", error: "Missing 'password'" };
    const user = await accounts.resolveLocalUser(named);
    // Naming someone else is no failed attempt but a refused request (403, as Synapse): a stolen
    // access token plus the thief's own password must not pass.
    if (named.toLowerCase() !== spec.userId.toLowerCase() && user?.userId !== spec.userId) {
      throw new MatrixError("M_FORBIDDEN", "The user in the authentication does not match the user making the request");
    }
    if (!user || user.userId !== spec.userId) return { ok: false, errcode: "M_FORBIDDEN", error: "Invalid password" };
    const ok = await accounts.checkPassword(user.userId, authDict.password, spec.ip ?? "unknown");
    return ok ? { ok: true } : { ok: false, errcode: "M_FORBIDDEN", error: "Invalid password" };
  });

  // m.login.registration_token: reserves one use of the token for this registration session.
  uia.stages.set(LOGIN_TYPE_REGISTRATION_TOKEN, async (authDict) => {
    if (typeof authDict.token !== "string") return { ok: false, errcode: "M_MISSING_PARAM", error: "Missing 'token'" };
    if (!(await registrationTokens.reserve(authDict.token))) return { ok: false, errcode: "M_UNAUTHORIZED", error: "Invalid registration token" };
    return { ok: true, serverData: { registration_token: authDict.token } };
  });
  uia.onSessionExpired.push(async (data) => {
    if (typeof data.registration_token === "string") await registrationTokens.release(data.registration_token);
  });

  return { ratelimits, auth, accounts, registration, registrationTokens, profiles, uia, capabilities };
}
