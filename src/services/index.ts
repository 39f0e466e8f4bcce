// The service layer: the rules of the homeserver, independent of HTTP. The composition root
// (src/homeserver.ts) builds one Services object; route modules receive it and call one method per
// request. Services never see Elysia's context or a Request.
import type { Config } from "../config/schema.ts";
import type { Db } from "../storage/db.ts";
import type { ServerSigningKey } from "./signing-key-file.ts";
import { createAccountServices, type AccountServices } from "./account-services.ts";

/** Account services (auth, accounts, registration, profiles, uia, ...) come from account-services.ts. */
export interface Services extends AccountServices {
  readonly config: Config;
  readonly db: Db;
  readonly signingKey: ServerSigningKey;
  /** Called on shutdown: end long-polls, flush queues. */
  readonly shutdownHooks: Array<() => void | Promise<void>>;
}

export function createServices(config: Config, db: Db, signingKey: ServerSigningKey): Services {
  return { config, db, signingKey, shutdownHooks: [], ...createAccountServices(config, db) };
}
