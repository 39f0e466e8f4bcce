import { expect, test } from "bun:test";
import { Semaphore } from "./mutex.ts";

test("a semaphore lets `permits` holders in at once, the others in arrival order, and survives errors", async () => {
  const sem = new Semaphore(2);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  const gates: Array<() => void> = [];
  const run = (i: number, fail = false) =>
    sem.run(async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise<void>((r) => gates.push(r));
      inside--;
      order.push(i);
      if (fail) throw new Error(`boom ${i}`);
      return i;
    });
  const all = [run(1), run(2, true), run(3), run(4)];
  for (const p of all) p.catch(() => undefined); // examined below
  await Bun.sleep(1);
  expect(inside).toBe(2);
  expect(sem.queued).toBe(2);
  // Release holders one at a time; each release lets exactly one waiter in.
  while (order.length < 4) {
    gates.shift()!();
    await Bun.sleep(1);
  }
  const results = await Promise.allSettled(all);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
  expect(order).toEqual([1, 2, 3, 4]);
  expect(most).toBe(2);
  expect(sem.queued).toBe(0);
  // The permits are all back.
  const again = await Promise.all([sem.run(() => "a"), sem.run(() => "b")]);
  expect(again).toEqual(["a", "b"]);
  expect(() => new Semaphore(0)).toThrow();
});
