// Builds the account-related services (auth, accounts, registration, profiles, UIA, registration
// tokens, rate limits, capabilities) and wires them together; src/services/index.ts spreads the
// result into Services.
import type { Config } from "../config/schema.ts";
import { LOGIN_TYPE_PASSWORD, LOGIN_TYPE_REGISTRATION_TOKEN } from "../protocol/uia.ts";
import { AccountsRepo } from "../storage/repos/accounts.ts";
import type { Db } from "../storage/engines/db.ts";
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

  // The UIA stages, each owned by the service whose rule it is.
  uia.stages.set(LOGIN_TYPE_PASSWORD, accounts.passwordStage);
  uia.stages.set(LOGIN_TYPE_REGISTRATION_TOKEN, registrationTokens.uiaStage);
  uia.onSessionExpired.push(registrationTokens.uiaSessionExpired);

  return { ratelimits, auth, accounts, registration, registrationTokens, profiles, uia, capabilities };
}
