// One homeserver, several processes (docs/SCALING.md, "Federation and background work"): which
// roles this process plays ([worker] roles) and the leases it holds in process_leases.
//
// A lease names work that must run in one process at a time: a destination's federation queue
// ("federation_sender:<destination>"), the background jobs ("background"). The holder renews all
// its leases in one statement every lease_seconds / 3; a process that dies (or hangs) stops
// renewing and any other process takes the lease over once it lapses. On SQLite there is only
// ever one process (a second one is refused), so every lease is granted without touching the
// database and behaviour is that of a single process.
import { hostname } from "node:os";
import type { ProcessLeasesRepo } from "../storage/repos/process-leases.ts";
import { logger } from "../util/log.ts";
import { randomString } from "../util/random.ts";

const log = logger("hs");

export const WORKER_ROLES = ["client", "federation_inbound", "federation_sender", "media", "background"] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

/** The lease whose holder runs the background jobs, pushers and application-service senders. */
export const BACKGROUND_LEASE = "background";

export interface ProcessLeasesOptions {
  /** Whether other processes may share the database (PostgreSQL); false: every lease is ours. */
  shared: boolean;
  /** [worker] instance_name; the owner ID adds a random part so a restarted process is a new holder. */
  instanceName?: string;
  /** How long a lease lasts without renewal. */
  ttlMs: number;
  now?: () => number;
}

type Campaign = { name: string; onGain: () => void; onLose: () => void };

export class ProcessLeases {
  readonly instanceId: string;
  readonly shared: boolean;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Leases this process believes it holds (corrected by every renewal). */
  private readonly held = new Set<string>();
  private readonly campaigns: Campaign[] = [];
  private readonly lostHooks: Array<(name: string) => void> = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly repo: ProcessLeasesRepo,
    opts: ProcessLeasesOptions,
  ) {
    this.shared = opts.shared;
    this.ttlMs = opts.ttlMs;
    this.now = opts.now ?? Date.now;
    this.instanceId = `${opts.instanceName || `${hostname()}-${process.pid}`}/${randomString(6)}`;
  }

  /** Takes (or renews) a lease; false when another live process holds it. */
  async acquire(name: string): Promise<boolean> {
    if (!this.shared) return true;
    if (this.stopped) return false;
    const now = this.now();
    const ok = await this.repo.acquire(name, this.instanceId, now + this.ttlMs, now);
    if (ok) this.held.add(name);
    else this.held.delete(name);
    return ok;
  }

  /** Whether this process holds the lease (as of its last renewal). */
  holds(name: string): boolean {
    return !this.shared || (!this.stopped && this.held.has(name));
  }

  async release(name: string): Promise<void> {
    if (!this.shared || !this.held.delete(name)) return;
    await this.repo.release(name, this.instanceId);
  }

  /** Live leases whose names start with `prefix` → holder (empty without a shared database). */
  async liveHolders(prefix: string): Promise<Map<string, string>> {
    if (!this.shared) return new Map();
    return this.repo.liveHolders(prefix, this.now());
  }

  /** Called with a lease's name when a renewal finds another process took it over. */
  onLost(fn: (name: string) => void): void {
    this.lostHooks.push(fn);
  }

  /**
   * Keeps trying to hold `name`: onGain runs when this process gets it (at once without a shared
   * database), onLose when it loses it (another process took over after a stall, or shutdown).
   */
  campaign(name: string, onGain: () => void, onLose: () => void): Promise<void> {
    const c = { name, onGain, onLose };
    this.campaigns.push(c);
    if (!this.shared) {
      onGain();
      return Promise.resolve();
    }
    // The first attempt now (resolved once made); then at every renewal.
    return this.runCampaign(c);
  }

  private async runCampaign(c: Campaign): Promise<void> {
    if (this.stopped || this.held.has(c.name)) return;
    try {
      if (await this.acquire(c.name)) {
        log.info("took over a lease", { lease: c.name, instance: this.instanceId });
        c.onGain();
      }
    } catch (e) {
      log.warn("could not take a lease", { lease: c.name, error: (e as Error).message });
    }
  }

  /** Starts renewing (every third of the lease time) and campaigning. */
  start(): void {
    if (!this.shared || this.timer) return;
    const every = Math.max(200, Math.floor(this.ttlMs / 3));
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick()).catch((e) => log.warn("renewing leases failed", { error: (e as Error).message }));
    }, every);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // Only leases held before the renewal can have been lost by it (one taken meanwhile is not in its answer).
    const before = new Set(this.held);
    const still = new Set(await this.repo.renewAll(this.instanceId, this.now() + this.ttlMs));
    for (const name of before) {
      if (still.has(name) || !this.held.has(name)) continue;
      this.held.delete(name);
      log.warn("lost a lease to another process", { lease: name, instance: this.instanceId });
      for (const c of this.campaigns) if (c.name === name) c.onLose();
      for (const f of this.lostHooks) f(name);
    }
    for (const c of this.campaigns) await this.runCampaign(c);
  }

  /** Stops renewing and gives every lease up, so other processes take over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    for (const c of this.campaigns) if (!this.shared || this.held.has(c.name)) c.onLose();
    this.held.clear();
    if (this.shared) await this.repo.releaseAll(this.instanceId).catch(() => undefined);
  }
}

/** This process's roles ([worker] roles; all of them by default). */
export class WorkerRoles {
  private readonly roles: ReadonlySet<WorkerRole>;
  constructor(roles: readonly string[]) {
    this.roles = new Set(roles.filter((r): r is WorkerRole => (WORKER_ROLES as readonly string[]).includes(r)));
  }
  has(role: WorkerRole): boolean {
    return this.roles.has(role);
  }
  list(): WorkerRole[] {
    return WORKER_ROLES.filter((r) => this.roles.has(r));
  }
}

type DutyHook = { gain: () => void | Promise<void>; lose: () => void | Promise<void> };

/**
 * The background work (periodic jobs, pushers, application-service transactions): done by the one
 * process holding the "background" lease among those with the background role; without a shared
 * database, by this process from start-up on.
 */
export class BackgroundDuty {
  private on = false;
  private readonly hooks: DutyHook[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly leases: ProcessLeases,
    /** [worker] roles has background. */
    private readonly enabled: boolean,
  ) {}

  /** Whether this process does the background work now (checked by periodic jobs at each run). */
  get active(): boolean {
    return this.on && this.leases.holds(BACKGROUND_LEASE);
  }

  /** gain runs when this process takes the work up, lose when it gives it up (another took over, or shutdown). */
  onChange(gain: () => void | Promise<void>, lose: () => void | Promise<void>): void {
    this.hooks.push({ gain, lose });
  }

  /** Starts (SQLite: takes the work up at once; PostgreSQL: campaigns for the lease). */
  async start(): Promise<void> {
    if (!this.enabled) return;
    if (!this.leases.shared) {
      this.flip(true);
      await this.chain;
      return;
    }
    // A free lease is taken before start-up ends (the work then runs as soon as with SQLite).
    await this.leases.campaign(
      BACKGROUND_LEASE,
      () => this.flip(true),
      () => this.flip(false),
    );
    await this.chain;
  }

  /** Gives the work up (shutdown, before the services it drives close). */
  async stop(): Promise<void> {
    this.flip(false);
    await this.chain;
  }

  private flip(on: boolean): void {
    this.chain = this.chain.then(async () => {
      if (this.on === on) return;
      this.on = on;
      if (on) log.info("running the background jobs", { instance: this.leases.instanceId });
      for (const h of this.hooks) {
        try {
          await (on ? h.gain() : h.lose());
        } catch (e) {
          log.warn("background work failed to switch", { on, error: (e as Error).message });
        }
      }
    });
  }
}
