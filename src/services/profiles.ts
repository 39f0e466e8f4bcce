// User profiles (spec: client-server-api "Profiles", profile.yaml, v1.16 custom fields).
//
// Fields: displayname, avatar_url, m.tz and custom keys in the namespaced grammar. Keys are at most
// 255 bytes (M_KEY_TOO_LARGE) and the whole profile, as JSON, under 64 KiB (M_PROFILE_TOO_LARGE).
// Profile changes are announced through `onProfileChange` (the rooms module propagates displayname
// and avatar_url into memberships there); remote profiles come through `remoteLookup` (federation).
import { clientEventJsonIssue } from "../core/client-event-json.ts";
import { MatrixError, forbidden, notFound } from "../protocol/errors.ts";
import { parseUserId } from "../protocol/ids.ts";
import type { AccountsRepo } from "../storage/repos/accounts.ts";
import type { Queryable } from "../storage/engines/db.ts";
import type { Repositories } from "../storage/repos/index.ts";
import { ProfilesRepo } from "../storage/repos/profiles.ts";
import type { Requester } from "./auth.ts";

export const MAX_PROFILE_BYTES = 64 * 1024;
export const MAX_KEY_BYTES = 255;
/** Synapse's limits on the two classic fields. */
export const MAX_DISPLAYNAME_LENGTH = 256;
export const MAX_AVATAR_URL_LENGTH = 1000;

const KEY_RE = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;
const MXC_RE = /^mxc:\/\/[^/]+\/[^/]+$/;

export type ProfileChangeHook = (userId: string, field: string, value: unknown | undefined) => Promise<void>;
/** Fetches a remote user's profile (federation); null when it cannot be found. */
export type RemoteProfileLookup = (userId: string) => Promise<Record<string, unknown> | null>;

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

/** Validates a profile key name; M_KEY_TOO_LARGE or M_INVALID_PARAM (400). */
export function checkProfileKey(key: string): void {
  if (utf8Length(key) > MAX_KEY_BYTES) throw new MatrixError("M_KEY_TOO_LARGE", "Profile key exceeds 255 bytes");
  if (!KEY_RE.test(key)) throw new MatrixError("M_INVALID_PARAM", "Invalid profile key.");
}

export class ProfileService {
  readonly store: ProfilesRepo;
  /** Run after a field was set (value) or removed (undefined). */
  readonly onProfileChange: ProfileChangeHook[] = [];
  /** Set by federation to look up remote users' profiles. */
  remoteLookup: RemoteProfileLookup | undefined;

  constructor(
    private readonly storage: Pick<Repositories, "transaction" | "profiles">,
    private readonly users: AccountsRepo,
    private readonly serverName: string,
  ) {
    this.store = storage.profiles;
  }

  private isLocal(userId: string): boolean {
    return parseUserId(userId)?.serverName === this.serverName;
  }

  /** The whole profile of a user; 404 M_NOT_FOUND for unknown or deactivated users. */
  async getProfile(userId: string): Promise<Record<string, unknown>> {
    if (!parseUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (!this.isLocal(userId)) {
      if (!this.remoteLookup) throw new Error("ProfileService.remoteLookup is not wired (federation)");
      let remote: Record<string, unknown> | null;
      try {
        remote = await this.remoteLookup(userId);
      } catch (e) {
        if (e instanceof MatrixError) throw e;
        // The user's server could not be reached or answered nonsense (Synapse: 502).
        throw new MatrixError("M_UNKNOWN", `Could not fetch the profile from ${parseUserId(userId)?.serverName}`, {}, 502);
      }
      if (!remote) throw notFound("Profile not found");
      return remote;
    }
    const user = await this.users.findUser(userId);
    if (!user || user.deactivated) throw notFound("Profile not found");
    return this.store.getProfile(userId);
  }

  /**
   * The profile a federation query for one field answers: the user's profile with only that field,
   * or without it when unset (spec: query/profile answers 404 only for unknown users).
   */
  async getLocalFieldProfile(userId: string, key: string): Promise<Record<string, unknown>> {
    checkProfileKey(key);
    const profile = await this.getProfile(userId);
    return key in profile ? { [key]: profile[key] } : {};
  }

  /** Throws unless the hooks federation must set are set (checked once at start-up). */
  assertWired(): void {
    if (!this.remoteLookup) throw new Error("ProfileService.remoteLookup is not set: remote profiles would always be 404");
  }

  /** One field; 404 M_NOT_FOUND when the user or the field does not exist. */
  async getField(userId: string, key: string): Promise<unknown> {
    checkProfileKey(key);
    const profile = await this.getProfile(userId);
    if (!(key in profile)) throw notFound("Profile field not found");
    return profile[key];
  }

  /** Displayname and avatar_url, for membership events (undefined fields are absent). */
  async getMemberProfile(userId: string): Promise<{ displayname?: string; avatar_url?: string }> {
    const p = await this.store.getProfile(userId);
    const out: { displayname?: string; avatar_url?: string } = {};
    if (typeof p.displayname === "string") out.displayname = p.displayname;
    if (typeof p.avatar_url === "string") out.avatar_url = p.avatar_url;
    return out;
  }

  private async checkWriter(requester: Requester, userId: string, key: string): Promise<void> {
    if (!parseUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (requester.userId !== userId && !requester.isAdmin) throw forbidden("You cannot change another user's profile");
    if (!this.isLocal(userId)) throw forbidden("You cannot change the profile of a remote user");
    if (requester.isGuest && key !== "displayname") throw new MatrixError("M_FORBIDDEN", "Guests may only change their display name");
    const user = await this.users.findUser(userId);
    if (!user || user.deactivated) throw notFound("User not found");
  }

  /** PUT /profile/{userId}/{keyName}. An empty displayname or avatar_url removes the field (as Synapse). */
  async setField(requester: Requester, userId: string, key: string, value: unknown): Promise<void> {
    checkProfileKey(key);
    await this.checkWriter(requester, userId, key);
    switch (key) {
      case "displayname":
        if (typeof value !== "string") throw new MatrixError("M_BAD_JSON", "displayname must be a string");
        if (value.length > MAX_DISPLAYNAME_LENGTH) throw new MatrixError("M_INVALID_PARAM", `displayname is too long (max ${MAX_DISPLAYNAME_LENGTH})`);
        if (value === "") return this.deleteField(requester, userId, key);
        break;
      case "avatar_url":
        if (typeof value !== "string") throw new MatrixError("M_BAD_JSON", "avatar_url must be a string");
        if (value === "") return this.deleteField(requester, userId, key);
        if (value.length > MAX_AVATAR_URL_LENGTH) throw new MatrixError("M_INVALID_PARAM", `avatar_url is too long (max ${MAX_AVATAR_URL_LENGTH})`);
        if (!MXC_RE.test(value)) throw new MatrixError("M_INVALID_PARAM", "avatar_url must be an mxc:// URI");
        break;
      case "m.tz":
        if (typeof value !== "string") throw new MatrixError("M_BAD_JSON", "m.tz must be a string");
        break;
    }
    if (key === "displayname" || key === "avatar_url") {
      // These go into the user's member events: refused here, before anything is stored, when they could not.
      const issue = clientEventJsonIssue({ type: "m.room.member", content: { [key]: value } });
      if (issue) throw new MatrixError("M_BAD_JSON", `Invalid ${key}: ${issue.message.replace(/^Invalid JSON at [^:]*: /, "")}`);
    }
    const json = JSON.stringify(value);
    await this.storage.transaction(async (tx) => {
      const profile = await this.store.getProfile(userId, tx);
      profile[key] = value;
      if (utf8Length(JSON.stringify(profile)) >= MAX_PROFILE_BYTES) {
        throw new MatrixError("M_PROFILE_TOO_LARGE", "The profile would exceed its maximum size of 64 KiB");
      }
      await this.store.upsertField(tx, userId, key, json);
    });
    await this.changed(userId, key, value);
  }

  /** DELETE /profile/{userId}/{keyName}: succeeds whether or not the field existed. */
  async deleteField(requester: Requester, userId: string, key: string): Promise<void> {
    checkProfileKey(key);
    await this.checkWriter(requester, userId, key);
    const existed = await this.storage.transaction((tx) => this.store.deleteField(tx, userId, key));
    if (existed) await this.changed(userId, key, undefined);
  }

  /** Sets a field without permission checks (registration defaults, admin tools), in a transaction. */
  async setFieldUnchecked(tx: Queryable, userId: string, key: string, value: unknown): Promise<void> {
    await this.store.upsertField(tx, userId, key, JSON.stringify(value));
  }

  /** Removes every field (account deactivation), inside the caller's transaction. */
  async erase(tx: Queryable, userId: string): Promise<void> {
    await this.store.deleteProfile(tx, userId);
  }

  private async changed(userId: string, key: string, value: unknown | undefined): Promise<void> {
    for (const hook of this.onProfileChange) await hook(userId, key, value);
  }
}
