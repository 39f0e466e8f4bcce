import { expect, test } from "bun:test";
import { effectiveRuleset } from "../../core/push-rules.ts";
import { convertPushRules } from "./push-rules.ts";

const U = "@alice:example.org";

test("Synapse's namespaced user rules keep their order, kind and enabled flag", () => {
  const rules = [
    { rule_id: "global/override/mute-bots", priority_class: 5, conditions: JSON.stringify([{ kind: "event_match", key: "sender", pattern: "@bot*" }]), actions: "[]" },
    { rule_id: "global/content/cake", priority_class: 4, conditions: JSON.stringify([{ kind: "event_match", key: "content.body", pattern: "cake" }]), actions: '["notify"]' },
    { rule_id: "global/content/pie", priority_class: 4, conditions: JSON.stringify([{ kind: "event_match", key: "content.body", pattern: "pie" }]), actions: '["notify"]' },
    { rule_id: "global/room/!r:example.org", priority_class: 3, conditions: "[]", actions: "[]" },
  ];
  const { content, skipped } = convertPushRules(U, rules, new Map([["global/content/pie", false]]));
  expect(skipped).toEqual([]);
  const eff = effectiveRuleset(U, content);
  expect(eff.override[0]!.rule_id).toBe(".m.rule.master");
  expect(eff.override[1]).toMatchObject({ rule_id: "mute-bots", default: false, conditions: [{ kind: "event_match", key: "sender", pattern: "@bot*" }] });
  expect(eff.content.slice(0, 2)).toMatchObject([
    { rule_id: "cake", pattern: "cake", enabled: true, actions: ["notify"] },
    { rule_id: "pie", pattern: "pie", enabled: false },
  ]);
  expect(eff.room[0]).toMatchObject({ rule_id: "!r:example.org", actions: [] });
});

test("changes to server-default rules (enabled, or actions with priority class -1) apply to hs's defaults", () => {
  const rules = [{ rule_id: "global/underride/.m.rule.message", priority_class: -1, conditions: "[]", actions: '["dont_notify"]' }];
  const { content, skipped } = convertPushRules(U, rules, new Map([["global/override/.m.rule.suppress_notices", false]]));
  expect(skipped).toEqual([]);
  const eff = effectiveRuleset(U, content);
  expect(eff.override.find((r) => r.rule_id === ".m.rule.suppress_notices")!.enabled).toBe(false);
  expect(eff.underride.find((r) => r.rule_id === ".m.rule.message")!.actions).toEqual(["dont_notify"]);
});

test("rules hs cannot place are skipped with a reason", () => {
  const rules = [
    { rule_id: "global/override/.org.example.unknown", priority_class: -1, conditions: "[]", actions: "[]" },
    { rule_id: "device/abc/override/x", priority_class: 5, conditions: "[]", actions: "[]" },
    { rule_id: "global/content/nopattern", priority_class: 4, conditions: "[]", actions: "[]" },
  ];
  const { skipped } = convertPushRules(U, rules, new Map());
  expect(skipped).toHaveLength(3);
});
