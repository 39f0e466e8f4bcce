import { expect, test } from "bun:test";
import { MAX_OPENID_TOKENS, OPENID_TOKEN_LIFETIME_MS, OpenIdTokens } from "./openid.ts";

test("tokens expire, and at most MAX_OPENID_TOKENS are kept (the oldest forgotten first)", () => {
  let now = 0;
  const t = new OpenIdTokens("hs.test", () => now);
  const first = t.issue("@a:hs.test").access_token;
  for (let i = 0; i < MAX_OPENID_TOKENS + 10; i++) t.issue("@a:hs.test");
  expect(t.size).toBe(MAX_OPENID_TOKENS);
  expect(t.userOf(first)).toBeUndefined();
  const fresh = t.issue("@b:hs.test").access_token;
  expect(t.userOf(fresh)).toBe("@b:hs.test");
  now += OPENID_TOKEN_LIFETIME_MS;
  t.issue("@c:hs.test");
  expect(t.size).toBe(1);
  expect(t.userOf(fresh)).toBeUndefined();
});
