// Rate limiting (spec: client-server-api "Rate limiting"): leaky buckets kept in memory, one per
// key (user ID, IP address, ...). A limiter allows `burst` actions at once and then `perMinute`
// actions per minute; refused actions throw M_LIMIT_EXCEEDED with retry_after_ms (the HTTP layer
// adds the Retry-After header, see src/http/ratelimit.ts).
import type { Config } from "../config/schema.ts";
import { limitExceeded } from "../protocol/errors.ts";

export interface RateRule {
  /** Sustained rate. */
  perMinute: number;
  /** Actions allowed at once before the rate applies. */
  burst: number;
}

interface Bucket {
  /** Actions currently "in" the bucket; drains at perMinute. */
  level: number;
  updated: number;
}

/** Buckets per limiter at most (keys are client-chosen: IPs, user IDs). */
export const SWEEP_AT = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly name: string,
    readonly rule: RateRule,
    private readonly isEnabled: () => boolean = () => true,
    private readonly now: () => number = Date.now,
  ) {}

  private bucket(key: string): Bucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(now);
      b = { level: 0, updated: now };
      this.buckets.set(key, b);
      return b;
    }
    const drained = ((now - b.updated) / 60_000) * this.rule.perMinute;
    b.level = Math.max(0, b.level - drained);
    b.updated = now;
    return b;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.level - ((now - b.updated) / 60_000) * this.rule.perMinute <= 0) this.buckets.delete(k);
    }
    // Still full (many clients, e.g. one per IPv6 address, all busy): the oldest buckets go, down to
    // 90% so that the next sweep is some inserts away. Memory stays bounded; a forgotten client
    // merely starts with an empty bucket.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < SWEEP_AT * 0.9) break;
      this.buckets.delete(k);
    }
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Milliseconds until `cost` more actions are allowed for `key` (0: allowed now). Consumes nothing. */
  waitMs(key: string, cost = 1): number {
    if (!this.isEnabled()) return 0;
    const b = this.bucket(key);
    const excess = b.level + cost - this.rule.burst;
    return excess <= 0 ? 0 : Math.ceil((excess / this.rule.perMinute) * 60_000);
  }

  /** Throws M_LIMIT_EXCEEDED if `cost` actions would exceed the limit; consumes nothing. */
  check(key: string, cost = 1): void {
    const wait = this.waitMs(key, cost);
    if (wait > 0) throw limitExceeded(wait);
  }

  /** Counts `cost` actions, or throws M_LIMIT_EXCEEDED (counting nothing) when over the limit. */
  consume(key: string, cost = 1): void {
    this.check(key, cost);
    this.record(key, cost);
  }

  /** Counts actions unconditionally (e.g. a failed login, after check() let it through). */
  record(key: string, cost = 1): void {
    if (!this.isEnabled()) return;
    this.bucket(key).level += cost;
  }

  /** Forgets everything about `key`. */
  reset(key: string): void {
    this.buckets.delete(key);
  }
}

/** The server's limiters, built from [ratelimit]; other features add theirs with define(). */
export class RateLimits {
  /** Login attempts, per IP address and per account. */
  readonly login: RateLimiter;
  /** Failed password attempts (login and user-interactive auth), per account and per IP address. */
  readonly failedLogin: RateLimiter;
  /** Registrations and registration-token validity checks, per IP address. */
  readonly registration: RateLimiter;
  /** POST /login/get_token, per user. */
  readonly loginToken: RateLimiter;
  /** Events sent by clients, per user: see consumeMessage. */
  readonly message: RateLimiter;
  private readonly extra = new Map<string, RateLimiter>();

  constructor(private readonly cfg: Config["ratelimit"]) {
    const on = () => this.cfg.enabled;
    this.login = new RateLimiter("login", { perMinute: cfg.login_per_minute, burst: cfg.login_burst }, on);
    this.failedLogin = new RateLimiter("failed_login", { perMinute: cfg.failed_login_per_minute, burst: cfg.failed_login_burst }, on);
    this.registration = new RateLimiter("registration", { perMinute: cfg.registration_per_minute, burst: cfg.registration_burst }, on);
    this.loginToken = new RateLimiter("login_token", { perMinute: cfg.login_token_per_minute, burst: cfg.login_token_burst }, on);
    this.message = new RateLimiter("message", { perMinute: cfg.message_per_minute, burst: cfg.message_burst }, on);
  }

  get enabled(): boolean {
    return this.cfg.enabled;
  }

  /**
   * Counts one event a client sends (a message, state, redaction, or a new room) against
   * [ratelimit] message_per_minute / message_burst for its user, or throws M_LIMIT_EXCEEDED.
   * Application services registered with `rate_limited: false` are exempt.
   */
  consumeMessage(r: { userId: string; rateLimitExempt?: boolean }): void {
    if (r.rateLimitExempt) return;
    this.message.consume(r.userId);
  }

  /** A named limiter for another feature (one per name; later calls return the first). */
  define(name: string, rule: RateRule): RateLimiter {
    let l = this.extra.get(name);
    if (!l) {
      l = new RateLimiter(name, rule, () => this.cfg.enabled);
      this.extra.set(name, l);
    }
    return l;
  }
}
