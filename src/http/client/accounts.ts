// Mounts every account-related route module (registration, login, account, devices, profiles,
// capabilities, admin APIs) on the app.
import type { Config } from "../../config/schema.ts";
import type { AccountServices } from "../../services/account-services.ts";
import { sharedSecretRegisterRoutes } from "../admin/register.ts";
import { registrationTokenAdminRoutes } from "../admin/registration-tokens.ts";
import { whoisRoutes } from "../admin/whois.ts";
import type { App } from "../app.ts";
import { accountRoutes } from "./account.ts";
import { capabilitiesRoutes } from "./capabilities.ts";
import { devicesRoutes } from "./devices.ts";
import { loginRoutes } from "./login.ts";
import { profileRoutes } from "./profile.ts";
import { registerRoutes } from "./register.ts";

export function accountsRoutes(app: App, svc: AccountServices & { config: Config }): void {
  registerRoutes(app, svc);
  loginRoutes(app, svc);
  accountRoutes(app, svc);
  devicesRoutes(app, svc);
  profileRoutes(app, svc);
  capabilitiesRoutes(app, svc);
  sharedSecretRegisterRoutes(app, svc);
  registrationTokenAdminRoutes(app, svc);
  whoisRoutes(app, svc);
}
