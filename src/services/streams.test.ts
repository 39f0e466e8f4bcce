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
