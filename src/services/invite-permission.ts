// Invite permission (spec v1.18: client-server-api modules/invite_permission.md,
// m.invite_permission_config.yaml): a user whose global account data `m.invite_permission_config`
// has `default_action: "block"` gets no invites; any other, missing or invalid value changes
// nothing. This service reads and caches that setting (as IgnoredUsers does its list); it is
// enforced where invites are made — Rooms.inviteChecks (POST /invite, PUT state m.room.member,
// createRoom's `invite`, which leaves that invitee out) and FederationMembership.receiveInvite
// (PUT /federation/v1|v2/invite) refuse with 403 M_INVITE_BLOCKED — and where they are listed:
// Visibility.hiddenInvites hides every invite from /sync, sliding sync and /initialSync while the
// block lasts, so they show again once it is lifted. Room state and application services are
// unaffected.
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import { Lru } from "../util/lru.ts";
import type { AccountData } from "./account-data.ts";

export const INVITE_PERMISSION_CONFIG = "m.invite_permission_config";

/** Whether an m.invite_permission_config content blocks invites: only `default_action: "block"`. */
export function blocksInvites(content: JsonObject | undefined): boolean {
  return content?.default_action === "block";
}

export class InvitePermission {
  private readonly cache = new Lru<string, boolean>(10000, "invite_permission");
  /** Bumped on every change: a read that raced with a change is not cached. */
  private generation = 0;

  constructor(private readonly accountData: AccountData) {
    accountData.onChange.push((userId, roomId, type) => {
      if (roomId === "" && type === INVITE_PERMISSION_CONFIG) {
        this.generation++;
        this.cache.delete(userId);
      }
    });
  }

  /** Whether `userId` blocks all invites. */
  readonly blocked = async (userId: string): Promise<boolean> => {
    const hit = this.cache.get(userId);
    if (hit !== undefined) return hit;
    const gen = this.generation;
    const blocked = blocksInvites(await this.accountData.get(userId, "", INVITE_PERMISSION_CONFIG));
    if (gen === this.generation) this.cache.set(userId, blocked);
    return blocked;
  };

  /** Rooms.inviteChecks: refuses an invite of a (local) user who blocks invites. */
  readonly check = async (invitee: string): Promise<void> => {
    if (await this.blocked(invitee)) throw new MatrixError("M_INVITE_BLOCKED", `${invitee} does not accept invites`);
  };
}
