import { expect, test } from "bun:test";
import { jsonTooDeep } from "./json-depth.ts";

test("depth is counted from the top-level value, arrays and objects alike", () => {
  expect(jsonTooDeep(1, 1)).toBeNull();
  expect(jsonTooDeep({}, 1)).toBeNull();
  expect(jsonTooDeep({ a: {} }, 1)).toBe("a");
  expect(jsonTooDeep({ a: [{ "b c": [] }] }, 3)).toBe('a[0]["b c"]');
  expect(jsonTooDeep({ a: [{ b: [] }] }, 4)).toBeNull();
});

test("a million levels are measured without overflowing the stack", () => {
  const n = 1_000_000;
  const v = JSON.parse("[".repeat(n) + "]".repeat(n));
  expect(jsonTooDeep(v, 512)).toBe("[0][0][0][0][0][0][0][0]… (512 levels)");
  expect(jsonTooDeep(v, n)).toBeNull();
});
