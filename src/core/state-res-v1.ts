// State resolution for room version 1. Spec: content/rooms/v1.md "State resolution".
// Follows the reference implementation (Synapse) where the spec text is loose:
// - a key is conflicted only when two states hold different events for it (a key missing from
//   some states is not a conflict);
// - the auth state R starts as the unconflicted events at the keys the conflicted events are
//   authorised against;
// - power levels, then join rules, then memberships are resolved by walking each conflict's
//   events in ascending depth / descending sha1(event_id) and keeping the last one that passes
//   auth against R (the first is taken unchecked); every other conflict picks the first event by
//   descending depth / ascending sha1(event_id) that passes auth against R, or the last one if
//   none does;
// - rejected events (the caller's `isRejected`) do not take part.

import { sha1 } from "@noble/hashes/legacy.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { RoomEvent } from "../protocol/events.ts";
import { authTypesForEvent } from "./auth-events.ts";
import { checkAuth } from "./auth-rules.ts";
import type { RoomVersion } from "./room-versions.ts";
import type { EventSource, ResolveOptions } from "./state-res-types.ts";
import { POWER_LEVELS_KEY, eventStateMapKey, parseStateMapKey, type ReadonlyStateMap, type StateMap } from "./state-map.ts";

/** Resolves room states with the room version 1 algorithm. */
export async function resolveStateV1(
  rv: RoomVersion,
  stateSets: ReadonlyArray<ReadonlyStateMap<string>>,
  source: EventSource,
  opts: ResolveOptions = {},
): Promise<StateMap<string>> {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]!);
  const isRejected = opts.isRejected ?? (() => false);

  // Separate: a key is unconflicted unless two states disagree on it.
  const unconflicted: StateMap<string> = new Map();
  const conflicted = new Map<string, Set<string>>();
  for (const s of stateSets) {
    for (const [k, v] of s) {
      const c = conflicted.get(k);
      if (c) {
        c.add(v);
        continue;
      }
      const u = unconflicted.get(k);
      if (u === undefined) unconflicted.set(k, v);
      else if (u !== v) {
        conflicted.set(k, new Set([u, v]));
        unconflicted.delete(k);
      }
    }
  }
  if (conflicted.size === 0) return unconflicted;

  const needed = new Set<string>();
  for (const ids of conflicted.values()) for (const id of ids) needed.add(id);
  const loaded = new Map(await source.getEvents([...needed]));
  for (const [id, ev] of loaded) {
    if (opts.roomId !== undefined && ev.room_id !== opts.roomId) {
      throw new Error(`state resolution for ${opts.roomId}: event ${id} is in room ${String(ev.room_id)}`);
    }
  }

  const conflictedEvents = new Map<string, RoomEvent[]>();
  for (const [k, ids] of conflicted) {
    const evs: RoomEvent[] = [];
    for (const id of ids) {
      const ev = loaded.get(id);
      if (ev && !isRejected(id)) evs.push(ev);
    }
    if (evs.length > 1) conflictedEvents.set(k, evs);
    else if (evs.length === 1) unconflicted.set(k, evs[0]!.event_id);
  }

  // R: the unconflicted events at the keys the conflicted events are authorised against.
  const authIds = new Map<string, string>();
  for (const evs of conflictedEvents.values()) {
    for (const ev of evs) {
      for (const k of authTypesForEvent(ev, rv, { includeCreate: true })) {
        const id = unconflicted.get(k);
        if (id !== undefined && !authIds.has(k)) authIds.set(k, id);
      }
    }
  }
  const authLoaded = await source.getEvents([...authIds.values()].filter((id) => !loaded.has(id)));
  const authEvents: StateMap<RoomEvent> = new Map();
  for (const [k, id] of authIds) {
    const ev = loaded.get(id) ?? authLoaded.get(id);
    if (ev && !isRejected(id)) authEvents.set(k, ev);
  }

  const allowed = (ev: RoomEvent, state: ReadonlyStateMap<RoomEvent>): boolean =>
    checkAuth(ev, state, rv, opts.auth ?? {}).allowed;

  const resolved = new Map<string, RoomEvent>();
  const resolveAuthKeys = (pick: (type: string) => boolean): void => {
    for (const [k, evs] of conflictedEvents) {
      if (!pick(parseStateMapKey(k)[0])) continue;
      resolved.set(k, resolveAuthConflict(rv, evs, authEvents, allowed));
    }
    for (const [k, ev] of resolved) authEvents.set(k, ev);
  };
  // Power levels first (only the ("m.room.power_levels", "") key), then join rules, then members.
  if (conflictedEvents.has(POWER_LEVELS_KEY)) {
    resolved.set(POWER_LEVELS_KEY, resolveAuthConflict(rv, conflictedEvents.get(POWER_LEVELS_KEY)!, authEvents, allowed));
    for (const [k, ev] of resolved) authEvents.set(k, ev);
  }
  resolveAuthKeys((t) => t === "m.room.join_rules");
  resolveAuthKeys((t) => t === "m.room.member");
  for (const [k, evs] of conflictedEvents) {
    if (resolved.has(k)) continue;
    resolved.set(k, resolveNormalConflict(evs, authEvents, allowed));
  }

  const result: StateMap<string> = new Map(unconflicted);
  for (const [k, ev] of resolved) result.set(k, ev.event_id);
  return result;
}

const sha1Cache = new Map<string, string>();
function sha1Hex(id: string): string {
  let h = sha1Cache.get(id);
  if (h === undefined) {
    h = bytesToHex(sha1(utf8ToBytes(id)));
    if (sha1Cache.size > 100_000) sha1Cache.clear();
    sha1Cache.set(id, h);
  }
  return h;
}

function depth(ev: RoomEvent): number {
  return typeof ev.depth === "number" && Number.isFinite(ev.depth) ? ev.depth : 0;
}

/** Descending depth, then ascending sha1(event_id). */
function ordered(evs: readonly RoomEvent[]): RoomEvent[] {
  return [...evs].sort((a, b) => {
    const d = depth(b) - depth(a);
    if (d !== 0) return d;
    const ha = sha1Hex(a.event_id);
    const hb = sha1Hex(b.event_id);
    return ha < hb ? -1 : ha > hb ? 1 : 0;
  });
}

function resolveAuthConflict(
  rv: RoomVersion,
  evs: readonly RoomEvent[],
  authEvents: ReadonlyStateMap<RoomEvent>,
  allowed: (ev: RoomEvent, state: ReadonlyStateMap<RoomEvent>) => boolean,
): RoomEvent {
  const list = ordered(evs).reverse(); // ascending depth, descending sha1
  const state: StateMap<RoomEvent> = new Map();
  for (const ev of evs) {
    for (const k of authTypesForEvent(ev, rv, { includeCreate: true })) {
      const ae = authEvents.get(k);
      if (ae) state.set(k, ae);
    }
  }
  let prev = list[0]!;
  for (let j = 1; j < list.length; j++) {
    const ev = list[j]!;
    state.set(eventStateMapKey(prev)!, prev);
    if (!allowed(ev, state)) return prev;
    prev = ev;
  }
  return prev;
}

function resolveNormalConflict(
  evs: readonly RoomEvent[],
  authEvents: ReadonlyStateMap<RoomEvent>,
  allowed: (ev: RoomEvent, state: ReadonlyStateMap<RoomEvent>) => boolean,
): RoomEvent {
  const list = ordered(evs);
  for (const ev of list) if (allowed(ev, authEvents)) return ev;
  return list[list.length - 1]!;
}
