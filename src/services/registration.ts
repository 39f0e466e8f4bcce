// Registering accounts (spec: registration.yaml, guest_access module) and Synapse's shared-secret
// admin registration (`/_synapse/admin/v1/register`, used by `hs register-user`).
//
// Extension point: `exclusiveUserIdChecks` — the application-service module adds a check there
// that says whether a user ID lies in an appservice's exclusive namespace (M_EXCLUSIVE).
import { createHmac } from "node:crypto";
import type { Config } from "../config/schema.ts";
import { MatrixError, badJson, forbidden } from "../protocol/errors.ts";
import { MAX_ID_BYTES, isValidUserLocalpart, utf8ByteLength } from "../protocol/ids.ts";
import type { Transaction } from "../storage/engines/db.ts";
import { safeEqual } from "../util/timing-safe.ts";
import type { AccountsService, SessionOptions } from "./accounts.ts";
import { hashPassword } from "./passwords.ts";
import type { ProfileService } from "./profiles.ts";
import type { RegistrationTokens } from "./registration-tokens.ts";
import { UiaService } from "./uia.ts";

const PASSWORD_HASH = "password_hash";

/** How long a shared-secret registration nonce stays usable (60 s, as Synapse). */
export const NONCE_TIMEOUT_MS = 60_000;
/** Outstanding shared-secret registration nonces kept at most (GET /_synapse/admin/v1/register needs no auth). */
export const MAX_NONCES = 10_000;
/** Synapse's user types. */
export const USER_TYPES = ["bot", "support"] as const;

export interface RegisterOptions {
  /** A validated, lower-case localpart; generated (numeric) when absent. */
  localpart?: string;
  passwordHash: string | null;
  admin?: boolean;
  guest?: boolean;
  userType?: string | null;
  /** Initial display name; defaults to the localpart. */
  displayName?: string | null;
  /** Log in a device (false: inhibit_login). */
  session: SessionOptions | false;
  /** A registration token whose reserved use this registration spends. */
  registrationToken?: string;
  /** A UIA session to finish in the same transaction. */
  uiaSessionId?: string;
  /** Upgrade this guest account instead of creating a user. */
  upgradeGuest?: string;
}

export interface RegisterResult {
  user_id: string;
  home_server: string;
  access_token?: string;
  device_id?: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

/** Returns true when `userId` is reserved (exclusively) by an application service. */
export type ExclusiveUserIdCheck = (userId: string) => boolean;

/**
 * The HMAC of Synapse's shared-secret registration: HMAC-SHA1 over
 * nonce \0 username \0 password \0 ("admin"|"notadmin") [\0 user_type], hex.
 */
export function sharedSecretMac(secret: string, nonce: string, username: string, password: string, admin: boolean, userType?: string | null): string {
  const h = createHmac("sha1", Buffer.from(secret, "utf8"));
  h.update(Buffer.from(nonce, "utf8"));
  h.update("\x00");
  h.update(Buffer.from(username, "utf8"));
  h.update("\x00");
  h.update(Buffer.from(password, "utf8"));
  h.update("\x00");
  h.update(admin ? "admin" : "notadmin");
  if (userType) {
    h.update("\x00");
    h.update(Buffer.from(userType, "utf8"));
  }
  return h.digest("hex");
}

const invalidUsername = (msg: string) => new MatrixError("M_INVALID_USERNAME", msg);

export class RegistrationService {
  readonly exclusiveUserIdChecks: ExclusiveUserIdCheck[] = [];
  private readonly nonces = new Map<string, number>();
  /** Nonces of other processes used here (until they expire). */
  private readonly usedForeign = new Map<string, number>();

  constructor(
    private readonly transaction: Transaction,
    private readonly config: Config,
    private readonly accounts: AccountsService,
    private readonly profiles: ProfileService,
    private readonly registrationTokens: RegistrationTokens,
    private readonly uia: UiaService,
    private readonly now: () => number = Date.now,
    /** Whether other hs processes may share the database (PostgreSQL): their nonces are accepted. */
    private readonly sharedDatabase = false,
  ) {}

  /**
   * UIA: the hash of the password a registration request gave, kept with its session so that the
   * request completing the session may leave the password out (Synapse does the same).
   */
  async rememberPassword(uiaSessionId: string, password: string): Promise<void> {
    await this.uia.keepSecret(uiaSessionId, PASSWORD_HASH, () => hashPassword(password));
  }

  /** The password hash `rememberPassword` kept, from a completed UIA outcome's server data. */
  rememberedPasswordHash(serverData: Record<string, unknown>): string | undefined {
    return UiaService.keptSecret(serverData, PASSWORD_HASH);
  }

  private get serverName(): string {
    return this.config.server_name;
  }

  /**
   * The localpart a requested username maps to (lower-cased, as Synapse), or M_INVALID_USERNAME.
   * Numeric localparts are reserved for generated IDs (guests), and `_` starts none.
   */
  localpartFor(username: string): string {
    const localpart = username.toLowerCase();
    if (localpart === "") throw invalidUsername("User ID cannot be empty");
    if (!isValidUserLocalpart(localpart)) throw invalidUsername("User ID can only contain characters a-z, 0-9, or '=_-./+'");
    if (localpart.startsWith("_")) throw invalidUsername("User ID may not begin with _");
    if (/^[0-9]+$/.test(localpart)) throw invalidUsername("Numeric user IDs are reserved for guest users.");
    if (utf8ByteLength(`@${localpart}:${this.serverName}`) > MAX_ID_BYTES) throw invalidUsername("User ID is too long");
    return localpart;
  }

  /**
   * Throws M_EXCLUSIVE when an application service holds the ID, M_USER_IN_USE when it is taken
   * (case-insensitively; deactivated users keep theirs). `exceptUserId` is the guest being upgraded.
   */
  async checkAvailable(localpart: string, exceptUserId?: string): Promise<string> {
    const userId = `@${localpart}:${this.serverName}`;
    if (this.exclusiveUserIdChecks.some((check) => check(userId))) {
      throw new MatrixError("M_EXCLUSIVE", "This user ID is reserved by an application service.");
    }
    const existing = await this.accounts.store.listUsersCaseInsensitive(userId);
    if (existing.some((u) => u.userId !== exceptUserId)) throw new MatrixError("M_USER_IN_USE", "User ID already taken.");
    return userId;
  }

  /** Creates (or upgrades) the account, its profile and optionally a logged-in device, atomically. */
  async register(opts: RegisterOptions): Promise<RegisterResult> {
    const result = await this.transaction(async (tx) => {
      const insertUser = (userId: string) =>
        this.accounts.store.insertUser(tx, {
          userId,
          passwordHash: opts.passwordHash,
          isAdmin: !!opts.admin,
          isGuest: !!opts.guest,
          userType: opts.userType ?? null,
          createdTs: this.now(),
        });
      let userId: string;
      let localpart: string;
      if (opts.upgradeGuest !== undefined) {
        userId = opts.upgradeGuest;
        localpart = userId.slice(1, userId.indexOf(":"));
        if (opts.passwordHash === null || !(await this.accounts.store.upgradeGuest(tx, userId, opts.passwordHash))) {
          throw forbidden("This guest account cannot be upgraded");
        }
      } else if (opts.localpart !== undefined) {
        localpart = opts.localpart;
        userId = `@${localpart}:${this.serverName}`;
        if (!(await insertUser(userId))) throw new MatrixError("M_USER_IN_USE", "User ID already taken.");
      } else {
        // Generated IDs are numeric (reserved: never chosen by users), skipping any taken one.
        for (;;) {
          localpart = String(await this.accounts.store.nextCounter(tx, "generated_user_id"));
          userId = `@${localpart}:${this.serverName}`;
          if (await insertUser(userId)) break;
        }
      }
      if (opts.upgradeGuest === undefined) {
        const displayName = opts.displayName ?? localpart;
        if (displayName) await this.profiles.setFieldUnchecked(tx, userId, "displayname", displayName);
      }
      if (opts.registrationToken !== undefined) await this.registrationTokens.complete(tx, opts.registrationToken);
      if (opts.uiaSessionId !== undefined) await this.uia.finish(opts.uiaSessionId, tx, { user_id: userId });
      const out: RegisterResult = { user_id: userId, home_server: this.serverName };
      if (opts.session !== false) Object.assign(out, await this.accounts.createSession(userId, opts.session, tx));
      return out;
    });
    if (opts.upgradeGuest === undefined) for (const hook of this.accounts.onUserCreated) await hook(result.user_id);
    return result;
  }

  /** POST /register?kind=guest: a numeric guest account with a new device. */
  registerGuest(initialDeviceDisplayName: string | undefined): Promise<RegisterResult> {
    return this.register({ passwordHash: null, guest: true, session: { initialDeviceDisplayName } });
  }

  // ---- shared-secret registration (Synapse admin API)

  get sharedSecretEnabled(): boolean {
    return this.config.registration.shared_secret !== "";
  }

  /** GET /_synapse/admin/v1/register: a single-use nonce valid for 60 s. */
  newNonce(): string {
    if (!this.sharedSecretEnabled) throw new MatrixError("M_UNKNOWN", "Shared secret registration is not enabled", {}, 400);
    this.clearOldNonces();
    // Random, the time, and a MAC of both with the shared secret: another hs process on the same
    // database (docs/SCALING.md) recognises the nonces this one handed out.
    const rand = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
    const ts = this.now().toString(16).padStart(12, "0");
    const nonce = rand + ts + this.nonceMac(rand + ts);
    this.nonces.set(nonce, this.now());
    // Anyone may ask for nonces: keep at most MAX_NONCES, the oldest go first.
    while (this.nonces.size > MAX_NONCES) this.nonces.delete(this.nonces.keys().next().value as string);
    return nonce;
  }

  private nonceMac(text: string): string {
    return createHmac("sha256", this.config.registration.shared_secret).update(`hs-nonce\0${text}`).digest("hex").slice(0, 52);
  }

  /**
   * Several processes share the database (PostgreSQL): a nonce another process handed out is
   * recognised by its MAC and time, and used once in this process. (Its registration MAC names one
   * user: replaying it elsewhere can only ask for that same, by then taken, user name.)
   */
  private foreignNonce(nonce: string): boolean {
    if (!this.sharedDatabase || !/^[0-9a-f]{128}$/.test(nonce) || this.usedForeign.has(nonce)) return false;
    const body = nonce.slice(0, 76);
    const t = parseInt(nonce.slice(64, 76), 16);
    if (!safeEqual(this.nonceMac(body), nonce.slice(76)) || !(this.now() - t <= NONCE_TIMEOUT_MS && t <= this.now() + NONCE_TIMEOUT_MS)) return false;
    this.usedForeign.set(nonce, t);
    for (const [n, at] of this.usedForeign) {
      if (this.usedForeign.size <= MAX_NONCES && this.now() - at <= NONCE_TIMEOUT_MS) break;
      this.usedForeign.delete(n);
    }
    return true;
  }

  /** Nonces are kept in the order they were made: only the expired ones at the front are looked at. */
  private clearOldNonces(): void {
    const now = this.now();
    for (const [n, t] of this.nonces) {
      if (now - t <= NONCE_TIMEOUT_MS) break;
      this.nonces.delete(n);
    }
  }

  /** POST /_synapse/admin/v1/register, with Synapse's checks and error answers. */
  async registerWithSharedSecret(body: Record<string, unknown>): Promise<RegisterResult> {
    this.clearOldNonces();
    const secret = this.config.registration.shared_secret;
    if (!secret) throw new MatrixError("M_UNKNOWN", "Shared secret registration is not enabled", {}, 400);
    if (!("nonce" in body)) throw badJson("nonce must be specified");
    const nonce = body.nonce;
    if (typeof nonce !== "string" || !(this.nonces.has(nonce) || this.foreignNonce(nonce))) throw new MatrixError("M_UNKNOWN", "unrecognised nonce");
    // Single use, even when the rest of the request is invalid.
    if (this.nonces.delete(nonce) && this.sharedDatabase) this.usedForeign.set(nonce, this.now());

    if (!("username" in body)) throw badJson("username must be specified");
    const username = body.username;
    if (typeof username !== "string" || username.length > 512 || username.includes("\0")) throw new MatrixError("M_UNKNOWN", "Invalid username");
    if (!("password" in body)) throw badJson("password must be specified");
    const password = body.password;
    if (typeof password !== "string" || password.length > 512 || password.includes("\0")) throw new MatrixError("M_UNKNOWN", "Invalid password");
    const admin = !!body.admin;
    const userType = body.user_type ?? null;
    if (userType !== null && !(USER_TYPES as readonly unknown[]).includes(userType)) throw new MatrixError("M_UNKNOWN", "Invalid user type");
    if (!("mac" in body)) throw badJson("mac must be specified");
    if (typeof body.mac !== "string") throw forbidden("HMAC incorrect");
    const want = sharedSecretMac(secret, nonce, username, password, admin, userType as string | null);
    if (!safeEqual(want, body.mac)) throw forbidden("HMAC incorrect");
    const refresh = body.refresh_token ?? false;
    if (typeof refresh !== "boolean") throw new MatrixError("M_UNKNOWN", "refresh_token must be a boolean");

    const localpart = this.localpartFor(username);
    await this.checkAvailable(localpart);
    const displayName = typeof body.displayname === "string" ? body.displayname : null;
    const session: SessionOptions | false = body.inhibit_login === true
      ? false
      : {
          deviceId: typeof body.device_id === "string" ? body.device_id : undefined,
          initialDeviceDisplayName: typeof body.initial_device_display_name === "string" ? body.initial_device_display_name : undefined,
          refresh,
        };
    return this.register({
      localpart,
      passwordHash: await hashPassword(password),
      admin,
      userType: userType as string | null,
      displayName,
      session,
    });
  }
}
