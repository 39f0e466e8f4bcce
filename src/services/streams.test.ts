import { expect, test } from "bun:test";
import { StreamAllocator } from "./streams.ts";

test("positions become visible only when all lower ones are done", () => {
  const s = new StreamAllocator(10);
  const seen: number[] = [];
  s.onAdvance((p) => seen.push(p));
  const a = s.allocate();
  const b = s.allocate();
  const c = s.allocate();
  expect([a, b, c]).toEqual([11, 12, 13]);
  s.done(b);
  expect(s.current()).toBe(10);
  s.done(a);
  expect(s.current()).toBe(12);
  s.done(c);
  expect(s.current()).toBe(13);
  expect(seen).toEqual([12, 13]);
});

test("with() releases the position when fn throws", async () => {
  const s = new StreamAllocator(0);
  await expect(s.with(async () => { throw new Error("x"); })).rejects.toThrow("x");
  expect(s.current()).toBe(1);
});

test("waitUntil resolves when a position and all below it are visible", async () => {
  const s = new StreamAllocator(0);
  const a = s.allocate();
  const b = s.allocate();
  expect(s.lastAllocated()).toBe(2);
  const waiting = s.waitUntil(b, 5000);
  s.done(b); // still hidden behind a
  let settled = false;
  void waiting.then(() => (settled = true));
  await Bun.sleep(5);
  expect(settled).toBe(false);
  s.done(a);
  expect(await waiting).toBe(true);
  expect(await s.waitUntil(1, 0)).toBe(true);
  s.allocate();
  expect(await s.waitUntil(3, 10)).toBe(false);
});

import { Notifier } from "./notifier.ts";

test("notifier: wakes waiters by user and room; over the limit, waits are not registered", async () => {
  const n = new Notifier(2);
  const a = n.wait("@a:x", ["!r:x"], 5000);
  const b = n.wait("@b:x", [], 5000);
  expect(n.waiting).toBe(2);
  const c = n.wait("@c:x", ["!r:x"], 50); // over the limit
  expect(n.waiting).toBe(2);
  n.notifyRoom("!r:x");
  expect(await a).toBe(true);
  n.notifyUser("@b:x");
  expect(await b).toBe(true);
  expect(await c).toBe(false);
  expect(n.waiting).toBe(0);
});
