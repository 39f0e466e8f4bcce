import { expect, test } from "bun:test";
import { CLIENT_DEFAULT, describeRules, rulesFromPolicy, rulesProblem } from "../../web/src/password-policy.ts";

test("the server's rules are shown and checked; without any, the client's 8 characters", () => {
  const r = rulesFromPolicy({ "m.minimum_length": 10, "m.require_digit": true, "m.require_symbol": false });
  expect(describeRules(r)).toBe("At least 10 characters and a digit.");
  expect(rulesProblem("abcdefghij", r)).toBe("Choose a password with a digit.");
  expect(rulesProblem("abcdefghi1", r)).toBeUndefined();
  expect(rulesFromPolicy({ "m.minimum_length": 0 })).toEqual(CLIENT_DEFAULT);
  expect(describeRules(CLIENT_DEFAULT)).toBe("At least 8 characters.");
});
