// Access tokens, refresh tokens and login tokens (spec: client-server-api "Client Authentication",
// "Refreshing access tokens", "Soft logout", POST /login/get_token).
//
// Tokens are opaque random strings (≥190 bits) handed to the client once; the database keeps only
// their sha256, so a token is found by hashing what the client presents. Validated tokens are
// cached in memory for a few minutes; every path that revokes a token drops it from the cache.
import type { Config } from "../config/schema.ts";
import { MatrixError } from "../protocol/errors.ts";
import type { AccountsRepo } from "../storage/repos/accounts.ts";
import type { Queryable } from "../storage/engines/db.ts";
import type { Repositories } from "../storage/repos/index.ts";
import { TokensRepo } from "../storage/repos/tokens.ts";
import { log } from "../util/log.ts";
import { Lru } from "../util/lru.ts";
import { randomString } from "../util/random.ts";

/** Who made a request: the result of access token validation. */
export interface Requester {
  userId: string;
  /** Null for tokens without a device (application services). */
  deviceId: string | null;
  isGuest: boolean;
  isAdmin: boolean;
  /**
   * Account suspension (client-server-api "Account suspension"): the user may read, leave, redact
   * their own events and manage devices and keys, but not join, invite, send or change their profile.
   */
  isSuspended?: boolean;
  /** Shadow-banned (Synapse): what they send is accepted but goes nowhere. */
  isShadowBanned?: boolean;
  /** sha256 (hex) of the access token: identifies this session without revealing the token. */
  tokenHash: string;
  /** Set when an application service made the request. */
  appserviceId?: string;
  /** Not subject to per-user rate limits (an application service registered with rate_limited: false). */
  rateLimitExempt?: boolean;
}

/** Where a request came from, for last-seen tracking. */
export interface ConnectionInfo {
  ip: string;
  userAgent: string;
}

/**
 * Resolves tokens that are not user access tokens (e.g. an application service's as_token).
 * Returns null when the token is not one of its own.
 */
export type TokenResolver = (token: string, opts: { userIdParam?: string; deviceIdParam?: string }) => Promise<Requester | null>;

export interface IssuedTokens {
  accessToken: string;
  refreshToken?: string;
  expiresInMs?: number;
}

interface CacheEntry {
  requester: Requester;
  locked: boolean;
  expiresTs: number | null;
  refreshTokenHash: string | null;
  used: boolean;
  cachedAt: number;
}

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 10_000;
/** Last-seen information is written at most this often per (token, IP, user agent). */
const LAST_SEEN_INTERVAL_MS = 60_000;

export function sha256Hex(s: string): string {
  return new Bun.CryptoHasher("sha256").update(s).digest("hex");
}

export function unknownToken(message = "Unrecognised access token", softLogout = false): MatrixError {
  return new MatrixError("M_UNKNOWN_TOKEN", message, softLogout ? { soft_logout: true } : {});
}

/** 401 M_USER_LOCKED with soft_logout (client-server-api "Account locking"). */
export function userLocked(): MatrixError {
  return new MatrixError("M_USER_LOCKED", "This account has been locked", { soft_logout: true });
}

/** 403 M_USER_SUSPENDED when the requester's account is suspended (client-server-api "Account suspension"). */
export function refuseIfSuspended(r: Pick<Requester, "isSuspended">, action = "perform this action"): void {
  if (r.isSuspended) throw new MatrixError("M_USER_SUSPENDED", `You cannot ${action} while suspended.`);
}

export class AuthService {
  readonly tokens: TokensRepo;
  /** Tried, in order, before user access tokens (application services register here). */
  readonly tokenResolvers: TokenResolver[] = [];
  private readonly cache = new Lru<string, CacheEntry>(CACHE_MAX, "access_tokens");
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly storage: Pick<Repositories, "transaction" | "tokens">,
    private readonly config: Config,
    private readonly users: AccountsRepo,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = storage.tokens;
  }

  /** Access token lifetime for clients that support refresh tokens; undefined = no expiry, no refresh. */
  get refreshableLifetimeMs(): number | undefined {
    const s = this.config.auth.access_token_lifetime;
    return s > 0 ? s * 1000 : undefined;
  }

  /**
   * Issues an access token (and, when the client supports it and lifetimes are configured, a
   * refresh token) for a device, inside the caller's transaction.
   */
  async issueTokens(tx: Queryable, userId: string, deviceId: string | null, opts: { refresh?: boolean } = {}): Promise<IssuedTokens> {
    const now = this.now();
    const accessToken = `hs_${randomString(32)}`;
    const lifetime = opts.refresh && deviceId !== null ? this.refreshableLifetimeMs : undefined;
    let refreshToken: string | undefined;
    if (lifetime !== undefined) {
      refreshToken = `hsr_${randomString(32)}`;
      await this.tokens.insertRefreshToken(tx, { tokenHash: sha256Hex(refreshToken), userId, deviceId: deviceId!, prevTokenHash: null }, now);
    }
    await this.tokens.insertAccessToken(tx, {
      tokenHash: sha256Hex(accessToken),
      userId,
      deviceId,
      createdTs: now,
      expiresTs: lifetime === undefined ? null : now + lifetime,
      refreshTokenHash: refreshToken === undefined ? null : sha256Hex(refreshToken),
    });
    return lifetime === undefined ? { accessToken } : { accessToken, refreshToken, expiresInMs: lifetime };
  }

  /**
   * The requester behind an access token. Throws M_UNKNOWN_TOKEN (401) for unknown or revoked
   * tokens, and with soft_logout for expired ones unless `allowExpired`.
   */
  async validateAccessToken(
    token: string,
    conn?: ConnectionInfo,
    opts: { allowExpired?: boolean; allowLocked?: boolean; userIdParam?: string; deviceIdParam?: string } = {},
  ): Promise<Requester> {
    for (const resolve of this.tokenResolvers) {
      const r = await resolve(token, opts);
      if (r) return r;
    }
    const hash = sha256Hex(token);
    const now = this.now();
    let entry = this.cache.get(hash);
    if (entry && now - entry.cachedAt > CACHE_TTL_MS) {
      this.cache.delete(hash);
      entry = undefined;
    }
    if (!entry) {
      const t = await this.tokens.findAccessToken(hash);
      if (!t) throw unknownToken();
      const user = await this.users.findUser(t.userId);
      if (!user || user.deactivated) throw unknownToken();
      const requester: Requester = { userId: t.userId, deviceId: t.deviceId, isGuest: user.isGuest, isAdmin: user.isAdmin, tokenHash: hash };
      if (user.suspended) requester.isSuspended = true;
      if (user.shadowBanned) requester.isShadowBanned = true;
      entry = {
        requester,
        locked: user.locked,
        expiresTs: t.expiresTs,
        refreshTokenHash: t.refreshTokenHash,
        used: t.used,
        cachedAt: now,
      };
      this.cache.set(hash, entry);
    }
    if (entry.expiresTs !== null && entry.expiresTs <= now && !opts.allowExpired) {
      throw unknownToken("Access token has expired", true);
    }
    // Sessions of a locked account are kept (for when it is unlocked), but only logout works.
    if (entry.locked && !opts.allowLocked) throw userLocked();
    if (!entry.used && entry.refreshTokenHash !== null) await this.firstUse(entry);
    if (conn) await this.recordSeen(entry.requester, conn, now);
    return entry.requester;
  }

  /** The first use of a refreshed access token revokes the refresh token it replaced. */
  private async firstUse(entry: CacheEntry): Promise<void> {
    entry.used = true;
    const revoked = await this.storage.transaction(async (tx) => {
      if (!(await this.tokens.markAccessTokenUsed(tx, entry.requester.tokenHash))) return [];
      const rt = await this.tokens.findRefreshToken(tx, entry.refreshTokenHash!);
      return rt?.prevTokenHash ? this.revokeRefreshChain(tx, rt.prevTokenHash, rt.tokenHash) : [];
    });
    this.forget(revoked);
  }

  /** Deletes a superseded refresh token and the access tokens issued with it; returns those. */
  private async revokeRefreshChain(tx: Queryable, oldHash: string, successorHash: string): Promise<string[]> {
    await this.tokens.deleteRefreshTokens(tx, [oldHash]);
    await this.tokens.clearPrevRefreshToken(tx, successorHash);
    return this.tokens.deleteAccessTokensByRefresh(tx, [oldHash]);
  }

  private async recordSeen(r: Requester, conn: ConnectionInfo, now: number): Promise<void> {
    const key = `${r.tokenHash}|${conn.ip}|${conn.userAgent}`;
    const last = this.lastSeen.get(key);
    if (last !== undefined && now - last < LAST_SEEN_INTERVAL_MS) return;
    if (this.lastSeen.size >= CACHE_MAX) this.lastSeen.clear();
    this.lastSeen.set(key, now);
    try {
      await this.users.recordSeen(r.userId, r.deviceId, conn.ip, conn.userAgent.slice(0, 512), now);
    } catch (e) {
      log.warn("could not record last-seen information", { error: (e as Error).message });
    }
  }

  /**
   * POST /refresh: exchanges a refresh token for a new access token and refresh token. The old
   * refresh token keeps working until the new access or refresh token is used.
   */
  async refresh(refreshToken: string): Promise<IssuedTokens> {
    const hash = sha256Hex(refreshToken);
    const { issued, revoked } = await this.storage.transaction(async (tx) => {
      const rt = await this.tokens.findRefreshToken(tx, hash);
      if (!rt) throw unknownToken("Unknown or already used refresh token");
      const user = await this.users.findUser(rt.userId, tx);
      if (!user || user.deactivated) throw unknownToken("Unknown or already used refresh token");
      if (user.locked) throw userLocked();
      let revoked: string[] = [];
      // Using this token proves the client has it: the one it replaced is no longer needed.
      if (rt.prevTokenHash) revoked = await this.revokeRefreshChain(tx, rt.prevTokenHash, rt.tokenHash);
      // Used before, but the tokens it produced never were: replace them.
      if (rt.nextTokenHash) {
        revoked.push(...(await this.tokens.deleteAccessTokensByRefresh(tx, [rt.nextTokenHash])));
        await this.tokens.deleteRefreshTokens(tx, [rt.nextTokenHash]);
      }
      const now = this.now();
      const lifetime = this.refreshableLifetimeMs;
      const newRefresh = `hsr_${randomString(32)}`;
      const accessToken = `hs_${randomString(32)}`;
      await this.tokens.insertRefreshToken(tx, { tokenHash: sha256Hex(newRefresh), userId: rt.userId, deviceId: rt.deviceId, prevTokenHash: hash }, now);
      await this.tokens.setNextRefreshToken(tx, hash, sha256Hex(newRefresh));
      await this.tokens.insertAccessToken(tx, {
        tokenHash: sha256Hex(accessToken),
        userId: rt.userId,
        deviceId: rt.deviceId,
        createdTs: now,
        expiresTs: lifetime === undefined ? null : now + lifetime,
        refreshTokenHash: sha256Hex(newRefresh),
      });
      const issued: IssuedTokens = { accessToken, refreshToken: newRefresh };
      if (lifetime !== undefined) issued.expiresInMs = lifetime;
      return { issued, revoked };
    });
    this.forget(revoked);
    return issued;
  }

  /** Revokes the tokens of these devices of a user (all devices when undefined), in the caller's transaction. */
  revokeDeviceTokens(tx: Queryable, userId: string, deviceIds?: readonly string[], exceptTokenHash?: string): Promise<string[]> {
    return this.tokens.deleteTokensForUser(tx, userId, deviceIds, exceptTokenHash);
  }

  /** Revokes one access token (and, for device-less tokens, nothing else). */
  async revokeAccessToken(tokenHash: string): Promise<void> {
    await this.storage.transaction((tx) => this.tokens.deleteAccessToken(tx, tokenHash));
    this.forget([tokenHash]);
  }

  /** Drops tokens from the cache; call after the transaction that deleted them committed. */
  forget(tokenHashes: readonly string[]): void {
    for (const h of tokenHashes) this.cache.delete(h);
  }

  /** Drops every cached token of a user (admin flag or account state changed). */
  forgetUser(userId: string): void {
    for (const [h, e] of [...this.cache.entries()]) if (e.requester.userId === userId) this.cache.delete(h);
  }

  /** A single-use m.login.token token for `userId`, valid for [auth] login_token_lifetime. */
  async createLoginToken(userId: string): Promise<{ token: string; expiresInMs: number }> {
    const now = this.now();
    const lifetime = this.config.auth.login_token_lifetime * 1000;
    await this.tokens.deleteExpiredLoginTokens(now);
    const token = `hsl_${randomString(32)}`;
    await this.tokens.insertLoginToken(sha256Hex(token), userId, now + lifetime);
    return { token, expiresInMs: lifetime };
  }

  /** Spends a login token; the user it was made for, or 403 M_FORBIDDEN. */
  async consumeLoginToken(token: string): Promise<string> {
    const t = await this.tokens.takeLoginToken(sha256Hex(token));
    if (!t || t.expiresTs <= this.now()) throw new MatrixError("M_FORBIDDEN", "Invalid login token");
    return t.userId;
  }
}
