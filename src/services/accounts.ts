// Local accounts: users, passwords, logins, devices, password changes, deactivation and whois.
// Spec: client-server-api "Login", login.yaml, logout.yaml, device_management.yaml,
// password_management.yaml, account_deactivation.yaml, admin.yaml (whois).
//
// Extension points for later features:
//  - loginTypes: further POST /login types (m.login.application_service comes with appservices);
//  - onDevicesDeleted: a device was deleted (logout, DELETE /devices, deactivation): its E2EE keys
//    and to-device queue go with it;
//  - onDeviceRenamed: a device's display name changed (other users see it in /keys/query);
//  - onDeviceCreated: a login created a new device (device list trackers learn it);
//  - onDeactivated: an account was deactivated (leave rooms, delete pushers and account data);
//  - onUserCreated: a user was registered (default push rules, ...).
import type { Config } from "../config/schema.ts";
import { MatrixError, badJson, missingParam, notFound } from "../protocol/errors.ts";
import { isValidDeviceId, parseUserId } from "../protocol/ids.ts";
import { LOGIN_TYPE_PASSWORD, LOGIN_TYPE_TOKEN } from "../protocol/uia.ts";
import { AccountsRepo, type Device, type User } from "../storage/repos/accounts.ts";
import type { Queryable, Transaction } from "../storage/engines/db.ts";
import { randomString } from "../util/random.ts";
import { userLocked, type AuthService, type IssuedTokens, type Requester } from "./auth.ts";
import { hashPassword, verifyDummyPassword, verifyPassword } from "./passwords.ts";
import type { ProfileService } from "./profiles.ts";
import type { RateLimits } from "./ratelimit.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";
import { checkPasswordPolicy } from "./password-policy.ts";
import type { StageChecker } from "./uia.ts";

export type { Device, User };

export const MAX_PASSWORD_LENGTH = 512;
export const MAX_DEVICE_DISPLAY_NAME_LENGTH = 100;
const DEVICE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

export interface LoginContext {
  ip: string;
  /** The access token sent with the request, if any (application service logins). */
  accessToken?: string;
}

/** Checks the credentials of one login type and returns the user ID to log in as. */
export type LoginTypeHandler = (body: Record<string, unknown>, ctx: LoginContext) => Promise<string>;

export interface LoginType {
  handler: LoginTypeHandler;
  /** Extra fields of this type's entry in GET /login. */
  flowInfo?: () => Record<string, unknown>;
}

export interface SessionOptions {
  deviceId?: string;
  initialDeviceDisplayName?: string;
  /** The client supports refresh tokens. */
  refresh?: boolean;
}

export interface LoginResult {
  user_id: string;
  access_token: string;
  device_id: string;
  home_server: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

export type DevicesDeletedHook = (userId: string, deviceIds: string[]) => Promise<void>;
export type DeactivatedHook = (userId: string, opts: { erase: boolean }) => Promise<void>;
export type UserCreatedHook = (userId: string) => Promise<void>;

export interface WhoisResponse {
  user_id: string;
  devices: Record<string, { sessions: Array<{ connections: Array<{ ip: string; last_seen: number; user_agent: string }> }> }>;
}


/** Validates a new password: a non-empty string of at most 512 characters. */
export function checkNewPassword(password: unknown, name = "password"): string {
  if (password === undefined) throw missingParam(`Missing '${name}'`);
  if (typeof password !== "string") throw badJson(`'${name}' must be a string`);
  if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new MatrixError("M_INVALID_PARAM", `'${name}' must be between 1 and ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (password.includes("\0")) throw new MatrixError("M_INVALID_PARAM", `'${name}' must not contain NUL`);
  return password;
}

export class AccountsService {
  /** Throws M_WEAK_PASSWORD when a new password breaks [password_policy]. */
  checkPasswordPolicy(password: string): void {
    checkPasswordPolicy(password, this.config.password_policy);
  }

  readonly store: AccountsRepo;
  readonly loginTypes = new Map<string, LoginType>();
  readonly onDevicesDeleted: DevicesDeletedHook[] = [];
  readonly onDeviceRenamed: Array<(userId: string, deviceId: string) => Promise<void>> = [];
  /**
   * A session created a new device. Runs after the commit, so not for sessions opened inside a
   * caller's transaction (registration: a new account shares no room, and its first /sync has no
   * `since` — nobody has a device list of it to update).
   */
  readonly onDeviceCreated: Array<(userId: string, deviceId: string) => Promise<void>> = [];
  readonly onDeactivated: DeactivatedHook[] = [];
  readonly onUserCreated: UserCreatedHook[] = [];

  /** The UIA stage m.login.password: the password of the user making the request. */
  readonly passwordStage: StageChecker = async (authDict, { spec }) => {
    if (spec.userId === undefined) return { ok: false, errcode: "M_FORBIDDEN", error: "Password authentication needs a logged-in user" };
    let named: string;
    try {
      // Clients may leave the identifier out: it can only be the requester.
      named = authDict.identifier === undefined && authDict.user === undefined ? spec.userId : this.identifierUser(authDict);
    } catch (e) {
      if (e instanceof MatrixError) return { ok: false, errcode: e.errcode, error: e.message };
      throw e;
    }
    if (typeof authDict.password !== "string") return { ok: false, errcode: "M_MISSING_PARAM", error: "Missing 'password'" };
    const user = await this.resolveLocalUser(named);
    // Naming someone else is no failed attempt but a refused request (403, as Synapse): a stolen
    // access token plus the thief's own password must not pass.
    if (named.toLowerCase() !== spec.userId.toLowerCase() && user?.userId !== spec.userId) {
      throw new MatrixError("M_FORBIDDEN", "The user in the authentication does not match the user making the request");
    }
    if (!user || user.userId !== spec.userId) return { ok: false, errcode: "M_FORBIDDEN", error: "Invalid password" };
    const ok = await this.checkPassword(user.userId, authDict.password, spec.ip ?? "unknown");
    return ok ? { ok: true } : { ok: false, errcode: "M_FORBIDDEN", error: "Invalid password" };
  };

  constructor(
    private readonly transaction: Transaction,
    private readonly config: Config,
    store: AccountsRepo,
    private readonly auth: AuthService,
    private readonly profiles: ProfileService,
    private readonly limits: RateLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.store = store;
    this.loginTypes.set(LOGIN_TYPE_PASSWORD, { handler: (body, ctx) => this.passwordLogin(body, ctx) });
    this.loginTypes.set(LOGIN_TYPE_TOKEN, {
      handler: (body) => this.tokenLogin(body),
      flowInfo: () => (this.config.auth.login_via_existing_session ? { get_login_token: true } : {}),
    });
  }

  get serverName(): string {
    return this.config.server_name;
  }

  // ---- users

  findUser(userId: string): Promise<User | undefined> {
    return this.store.findUser(userId);
  }

  async isAdmin(userId: string): Promise<boolean> {
    return (await this.store.findUser(userId))?.isAdmin ?? false;
  }

  /** Makes a user a server admin or not. */
  async setAdmin(userId: string, admin: boolean): Promise<void> {
    await this.store.setAdmin(userId, admin);
    this.auth.forgetUser(userId);
  }

  /** Locks/unlocks or suspends/unsuspends an account; its sessions see the change on their next request. */
  async setModeration(userId: string, flag: "locked" | "suspended" | "shadow_banned", on: boolean): Promise<void> {
    if (!(await this.store.setModeration(userId, flag, on))) throw notFound("User not found");
    this.auth.forgetUser(userId);
  }

  /**
   * The local user a login identifier names: a localpart or a full user ID, matched
   * case-insensitively as Synapse does (an exact match wins when legacy IDs differ only in case).
   */
  async resolveLocalUser(userOrLocalpart: string): Promise<User | undefined> {
    const candidate = userOrLocalpart.startsWith("@") ? userOrLocalpart : `@${userOrLocalpart}:${this.serverName}`;
    const parsed = parseUserId(candidate);
    if (!parsed || parsed.serverName !== this.serverName) return undefined;
    const matches = await this.store.listUsersCaseInsensitive(candidate);
    if (matches.length === 1) return matches[0];
    return matches.find((u) => u.userId === candidate);
  }

  /** The user ID named by a login identifier (identifier object or legacy `user`/`medium`). */
  identifierUser(body: Record<string, unknown>): string {
    const id = body.identifier;
    if (id !== undefined) {
      if (!isObject(id)) throw badJson("'identifier' must be an object");
      switch (id.type) {
        case "m.id.user":
          if (typeof id.user !== "string") throw missingParam("Missing 'identifier.user'");
          return id.user;
        case "m.id.thirdparty":
        case "m.id.phone":
          // No third-party identifiers are ever associated with accounts here.
          throw new MatrixError("M_FORBIDDEN", "Unknown third-party identifier");
        default:
          throw new MatrixError("M_UNKNOWN", "Unknown login identifier type");
      }
    }
    if (typeof body.user === "string") return body.user;
    if (body.medium !== undefined || body.address !== undefined) throw new MatrixError("M_FORBIDDEN", "Unknown third-party identifier");
    throw missingParam("Missing 'identifier'");
  }

  /**
   * Checks a password for a user ID, counting failures against the per-user and per-IP back-off.
   * Throws M_LIMIT_EXCEEDED when backing off, M_USER_DEACTIVATED for deactivated accounts.
   */
  async checkPassword(userId: string, password: string, ip: string): Promise<boolean> {
    const userKey = `user:${userId.toLowerCase()}`;
    const ipKey = `ip:${ip}`;
    this.limits.failedLogin.check(userKey);
    this.limits.failedLogin.check(ipKey);
    const user = await this.store.findUser(userId);
    if (user?.deactivated) throw new MatrixError("M_USER_DEACTIVATED", "This account has been deactivated");
    const ok = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyDummyPassword(password);
    if (!ok) {
      this.limits.failedLogin.record(userKey);
      this.limits.failedLogin.record(ipKey);
    }
    return ok;
  }

  private async passwordLogin(body: Record<string, unknown>, ctx: LoginContext): Promise<string> {
    const identifier = this.identifierUser(body);
    if (body.password === undefined) throw missingParam("Missing 'password'");
    if (typeof body.password !== "string") throw badJson("'password' must be a string");
    const user = await this.resolveLocalUser(identifier);
    // Unknown users are counted (and back off) under the name that was tried.
    const attempted = user?.userId ?? identifier;
    this.limits.login.consume(`user:${attempted.toLowerCase()}`);
    if (!(await this.checkPassword(attempted, body.password, ctx.ip)) || !user) {
      throw new MatrixError("M_FORBIDDEN", "Invalid username or password");
    }
    return user.userId;
  }

  private async tokenLogin(body: Record<string, unknown>): Promise<string> {
    if (typeof body.token !== "string") throw missingParam("Missing 'token'");
    const userId = await this.auth.consumeLoginToken(body.token);
    const user = await this.store.findUser(userId);
    if (!user) throw new MatrixError("M_FORBIDDEN", "Invalid login token");
    if (user.deactivated) throw new MatrixError("M_USER_DEACTIVATED", "This account has been deactivated");
    return userId;
  }

  /** The entries of GET /login. */
  loginFlows(): Array<Record<string, unknown>> {
    return [...this.loginTypes.entries()].map(([type, t]) => ({ type, ...(t.flowInfo?.() ?? {}) }));
  }

  /** POST /login: checks the credentials of `type` and opens a session on a (new or reused) device. */
  async login(type: string, body: Record<string, unknown>, opts: SessionOptions, ctx: LoginContext): Promise<LoginResult> {
    const lt = this.loginTypes.get(type);
    if (!lt) throw new MatrixError("M_UNKNOWN", "Unknown login type");
    this.limits.login.consume(`ip:${ctx.ip}`);
    const userId = await lt.handler(body, ctx);
    // Right credentials for a locked account: no new session until it is unlocked.
    if ((await this.store.findUser(userId))?.locked) throw userLocked();
    const s = await this.createSession(userId, opts);
    return { user_id: userId, home_server: this.serverName, ...s };
  }

  // ---- sessions and devices

  /**
   * Opens a session: reuses `deviceId` when the user has it (revoking its previous tokens), or
   * creates the device; then issues tokens. Runs in `tx` when given.
   */
  async createSession(userId: string, opts: SessionOptions, tx?: Queryable): Promise<{ device_id: string; access_token: string; refresh_token?: string; expires_in_ms?: number }> {
    if (opts.deviceId !== undefined && !isValidDeviceId(opts.deviceId)) throw new MatrixError("M_INVALID_PARAM", "Invalid device_id");
    const displayName = opts.initialDeviceDisplayName?.slice(0, MAX_DEVICE_DISPLAY_NAME_LENGTH) ?? null;
    const run = async (q: Queryable) => {
      let deviceId = opts.deviceId;
      let revoked: string[] = [];
      let created = true;
      if (deviceId !== undefined) {
        created = await this.store.insertDevice(q, userId, deviceId, displayName, this.now());
        if (!created) revoked = await this.auth.revokeDeviceTokens(q, userId, [deviceId]);
      } else {
        do deviceId = randomString(10, DEVICE_ID_ALPHABET);
        while (!(await this.store.insertDevice(q, userId, deviceId, displayName, this.now())));
      }
      const tokens: IssuedTokens = await this.auth.issueTokens(q, userId, deviceId, { refresh: opts.refresh });
      return { deviceId, tokens, revoked, created };
    };
    const { deviceId, tokens, revoked, created } = tx ? await run(tx) : await this.transaction(run);
    this.auth.forget(revoked);
    if (created && !tx) for (const hook of this.onDeviceCreated) await hook(userId, deviceId);
    const out: { device_id: string; access_token: string; refresh_token?: string; expires_in_ms?: number } = {
      device_id: deviceId,
      access_token: tokens.accessToken,
    };
    if (tokens.refreshToken !== undefined) out.refresh_token = tokens.refreshToken;
    if (tokens.expiresInMs !== undefined) out.expires_in_ms = tokens.expiresInMs;
    return out;
  }

  listDevices(userId: string): Promise<Device[]> {
    return this.store.listDevices(userId);
  }

  async getDevice(userId: string, deviceId: string): Promise<Device> {
    const d = await this.store.findDevice(userId, deviceId);
    if (!d) throw notFound("Device not found");
    return d;
  }

  /** PUT /devices/{deviceId}: 404 when the user has no such device. */
  async updateDevice(userId: string, deviceId: string, displayName: string | undefined): Promise<void> {
    if (displayName !== undefined && displayName.length > MAX_DEVICE_DISPLAY_NAME_LENGTH) {
      throw new MatrixError("M_INVALID_PARAM", `Device display name is too long (max ${MAX_DEVICE_DISPLAY_NAME_LENGTH})`);
    }
    if (displayName === undefined) {
      await this.getDevice(userId, deviceId);
      return;
    }
    if (!(await this.store.updateDeviceDisplayName(userId, deviceId, displayName))) throw notFound("Device not found");
    for (const hook of this.onDeviceRenamed) await hook(userId, deviceId);
  }

  /**
   * Deletes devices of a user (all of them when `deviceIds` is undefined) and every token bound to
   * them, then runs the onDevicesDeleted hooks. Unknown device IDs are ignored. Returns the IDs deleted.
   */
  async deleteDevices(userId: string, deviceIds?: readonly string[]): Promise<string[]> {
    const { deleted, revoked } = await this.transaction(async (tx) => {
      const deleted = await this.store.deleteDevices(tx, userId, deviceIds);
      const revoked = await this.auth.revokeDeviceTokens(tx, userId, deviceIds);
      return { deleted, revoked };
    });
    this.auth.forget(revoked);
    if (deleted.length > 0) for (const hook of this.onDevicesDeleted) await hook(userId, deleted);
    return deleted;
  }

  /** POST /logout: the device of this token goes (a device-less token only loses itself). */
  async logout(r: Requester): Promise<void> {
    if (r.deviceId !== null) await this.deleteDevices(r.userId, [r.deviceId]);
    else await this.auth.revokeAccessToken(r.tokenHash);
  }

  /** POST /logout/all. */
  async logoutAll(userId: string): Promise<void> {
    await this.deleteDevices(userId);
  }

  // ---- account management

  /**
   * Sets a new password. With `logoutDevices`, every other device and token of the user is revoked
   * (the requester's own session, `keep`, stays).
   */
  async changePassword(userId: string, newPassword: string, opts: { logoutDevices: boolean; keep?: Requester }): Promise<void> {
    const hash = await hashPassword(newPassword);
    await this.transaction(async (tx) => {
      await this.store.setPasswordHash(userId, hash, tx);
      await this.auth.tokens.deleteLoginTokensForUser(tx, userId);
    });
    if (opts.logoutDevices) {
      const keepDevice = opts.keep?.deviceId ?? null;
      const others = (await this.store.listDevices(userId)).map((d) => d.deviceId).filter((d) => d !== keepDevice);
      await this.deleteDevices(userId, others);
      // Any other token left (device-less ones, older ones of the requester's device).
      const revoked = await this.transaction((tx) => this.auth.revokeDeviceTokens(tx, userId, undefined, opts.keep?.tokenHash));
      this.auth.forget(revoked);
    }
  }

  /** Sets a password hash directly (admin tools, imports). */
  async setPasswordHash(userId: string, hash: string | null): Promise<void> {
    await this.store.setPasswordHash(userId, hash);
  }

  /**
   * Deactivates an account: the password and profile are erased, every device and token is revoked,
   * and the user ID stays taken forever. Then the onDeactivated hooks run (leaving rooms, ...).
   */
  async deactivate(userId: string, opts: { erase: boolean }): Promise<{ id_server_unbind_result: "success" }> {
    await this.transaction(async (tx) => {
      await this.store.markDeactivated(tx, userId);
      await this.profiles.erase(tx, userId);
      await this.auth.tokens.deleteLoginTokensForUser(tx, userId);
    });
    await this.deleteDevices(userId);
    this.auth.forgetUser(userId);
    for (const hook of this.onDeactivated) await hook(userId, opts);
    // No third-party identifiers are ever bound, so there is nothing to unbind.
    return { id_server_unbind_result: "success" };
  }

  /** GET /admin/whois/{userId}: the user's devices and where they were used from. */
  async whois(userId: string): Promise<WhoisResponse> {
    const user = await this.store.findUser(userId);
    if (!user) throw notFound("User not found");
    const devices = await this.store.listDevices(userId);
    const ips = await this.store.listUserIps(userId);
    const out: WhoisResponse = { user_id: userId, devices: {} };
    for (const d of devices) {
      const connections = ips
        .filter((i) => i.deviceId === d.deviceId)
        .map((i) => ({ ip: i.ip, last_seen: i.lastSeenTs, user_agent: i.userAgent }));
      out.devices[d.deviceId] = { sessions: [{ connections }] };
    }
    return out;
  }
}
