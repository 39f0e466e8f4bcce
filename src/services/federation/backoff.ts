// Per-destination backoff for outbound federation: after a failure a destination is left alone for
// a while, the interval growing with each further failure, and reset by a success. Defaults follow
// Synapse (destination_min_retry_interval 10 min, multiplier 2, max 1 week). Kept in memory: a
// restart retries every destination once.

export interface BackoffOptions {
  minIntervalMs?: number;
  multiplier?: number;
  maxIntervalMs?: number;
  now?: () => number;
}

export interface BackoffState {
  /** Consecutive failures. */
  failures: number;
  /** When the last failure happened. */
  lastFailureTs: number;
  /** The current interval: no attempts before lastFailureTs + intervalMs. */
  intervalMs: number;
}

export class DestinationBackoff {
  readonly #states = new Map<string, BackoffState>();
  readonly #min: number;
  readonly #mult: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.#min = opts.minIntervalMs ?? 10 * 60_000;
    this.#mult = opts.multiplier ?? 2;
    this.#max = opts.maxIntervalMs ?? 7 * 24 * 3600_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Milliseconds until `destination` may be tried again (0: now). */
  retryAfterMs(destination: string): number {
    const s = this.#states.get(destination);
    if (!s) return 0;
    return Math.max(0, s.lastFailureTs + s.intervalMs - this.#now());
  }

  isAvailable(destination: string): boolean {
    return this.retryAfterMs(destination) === 0;
  }

  /** Records a failure; returns the new interval in ms. */
  recordFailure(destination: string): number {
    const prev = this.#states.get(destination);
    const intervalMs = prev ? Math.min(this.#max, Math.max(this.#min, prev.intervalMs * this.#mult)) : this.#min;
    this.#states.set(destination, { failures: (prev?.failures ?? 0) + 1, lastFailureTs: this.#now(), intervalMs });
    return intervalMs;
  }

  /** Records a success: the destination is available again. Returns whether it was backed off. */
  recordSuccess(destination: string): boolean {
    return this.#states.delete(destination);
  }

  state(destination: string): BackoffState | undefined {
    const s = this.#states.get(destination);
    return s ? { ...s } : undefined;
  }

  /** Destinations with a recorded failure. */
  destinations(): string[] {
    return [...this.#states.keys()];
  }
}
