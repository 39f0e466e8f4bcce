// The `required_state` of simplified sliding sync (MSC4186, as Synapse serves it): a list of
// [event type, state key] pairs naming the room state a client wants.
//   ["m.room.name", ""]        that one entry
//   ["m.space.child", "*"]     every state key of a type
//   ["*", "*"]                 all state; the types also listed with specific keys are then
//                              restricted to those keys (["*","*"], ["m.room.member","$ME"] is all
//                              state but only the user's own membership)
//   ["*", "@a:b"]              that state key in every type
//   ["m.room.member", "$ME"]   the user's own membership
//   ["m.room.member", "$LAZY"] lazy-loaded memberships: those of the timeline's senders and
//                              targets, chosen by the caller (the type is otherwise restricted)
// Pure: parsing, combining configs, matching, and the database reads a config needs.

export type StatePair = readonly [type: string, stateKey: string];

export const WILDCARD = "*";
export const STATE_KEY_ME = "$ME";
export const STATE_KEY_LAZY = "$LAZY";
const MEMBER = "m.room.member";

export interface RequiredState {
  /** The pairs, deduplicated and sorted ($ME resolved to the user). */
  readonly pairs: readonly StatePair[];
  /** ["*", "*"] was asked for. */
  readonly all: boolean;
  /** ["m.room.member", "$LAZY"] was asked for. */
  readonly lazy: boolean;
  /** Types named explicitly: every key ("*") or some keys. */
  readonly byType: ReadonlyMap<string, { any: boolean; keys: ReadonlySet<string> }>;
  /** State keys asked for in every type (["*", key]). */
  readonly anyTypeKeys: ReadonlySet<string>;
}

/** What to read from a room's state for a config: keys, whole types, everything but some types. */
export interface StateReadPlan {
  /** Everything except these types (when `all`). */
  allExcept?: string[];
  /** Whole types. */
  types: string[];
  /** Single entries. */
  keys: Array<[string, string]>;
  /** Keys wanted in every type: the whole state must be read and filtered. */
  scanAll: boolean;
}

function pairKey(p: StatePair): string {
  return `${p[0]}\u0000${p[1]}`;
}

/** Normalises raw pairs ($ME resolved, duplicates dropped, sorted). */
export function normalisePairs(raw: readonly StatePair[], userId: string): StatePair[] {
  const seen = new Map<string, StatePair>();
  for (const [t, k] of raw) {
    const p: StatePair = [t, k === STATE_KEY_ME ? userId : k];
    seen.set(pairKey(p), p);
  }
  return [...seen.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

export function parseRequiredState(raw: readonly StatePair[], userId: string): RequiredState {
  const pairs = normalisePairs(raw, userId);
  let all = false;
  let lazy = false;
  const byType = new Map<string, { any: boolean; keys: Set<string> }>();
  const anyTypeKeys = new Set<string>();
  const entry = (t: string) => {
    let e = byType.get(t);
    if (!e) byType.set(t, (e = { any: false, keys: new Set() }));
    return e;
  };
  for (const [t, k] of pairs) {
    if (t === WILDCARD) {
      if (k === WILDCARD) all = true;
      else anyTypeKeys.add(k);
      continue;
    }
    if (t === MEMBER && k === STATE_KEY_LAZY) {
      lazy = true;
      entry(MEMBER);
      continue;
    }
    if (k === WILDCARD) entry(t).any = true;
    else entry(t).keys.add(k);
  }
  return { pairs, all, lazy, byType, anyTypeKeys };
}

/** The union of two configs' pairs (a room matched by several lists or subscriptions). */
export function unionPairs(a: readonly StatePair[], b: readonly StatePair[]): StatePair[] {
  const seen = new Map<string, StatePair>();
  for (const p of [...a, ...b]) seen.set(pairKey(p), p);
  return [...seen.values()].sort((x, y) => (pairKey(x) < pairKey(y) ? -1 : pairKey(x) > pairKey(y) ? 1 : 0));
}

/** A stable identity for a config (to notice that it changed between requests). */
export function pairsSignature(pairs: readonly StatePair[]): string {
  return JSON.stringify(pairs);
}

/** Whether a config asks for the state entry (type, state_key); lazy members are chosen apart. */
export function wantsState(rs: RequiredState, type: string, stateKey: string): boolean {
  if (rs.anyTypeKeys.has(stateKey)) return true;
  const e = rs.byType.get(type);
  if (e) return e.any || e.keys.has(stateKey);
  return rs.all;
}

/** Whether a config asks for nothing at all (no state to read). */
export function wantsNothing(rs: RequiredState): boolean {
  return !rs.all && !rs.lazy && rs.byType.size === 0 && rs.anyTypeKeys.size === 0;
}

/** The reads that fetch what `rs` asks for (lazy members aside). */
export function readPlan(rs: RequiredState): StateReadPlan {
  const plan: StateReadPlan = { types: [], keys: [], scanAll: rs.anyTypeKeys.size > 0 };
  if (rs.all) {
    // Everything, except that explicitly named types are limited to their keys.
    plan.allExcept = [];
    for (const [t, e] of rs.byType) {
      if (e.any) continue;
      plan.allExcept.push(t);
      for (const k of e.keys) plan.keys.push([t, k]);
    }
    return plan;
  }
  for (const [t, e] of rs.byType) {
    if (e.any) plan.types.push(t);
    else for (const k of e.keys) plan.keys.push([t, k]);
  }
  return plan;
}

/** Whether `next` can match state that `prev` could not (the client widened its config). */
export function widens(prev: readonly StatePair[], next: readonly StatePair[]): boolean {
  const before = new Set(prev.map(pairKey));
  return next.some((p) => !before.has(pairKey(p)));
}
