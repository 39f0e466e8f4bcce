import { describe, expect, test } from "bun:test";
import {
  actionEffects,
  conditionMatches,
  defaultRuleset,
  effectiveRuleset,
  evaluatePushRules,
  globMatches,
  memberCountMatches,
  propertyAt,
  splitPropertyPath,
  type PushContext,
  type PushEvent,
} from "./push-rules.ts";

const ME = "@me:example.org";
const ctx = (over: Partial<PushContext> = {}): PushContext => ({
  userId: ME,
  memberCount: () => 5,
  displayName: () => "Me Myself",
  senderPowerLevel: () => 0,
  notificationLevel: () => 50,
  ...over,
});
const msg = (content: Record<string, unknown>, over: Partial<PushEvent> = {}): PushEvent => ({
  type: "m.room.message",
  sender: "@other:example.org",
  room_id: "!room:example.org",
  content: { msgtype: "m.text", body: "hello", ...content } as PushEvent["content"],
  ...over,
});
const outcome = (ev: PushEvent, c = ctx(), rules = defaultRuleset(ME)) => {
  const m = evaluatePushRules(rules, ev, c);
  return { rule: m?.rule.rule_id, ...actionEffects(m?.actions ?? []) };
};

describe("property paths", () => {
  test("dots split, escaped dots and backslashes stay", () => {
    expect(splitPropertyPath("content.body")).toEqual(["content", "body"]);
    expect(splitPropertyPath("content.m\\.relates_to.rel_type")).toEqual(["content", "m.relates_to", "rel_type"]);
    expect(splitPropertyPath("content.m\\\\foo")).toEqual(["content", "m\\foo"]);
    // Other escapes are literal backslashes.
    expect(splitPropertyPath("content.a\\xb")).toEqual(["content", "a\\xb"]);
  });
  test("lookup through objects only", () => {
    const ev = { content: { "m.mentions": { user_ids: ["@a:b"] }, arr: [1] } };
    expect(propertyAt(ev, "content.m\\.mentions.user_ids")).toEqual(["@a:b"]);
    expect(propertyAt(ev, "content.m.mentions")).toBeUndefined();
    expect(propertyAt(ev, "content.arr.0")).toBeUndefined();
  });
});

describe("globs", () => {
  test("whole-value, case-insensitive, * and ?", () => {
    expect(globMatches("lunc?*", "Lunch plans")).toBe(true);
    expect(globMatches("lunc?*", "LUNCH")).toBe(true);
    expect(globMatches("lunc?*", " lunch")).toBe(false);
    expect(globMatches("lunc?*", "lunc")).toBe(false);
    expect(globMatches("m.room.*", "m.room.message")).toBe(true);
    expect(globMatches("a.b", "axb")).toBe(false);
    expect(globMatches("(x)+[y]", "(X)+[Y]")).toBe(true);
  });
  test("content.body: word-boundary substring", () => {
    expect(globMatches("ex*ple", "An example event.", true)).toBe(true);
    expect(globMatches("ex*ple", "exple", true)).toBe(true);
    expect(globMatches("ex*ple", "An exciting triple-whammy", true)).toBe(true);
    expect(globMatches("cake", "cakes are nice", true)).toBe(false);
    expect(globMatches("cake", "I like CAKE!", true)).toBe(true);
    expect(globMatches("cake", "i_cake", true)).toBe(false);
  });
});

describe("conditions", () => {
  test("event_match needs a string", () => {
    const ev = msg({ topic: null });
    expect(conditionMatches({ kind: "event_match", key: "content.topic", pattern: "*" }, ev, ctx())).toBe(false);
    expect(conditionMatches({ kind: "event_match", key: "content.missing", pattern: "*" }, ev, ctx())).toBe(false);
    expect(conditionMatches({ kind: "event_match", key: "type", pattern: "m.room.message" }, ev, ctx())).toBe(true);
  });
  test("event_property_is: exact, no casts", () => {
    const ev = msg({ "m.federate": true, n: 1, s: "true", nil: null });
    const is = (key: string, value: unknown) => conditionMatches({ kind: "event_property_is", key, value: value as never }, ev, ctx());
    expect(is("content.m\\.federate", true)).toBe(true);
    expect(is("content.s", true)).toBe(false);
    expect(is("content.n", true)).toBe(false);
    expect(is("content.n", 1)).toBe(true);
    expect(is("content.nil", null)).toBe(true);
    expect(is("content.missing", null)).toBe(false);
  });
  test("event_property_contains", () => {
    const ev = msg({ alt_aliases: ["#somewhere:example.org", "#myroom:example.com", { x: 1 }] });
    const c = (value: unknown) => conditionMatches({ kind: "event_property_contains", key: "content.alt_aliases", value: value as never }, ev, ctx());
    expect(c("#myroom:example.com")).toBe(true);
    expect(c(":example.com")).toBe(false);
    expect(conditionMatches({ kind: "event_property_contains", key: "content.body", value: "h" }, ev, ctx())).toBe(false);
  });
  test("contains_display_name", () => {
    const cond = { kind: "contains_display_name" };
    expect(conditionMatches(cond, msg({ body: "hey me myself, look" }), ctx())).toBe(true);
    expect(conditionMatches(cond, msg({ body: "hey me myselfie" }), ctx())).toBe(false);
    expect(conditionMatches(cond, msg({ body: "anything" }), ctx({ displayName: () => undefined }))).toBe(false);
  });
  test("room_member_count", () => {
    expect(memberCountMatches("2", 2)).toBe(true);
    expect(memberCountMatches("==2", 3)).toBe(false);
    expect(memberCountMatches("<3", 2)).toBe(true);
    expect(memberCountMatches(">=10", 10)).toBe(true);
    expect(memberCountMatches("<=1", 2)).toBe(false);
    expect(memberCountMatches(">2", 3)).toBe(true);
    expect(memberCountMatches("x2", 2)).toBe(false);
  });
  test("sender_notification_permission", () => {
    const cond = { kind: "sender_notification_permission", key: "room" };
    expect(conditionMatches(cond, msg({}), ctx({ senderPowerLevel: () => 50 }))).toBe(true);
    expect(conditionMatches(cond, msg({}), ctx({ senderPowerLevel: () => 49 }))).toBe(false);
  });
  test("unknown kinds never match", () => {
    expect(conditionMatches({ kind: "org.example.whatever" }, msg({}), ctx())).toBe(false);
  });
});

describe("default rules", () => {
  test("plain message in a group room notifies without highlight", () => {
    expect(outcome(msg({}))).toEqual({ rule: ".m.rule.message", notify: true, highlight: false });
  });
  test("one-to-one rooms", () => {
    expect(outcome(msg({}), ctx({ memberCount: () => 2 })).rule).toBe(".m.rule.room_one_to_one");
    const enc = { type: "m.room.encrypted", sender: "@o:x", content: { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "..." } };
    expect(outcome(enc, ctx({ memberCount: () => 2 }))).toEqual({ rule: ".m.rule.encrypted_room_one_to_one", notify: true, highlight: false });
    expect(outcome(enc).rule).toBe(".m.rule.encrypted");
  });
  test("notices, reactions, edits, member events and ACLs are silent", () => {
    expect(outcome(msg({ msgtype: "m.notice" }))).toEqual({ rule: ".m.rule.suppress_notices", notify: false, highlight: false });
    expect(outcome({ type: "m.reaction", sender: "@o:x", content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$x", key: "👍" } } }).rule).toBe(".m.rule.reaction");
    expect(outcome(msg({ "m.relates_to": { rel_type: "m.replace", event_id: "$x" } })).notify).toBe(false);
    expect(outcome({ type: "m.room.member", sender: "@o:x", state_key: "@o:x", content: { membership: "join" } }).rule).toBe(".m.rule.member_event");
    expect(outcome({ type: "m.room.server_acl", sender: "@o:x", state_key: "", content: {} }).notify).toBe(false);
  });
  test("invites for me notify; invites for others don't", () => {
    const inv = (target: string): PushEvent => ({ type: "m.room.member", sender: "@o:x", state_key: target, content: { membership: "invite" } });
    expect(outcome(inv(ME))).toEqual({ rule: ".m.rule.invite_for_me", notify: true, highlight: false });
    expect(outcome(inv("@someone:else")).notify).toBe(false);
  });
  test("user mentions via m.mentions highlight", () => {
    expect(outcome(msg({ "m.mentions": { user_ids: [ME] } }))).toEqual({ rule: ".m.rule.is_user_mention", notify: true, highlight: true });
    expect(outcome(msg({ "m.mentions": { user_ids: ["@x:y"] } })).highlight).toBe(false);
    // A body mention without m.mentions no longer highlights (v1.17).
    expect(outcome(msg({ body: "hi @me:example.org" })).highlight).toBe(false);
  });
  test("room mentions need the notification power level", () => {
    const ev = msg({ "m.mentions": { room: true } });
    expect(outcome(ev, ctx({ senderPowerLevel: () => 50 }))).toEqual({ rule: ".m.rule.is_room_mention", notify: true, highlight: true });
    expect(outcome(ev, ctx({ senderPowerLevel: () => 0 })).highlight).toBe(false);
    expect(outcome(msg({ "m.mentions": { room: "true" } }), ctx({ senderPowerLevel: () => 100 })).highlight).toBe(false);
  });
  test("tombstones highlight; calls ring", () => {
    expect(outcome({ type: "m.room.tombstone", sender: "@o:x", state_key: "", content: { body: "moved", replacement_room: "!n:x" } }).highlight).toBe(true);
    expect(outcome({ type: "m.room.tombstone", sender: "@o:x", content: {} }).rule).toBeUndefined();
    const call = evaluatePushRules(defaultRuleset(ME), { type: "m.call.invite", sender: "@o:x", content: {} }, ctx());
    expect(call?.rule.rule_id).toBe(".m.rule.call");
    expect(call?.actions).toContainEqual({ set_tweak: "sound", value: "ring" });
  });
  test("unknown event types match nothing", () => {
    expect(outcome({ type: "org.example.custom", sender: "@o:x", content: {} }).rule).toBeUndefined();
  });
});

describe("user rules from m.push_rules", () => {
  test("master rule enabled silences everything", () => {
    const rules = effectiveRuleset(ME, { global: { override: [{ rule_id: ".m.rule.master", default: true, enabled: true, actions: [] }] } });
    expect(outcome(msg({ "m.mentions": { user_ids: [ME] } }), ctx(), rules)).toEqual({ rule: ".m.rule.master", notify: false, highlight: false });
  });
  test("room, sender and content rules sit between override and underride", () => {
    const rules = effectiveRuleset(ME, {
      global: {
        room: [{ rule_id: "!quiet:example.org", enabled: true, actions: ["dont_notify"] }],
        sender: [{ rule_id: "@boss:example.org", enabled: true, actions: ["notify", { set_tweak: "highlight" }] }],
        content: [{ rule_id: "cake", pattern: "cake", enabled: true, actions: ["notify", { set_tweak: "highlight", value: false }] }],
      },
    });
    expect(outcome(msg({}, { room_id: "!quiet:example.org" }), ctx(), rules)).toEqual({ rule: "!quiet:example.org", notify: false, highlight: false });
    expect(outcome(msg({}, { sender: "@boss:example.org" }), ctx(), rules).highlight).toBe(true);
    expect(outcome(msg({ body: "more CAKE please" }), ctx(), rules)).toEqual({ rule: "cake", notify: true, highlight: false });
    // Overrides still win over room rules.
    expect(outcome(msg({ msgtype: "m.notice" }, { room_id: "!quiet:example.org" }), ctx(), rules).rule).toBe(".m.rule.suppress_notices");
  });
  test("a default rule can be disabled or given other actions; disabled user rules are skipped", () => {
    const rules = effectiveRuleset(ME, {
      global: {
        underride: [
          { rule_id: ".m.rule.message", default: true, enabled: false, actions: ["notify"] },
          { rule_id: "mine", enabled: false, conditions: [], actions: ["notify"] },
        ],
        override: [{ rule_id: ".m.rule.suppress_notices", default: true, enabled: true, actions: ["notify"] }],
      },
    });
    expect(outcome(msg({}), ctx(), rules).rule).toBeUndefined();
    expect(outcome(msg({ msgtype: "m.notice" }), ctx(), rules)).toEqual({ rule: ".m.rule.suppress_notices", notify: true, highlight: false });
  });
  test("user override with an unknown condition is effectively disabled", () => {
    const rules = effectiveRuleset(ME, { global: { override: [{ rule_id: "x", enabled: true, conditions: [{ kind: "nope" }], actions: ["notify", { set_tweak: "highlight" }] }] } });
    expect(outcome(msg({}), ctx(), rules).rule).toBe(".m.rule.message");
  });
  test("garbage account data falls back to defaults", () => {
    expect(outcome(msg({}), ctx(), effectiveRuleset(ME, "nonsense")).rule).toBe(".m.rule.message");
    expect(outcome(msg({}), ctx(), effectiveRuleset(ME, { global: { override: "x" } })).rule).toBe(".m.rule.message");
  });
});
