// Room state as a map keyed by (event type, state key).
// The key is one string, `type + "\u0000" + stateKey`: Map lookups on a single string are much
// cheaper than nested maps or tuple keys, and NUL cannot appear in a type sent by a sane client
// (a type containing NUL would only make two keys collide, never crash).

import type { RoomEvent } from "../protocol/events.ts";

/** A state map: (type, state_key) → V, where V is usually an event ID or a RoomEvent. */
export type StateMap<V = string> = Map<string, V>;
export type ReadonlyStateMap<V = string> = ReadonlyMap<string, V>;

const SEP = "\u0000";

/** The map key for (type, stateKey). */
export function stateMapKey(type: string, stateKey: string): string {
  return type + SEP + stateKey;
}

/** Splits a map key back into [type, stateKey]. */
export function parseStateMapKey(key: string): [type: string, stateKey: string] {
  const i = key.indexOf(SEP);
  if (i < 0) throw new Error(`not a state map key: ${JSON.stringify(key)}`);
  return [key.slice(0, i), key.slice(i + 1)];
}

/** The map key of a state event; undefined for a message event (no state_key). */
export function eventStateMapKey(ev: { type: string; state_key?: string }): string | undefined {
  return typeof ev.state_key === "string" ? stateMapKey(ev.type, ev.state_key) : undefined;
}

export const CREATE_KEY = stateMapKey("m.room.create", "");
export const POWER_LEVELS_KEY = stateMapKey("m.room.power_levels", "");
export const JOIN_RULES_KEY = stateMapKey("m.room.join_rules", "");

/** The map key of a user's m.room.member event. */
export function memberKey(userId: string): string {
  return "m.room.member" + SEP + userId;
}

/** The map key of an m.room.third_party_invite event by token. */
export function thirdPartyInviteKey(token: string): string {
  return "m.room.third_party_invite" + SEP + token;
}

/** Builds a state map of events from a list of state events (later entries win). */
export function stateMapOfEvents<E extends { type: string; state_key?: string }>(events: Iterable<E>): StateMap<E> {
  const m: StateMap<E> = new Map();
  for (const ev of events) {
    const k = eventStateMapKey(ev);
    if (k !== undefined) m.set(k, ev);
  }
  return m;
}

/** Maps a state map of events to a state map of event IDs. */
export function stateMapIds(m: ReadonlyStateMap<RoomEvent>): StateMap<string> {
  const out: StateMap<string> = new Map();
  for (const [k, ev] of m) out.set(k, ev.event_id);
  return out;
}

/** Converts a state map to a plain list of [type, stateKey, value] triples (for serialisation). */
export function stateMapEntries<V>(m: ReadonlyStateMap<V>): Array<[type: string, stateKey: string, value: V]> {
  const out: Array<[string, string, V]> = [];
  for (const [k, v] of m) {
    const [t, s] = parseStateMapKey(k);
    out.push([t, s, v]);
  }
  return out;
}

/** Builds a state map from [type, stateKey, value] triples. */
export function stateMapFromEntries<V>(entries: Iterable<readonly [string, string, V]>): StateMap<V> {
  const m: StateMap<V> = new Map();
  for (const [t, s, v] of entries) m.set(stateMapKey(t, s), v);
  return m;
}

/** True when both maps have the same keys with the same (===) values. */
export function stateMapsEqual<V>(a: ReadonlyStateMap<V>, b: ReadonlyStateMap<V>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v || !b.has(k)) return false;
  return true;
}
