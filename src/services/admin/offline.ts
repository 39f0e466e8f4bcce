// Administration straight on the database, for `hs admin users|rooms` (the server may be stopped
// or running). Nothing here creates room events: this process does not own the event stream, so
// what needs events (leaving rooms, removing devices with their keys) is left to the server, which
// finishes it at start-up and within a minute while running (admin-services.ts sweep).
import { MatrixError } from "../../protocol/errors.ts";
import { parseUserId } from "../../protocol/ids.ts";
import type { AccountsRepo } from "../../storage/repos/accounts.ts";
import type { AdminRepo, UserListQuery } from "../../storage/repos/admin.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import type { ProfilesRepo } from "../../storage/repos/profiles.ts";
import type { PurgeResult } from "../../storage/repos/room-purge.ts";
import type { TokensRepo } from "../../storage/repos/tokens.ts";
import { checkNewPassword } from "../accounts.ts";
import { hashPassword } from "../passwords.ts";

export interface OfflineRoom {
  room_id: string;
  name: string | null;
  canonical_alias: string | null;
  joined_members: number;
  joined_local_members: number;
  version: string;
  creator: string;
  public: boolean;
}

export class OfflineAdmin {
  readonly store: AdminRepo;
  private readonly accounts: AccountsRepo;
  private readonly tokens: TokensRepo;
  private readonly profiles: ProfilesRepo;

  constructor(
    private readonly repos: Pick<Repositories, "transaction" | "admin" | "accounts" | "tokens" | "profiles" | "purgeRoom">,
    private readonly serverName: string,
    private readonly now: () => number = Date.now,
  ) {
    this.store = repos.admin;
    this.accounts = repos.accounts;
    this.tokens = repos.tokens;
    this.profiles = repos.profiles;
  }

  /** A local user ID from a user ID or a localpart; M_NOT_FOUND when there is no such user. */
  async resolveUser(nameOrId: string): Promise<string> {
    const userId = nameOrId.startsWith("@") ? nameOrId : `@${nameOrId.toLowerCase()}:${this.serverName}`;
    const p = parseUserId(userId);
    if (!p) throw new MatrixError("M_INVALID_PARAM", `${JSON.stringify(nameOrId)} is not a user ID or localpart`);
    if (p.serverName !== this.serverName) throw new MatrixError("M_INVALID_PARAM", `${userId} is not a user of this server (${this.serverName})`);
    if (!(await this.accounts.findUser(userId))) throw new MatrixError("M_NOT_FOUND", `no user ${userId}`);
    return userId;
  }

  listUsers(q: UserListQuery) {
    return this.store.listUsers(q);
  }

  /** Sets a new password; with logoutDevices, every access and refresh token of the user goes. */
  async resetPassword(userId: string, password: string, logoutDevices: boolean): Promise<{ tokensRevoked: number }> {
    checkNewPassword(password);
    const user = await this.accounts.findUser(userId);
    if (user?.deactivated) throw new MatrixError("M_UNKNOWN", `${userId} is deactivated`);
    const hash = await hashPassword(password);
    return this.repos.transaction(async (tx) => {
      await this.accounts.setPasswordHash(userId, hash, tx);
      await this.tokens.deleteLoginTokensForUser(tx, userId);
      const revoked = logoutDevices ? await this.tokens.deleteTokensForUser(tx, userId) : [];
      return { tokensRevoked: revoked.length };
    });
  }

  /**
   * Deactivates: no password, no tokens, profile erased, marked erased when asked. The server removes
   * the user's devices and makes them leave their rooms (at start-up, or within a minute).
   */
  async deactivate(userId: string, erase: boolean): Promise<void> {
    await this.repos.transaction(async (tx) => {
      await this.accounts.markDeactivated(tx, userId);
      await this.profiles.deleteProfile(tx, userId);
      await this.tokens.deleteLoginTokensForUser(tx, userId);
      await this.tokens.deleteTokensForUser(tx, userId);
    });
    if (erase) await this.store.setErased(userId, true, this.now());
  }

  async setAdmin(userId: string, admin: boolean): Promise<void> {
    await this.accounts.setAdmin(userId, admin);
  }

  /** Locks/unlocks or suspends/unsuspends an account (see the migration 0015_account_moderation.sql). */
  async setModeration(userId: string, flag: "locked" | "suspended", on: boolean): Promise<void> {
    const user = await this.accounts.findUser(userId);
    if (!user || user.deactivated) throw new MatrixError("M_NOT_FOUND", `${userId} does not exist or is deactivated`);
    await this.accounts.setModeration(userId, flag, on);
  }

  /** Rooms with their name, alias and member counts. */
  async listRooms(search?: string): Promise<OfflineRoom[]> {
    const rooms = await this.store.listRooms();
    const state = await this.store.roomNameAndAliasState();
    const content = new Map<string, Record<string, unknown>>();
    for (const s of state) {
      try {
        content.set(`${s.room_id}\u0000${s.type}`, (JSON.parse(s.json) as { content: Record<string, unknown> }).content ?? {});
      } catch {
        // unreadable JSON: hs db check reports the row's table
      }
    }
    const counts = await this.store.roomCounts(this.serverName);
    const str = (v: unknown) => (typeof v === "string" ? v : null);
    let out = rooms.map((r) => {
      const n = counts.get(r.room_id);
      return {
        room_id: r.room_id,
        name: str(content.get(`${r.room_id}\u0000m.room.name`)?.name),
        canonical_alias: str(content.get(`${r.room_id}\u0000m.room.canonical_alias`)?.alias),
        joined_members: n?.joinedMembers ?? 0,
        joined_local_members: n?.joinedLocalMembers ?? 0,
        version: r.room_version,
        creator: r.creator,
        public: r.is_public === 1,
      };
    });
    if (search) {
      const t = search.toLowerCase();
      out = out.filter((r) => r.room_id.includes(search) || (r.name ?? "").toLowerCase().includes(t) || (r.canonical_alias ?? "").toLowerCase().includes(t));
    }
    return out;
  }

  /**
   * Purges a room from the database. Refused while local users are joined unless `force` (they then
   * lose the room without a leave event: other servers still count them as members).
   */
  async purgeRoom(roomId: string, opts: { force: boolean; block: boolean; by: string }): Promise<PurgeResult & { localMembers: string[] }> {
    const known = await this.store.roomExists(roomId);
    if (!known && !opts.block) throw new MatrixError("M_NOT_FOUND", `no room ${roomId} in this database`);
    const local = await this.store.localJoinedUsers(roomId);
    if (local.length > 0 && !opts.force) {
      throw new MatrixError(
        "M_UNKNOWN",
        `${local.length} local user(s) are still joined (${local.slice(0, 3).join(", ")}${local.length > 3 ? ", ..." : ""}): delete the room through the running server (DELETE /_synapse/admin/v2/rooms/${roomId}) so they leave properly, or pass --force`,
      );
    }
    if (opts.block) await this.store.blockRoom(roomId, opts.by, this.now());
    const result = known ? await this.repos.purgeRoom(roomId) : { deleted: {} };
    return { ...result, localMembers: local };
  }
}
