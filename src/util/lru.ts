// A small least-recently-used cache on Map's insertion order, with one memory budget for all of
// them: every cache has a name and a base capacity (entries), scaled by a process-wide factor
// (configureCaches, from [caches] memory_target_mb), counts its hits and misses (metrics), and can
// be trimmed when the process grows past its memory target (trimCaches). Maps that hold session
// state rather than recomputable data (e.g. sliding sync connections, whose loss makes every client
// start over) opt out of trimming with `{ trim: false }`: only their capacity bounds them.

export interface CacheStats {
  name: string;
  hits: number;
  misses: number;
  evictions: number;
  /** Entries held now (all live caches of this name). */
  size: number;
  /** Largest number of entries (all live caches of this name). */
  capacity: number;
}

interface Counters {
  hits: number;
  misses: number;
  evictions: number;
}

let factor = 1;
/** Capacities never go below this, whatever the factor. */
const MIN_CAPACITY = 16;
const counters = new Map<string, Counters>();
const live = new Set<WeakRef<Lru<unknown, unknown>>>();
const finalizer = new FinalizationRegistry<WeakRef<Lru<unknown, unknown>>>((ref) => live.delete(ref));

function countersOf(name: string): Counters {
  let c = counters.get(name);
  if (!c) counters.set(name, (c = { hits: 0, misses: 0, evictions: 0 }));
  return c;
}

export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  private readonly stats: Counters;

  /**
   * `capacity`: entries at the default memory target; `name`: how metrics call this cache;
   * `trim: false` keeps the entries when the process is over its memory target.
   */
  constructor(
    private readonly baseCapacity: number,
    readonly name = "other",
    private readonly opts: { trim?: boolean } = {},
  ) {
    this.stats = countersOf(name);
    const ref = new WeakRef(this as Lru<unknown, unknown>);
    live.add(ref);
    finalizer.register(this, ref);
  }

  /** The current maximum number of entries (base capacity × the memory factor). */
  get capacity(): number {
    return Math.max(MIN_CAPACITY, Math.round(this.baseCapacity * factor));
  }

  /** Whether trimCaches may drop entries (false for session state). */
  get trimmable(): boolean {
    return this.opts.trim !== false;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
      this.stats.hits++;
    } else {
      this.stats.misses++;
    }
    return v;
  }

  /** Like get, without counting or refreshing the entry. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    this.shrinkTo(this.capacity);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }

  /** Entries from least to most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  /** Drops least recently used entries until at most `n` are left. */
  shrinkTo(n: number): void {
    while (this.map.size > n) {
      this.map.delete(this.map.keys().next().value as K);
      this.stats.evictions++;
    }
  }
}

/** Sets the factor every cache's base capacity is multiplied by (1 = the default sizes). */
export function configureCaches(opts: { factor: number }): void {
  if (!(opts.factor > 0)) throw new Error("cache factor must be positive");
  factor = opts.factor;
  for (const ref of live) {
    const c = ref.deref();
    if (c) c.shrinkTo(c.capacity);
  }
}

export function cacheFactor(): number {
  return factor;
}

/** Keeps at most `fraction` of every cache's entries (the least recently used go). */
export function trimCaches(fraction: number): number {
  let dropped = 0;
  for (const ref of live) {
    const c = ref.deref();
    if (!c || !c.trimmable) continue;
    const before = c.size;
    c.shrinkTo(Math.floor(before * fraction));
    dropped += before - c.size;
  }
  return dropped;
}

/** Statistics per cache name (live caches summed; counters since the process started). */
export function cacheStats(): CacheStats[] {
  const out = new Map<string, CacheStats>();
  for (const [name, c] of counters) out.set(name, { name, hits: c.hits, misses: c.misses, evictions: c.evictions, size: 0, capacity: 0 });
  for (const ref of live) {
    const c = ref.deref();
    if (!c) continue;
    const s = out.get(c.name)!;
    s.size += c.size;
    s.capacity += c.capacity;
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}
