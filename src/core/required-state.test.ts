import { expect, test } from "bun:test";
import { normalisePairs, parseRequiredState, readPlan, unionPairs, wantsNothing, wantsState, widens } from "./required-state.ts";

const ME = "@me:example.org";

test("$ME is resolved, duplicates dropped, pairs sorted", () => {
  expect(normalisePairs([["m.room.name", ""], ["m.room.member", "$ME"], ["m.room.name", ""], ["m.room.member", ME]], ME)).toEqual([
    ["m.room.member", ME],
    ["m.room.name", ""],
  ]);
});

test("exact keys and whole types", () => {
  const rs = parseRequiredState([["m.room.name", ""], ["m.space.child", "*"]], ME);
  expect(wantsState(rs, "m.room.name", "")).toBe(true);
  expect(wantsState(rs, "m.room.name", "x")).toBe(false);
  expect(wantsState(rs, "m.space.child", "!a:b")).toBe(true);
  expect(wantsState(rs, "m.room.topic", "")).toBe(false);
  expect(readPlan(rs)).toEqual({ types: ["m.space.child"], keys: [["m.room.name", ""]], scanAll: false });
});

test("[*,*] is everything, but listed types keep to their keys", () => {
  const rs = parseRequiredState([["*", "*"], ["m.room.member", "$ME"], ["m.space.child", "*"]], ME);
  expect(rs.all).toBe(true);
  expect(wantsState(rs, "m.room.topic", "")).toBe(true);
  expect(wantsState(rs, "m.space.child", "!x:y")).toBe(true);
  expect(wantsState(rs, "m.room.member", ME)).toBe(true);
  expect(wantsState(rs, "m.room.member", "@other:x")).toBe(false);
  expect(readPlan(rs)).toEqual({ allExcept: ["m.room.member"], types: [], keys: [["m.room.member", ME]], scanAll: false });
});

test("$LAZY restricts members to those chosen apart", () => {
  const rs = parseRequiredState([["*", "*"], ["m.room.member", "$LAZY"]], ME);
  expect(rs.lazy).toBe(true);
  expect(wantsState(rs, "m.room.member", ME)).toBe(false);
  expect(wantsState(rs, "m.room.create", "")).toBe(true);
  const lazyOnly = parseRequiredState([["m.room.member", "$LAZY"]], ME);
  expect(wantsNothing(lazyOnly)).toBe(false);
  expect(readPlan(lazyOnly)).toEqual({ types: [], keys: [], scanAll: false });
});

test("[*, key] matches that key in every type", () => {
  const rs = parseRequiredState([["*", "@a:b"]], ME);
  expect(wantsState(rs, "m.room.member", "@a:b")).toBe(true);
  expect(wantsState(rs, "org.custom", "@a:b")).toBe(true);
  expect(wantsState(rs, "m.room.member", "@c:d")).toBe(false);
  expect(readPlan(rs).scanAll).toBe(true);
});

test("empty asks for nothing; union and widening", () => {
  expect(wantsNothing(parseRequiredState([], ME))).toBe(true);
  const a: Array<[string, string]> = [["m.room.name", ""]];
  const b: Array<[string, string]> = [["m.room.topic", ""], ["m.room.name", ""]];
  expect(unionPairs(a, b)).toEqual([["m.room.name", ""], ["m.room.topic", ""]]);
  expect(widens(a, b)).toBe(true);
  expect(widens(b, a)).toBe(false);
  expect(widens(b, b)).toBe(false);
});
