// Synapse's user admin API (docs/admin_api/user_admin_api.md): list, query, create or modify,
// deactivate, reset password, admin flag, memberships, devices and "login as user". The callers
// (src/http/admin/users.ts) have checked that the requester is a server admin.
import { MatrixError, badJson, notFound } from "../../protocol/errors.ts";
import { isValidDeviceId, parseUserId } from "../../protocol/ids.ts";
import { AdminRepo, USER_ORDER_COLUMNS, type AdminUserRow, type UserOrder } from "../../storage/repos/admin.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import type { AccountsService, Device } from "../accounts.ts";
import { checkNewPassword } from "../accounts.ts";
import { sha256Hex, type AuthService, type Requester } from "../auth.ts";
import { hashPassword } from "../passwords.ts";
import { MAX_DISPLAYNAME_LENGTH, type ProfileService } from "../profiles.ts";
import { USER_TYPES, type RegistrationService } from "../registration.ts";
import { randomString } from "../../util/random.ts";

/** One user as the admin API shows it. */
export interface AdminUser {
  name: string;
  displayname: string | null;
  avatar_url: string | null;
  threepids: never[];
  external_ids: never[];
  is_guest: boolean;
  admin: boolean;
  deactivated: boolean;
  erased: boolean;
  shadow_banned: boolean;
  locked: boolean;
  suspended: boolean;
  creation_ts: number;
  last_seen_ts: number | null;
  appservice_id: null;
  consent_server_notice_sent: null;
  consent_version: null;
  consent_ts: null;
  user_type: string | null;
}

export interface AdminDevice {
  device_id: string;
  display_name?: string;
  last_seen_ip: string | null;
  last_seen_user_agent: string | null;
  last_seen_ts: number | null;
  user_id: string;
  dehydrated: boolean;
}

export interface UserListParams {
  from?: number;
  limit?: number;
  userId?: string;
  name?: string;
  guests?: boolean;
  deactivated?: "include" | "exclude" | "only";
  admins?: boolean;
  notUserTypes?: string[];
  orderBy?: string;
  dir?: string;
}

const stringOrNull = (json: string | null): string | null => {
  if (json === null) return null;
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
};

function toAdminUser(r: AdminUserRow): AdminUser {
  return {
    name: r.user_id,
    displayname: stringOrNull(r.displayname),
    avatar_url: stringOrNull(r.avatar_url),
    threepids: [],
    external_ids: [],
    is_guest: r.is_guest === 1,
    admin: r.is_admin === 1,
    deactivated: r.deactivated === 1,
    erased: r.erased === 1,
    shadow_banned: r.shadow_banned === 1,
    locked: r.locked === 1,
    suspended: r.suspended === 1,
    creation_ts: r.created_ts,
    last_seen_ts: r.last_seen_ts,
    appservice_id: null,
    consent_server_notice_sent: null,
    consent_version: null,
    consent_ts: null,
    user_type: r.user_type,
  };
}

/** The short form of a user in the list (as Synapse's v2 list). */
function listEntry(u: AdminUser) {
  return {
    name: u.name,
    is_guest: u.is_guest,
    admin: u.admin,
    user_type: u.user_type,
    deactivated: u.deactivated,
    erased: u.erased,
    shadow_banned: u.shadow_banned,
    displayname: u.displayname,
    avatar_url: u.avatar_url,
    creation_ts: u.creation_ts,
    last_seen_ts: u.last_seen_ts,
    locked: u.locked,
  };
}

export function toAdminDevice(d: Device, dehydratedId?: string): AdminDevice {
  const out: AdminDevice = {
    device_id: d.deviceId,
    last_seen_ip: d.lastSeenIp,
    last_seen_user_agent: d.lastSeenUserAgent,
    last_seen_ts: d.lastSeenTs,
    user_id: d.userId,
    dehydrated: d.deviceId === dehydratedId,
  };
  if (d.displayName !== null) out.display_name = d.displayName;
  return out;
}

export interface AdminUsersDeps {
  repos: Pick<Repositories, "transaction" | "admin">;
  serverName: string;
  accounts: AccountsService;
  auth: AuthService;
  profiles: ProfileService;
  registration: RegistrationService;
  /** The rooms a local user is joined to. */
  joinedRooms: (userId: string) => Promise<string[]>;
  /** Someone was erased or un-erased (their events' visibility changes). */
  onErasedChanged?: () => void;
  now?: () => number;
}

export class AdminUsers {
  readonly store: AdminRepo;
  private readonly now: () => number;

  constructor(private readonly d: AdminUsersDeps) {
    this.store = d.repos.admin;
    this.now = d.now ?? Date.now;
  }

  /** 400 M_INVALID_PARAM unless a local user ID (Synapse: "Can only look up local users"). */
  requireLocal(userId: string): void {
    const p = parseUserId(userId);
    if (!p) throw new MatrixError("M_INVALID_PARAM", `Invalid user ID ${JSON.stringify(userId)}`);
    if (p.serverName !== this.d.serverName) throw new MatrixError("M_INVALID_PARAM", "Can only look up local users");
  }

  /** The user, or 404 M_NOT_FOUND. */
  async get(userId: string): Promise<AdminUser> {
    this.requireLocal(userId);
    const r = await this.store.findUser(userId);
    if (!r) throw notFound("User not found");
    return toAdminUser(r);
  }

  /** GET /_synapse/admin/v2/users. */
  async list(p: UserListParams): Promise<{ users: ReturnType<typeof listEntry>[]; total: number; next_token?: string }> {
    const from = p.from ?? 0;
    const limit = p.limit ?? 100;
    const orderBy = (p.orderBy ?? "name") as UserOrder;
    if (!(orderBy in USER_ORDER_COLUMNS)) {
      throw new MatrixError("M_INVALID_PARAM", `Unknown value for order_by: ${JSON.stringify(p.orderBy)}; one of ${Object.keys(USER_ORDER_COLUMNS).join(", ")}`);
    }
    const dir = p.dir ?? "f";
    if (dir !== "f" && dir !== "b") throw new MatrixError("M_INVALID_PARAM", "Unknown direction: dir must be 'f' or 'b'");
    const { users, total } = await this.store.listUsers({
      from,
      limit,
      userId: p.userId,
      name: p.name,
      guests: p.guests ?? true,
      deactivated: p.deactivated ?? "exclude",
      admins: p.admins,
      notUserTypes: p.notUserTypes,
      orderBy,
      dir,
    });
    const out: { users: ReturnType<typeof listEntry>[]; total: number; next_token?: string } = {
      users: users.map((u) => listEntry(toAdminUser(u))),
      total,
    };
    if (from + users.length < total && users.length > 0) out.next_token = String(from + users.length);
    return out;
  }

  /**
   * PUT /_synapse/admin/v2/users/{userId}: creates the user (created = true) or changes the given
   * fields. Unknown users are registered with the password (optional), display name, admin flag and
   * user type given.
   */
  async createOrModify(requester: Requester, userId: string, body: Record<string, unknown>): Promise<{ created: boolean; user: AdminUser }> {
    this.requireLocal(userId);
    const password = body.password === undefined || body.password === null ? undefined : checkNewPassword(body.password);
    const logoutDevices = body.logout_devices ?? true;
    if (typeof logoutDevices !== "boolean") throw badJson("'logout_devices' must be a boolean");
    const displayname = body.displayname;
    if (displayname !== undefined && displayname !== null && typeof displayname !== "string") throw badJson("'displayname' must be a string");
    if (typeof displayname === "string" && displayname.length > MAX_DISPLAYNAME_LENGTH) {
      throw new MatrixError("M_INVALID_PARAM", `'displayname' is too long (max ${MAX_DISPLAYNAME_LENGTH})`);
    }
    const avatarUrl = body.avatar_url;
    if (avatarUrl !== undefined && avatarUrl !== null && typeof avatarUrl !== "string") throw badJson("'avatar_url' must be a string");
    const admin = body.admin;
    if (admin !== undefined && typeof admin !== "boolean") throw badJson("'admin' must be a bool");
    const deactivated = body.deactivated;
    if (deactivated !== undefined && typeof deactivated !== "boolean") throw badJson("'deactivated' must be a bool");
    const locked = body.locked;
    if (locked !== undefined && typeof locked !== "boolean") throw badJson("'locked' must be a bool");
    if (locked === true && userId === requester.userId) throw new MatrixError("M_FORBIDDEN", "You may not lock your own account");
    const hasUserType = "user_type" in body;
    const userType = body.user_type ?? null;
    if (userType !== null && !(USER_TYPES as readonly unknown[]).includes(userType)) throw new MatrixError("M_INVALID_PARAM", "Invalid user type");
    for (const key of ["threepids", "external_ids"] as const) {
      const v = body[key];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v)) throw badJson(`'${key}' must be an array`);
      if (v.length > 0) throw new MatrixError("M_INVALID_PARAM", `This server does not support ${key === "threepids" ? "third-party identifiers" : "external (SSO) identities"}`);
    }

    const existing = await this.d.accounts.findUser(userId);
    if (!existing) {
      if (deactivated === true) throw new MatrixError("M_INVALID_PARAM", "Cannot create a deactivated user");
      const localpart = this.d.registration.localpartFor(parseUserId(userId)!.localpart);
      if (`@${localpart}:${this.d.serverName}` !== userId) throw new MatrixError("M_INVALID_USERNAME", "User IDs must be lower case");
      await this.d.registration.checkAvailable(localpart);
      await this.d.registration.register({
        localpart,
        passwordHash: password === undefined ? null : await hashPassword(password),
        admin: admin ?? false,
        userType: userType as string | null,
        displayName: typeof displayname === "string" && displayname !== "" ? displayname : null,
        session: false,
      });
      if (typeof avatarUrl === "string" && avatarUrl !== "") await this.d.profiles.setField(requester, userId, "avatar_url", avatarUrl);
      return { created: true, user: await this.get(userId) };
    }

    if (admin !== undefined && admin !== existing.isAdmin) {
      if (userId === requester.userId && !admin) throw new MatrixError("M_UNKNOWN", "You may not demote yourself.");
      await this.d.accounts.setAdmin(userId, admin);
    }
    if (hasUserType && userType !== existing.userType) await this.store.setUserType(userId, userType as string | null);
    if (locked !== undefined && locked !== existing.locked) await this.d.accounts.setModeration(userId, "locked", locked);
    if (deactivated === true && !existing.deactivated) {
      await this.d.accounts.deactivate(userId, { erase: false });
    } else if (deactivated === false && existing.deactivated) {
      if (password === undefined) throw new MatrixError("M_UNKNOWN", "Must provide a password to re-activate an account.");
      await this.store.reactivate(userId);
      await this.store.setErased(userId, false, this.now());
      this.d.onErasedChanged?.();
      this.d.auth.forgetUser(userId);
    }
    const active = deactivated === false || (deactivated === undefined && !existing.deactivated);
    if (password !== undefined && active) {
      await this.d.accounts.changePassword(userId, password, { logoutDevices, keep: userId === requester.userId ? requester : undefined });
    }
    if (active) {
      if (typeof displayname === "string") await this.d.profiles.setField(requester, userId, "displayname", displayname);
      if (typeof avatarUrl === "string") await this.d.profiles.setField(requester, userId, "avatar_url", avatarUrl);
    }
    return { created: false, user: await this.get(userId) };
  }

  /** POST /_synapse/admin/v1/deactivate/{userId}. */
  async deactivate(userId: string, erase: boolean): Promise<{ id_server_unbind_result: "success" }> {
    await this.get(userId);
    // Erasure is recorded by the deactivation hook (createAdminServices), as for the client API.
    return this.d.accounts.deactivate(userId, { erase });
  }

  /** POST /_synapse/admin/v1/reset_password/{userId}. */
  async resetPassword(requester: Requester, userId: string, newPassword: unknown, logoutDevices: unknown): Promise<void> {
    const password = checkNewPassword(newPassword, "new_password");
    this.d.accounts.checkPasswordPolicy(password);
    if (logoutDevices !== undefined && typeof logoutDevices !== "boolean") throw badJson("'logout_devices' must be a boolean");
    const user = await this.get(userId);
    if (user.deactivated) throw new MatrixError("M_UNKNOWN", "Cannot set the password of a deactivated user; reactivate it with PUT /_synapse/admin/v2/users");
    await this.d.accounts.changePassword(userId, password, {
      logoutDevices: logoutDevices ?? true,
      keep: userId === requester.userId ? requester : undefined,
    });
  }

  /** PUT /_synapse/admin/v1/users/{userId}/admin. */
  async setAdmin(requester: Requester, userId: string, admin: unknown): Promise<void> {
    if (typeof admin !== "boolean") throw new MatrixError("M_MISSING_PARAM", "Missing or invalid 'admin' (a boolean)");
    await this.get(userId);
    if (userId === requester.userId && !admin) throw new MatrixError("M_UNKNOWN", "You may not demote yourself.");
    await this.d.accounts.setAdmin(userId, admin);
  }

  // ---- account moderation (client-server-api "Server administration": /admin/lock, /admin/suspend)

  /**
   * The target of a moderation request: a local (400 M_INVALID_PARAM), existing and active
   * (404 M_NOT_FOUND) user who is not another server admin (403 M_FORBIDDEN).
   */
  private async moderationTarget(requester: Requester, userId: string): Promise<AdminUser> {
    this.requireLocal(userId);
    const r = await this.store.findUser(userId);
    if (!r || r.deactivated === 1) throw notFound("User not found");
    if (r.is_admin === 1 && userId !== requester.userId) throw new MatrixError("M_FORBIDDEN", "The target user is a server administrator");
    return toAdminUser(r);
  }

  /** GET /admin/{lock,suspend}/{userId}: whether the account is locked or suspended. */
  async moderation(requester: Requester, userId: string, flag: "locked" | "suspended"): Promise<boolean> {
    return (await this.moderationTarget(requester, userId))[flag];
  }

  /** PUT /admin/{lock,suspend}/{userId}: locks/unlocks or suspends/unsuspends the account. */
  async setModeration(requester: Requester, userId: string, flag: "locked" | "suspended", on: unknown): Promise<boolean> {
    if (typeof on !== "boolean") throw new MatrixError("M_BAD_JSON", `'${flag === "locked" ? "locked" : "suspended"}' must be a boolean`);
    const user = await this.moderationTarget(requester, userId);
    if (userId === requester.userId) throw new MatrixError("M_FORBIDDEN", `You may not ${flag === "locked" ? "lock" : "suspend"} your own account`);
    if (user[flag] !== on) await this.d.accounts.setModeration(userId, flag, on);
    return on;
  }

  /** POST/DELETE /_synapse/admin/v1/users/{userId}/shadow_ban (a local, existing user). */
  async setShadowBanned(userId: string, on: boolean): Promise<void> {
    await this.get(userId);
    await this.d.accounts.setModeration(userId, "shadow_banned", on);
  }

  async joinedRooms(userId: string): Promise<{ joined_rooms: string[]; total: number }> {
    await this.get(userId);
    const rooms = (await this.d.joinedRooms(userId)).sort();
    return { joined_rooms: rooms, total: rooms.length };
  }

  async memberships(userId: string): Promise<{ memberships: Record<string, string> }> {
    await this.get(userId);
    const out: Record<string, string> = {};
    for (const m of await this.store.memberships(userId)) out[m.room_id] = m.membership;
    return { memberships: out };
  }

  // ---- devices

  async devices(userId: string): Promise<{ devices: AdminDevice[]; total: number }> {
    await this.get(userId);
    const dehydrated = await this.store.dehydratedDeviceId(userId);
    const devices = (await this.d.accounts.listDevices(userId)).map((d) => toAdminDevice(d, dehydrated));
    return { devices, total: devices.length };
  }

  async device(userId: string, deviceId: string): Promise<AdminDevice> {
    await this.get(userId);
    return toAdminDevice(await this.d.accounts.getDevice(userId, deviceId), await this.store.dehydratedDeviceId(userId));
  }

  async createDevice(userId: string, deviceId: unknown): Promise<void> {
    if (typeof deviceId !== "string") throw new MatrixError("M_MISSING_PARAM", "Missing 'device_id'");
    if (!isValidDeviceId(deviceId)) throw new MatrixError("M_INVALID_PARAM", "Invalid device_id");
    await this.get(userId);
    await this.d.repos.transaction((tx) => this.d.accounts.store.insertDevice(tx, userId, deviceId, null, this.now()));
  }

  async updateDevice(userId: string, deviceId: string, displayName: unknown): Promise<void> {
    if (displayName !== undefined && displayName !== null && typeof displayName !== "string") throw badJson("'display_name' must be a string");
    await this.get(userId);
    await this.d.accounts.updateDevice(userId, deviceId, (displayName ?? undefined) as string | undefined);
  }

  async deleteDevices(userId: string, deviceIds: unknown): Promise<void> {
    if (!Array.isArray(deviceIds) || deviceIds.some((d) => typeof d !== "string")) throw new MatrixError("M_MISSING_PARAM", "'devices' must be a list of device IDs");
    await this.get(userId);
    await this.d.accounts.deleteDevices(userId, deviceIds as string[]);
  }

  /**
   * POST /_synapse/admin/v1/users/{userId}/login: an access token for the user without a device
   * (it is not listed in their devices), valid until `validUntilMs` when given.
   */
  async loginAs(requester: Requester, userId: string, validUntilMs: unknown): Promise<{ access_token: string }> {
    if (validUntilMs !== undefined && validUntilMs !== null && (typeof validUntilMs !== "number" || !Number.isInteger(validUntilMs))) {
      throw badJson("'valid_until_ms' must be an integer");
    }
    if (typeof validUntilMs === "number" && validUntilMs <= this.now()) throw new MatrixError("M_INVALID_PARAM", "'valid_until_ms' is in the past");
    if (userId === requester.userId) throw new MatrixError("M_UNKNOWN", "Cannot use admin API to login as self");
    const user = await this.get(userId);
    if (user.deactivated) throw new MatrixError("M_UNKNOWN", "Cannot log in as a deactivated user");
    const token = `hs_${randomString(32)}`;
    await this.d.repos.transaction((tx) =>
      this.d.auth.tokens.insertAccessToken(tx, {
        tokenHash: sha256Hex(token),
        userId,
        deviceId: null,
        createdTs: this.now(),
        expiresTs: typeof validUntilMs === "number" ? validUntilMs : null,
        refreshTokenHash: null,
      }),
    );
    return { access_token: token };
  }
}
