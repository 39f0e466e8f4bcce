// Synapse's push_rules / push_rules_enable rows → the content of hs's `m.push_rules` account data
// (services/push-rules.ts): user rules in priority order, plus entries for server-default rules
// whose `enabled` or `actions` were changed.
import { defaultRuleset, RULE_KINDS, type RuleKind } from "../../core/push-rules.ts";
import type { JsonObject, JsonValue } from "../../protocol/events.ts";

/** Synapse's priority_class per kind (synapse/push/rulekinds.py); -1 marks changed default-rule actions. */
const CLASS_KIND: Record<number, RuleKind> = { 5: "override", 4: "content", 3: "room", 2: "sender", 1: "underride" };

export interface SynapsePushRule {
  rule_id: string;
  priority_class: number;
  conditions: string;
  actions: string;
}

export interface ConvertedPushRules {
  content: JsonObject;
  /** Rules left out, with why. */
  skipped: string[];
}

function parse(s: string): JsonValue | undefined {
  try {
    return JSON.parse(s) as JsonValue;
  } catch {
    return undefined;
  }
}

/** Splits Synapse's namespaced rule ID `global/<kind>/<rule_id>`. */
function splitRuleId(namespaced: string): { kind: RuleKind; ruleId: string } | undefined {
  const m = /^global\/([a-z]+)\/(.+)$/.exec(namespaced);
  if (!m || !(RULE_KINDS as readonly string[]).includes(m[1]!)) return undefined;
  return { kind: m[1] as RuleKind, ruleId: m[2]! };
}

/**
 * Converts one user's rules. `rules` must be in Synapse's evaluation order (priority_class DESC,
 * priority DESC); `enabled` maps namespaced rule IDs to their enabled flag.
 */
export function convertPushRules(userId: string, rules: readonly SynapsePushRule[], enabled: ReadonlyMap<string, boolean>): ConvertedPushRules {
  const skipped: string[] = [];
  const global: Record<RuleKind, JsonObject[]> = { override: [], content: [], room: [], sender: [], underride: [] };
  const defaults = defaultRuleset(userId);
  const changedDefaults = new Map<string, { kind: RuleKind; ruleId: string; actions?: JsonValue[] }>();
  for (const r of rules) {
    const id = splitRuleId(r.rule_id);
    if (!id) {
      skipped.push(`${userId} push rule ${r.rule_id}: not a global rule`);
      continue;
    }
    const actions = parse(r.actions);
    if (!Array.isArray(actions)) {
      skipped.push(`${userId} push rule ${r.rule_id}: actions are not a list`);
      continue;
    }
    if (id.ruleId.startsWith(".")) {
      changedDefaults.set(r.rule_id, { ...id, actions });
      continue;
    }
    const kind = CLASS_KIND[Number(r.priority_class)];
    if (kind !== id.kind) {
      skipped.push(`${userId} push rule ${r.rule_id}: priority class ${r.priority_class} does not match its kind`);
      continue;
    }
    const rule: JsonObject = { rule_id: id.ruleId, default: false, enabled: enabled.get(r.rule_id) ?? true, actions };
    const conditions = parse(r.conditions);
    if (kind === "override" || kind === "underride") rule.conditions = Array.isArray(conditions) ? conditions : [];
    if (kind === "content") {
      const first = Array.isArray(conditions) ? (conditions[0] as JsonObject | undefined) : undefined;
      if (!first || typeof first.pattern !== "string") {
        skipped.push(`${userId} push rule ${r.rule_id}: content rule without a pattern`);
        continue;
      }
      rule.pattern = first.pattern;
    }
    global[kind].push(rule);
  }
  for (const namespaced of enabled.keys()) {
    const id = splitRuleId(namespaced);
    if (id && id.ruleId.startsWith(".") && !changedDefaults.has(namespaced)) changedDefaults.set(namespaced, { ...id });
  }
  for (const [namespaced, c] of changedDefaults) {
    const def = defaults[c.kind].find((d) => d.rule_id === c.ruleId);
    if (!def) {
      skipped.push(`${userId} push rule ${namespaced}: hs has no such server-default rule`);
      continue;
    }
    global[c.kind].push({
      rule_id: c.ruleId,
      default: true,
      enabled: enabled.get(namespaced) ?? def.enabled,
      actions: (c.actions ?? def.actions) as JsonValue[],
    });
  }
  return { content: { global: global as unknown as JsonObject }, skipped };
}
