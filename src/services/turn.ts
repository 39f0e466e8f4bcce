// TURN credentials for VoIP clients (spec: client-server-api "Voice over IP", voip.yaml). With a
// shared secret, credentials follow coturn's REST API (use-auth-secret): the username is
// "<expiry unix seconds>:<user ID>" and the password base64(HMAC-SHA1(secret, username)), valid
// for turn_user_lifetime seconds. Otherwise a fixed username and password. With no TURN URIs
// configured the answer is {} (as Synapse: clients then call without TURN).
import { createHmac } from "node:crypto";
import type { Config } from "../config/schema.ts";
import { MatrixError } from "../protocol/errors.ts";

export interface TurnCredentials {
  username: string;
  password: string;
  uris: string[];
  ttl: number;
}

export class TurnService {
  constructor(
    private readonly cfg: Config["voip"],
    private readonly now: () => number = Date.now,
  ) {}

  /** The credentials for a user; {} when no TURN server is configured. */
  credentials(userId: string, isGuest: boolean): TurnCredentials | Record<string, never> {
    const c = this.cfg;
    if (c.turn_uris.length === 0) return {};
    if (isGuest && !c.turn_allow_guests) throw new MatrixError("M_FORBIDDEN", "Guest users may not use TURN servers on this server");
    if (c.turn_shared_secret) {
      const expiry = Math.floor(this.now() / 1000) + c.turn_user_lifetime;
      const username = `${expiry}:${userId}`;
      const password = createHmac("sha1", c.turn_shared_secret).update(username).digest("base64");
      return { username, password, uris: [...c.turn_uris], ttl: c.turn_user_lifetime };
    }
    if (c.turn_username && c.turn_password) {
      return { username: c.turn_username, password: c.turn_password, uris: [...c.turn_uris], ttl: 86400 };
    }
    return {};
  }
}
