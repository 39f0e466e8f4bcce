// Mounts every route module on the app. Each module is a function (app, services) → void whose
// handlers validate input, call one service method and return the response.
import type { Services } from "../services/index.ts";
import type { App } from "./app.ts";
import { accountsRoutes } from "./client/accounts.ts";
import { discoveryRoutes } from "./client/discovery.ts";
import { roomRoutes } from "./client/rooms.ts";
import { syncRoutes } from "./client/sync.ts";
import { accountDataRoutes } from "./client/account-data.ts";
import { ephemeralRoutes } from "./client/receipts.ts";
import { installRetryAfter } from "./ratelimit.ts";
import { federationTransportRoutes } from "./federation/transport.ts";
import { federationRoomRoutes } from "./federation/rooms.ts";
import { pushRulesRoutes } from "./client/push-rules.ts";
import { directoryRoutes } from "./client/directory.ts";
import { presenceRoutes } from "./client/presence.ts";
import { searchRoutes } from "./client/search.ts";
import { spacesRoutes } from "./client/spaces.ts";
import { federationDirectoryRoutes } from "./federation/directory.ts";
import { mediaRoutes } from "./client/media.ts";
import { federationMediaRoutes } from "./federation/media.ts";
import { mediaAdminRoutes } from "./admin/media.ts";
import { e2eeRoutes } from "./client/e2ee.ts";
import { keyBackupRoutes } from "./client/key-backup.ts";
import { federationE2eeRoutes } from "./federation/e2ee.ts";
import { relationsRoutes } from "./client/relations.ts";
import { roomUpgradeRoutes } from "./client/room-upgrades.ts";
import { openIdRoutes } from "./client/openid.ts";
import { webClientRoutes } from "./web.ts";

export function mountRoutes(app: App, svc: Services): void {
  installRetryAfter(app);
  webClientRoutes(app, svc);
  discoveryRoutes(app, { config: svc.config, unstableFeatures: () => ({}) });
  accountsRoutes(app, svc);
  roomRoutes(app, svc);
  syncRoutes(app, svc);
  accountDataRoutes(app, svc);
  ephemeralRoutes(app, svc);
  pushRulesRoutes(app, svc);
  directoryRoutes(app, svc);
  presenceRoutes(app, svc);
  searchRoutes(app, svc);
  spacesRoutes(app, svc);
  federationDirectoryRoutes(app, svc);
  mediaRoutes(app, svc);
  mediaAdminRoutes(app, svc);
  federationMediaRoutes(app, svc);
  e2eeRoutes(app, svc);
  keyBackupRoutes(app, svc);
  relationsRoutes(app, svc);
  roomUpgradeRoutes(app, svc);
  openIdRoutes(app, svc);
  federationTransportRoutes(app, svc);
  federationRoomRoutes(app, svc);
  federationE2eeRoutes(app, svc);
}
