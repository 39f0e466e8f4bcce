import { expect, test } from "bun:test";
import { cacheStats, configureCaches, Lru, trimCaches } from "./lru.ts";

test("least recently used entries go first; hits, misses and evictions are counted per name", () => {
  const c = new Lru<string, number>(100, "lru-test-a");
  for (let i = 0; i < 120; i++) c.set(`k${i}`, i);
  expect(c.size).toBe(100);
  expect(c.get("k0")).toBeUndefined();
  expect(c.get("k20")).toBe(20);
  c.set("new", 1); // evicts k21, the least recently used now
  expect(c.peek("k21")).toBeUndefined();
  expect(c.peek("k20")).toBe(20);
  const s = cacheStats().find((x) => x.name === "lru-test-a")!;
  expect(s).toMatchObject({ hits: 1, misses: 1, evictions: 21, size: 100, capacity: 100 });
});

test("the factor scales every cache (never below 16 entries); trimming keeps the newest", () => {
  const c = new Lru<number, number>(200, "lru-test-b");
  for (let i = 0; i < 200; i++) c.set(i, i);
  try {
    configureCaches({ factor: 0.25 });
    expect(c.capacity).toBe(50);
    expect(c.size).toBe(50);
    expect(c.peek(199)).toBe(199);
    expect(new Lru(10, "lru-test-c").capacity).toBe(16);
    trimCaches(0.5);
    expect(c.size).toBe(25);
    expect(c.peek(199)).toBe(199);
    expect(() => configureCaches({ factor: 0 })).toThrow();
  } finally {
    configureCaches({ factor: 1 });
  }
  expect(c.capacity).toBe(200);
});

test("session state ({ trim: false }) survives trimming but not its capacity", () => {
  const state = new Lru<number, number>(100, "lru-test-state", { trim: false });
  const cache = new Lru<number, number>(100, "lru-test-cache");
  for (let i = 0; i < 40; i++) {
    state.set(i, i);
    cache.set(i, i);
  }
  trimCaches(0.5);
  expect(state.size).toBe(40);
  expect(cache.size).toBe(20);
  for (let i = 40; i < 150; i++) state.set(i, i);
  expect(state.size).toBe(100);
  expect(state.peek(149)).toBe(149);
});
