import { expect, test } from "bun:test";
import { MatrixError } from "../protocol/errors.ts";
import { RateLimiter, SWEEP_AT } from "./ratelimit.ts";

test("a burst is allowed, then the rate; refusals say how long to wait", () => {
  let now = 1_000_000;
  const l = new RateLimiter("t", { perMinute: 6, burst: 2 }, () => true, () => now);
  l.consume("a");
  l.consume("a");
  let err: unknown;
  try {
    l.consume("a");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MatrixError);
  expect((err as MatrixError).errcode).toBe("M_LIMIT_EXCEEDED");
  expect((err as MatrixError).status).toBe(429);
  expect((err as MatrixError).extra.retry_after_ms).toBe(10_000);
  // Other keys are independent.
  l.consume("b");
  now += 10_000;
  l.consume("a");
  expect(() => l.consume("a")).toThrow();
  l.reset("a");
  l.consume("a");
});

test("check() does not count; record() counts past the limit; disabled limiters allow everything", () => {
  let now = 0;
  const l = new RateLimiter("t", { perMinute: 60, burst: 1 }, () => true, () => now);
  l.check("k");
  l.check("k");
  l.record("k");
  l.record("k");
  expect(l.waitMs("k")).toBe(2000);
  now += 2000;
  expect(l.waitMs("k")).toBe(0);
  const off = new RateLimiter("off", { perMinute: 1, burst: 1 }, () => false);
  for (let i = 0; i < 10; i++) off.consume("k");
});

test("buckets stay bounded when every request comes from a new, busy client", () => {
  const l = new RateLimiter("t", { perMinute: 1, burst: 10 }, () => true, () => 0);
  for (let i = 0; i < 3 * SWEEP_AT; i++) l.record(`client-${i}`);
  expect(l.size).toBeLessThanOrEqual(SWEEP_AT);
});
