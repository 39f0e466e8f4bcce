import { expect, test } from "bun:test";
import { cacheFactor, configureCaches, Lru } from "./lru.ts";
import { configureLogging } from "./log.ts";
import { startMemoryGuard } from "./memory-guard.ts";

test("the target sizes every cache; going over it trims them", () => {
  configureLogging({ level: "error" });
  let rss = 100 * 1024 * 1024;
  const g = startMemoryGuard(128, { intervalMs: 3_600_000, rss: () => rss });
  try {
    expect(cacheFactor()).toBe(0.5);
    const c = new Lru<number, number>(1000, "guard-test");
    expect(c.capacity).toBe(500);
    for (let i = 0; i < 500; i++) c.set(i, i);
    expect(g.check()).toBe(0);
    rss = 200 * 1024 * 1024;
    expect(g.check()).toBeGreaterThanOrEqual(250);
    expect(c.size).toBe(250);
    expect(c.peek(499)).toBe(499);
  } finally {
    g.stop();
    configureCaches({ factor: 1 });
  }
});
