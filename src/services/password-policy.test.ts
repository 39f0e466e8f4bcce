import { expect, test } from "bun:test";
import { checkPasswordPolicy, policyProblems, policyRules } from "./password-policy.ts";

const strict = { minimum_length: 10, require_digit: true, require_symbol: true, require_lowercase: true, require_uppercase: true };
const none = { minimum_length: 0, require_digit: false, require_symbol: false, require_lowercase: false, require_uppercase: false };

test("each rule, and a message naming what is missing", () => {
  expect(policyProblems("Aa1!aaaaaa", strict)).toEqual([]);
  expect(policyProblems("short", strict)).toEqual(["at least 10 characters", "a digit", "a symbol", "an upper-case letter"]);
  expect(policyProblems("ÄÖÜäöü٣!xx", strict)).toEqual([]);
  expect(policyProblems("pw", none)).toEqual([]);
  expect(policyRules(none)).toEqual([]);
  expect(() => checkPasswordPolicy("abcdefghij", strict)).toThrow(
    "Password too weak: it needs a digit, a symbol and an upper-case letter (this server's policy: at least 10 characters, a digit, a symbol, a lower-case letter and an upper-case letter)",
  );
  try {
    checkPasswordPolicy("abc", { ...none, minimum_length: 10 });
  } catch (e) {
    expect((e as { errcode: string }).errcode).toBe("M_WEAK_PASSWORD");
  }
});
