// The server's password rules (GET /_matrix/client/v3/password_policy, Synapse's keys), shown
// under the new-password fields and checked before sending. Servers without the endpoint, or
// with no rule, get this client's own floor of 8 characters.
import { useEffect, useState } from "preact/hooks";
import type { Api } from "./api.ts";

export interface PasswordRules {
  minLength: number;
  digit: boolean;
  symbol: boolean;
  lower: boolean;
  upper: boolean;
  /** True when the rules came from the server. */
  fromServer: boolean;
}

export const CLIENT_DEFAULT: PasswordRules = { minLength: 8, digit: false, symbol: false, lower: false, upper: false, fromServer: false };

export function rulesFromPolicy(body: Record<string, unknown>): PasswordRules {
  const min = typeof body["m.minimum_length"] === "number" ? (body["m.minimum_length"] as number) : 0;
  const r = { minLength: min, digit: body["m.require_digit"] === true, symbol: body["m.require_symbol"] === true, lower: body["m.require_lowercase"] === true, upper: body["m.require_uppercase"] === true, fromServer: true };
  return r.minLength > 0 || r.digit || r.symbol || r.lower || r.upper ? r : CLIENT_DEFAULT;
}

function phrases(r: PasswordRules): string[] {
  const out: string[] = [];
  if (r.minLength > 0) out.push(`at least ${r.minLength} characters`);
  if (r.digit) out.push("a digit");
  if (r.symbol) out.push("a symbol");
  if (r.lower) out.push("a lower-case letter");
  if (r.upper) out.push("an upper-case letter");
  return out;
}

const join = (p: string[]) => (p.length <= 1 ? (p[0] ?? "") : `${p.slice(0, -1).join(", ")} and ${p[p.length - 1]}`);

/** "At least 10 characters, a digit and a symbol." */
export function describeRules(r: PasswordRules): string {
  const s = join(phrases(r));
  return s ? `${s[0]!.toUpperCase()}${s.slice(1)}.` : "";
}

/** What the password lacks, as a sentence; undefined when it passes. */
export function rulesProblem(pw: string, r: PasswordRules): string | undefined {
  const missing: string[] = [];
  if ([...pw].length < r.minLength) missing.push(`at least ${r.minLength} characters`);
  if (r.digit && !/\p{Nd}/u.test(pw)) missing.push("a digit");
  if (r.symbol && !/[^\p{L}\p{N}]/u.test(pw)) missing.push("a symbol");
  if (r.lower && !/\p{Ll}/u.test(pw)) missing.push("a lower-case letter");
  if (r.upper && !/\p{Lu}/u.test(pw)) missing.push("an upper-case letter");
  return missing.length ? `Choose a password with ${join(missing)}.` : undefined;
}

export function usePasswordRules(api: Api): PasswordRules {
  const [rules, setRules] = useState<PasswordRules>(CLIENT_DEFAULT);
  useEffect(() => {
    let live = true;
    api.request<Record<string, unknown>>("GET", "/_matrix/client/v3/password_policy", undefined, { auth: false }).then(
      (body) => live && setRules(rulesFromPolicy(body)),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [api]);
  return rules;
}
