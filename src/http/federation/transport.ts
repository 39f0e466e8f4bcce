// The federation transport endpoints: our keys, the notary, /version. Event endpoints (send, joins,
// backfill, ...) live in their own modules and call authenticateServer (auth.ts) first.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { keysRoutes } from "./keys.ts";
import { versionRoutes } from "./version.ts";

export function federationTransportRoutes(app: App, svc: Pick<Services, "federation">): void {
  keysRoutes(app, svc);
  versionRoutes(app, svc);
}
