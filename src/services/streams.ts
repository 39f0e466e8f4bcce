// The global stream: one monotonically increasing position shared by everything /sync delivers
// (events, account data, receipts, memberships...), so a sync token is a single number.
// A position becomes visible to readers only once it and every position below it are persisted:
// a reader never skips an event that a slower transaction commits later.
//
// One process (SQLite): positions are handed out and tracked in memory.
// Several processes (PostgreSQL, docs/SCALING.md): positions come from the database's counter and
// each is recorded as in flight until committed or abandoned (SharedStreamStore); the visible
// position is the highest one below which nothing is in flight anywhere. Whoever finishes a
// position learns the new visible position from the same statement and tells the other
// processes over the cluster bus; they also re-read it after a bus reconnection and whenever they
// heard of a position they cannot see yet.
import type { ClusterBus } from "./cluster/bus.ts";
import { logger } from "../util/log.ts";

const log = logger("streams");

/** The database side of a stream shared by several processes (ClusterRepo implements it). */
export interface SharedStreamStore {
  seedStreamCounter(pos: number): Promise<void>;
  allocateStreamPositions(n: number): Promise<number[]>;
  /** Finishes positions; answers the persisted-upto position at that moment. */
  finishStreamPositions(positions: readonly number[]): Promise<number>;
  streamPersistedUpto(): Promise<number>;
  reapStreamPositions(minAgeMs: number): Promise<number>;
}

/** A process killed between allocating and finishing leaves in-flight rows; after this long they are reaped. */
const REAP_AFTER_MS = 10_000;

export class StreamAllocator {
  private next: number;
  private visible: number;
  /** The highest position this process knows exists (allocated here or heard of from others). */
  private heard: number;
  private readonly pending = new Set<number>();
  private readonly listeners = new Set<(pos: number) => void>();
  private shared?: { store: SharedStreamStore; bus: ClusterBus; timer: ReturnType<typeof setInterval>; refreshing?: Promise<void> };

  constructor(persistedMax: number) {
    this.next = persistedMax + 1;
    this.visible = persistedMax;
    this.heard = persistedMax;
  }

  /**
   * Shares the stream with the other processes on the database: positions from `store`, advances
   * announced on `bus` (channel "stream"). Call once at start-up, before any allocation.
   */
  async share(store: SharedStreamStore, bus: ClusterBus): Promise<void> {
    await store.seedStreamCounter(this.visible);
    const ch = bus.channel<{ upto: number }>("stream");
    ch.subscribe((m, origin) => {
      if (origin === "remote") this.advanceTo(m.upto);
    });
    const timer = setInterval(() => void this.housekeeping(), 2000);
    (timer as { unref?: () => void }).unref?.();
    this.shared = { store, bus, timer };
    bus.onResync(() => void this.refresh());
    await this.refresh();
  }

  /** Stops the shared stream's timer (shutdown). */
  stop(): void {
    if (this.shared) clearInterval(this.shared.timer);
  }

  /** Re-reads the visible position from the database (coalesced). */
  refresh(): Promise<void> {
    const s = this.shared;
    if (!s) return Promise.resolve();
    return (s.refreshing ??= s.store
      .streamPersistedUpto()
      .then((u) => this.advanceTo(u))
      .catch((e) => log.warn("cannot read the stream position", { error: String(e) }))
      .finally(() => (s.refreshing = undefined)));
  }

  private async housekeeping(): Promise<void> {
    const s = this.shared;
    if (!s) return;
    try {
      const reaped = await s.store.reapStreamPositions(REAP_AFTER_MS);
      if (reaped > 0) log.warn("dropped stream positions of a process that is gone", { count: reaped });
      // A missed message (or reaped positions) must not leave readers behind for long.
      if (reaped > 0 || this.heard > this.visible) await this.refresh();
    } catch (e) {
      log.warn("stream housekeeping failed", { error: String(e) });
    }
  }

  private advanceTo(v: number): void {
    if (v > this.heard) this.heard = v;
    if (v <= this.visible) return;
    this.visible = v;
    for (const l of this.listeners) l(v);
  }

  /** Another process announced an event at `pos` (its wake-up message): it exists, maybe not visible yet. */
  heardOf(pos: number): void {
    if (pos > this.heard) this.heard = pos;
  }

  /**
   * A reader holds a token for `pos` (another process handed it out): waits until this process sees
   * it too, re-reading the database at once (shared stream only; bounded by `timeoutMs`).
   */
  async catchUp(pos: number, timeoutMs = 2000): Promise<void> {
    if (pos <= this.visible || !this.shared) return;
    this.heardOf(pos);
    await this.refresh();
    if (pos > this.visible) await this.waitUntil(pos, timeoutMs);
  }

  /** Reserves the next position; call `done(pos)` once it is committed (or abandoned). One process only. */
  allocate(): number {
    if (this.shared) throw new Error("allocate() on a shared stream: use with() or allocateMany()");
    const pos = this.next++;
    this.pending.add(pos);
    if (pos > this.heard) this.heard = pos;
    return pos;
  }

  /** Marks a position finished; advances the visible position past every finished one. One process only. */
  done(pos: number): void {
    if (!this.pending.delete(pos)) return;
    let v = this.visible;
    while (v + 1 < this.next && !this.pending.has(v + 1)) v++;
    if (v !== this.visible) this.advanceTo(v);
  }

  /** Reserves `n` positions (ascending); `release` them once committed or abandoned. */
  async allocateMany(n: number): Promise<number[]> {
    if (!this.shared) return Array.from({ length: n }, () => this.allocate());
    const positions = await this.shared.store.allocateStreamPositions(n);
    for (const p of positions) if (p > this.heard) this.heard = p;
    return positions;
  }

  /** Finishes positions from allocateMany (on a shared stream: announces the new visible position). */
  async release(positions: readonly number[]): Promise<void> {
    const s = this.shared;
    if (!s) {
      for (const p of positions) this.done(p);
      return;
    }
    if (positions.length === 0) return;
    let upto: number;
    try {
      upto = await s.store.finishStreamPositions(positions);
    } catch (e) {
      // The rows stay in flight until this process's connection goes; refresh() and the reaper recover.
      log.error("cannot finish stream positions", { positions: positions.join(","), error: String(e) });
      return;
    }
    this.advanceTo(upto);
    s.bus.channel<{ upto: number }>("stream").publish({ upto });
  }

  /** Runs fn with a fresh position, releasing it whatever happens. */
  async with<T>(fn: (pos: number) => Promise<T>): Promise<T> {
    if (!this.shared) {
      const pos = this.allocate();
      try {
        return await fn(pos);
      } finally {
        this.done(pos);
      }
    }
    const [pos] = await this.allocateMany(1);
    try {
      return await fn(pos!);
    } finally {
      await this.release([pos!]);
    }
  }

  /** The highest position below which everything is persisted. */
  current(): number {
    return this.visible;
  }

  /** The highest position handed out so far (or, shared, heard of), visible or not. */
  lastAllocated(): number {
    return this.shared ? this.heard : this.next - 1;
  }

  /**
   * Resolves true once every position up to `pos` is visible, false after `timeoutMs`. A reader
   * woken for a change that committed while a lower position was still pending waits here.
   */
  waitUntil(pos: number, timeoutMs: number): Promise<boolean> {
    if (this.visible >= pos) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const off = this.onAdvance((v) => {
        if (v < pos) return;
        off();
        clearTimeout(timer);
        resolve(true);
      });
      const timer = setTimeout(() => {
        off();
        resolve(this.visible >= pos);
      }, Math.max(0, timeoutMs));
    });
  }

  onAdvance(listener: (pos: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
