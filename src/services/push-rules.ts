// The push rules API (client-server-api/modules/push.md, data/api/client-server/pushrules.yaml).
// A user's rules are stored as their `m.push_rules` account data: `global` holds the user-defined
// rules in priority order and entries for server-default rules whose `enabled` or `actions` were
// changed; core/push-rules.ts `effectiveRuleset` merges them with the defaults.
import { effectiveRuleset, RULE_KINDS, type PushRule, type RuleKind, type Ruleset } from "../core/push-rules.ts";
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject, JsonValue } from "../protocol/events.ts";
import type { AccountData } from "./account-data.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

const notFound = () => new MatrixError("M_NOT_FOUND", "The push rule was not found.");

export function parseKind(kind: string | undefined): RuleKind {
  if (!kind || !(RULE_KINDS as readonly string[]).includes(kind)) throw new MatrixError("M_INVALID_PARAM", `Unknown push rule kind ${JSON.stringify(kind)}`);
  return kind as RuleKind;
}

type Stored = Record<RuleKind, JsonObject[]>;

export class PushRulesService {
  constructor(private readonly accountData: AccountData) {}

  private async stored(userId: string): Promise<Stored> {
    const content = await this.accountData.get(userId, "", "m.push_rules");
    const global = isObject(content?.global) ? content!.global : {};
    const out = { override: [], content: [], room: [], sender: [], underride: [] } as Stored;
    for (const k of RULE_KINDS) out[k] = Array.isArray(global[k]) ? (global[k] as JsonValue[]).filter(isObject) : [];
    return out;
  }

  private async save(userId: string, s: Stored): Promise<void> {
    await this.accountData.set(userId, "", "m.push_rules", { global: s as unknown as JsonObject });
  }

  /** The full effective ruleset (GET /pushrules/ and the m.push_rules account data clients see). */
  async ruleset(userId: string): Promise<Ruleset> {
    const content = await this.accountData.get(userId, "", "m.push_rules");
    return withRoomSenderConditions(effectiveRuleset(userId, content));
  }

  async rule(userId: string, kind: RuleKind, ruleId: string): Promise<PushRule> {
    const r = (await this.ruleset(userId))[kind].find((x) => x.rule_id === ruleId);
    if (!r) throw notFound();
    return r;
  }

  async deleteRule(userId: string, kind: RuleKind, ruleId: string): Promise<void> {
    if (ruleId.startsWith(".")) throw new MatrixError("M_INVALID_PARAM", "Server-default rules cannot be deleted");
    const s = await this.stored(userId);
    const i = s[kind].findIndex((r) => r.rule_id === ruleId);
    if (i < 0) throw notFound();
    s[kind].splice(i, 1);
    await this.save(userId, s);
  }

  async putRule(userId: string, kind: RuleKind, ruleId: string, body: JsonObject, before?: string, after?: string): Promise<void> {
    if (!ruleId || ruleId.startsWith(".") || /[/\\]/.test(ruleId)) {
      throw new MatrixError("M_INVALID_PARAM", "Rule IDs starting with '.' or containing '/' or '\\' are reserved");
    }
    if (!Array.isArray(body.actions)) throw new MatrixError("M_MISSING_PARAM", "Missing 'actions'");
    checkActions(body.actions);
    const rule: JsonObject = { rule_id: ruleId, default: false, enabled: true, actions: body.actions };
    if (kind === "override" || kind === "underride") {
      const conds = body.conditions ?? [];
      if (!Array.isArray(conds) || conds.some((c) => !isObject(c) || typeof c.kind !== "string")) {
        throw new MatrixError("M_BAD_JSON", "'conditions' must be a list of conditions with a 'kind'");
      }
      rule.conditions = conds;
    }
    if (kind === "content") {
      if (typeof body.pattern !== "string") throw new MatrixError("M_MISSING_PARAM", "Content rules need a 'pattern'");
      rule.pattern = body.pattern;
    }
    // Room and sender rules are named by the room or user they match (their implied condition);
    // any other name is kept as Synapse keeps it: a rule that matches nothing.
    const s = await this.stored(userId);
    const list = s[kind];
    const existing = list.findIndex((r) => r.rule_id === ruleId);
    if (existing >= 0) {
      const old = list[existing]!;
      rule.enabled = old.enabled !== false;
      list.splice(existing, 1);
    }
    let at = existing >= 0 && before === undefined && after === undefined ? existing : 0;
    for (const [anchor, offset] of [[before, 0], [after, 1]] as const) {
      if (anchor === undefined) continue;
      if (anchor.startsWith(".")) throw new MatrixError("M_UNKNOWN", `Cannot place a rule relative to the server-default rule ${anchor}`);
      const i = list.findIndex((r) => r.rule_id === anchor);
      if (i < 0) throw new MatrixError("M_UNKNOWN", `before/after rule not found: ${anchor}`);
      at = i + offset;
      if (before !== undefined) break; // both given: `before` decides (spec)
    }
    list.splice(at, 0, rule);
    await this.save(userId, s);
  }

  async setEnabled(userId: string, kind: RuleKind, ruleId: string, enabled: boolean): Promise<void> {
    await this.modify(userId, kind, ruleId, (r) => (r.enabled = enabled));
  }

  async setActions(userId: string, kind: RuleKind, ruleId: string, actions: unknown): Promise<void> {
    if (!Array.isArray(actions)) throw new MatrixError("M_MISSING_PARAM", "Missing 'actions'");
    checkActions(actions);
    await this.modify(userId, kind, ruleId, (r) => (r.actions = actions as JsonValue[]));
  }

  /** Changes a user rule in place, or records an override of a server-default rule. */
  private async modify(userId: string, kind: RuleKind, ruleId: string, change: (r: JsonObject) => void): Promise<void> {
    const current = await this.rule(userId, kind, ruleId); // 404 when unknown
    const s = await this.stored(userId);
    let entry = s[kind].find((r) => r.rule_id === ruleId);
    if (!entry) {
      entry = { rule_id: ruleId, default: true, enabled: current.enabled, actions: current.actions as JsonValue[] };
      s[kind].push(entry);
    }
    change(entry);
    await this.save(userId, s);
  }
}

function checkActions(actions: unknown[]): void {
  for (const a of actions) {
    if (typeof a === "string") {
      if (!["notify", "dont_notify", "coalesce"].includes(a)) throw new MatrixError("M_INVALID_PARAM", `Unknown action ${JSON.stringify(a)}`);
    } else if (!isObject(a) || typeof a.set_tweak !== "string") {
      throw new MatrixError("M_INVALID_PARAM", "Actions are strings or {set_tweak, value} objects");
    }
  }
}

/** Room and sender rules as clients expect them: with the implied event_match condition. */
function withRoomSenderConditions(rs: Ruleset): Ruleset {
  const add = (key: string) => (r: PushRule): PushRule => ({ ...r, conditions: [{ kind: "event_match", key, pattern: r.rule_id }] });
  return { ...rs, room: rs.room.map(add("room_id")), sender: rs.sender.map(add("user_id")) };
}
