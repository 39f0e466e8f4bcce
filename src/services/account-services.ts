// Builds the account-related services (auth, accounts, registration, profiles, UIA, registration
// tokens, rate limits, capabilities) and wires them together; src/services/index.ts spreads the
// result into Services.
import type { Config } from "../config/schema.ts";
import { LOGIN_TYPE_PASSWORD, LOGIN_TYPE_REGISTRATION_TOKEN } from "../protocol/uia.ts";
import type { Repositories } from "../storage/repos/index.ts";
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

export function createAccountServices(config: Config, repos: Repositories): AccountServices {
  const store = repos.accounts;
  const ratelimits = new RateLimits(config.ratelimit);
  const auth = new AuthService(repos, config, store);
  const profiles = new ProfileService(repos, store, config.server_name);
  const accounts = new AccountsService(repos.transaction, config, store, auth, profiles, ratelimits);
  const registrationTokens = new RegistrationTokens(repos);
  const uia = new UiaService(repos);
  const registration = new RegistrationService(repos.transaction, config, accounts, profiles, registrationTokens, uia, Date.now, repos.dialect === "postgres");
  const capabilities = new Capabilities();
  capabilities.providers.push(accountCapabilities(config));

  // The UIA stages, each owned by the service whose rule it is.
  uia.stages.set(LOGIN_TYPE_PASSWORD, accounts.passwordStage);
  uia.stages.set(LOGIN_TYPE_REGISTRATION_TOKEN, registrationTokens.uiaStage);
  uia.onSessionExpired.push(registrationTokens.uiaSessionExpired);

  return { ratelimits, auth, accounts, registration, registrationTokens, profiles, uia, capabilities };
}
