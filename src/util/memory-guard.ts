// Keeps the process near its memory target: every cache is sized from the target (configureCaches)
// and, when the resident size still grows past it, every cache drops its older half.
import { configureCaches, trimCaches } from "./lru.ts";
import { logger } from "./log.ts";

const log = logger("hs");

/** The memory target at which caches have their default sizes. */
export const REFERENCE_MEMORY_MB = 256;

export interface MemoryGuard {
  /** Checks once (the timer calls this); returns the entries dropped. */
  check(): number;
  stop(): void;
}

export function startMemoryGuard(targetMb: number, opts: { intervalMs?: number; rss?: () => number } = {}): MemoryGuard {
  configureCaches({ factor: targetMb / REFERENCE_MEMORY_MB });
  const rss = opts.rss ?? (() => process.memoryUsage().rss);
  const limit = targetMb * 1024 * 1024;
  let lastWarn = 0;
  const check = () => {
    const now = rss();
    if (now <= limit) return 0;
    const dropped = trimCaches(0.5);
    if (Date.now() - lastWarn > 600_000) {
      lastWarn = Date.now();
      log.warn("memory above [caches] memory_target_mb: caches trimmed", { rss_mb: Math.round(now / 1048576), target_mb: targetMb, entries_dropped: dropped });
    }
    return dropped;
  };
  const timer = setInterval(check, opts.intervalMs ?? 30_000);
  timer.unref?.();
  return { check, stop: () => clearInterval(timer) };
}
