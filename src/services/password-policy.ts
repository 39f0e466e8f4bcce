// The password policy ([password_policy], like Synapse's password_config.policy): a minimum length
// and required character classes, applied to new passwords chosen through the client API
// (registration, password change) and by admins resetting one. A weak password is refused with the
// spec's M_WEAK_PASSWORD and a message naming every rule it breaks. GET
// /_matrix/client/v3/password_policy (as Synapse, keys m.minimum_length, m.require_digit, ...) lets
// clients show the rule before the user types.
import { MatrixError } from "../protocol/errors.ts";

export interface PasswordPolicy {
  minimum_length: number;
  require_digit: boolean;
  require_symbol: boolean;
  require_lowercase: boolean;
  require_uppercase: boolean;
}

/** The rules as phrases ("at least 10 characters", "a digit"), for messages and the CLI. */
export function policyRules(p: PasswordPolicy): string[] {
  const out: string[] = [];
  if (p.minimum_length > 1) out.push(`at least ${p.minimum_length} characters`);
  if (p.require_digit) out.push("a digit");
  if (p.require_symbol) out.push("a symbol");
  if (p.require_lowercase) out.push("a lower-case letter");
  if (p.require_uppercase) out.push("an upper-case letter");
  return out;
}

/** What `password` lacks under `p` (empty when it passes). */
export function policyProblems(password: string, p: PasswordPolicy): string[] {
  const out: string[] = [];
  if ([...password].length < p.minimum_length) out.push(`at least ${p.minimum_length} characters`);
  if (p.require_digit && !/\p{Nd}/u.test(password)) out.push("a digit");
  if (p.require_symbol && !/[^\p{L}\p{N}]/u.test(password)) out.push("a symbol");
  if (p.require_lowercase && !/\p{Ll}/u.test(password)) out.push("a lower-case letter");
  if (p.require_uppercase && !/\p{Lu}/u.test(password)) out.push("an upper-case letter");
  return out;
}

/** Throws M_WEAK_PASSWORD (400) naming what the password lacks. */
export function checkPasswordPolicy(password: string, p: PasswordPolicy): void {
  const missing = policyProblems(password, p);
  if (missing.length === 0) return;
  throw new MatrixError("M_WEAK_PASSWORD", `Password too weak: it needs ${joinRules(missing)} (this server's policy: ${joinRules(policyRules(p))})`);
}

export function joinRules(rules: string[]): string {
  return rules.length <= 1 ? (rules[0] ?? "") : `${rules.slice(0, -1).join(", ")} and ${rules[rules.length - 1]}`;
}

/** The body of GET /password_policy (Synapse's keys). */
export function policyBody(p: PasswordPolicy): Record<string, number | boolean> {
  return {
    "m.minimum_length": p.minimum_length,
    "m.require_digit": p.require_digit,
    "m.require_symbol": p.require_symbol,
    "m.require_lowercase": p.require_lowercase,
    "m.require_uppercase": p.require_uppercase,
  };
}
