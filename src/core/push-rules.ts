// Push rules: the server-default rules and a pure evaluator.
// Spec: client-server-api/modules/push.md "Push Rules", "Conditions", "Predefined Rules" (v1.17:
// the legacy body-based mention rules are gone); appendices "Glob-style matching",
// "Dot-separated property paths".
//
// The evaluator takes an event (federation or client format: only type, state_key, sender,
// room_id and content are looked at) and facts about the room that the caller provides lazily,
// and returns the actions of the first matching rule.
import { globMatch } from "./glob.ts";
import type { JsonObject, JsonValue } from "../protocol/events.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

export interface PushCondition {
  kind: string;
  key?: string;
  pattern?: string;
  value?: JsonValue;
  is?: string;
}

export type PushAction = string | { set_tweak: string; value?: JsonValue; [k: string]: JsonValue | undefined };

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  conditions?: PushCondition[];
  /** Content rules only. */
  pattern?: string;
  actions: PushAction[];
}

export type RuleKind = "override" | "content" | "room" | "sender" | "underride";
export const RULE_KINDS: readonly RuleKind[] = ["override", "content", "room", "sender", "underride"];

export type Ruleset = Record<RuleKind, PushRule[]>;

const notifySound = (sound: string): PushAction[] => ["notify", { set_tweak: "sound", value: sound }];

/** The server-default rules for a user, in priority order within each kind. */
export function defaultRuleset(userId: string): Ruleset {
  const match = (key: string, pattern: string): PushCondition => ({ kind: "event_match", key, pattern });
  const rule = (rule_id: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule => ({
    rule_id,
    default: true,
    enabled,
    conditions,
    actions,
  });
  return {
    override: [
      rule(".m.rule.master", [], [], false),
      rule(".m.rule.suppress_notices", [match("content.msgtype", "m.notice")], []),
      rule(
        ".m.rule.invite_for_me",
        [match("type", "m.room.member"), match("content.membership", "invite"), match("state_key", userId)],
        notifySound("default"),
      ),
      rule(".m.rule.member_event", [match("type", "m.room.member")], []),
      rule(
        ".m.rule.is_user_mention",
        [{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: userId }],
        [...notifySound("default"), { set_tweak: "highlight" }],
      ),
      rule(
        ".m.rule.is_room_mention",
        [
          { kind: "event_property_is", key: "content.m\\.mentions.room", value: true },
          { kind: "sender_notification_permission", key: "room" },
        ],
        ["notify", { set_tweak: "highlight" }],
      ),
      rule(".m.rule.tombstone", [match("type", "m.room.tombstone"), match("state_key", "")], ["notify", { set_tweak: "highlight" }]),
      rule(".m.rule.reaction", [match("type", "m.reaction")], []),
      rule(".m.rule.room.server_acl", [match("type", "m.room.server_acl"), match("state_key", "")], []),
      rule(".m.rule.suppress_edits", [{ kind: "event_property_is", key: "content.m\\.relates_to.rel_type", value: "m.replace" }], []),
    ],
    content: [],
    room: [],
    sender: [],
    underride: [
      rule(".m.rule.call", [match("type", "m.call.invite")], notifySound("ring")),
      rule(".m.rule.encrypted_room_one_to_one", [{ kind: "room_member_count", is: "2" }, match("type", "m.room.encrypted")], notifySound("default")),
      rule(".m.rule.room_one_to_one", [{ kind: "room_member_count", is: "2" }, match("type", "m.room.message")], notifySound("default")),
      rule(".m.rule.message", [match("type", "m.room.message")], ["notify"]),
      rule(".m.rule.encrypted", [match("type", "m.room.encrypted")], ["notify"]),
    ],
  };
}


function parseRule(v: unknown, kind: RuleKind): PushRule | undefined {
  if (!isObject(v) || typeof v.rule_id !== "string" || !Array.isArray(v.actions)) return undefined;
  const r: PushRule = {
    rule_id: v.rule_id,
    default: v.default === true,
    enabled: v.enabled !== false,
    actions: v.actions as PushAction[],
  };
  if (kind === "override" || kind === "underride") {
    r.conditions = Array.isArray(v.conditions) ? (v.conditions.filter(isObject) as unknown as PushCondition[]) : [];
  }
  if (kind === "content") {
    if (typeof v.pattern !== "string") return undefined;
    r.pattern = v.pattern;
  }
  return r;
}

/**
 * The effective ruleset of a user from the content of their `m.push_rules` account data (the
 * `global` scope), or the defaults when absent. User rules (IDs not starting with ".") come before
 * the server defaults of their kind, except `.m.rule.master`, which is always first. Entries with
 * a default rule's ID override that default's `enabled` and `actions`.
 */
export function effectiveRuleset(userId: string, pushRulesContent?: unknown): Ruleset {
  const defaults = defaultRuleset(userId);
  const global = isObject(pushRulesContent) && isObject(pushRulesContent.global) ? pushRulesContent.global : undefined;
  if (!global) return defaults;
  const out: Ruleset = { override: [], content: [], room: [], sender: [], underride: [] };
  const overridesOfDefaults = new Map<string, PushRule>();
  const user: Ruleset = { override: [], content: [], room: [], sender: [], underride: [] };
  for (const kind of RULE_KINDS) {
    const list = Array.isArray(global[kind]) ? (global[kind] as unknown[]) : [];
    for (const raw of list) {
      const r = parseRule(raw, kind);
      if (!r) continue;
      if (r.rule_id.startsWith(".")) overridesOfDefaults.set(`${kind}/${r.rule_id}`, r);
      else user[kind].push(r);
    }
  }
  for (const kind of RULE_KINDS) {
    const defs = defaults[kind].map((d) => {
      const o = overridesOfDefaults.get(`${kind}/${d.rule_id}`);
      return o ? { ...d, enabled: o.enabled, actions: o.actions } : d;
    });
    if (kind === "override") {
      const [master, ...rest] = defs;
      out.override = [master!, ...user.override, ...rest];
    } else {
      out[kind] = [...user[kind], ...defs];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------- matching helpers

/** Splits a dot-separated property path, honouring `\.` and `\\` escapes. */
export function splitPropertyPath(path: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && (path[i + 1] === "." || path[i + 1] === "\\")) {
      cur += path[i + 1];
      i++;
    } else if (c === ".") {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/** The value at a dot-separated path, or undefined when any step is missing. */
export function propertyAt(ev: unknown, path: string): unknown {
  let cur: unknown = ev;
  for (const p of splitPropertyPath(path)) {
    if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/**
 * Case-insensitive glob match. `wordBoundary` (for content.body): the pattern must match a
 * substring that starts and ends at a word boundary (start/end or a character outside [A-Za-z0-9_]).
 */
export function globMatches(pattern: string, value: string, wordBoundary = false): boolean {
  return globMatch(pattern, value, { caseInsensitive: true, wordBoundary });
}

/** A non-compound canonical JSON value: string, safe integer, boolean or null. */
function isSimpleValue(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isSafeInteger(v));
}

export function memberCountMatches(is: string | undefined, count: number): boolean {
  if (typeof is !== "string") return false;
  const m = /^(==|<=|>=|<|>)?([0-9]+)$/.exec(is.trim());
  if (!m) return false;
  const n = Number(m[2]);
  switch (m[1] ?? "==") {
    case "==":
      return count === n;
    case "<":
      return count < n;
    case ">":
      return count > n;
    case "<=":
      return count <= n;
    case ">=":
      return count >= n;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------- evaluation

/** Facts about the room and the recipient; each is asked for only when a condition needs it. */
export interface PushContext {
  /** The recipient. */
  userId: string;
  /** The number of joined members of the room. */
  memberCount: () => number;
  /** The recipient's display name in the room (contains_display_name). */
  displayName: () => string | undefined;
  /** The sender's power level. */
  senderPowerLevel: () => number;
  /** The power level needed for a notification key such as `room`. */
  notificationLevel: (key: string) => number;
}

export interface PushEvent {
  type: string;
  sender: string;
  room_id?: string;
  state_key?: string;
  content: JsonObject;
}

export function conditionMatches(c: PushCondition, ev: PushEvent, ctx: PushContext): boolean {
  switch (c.kind) {
    case "event_match": {
      if (typeof c.key !== "string" || typeof c.pattern !== "string") return false;
      const v = propertyAt(ev, c.key);
      if (typeof v !== "string") return false;
      return globMatches(c.pattern, v, c.key === "content.body");
    }
    case "event_property_is": {
      if (typeof c.key !== "string" || !isSimpleValue(c.value)) return false;
      const v = propertyAt(ev, c.key);
      return isSimpleValue(v) && v === c.value;
    }
    case "event_property_contains": {
      if (typeof c.key !== "string" || !isSimpleValue(c.value)) return false;
      const v = propertyAt(ev, c.key);
      return Array.isArray(v) && v.some((x) => isSimpleValue(x) && x === c.value);
    }
    case "contains_display_name": {
      const body = ev.content["body"];
      if (typeof body !== "string") return false;
      const name = ctx.displayName();
      if (!name) return false;
      const escaped = name.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
      return new RegExp(`(?:^|[^A-Za-z0-9_])${escaped}(?:[^A-Za-z0-9_]|$)`, "iu").test(body);
    }
    case "room_member_count":
      return memberCountMatches(c.is, ctx.memberCount());
    case "sender_notification_permission":
      if (typeof c.key !== "string") return false;
      return ctx.senderPowerLevel() >= ctx.notificationLevel(c.key);
    default:
      // Unrecognised conditions never match.
      return false;
  }
}

function ruleMatches(kind: RuleKind, rule: PushRule, ev: PushEvent, ctx: PushContext): boolean {
  switch (kind) {
    case "override":
    case "underride":
      return (rule.conditions ?? []).every((c) => conditionMatches(c, ev, ctx));
    case "content": {
      const body = ev.content["body"];
      return typeof rule.pattern === "string" && typeof body === "string" && globMatches(rule.pattern, body, true);
    }
    case "room":
      return ev.room_id === rule.rule_id;
    case "sender":
      return ev.sender === rule.rule_id;
  }
}

export interface PushMatch {
  kind: RuleKind;
  rule: PushRule;
  /** The rule's actions without the historical `dont_notify` and `coalesce`. */
  actions: PushAction[];
}

/** The first enabled rule matching the event, in kind order; undefined when none matches. */
export function evaluatePushRules(rules: Ruleset, ev: PushEvent, ctx: PushContext): PushMatch | undefined {
  for (const kind of RULE_KINDS) {
    for (const rule of rules[kind]) {
      if (!rule.enabled) continue;
      if (ruleMatches(kind, rule, ev, ctx)) {
        return { kind, rule, actions: rule.actions.filter((a) => a !== "dont_notify" && a !== "coalesce") };
      }
    }
  }
  return undefined;
}

/** Whether actions notify and whether they highlight (a `highlight` tweak without value is true). */
export function actionEffects(actions: readonly PushAction[]): { notify: boolean; highlight: boolean } {
  let notify = false;
  let highlight = false;
  for (const a of actions) {
    if (a === "notify") notify = true;
    else if (isObject(a) && a.set_tweak === "highlight") highlight = a.value === undefined ? true : a.value === true;
  }
  return { notify, highlight };
}
