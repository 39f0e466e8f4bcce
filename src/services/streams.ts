// The global stream: one monotonically increasing position shared by everything /sync delivers
// (events, account data, receipts, memberships...), so a sync token is a single number.
// Positions are handed out in memory (hs is one process) and a position becomes visible to readers
// only once it and every position below it are persisted: a reader never skips an event that a
// slower transaction commits later.

export class StreamAllocator {
  private next: number;
  private visible: number;
  private readonly pending = new Set<number>();
  private readonly listeners = new Set<(pos: number) => void>();

  constructor(persistedMax: number) {
    this.next = persistedMax + 1;
    this.visible = persistedMax;
  }

  /** Reserves the next position; call `done(pos)` once it is committed (or abandoned). */
  allocate(): number {
    const pos = this.next++;
    this.pending.add(pos);
    return pos;
  }

  /** Marks a position finished; advances the visible position past every finished one. */
  done(pos: number): void {
    if (!this.pending.delete(pos)) return;
    let v = this.visible;
    while (v + 1 < this.next && !this.pending.has(v + 1)) v++;
    if (v !== this.visible) {
      this.visible = v;
      for (const l of this.listeners) l(v);
    }
  }

  /** Runs fn with a fresh position, releasing it whatever happens. */
  async with<T>(fn: (pos: number) => Promise<T>): Promise<T> {
    const pos = this.allocate();
    try {
      return await fn(pos);
    } finally {
      this.done(pos);
    }
  }

  /** The highest position below which everything is persisted. */
  current(): number {
    return this.visible;
  }

  /** The highest position handed out so far, visible or not. */
  lastAllocated(): number {
    return this.next - 1;
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
