// GET /capabilities (spec: client-server-api "Capabilities negotiation"). Each feature contributes
// its capabilities through a provider; the answer merges them, later providers winning.
import { roomVersionsCapability } from "../core/room-versions.ts";
import type { Config } from "../config/schema.ts";
import type { Requester } from "./auth.ts";

export type CapabilityProvider = (r: Requester) => Record<string, unknown>;

export class Capabilities {
  readonly providers: CapabilityProvider[] = [];

  /** The capabilities object for this requester. */
  for(r: Requester): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const p of this.providers) Object.assign(out, p(r));
    return out;
  }
}

/** The account-related capabilities. Guests may only change their display name. */
export function accountCapabilities(config: Config): CapabilityProvider {
  return (r) => ({
    "m.room_versions": roomVersionsCapability(config.default_room_version),
    "m.change_password": { enabled: !r.isGuest },
    // Suspended accounts may not change their profile (client-server-api "Account suspension").
    "m.set_displayname": { enabled: !r.isSuspended },
    "m.set_avatar_url": { enabled: !r.isGuest && !r.isSuspended },
    // No e-mail or phone verification, no identity servers: no third-party identifiers.
    "m.3pid_changes": { enabled: false },
    "m.get_login_token": { enabled: config.auth.login_via_existing_session && !r.isGuest },
    "m.profile_fields": r.isSuspended ? { enabled: false } : r.isGuest ? { enabled: true, allowed: ["displayname"] } : { enabled: true },
    // Server admins may lock and suspend other accounts (/_matrix/client/v1/admin/{lock,suspend}).
    ...(r.isAdmin ? { "m.account_moderation": { suspend: true, lock: true } } : {}),
  });
}
