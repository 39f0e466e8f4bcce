// A FIFO async mutex: `run(fn)` executes fn once every earlier holder has finished.
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** One mutex per key, dropped when idle (e.g. one writer per room). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** At most `permits` holders at once; the others wait in arrival order. */
export class Semaphore {
  private readonly waiting: Array<() => void> = [];

  constructor(private permits: number) {
    if (!(permits >= 1)) throw new Error("a semaphore needs at least one permit");
  }

  /** Holders waiting for a permit. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.permits > 0) this.permits--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // The permit passes straight to the next in line, or goes back.
      const next = this.waiting.shift();
      if (next) next();
      else this.permits++;
    }
  }
}
