// State resolution v2 (room versions 2–11) and v2.1 (room version 12+); room version 1 lives in
// state-res-v1.ts and is reached through `resolveState` too.
// Spec: content/rooms/fragments/v2-state-res.md, content/rooms/v12.md "State resolution".
//
// Interoperability notes (where implementations and the spec text leave room):
// - The auth chain of a state set includes the set's own events (as Synapse computes it), so an
//   unconflicted state event is never part of the auth difference.
// - The power-event graph follows auth events only through events of the full conflicted set
//   (as Synapse and Ruma do); `m.room.create` counts as a power event (as in Synapse).
// - Rejected events (the caller's `isRejected`) are never applied during the iterative auth checks
//   and are not used as auth events there.
//
// Everything is keyed by small integers internally; the default auth chain walk visits each
// reachable auth event once (the auth chains of unconflicted state are shared by every state set,
// so they are walked once and the per-set walks stop there).

import { refIds, type RoomEvent } from "../protocol/events.ts";
import { authTypesForEvent } from "./auth-events.ts";
import { checkAuth, type AuthCheckOptions } from "./auth-rules.ts";
import { effectivePowerLevels, userLevel } from "./power-levels.ts";
import type { RoomVersion } from "./room-versions.ts";
import { resolveStateV1 } from "./state-res-v1.ts";
import { CREATE_KEY, POWER_LEVELS_KEY, eventStateMapKey, type ReadonlyStateMap, type StateMap } from "./state-map.ts";

export type { EventSource, ResolveOptions } from "./state-res-types.ts";
import type { EventSource, ResolveOptions } from "./state-res-types.ts";

/**
 * Resolves a set of room states (state maps of event IDs) with the algorithm of the room
 * version: v1, v2 or v2.1.
 */
export async function resolveState(
  rv: RoomVersion,
  stateSets: ReadonlyArray<ReadonlyStateMap<string>>,
  source: EventSource,
  opts: ResolveOptions = {},
): Promise<StateMap<string>> {
  if (rv.stateRes === "v1") return resolveStateV1(rv, stateSets, source, opts);
  return resolveStateV2(rv, stateSets, source, opts);
}

/** A power event: power levels, join rules, create, or a kick/ban (leave/ban of someone else). */
export function isPowerEvent(ev: RoomEvent): boolean {
  if (ev.state_key === "" && (ev.type === "m.room.power_levels" || ev.type === "m.room.join_rules" || ev.type === "m.room.create")) {
    return true;
  }
  if (ev.type === "m.room.member" && typeof ev.state_key === "string") {
    const m = ev.content["membership"];
    return (m === "leave" || m === "ban") && ev.sender !== ev.state_key;
  }
  return false;
}

/** Orders strings by Unicode code point (as UTF-8 byte order does), not by UTF-16 code unit. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
      if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
      return x - y;
    }
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// The event graph: event IDs interned as integers, events loaded in batches.

class Marks {
  a = new Uint8Array(1024);
  get(i: number): number {
    return i < this.a.length ? this.a[i]! : 0;
  }
  set(i: number, v: number): void {
    if (i >= this.a.length) {
      let n = this.a.length * 2;
      while (n <= i) n *= 2;
      const b = new Uint8Array(n);
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

class EventGraph {
  readonly ids: string[] = [];
  readonly index = new Map<string, number>();
  readonly events: Array<RoomEvent | undefined> = [];
  private readonly requested: boolean[] = [];
  private readonly authIdx: Array<number[] | undefined> = [];

  constructor(private readonly source: EventSource) {}

  idx(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.index.set(id, i);
      this.events.push(undefined);
      this.requested.push(false);
      this.authIdx.push(undefined);
    }
    return i;
  }

  get(id: string): RoomEvent | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.events[i];
  }

  /** Loads the given events (each is requested at most once). */
  async load(indices: Iterable<number>): Promise<void> {
    const want: string[] = [];
    for (const i of indices) {
      if (!this.requested[i]) {
        this.requested[i] = true;
        want.push(this.ids[i]!);
      }
    }
    if (want.length === 0) return;
    const got = await this.source.getEvents(want);
    for (const [id, ev] of got) {
      const i = this.index.get(id);
      if (i !== undefined && this.events[i] === undefined) this.events[i] = ev;
    }
  }

  async loadIds(ids: Iterable<string>): Promise<void> {
    const idx: number[] = [];
    for (const id of ids) idx.push(this.idx(id));
    await this.load(idx);
  }

  /** The (deduplicated) auth events of a loaded event as indices; [] when it is not loaded. */
  auth(i: number): number[] {
    let a = this.authIdx[i];
    if (a === undefined) {
      const ev = this.events[i];
      a = [];
      if (ev) {
        for (const id of refIds(ev.auth_events ?? [])) {
          const j = this.idx(id);
          if (!a.includes(j)) a.push(j);
        }
        this.authIdx[i] = a;
      }
    }
    return a;
  }

  /**
   * Breadth-first walk over auth events from `starts` (which the caller has already visited),
   * loading each level in one batch. `visit(i)` returns true when `i` is new and is to be expanded.
   */
  async walk(starts: Iterable<number>, visit: (i: number) => boolean): Promise<void> {
    let frontier = [...starts];
    while (frontier.length > 0) {
      await this.load(frontier);
      const next: number[] = [];
      for (const i of frontier) for (const p of this.auth(i)) if (visit(p)) next.push(p);
      frontier = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------

class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  push(v: T): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** A state map that records changes over a read-only base. */
class OverlayState {
  readonly changes = new Map<string, string>();
  constructor(private readonly base: ReadonlyStateMap<string>) {}
  get(k: string): string | undefined {
    const v = this.changes.get(k);
    return v !== undefined ? v : this.base.get(k);
  }
  set(k: string, v: string): void {
    this.changes.set(k, v);
  }
}

interface Ctx {
  readonly rv: RoomVersion;
  readonly g: EventGraph;
  readonly isRejected: (id: string) => boolean;
  readonly auth: AuthCheckOptions;
  /** v12+: the room's create event, which is not among auth events. */
  readonly roomCreate: RoomEvent | undefined;
}

function ts(ev: RoomEvent): number {
  const t = ev.origin_server_ts;
  return typeof t === "number" && Number.isFinite(t) ? t : 0;
}

/** v2 / v2.1. */
async function resolveStateV2(
  rv: RoomVersion,
  stateSets: ReadonlyArray<ReadonlyStateMap<string>>,
  source: EventSource,
  opts: ResolveOptions,
): Promise<StateMap<string>> {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]!);
  const v21 = rv.stateRes === "v2.1";

  // Unconflicted state map and conflicted state set (a key missing from a set is conflicted).
  const first = stateSets[0]!;
  const unconflicted: StateMap<string> = new Map();
  const conflictedKeys = new Set<string>();
  for (const [k, v] of first) {
    let same = true;
    for (let j = 1; j < stateSets.length; j++) {
      if (stateSets[j]!.get(k) !== v) {
        same = false;
        break;
      }
    }
    if (same) unconflicted.set(k, v);
    else conflictedKeys.add(k);
  }
  for (let j = 1; j < stateSets.length; j++) for (const k of stateSets[j]!.keys()) if (!first.has(k)) conflictedKeys.add(k);
  if (conflictedKeys.size === 0) return unconflicted;

  const g = new EventGraph(source);
  const conflictedIds = new Set<string>();
  const perSetConflicted: number[][] = stateSets.map((s) => {
    const out: number[] = [];
    for (const k of conflictedKeys) {
      const id = s.get(k);
      if (id !== undefined) {
        conflictedIds.add(id);
        out.push(g.idx(id));
      }
    }
    return out;
  });

  // Full conflicted set: conflicted state ∪ auth difference (∪ conflicted subgraph in v2.1).
  const fcs = new Set<number>();
  for (const id of conflictedIds) fcs.add(g.idx(id));
  if (source.getAuthChainDifference) {
    const sets = stateSets.map((s) => new Set(s.values()));
    for (const id of await source.getAuthChainDifference(sets)) fcs.add(g.idx(id));
  } else {
    for (const i of await authDifference(g, unconflicted, perSetConflicted)) fcs.add(i);
  }
  if (v21) {
    if (source.getConflictedSubgraph) {
      for (const id of await source.getConflictedSubgraph(conflictedIds)) fcs.add(g.idx(id));
    } else {
      for (const i of await conflictedSubgraph(g, [...conflictedIds].map((id) => g.idx(id)))) fcs.add(i);
    }
  }

  // Load the full conflicted set and everything the checks will read: auth events of those
  // events, the base state at the keys they are authorised against, and the create event.
  await g.load(fcs);
  for (const i of fcs) {
    const ev = g.events[i];
    if (!ev) {
      fcs.delete(i);
      continue;
    }
    if (opts.roomId !== undefined && ev.room_id !== opts.roomId && !(ev.room_id === undefined && ev.type === "m.room.create")) {
      throw new Error(`state resolution for ${opts.roomId}: event ${ev.event_id} is in room ${String(ev.room_id)}`);
    }
  }
  const base: ReadonlyStateMap<string> = v21 ? new Map() : unconflicted;
  const need: number[] = [];
  const createId = unconflicted.get(CREATE_KEY) ?? stateSets.find((s) => s.has(CREATE_KEY))?.get(CREATE_KEY);
  if (createId !== undefined) need.push(g.idx(createId));
  const plId = base.get(POWER_LEVELS_KEY);
  if (plId !== undefined) need.push(g.idx(plId));
  for (const i of fcs) {
    for (const a of g.auth(i)) need.push(a);
    for (const k of authTypesForEvent(g.events[i]!, rv, { includeCreate: true })) {
      const id = base.get(k);
      if (id !== undefined) need.push(g.idx(id));
    }
  }
  await g.load(need);

  const ctx: Ctx = {
    rv,
    g,
    isRejected: opts.isRejected ?? (() => false),
    auth: opts.auth ?? {},
    roomCreate: rv.roomIdFromCreateEvent && createId !== undefined ? g.get(createId) : undefined,
  };

  // 1. Power events and their auth ancestors within the full conflicted set, reverse topological
  //    power ordering; 2. iterative auth checks from the unconflicted (v2) or empty (v2.1) state.
  const powerIdx: number[] = [];
  for (const i of fcs) if (isPowerEvent(g.events[i]!)) powerIdx.push(i);
  const sortedPower = reverseTopologicalPowerOrder(ctx, powerIdx, fcs);
  const state = new OverlayState(base);
  iterativeAuthChecks(ctx, sortedPower, state);

  // 3. Remaining events in mainline order of the resolved power levels; 4. iterative auth checks.
  const inPower = new Set(sortedPower);
  const leftover: number[] = [];
  for (const i of fcs) if (!inPower.has(i)) leftover.push(i);
  const sortedLeftover = await mainlineOrder(ctx, leftover, state.get(POWER_LEVELS_KEY));
  iterativeAuthChecks(ctx, sortedLeftover, state);

  // 5. The unconflicted state map wins.
  const result: StateMap<string> = new Map(state.changes);
  for (const [k, v] of unconflicted) result.set(k, v);
  return result;
}

/**
 * The auth difference of state sets computed by walking auth chains through `source` (what
 * `resolveState` does without `getAuthChainDifference`); exposed for tests and for checking a
 * storage-backed implementation against it.
 */
export async function computeAuthDifference(
  stateSets: ReadonlyArray<ReadonlyStateMap<string>>,
  source: EventSource,
): Promise<Set<string>> {
  const g = new EventGraph(source);
  const first = stateSets[0];
  const unconflicted: StateMap<string> = new Map();
  if (first) {
    for (const [k, v] of first) if (stateSets.every((s) => s.get(k) === v)) unconflicted.set(k, v);
  }
  const perSet = stateSets.map((s) => {
    const out: number[] = [];
    for (const [k, v] of s) if (unconflicted.get(k) !== v) out.push(g.idx(v));
    return out;
  });
  return new Set((await authDifference(g, unconflicted, perSet)).map((i) => g.ids[i]!));
}

/** The v2.1 conflicted state subgraph of a set of conflicted events, walked through `source`. */
export async function computeConflictedSubgraph(conflicted: Iterable<string>, source: EventSource): Promise<Set<string>> {
  const g = new EventGraph(source);
  const idx = [...new Set(conflicted)].map((id) => g.idx(id));
  return new Set((await conflictedSubgraph(g, idx)).map((i) => g.ids[i]!));
}

/**
 * The auth difference: events in some but not all of the state sets' auth chains (each chain
 * including the set's own events). Auth chains of unconflicted events are common to all sets, so
 * they are walked once and the per-set walks of conflicted events stop at them.
 */
async function authDifference(
  g: EventGraph,
  unconflicted: ReadonlyStateMap<string>,
  perSetConflicted: number[][],
): Promise<number[]> {
  const common = new Marks();
  const starts: number[] = [];
  for (const id of unconflicted.values()) {
    const i = g.idx(id);
    if (common.get(i) === 0) {
      common.set(i, 1);
      starts.push(i);
    }
  }
  await g.walk(starts, (i) => {
    if (common.get(i) !== 0) return false;
    common.set(i, 1);
    return true;
  });

  const k = perSetConflicted.length;
  const count = new Map<number, number>();
  for (let s = 0; s < k; s++) {
    const seen = new Set<number>();
    const begin: number[] = [];
    for (const i of perSetConflicted[s]!) {
      if (common.get(i) === 0 && !seen.has(i)) {
        seen.add(i);
        begin.push(i);
      }
    }
    await g.walk(begin, (i) => {
      if (common.get(i) !== 0 || seen.has(i)) return false;
      seen.add(i);
      return true;
    });
    for (const i of seen) count.set(i, (count.get(i) ?? 0) + 1);
  }
  const out: number[] = [];
  for (const [i, c] of count) if (c < k) out.push(i);
  return out;
}

/**
 * v2.1: the conflicted state subgraph — events reachable from a conflicted event through auth
 * events that can themselves reach a conflicted event (the conflicted events included).
 */
async function conflictedSubgraph(g: EventGraph, conflicted: number[]): Promise<number[]> {
  const isConflicted = new Set(conflicted);
  const seen = new Set<number>(conflicted);
  await g.walk(conflicted, (i) => {
    if (seen.has(i)) return false;
    seen.add(i);
    return true;
  });
  // reaches: 1 = reaches a conflicted event (or is one), 2 = does not, 3 = on the DFS stack.
  const reaches = new Map<number, number>();
  for (const root of seen) {
    if (reaches.has(root)) continue;
    const stack: Array<[node: number, next: number]> = [[root, 0]];
    reaches.set(root, 3);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [node, next] = top;
      const parents = g.auth(node);
      if (next < parents.length) {
        top[1] = next + 1;
        const p = parents[next]!;
        if (seen.has(p) && !reaches.has(p)) {
          reaches.set(p, 3);
          stack.push([p, 0]);
        }
        continue;
      }
      stack.pop();
      let r = isConflicted.has(node);
      if (!r) for (const p of parents) if (reaches.get(p) === 1) r = true;
      reaches.set(node, r ? 1 : 2);
    }
  }
  const out: number[] = [];
  for (const [i, r] of reaches) if (r === 1) out.push(i);
  return out;
}

/** The create event an event is authorised with: the room's (v12+) or the one in its auth events. */
function createFor(ctx: Ctx, i: number): RoomEvent | undefined {
  if (ctx.roomCreate) return ctx.roomCreate;
  for (const a of ctx.g.auth(i)) {
    const ae = ctx.g.events[a];
    if (ae && ae.type === "m.room.create" && ae.state_key === "") return ae;
  }
  return undefined;
}

/** The m.room.power_levels event among an event's auth events, as an index (-1: none). */
function powerLevelsParent(g: EventGraph, i: number): number {
  for (const a of g.auth(i)) {
    const ae = g.events[a];
    if (ae && ae.type === "m.room.power_levels" && ae.state_key === "") return a;
  }
  return -1;
}

/** The sender's power level according to the event's own auth events. */
function senderPowerLevel(ctx: Ctx, i: number): number {
  const ev = ctx.g.events[i]!;
  const plIdx = powerLevelsParent(ctx.g, i);
  const pl = effectivePowerLevels(plIdx >= 0 ? ctx.g.events[plIdx]!.content : undefined, createFor(ctx, i), ctx.rv);
  return userLevel(pl, ev.sender);
}

/**
 * Reverse topological power ordering of `power` plus their auth ancestors in the full conflicted
 * set: Kahn's algorithm over auth edges, taking at each step the candidate with the highest
 * sender power level, then the smallest origin_server_ts, then the smallest event ID.
 */
function reverseTopologicalPowerOrder(ctx: Ctx, power: number[], fcs: ReadonlySet<number>): number[] {
  const g = ctx.g;
  const parents = new Map<number, number[]>();
  const stack = [...power];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (parents.has(i)) continue;
    const ps = g.auth(i).filter((a) => fcs.has(a));
    parents.set(i, ps);
    for (const p of ps) if (!parents.has(p)) stack.push(p);
  }

  interface Node {
    readonly i: number;
    readonly pl: number;
    readonly ts: number;
    readonly id: string;
    pending: number;
    readonly children: Node[];
  }
  const nodes = new Map<number, Node>();
  for (const [i, ps] of parents) {
    const ev = g.events[i]!;
    nodes.set(i, { i, pl: senderPowerLevel(ctx, i), ts: ts(ev), id: ev.event_id, pending: ps.length, children: [] });
  }
  for (const [i, ps] of parents) for (const p of ps) nodes.get(p)!.children.push(nodes.get(i)!);

  const heap = new Heap<Node>((x, y) => {
    if (x.pl !== y.pl) return x.pl > y.pl;
    if (x.ts !== y.ts) return x.ts < y.ts;
    return compareCodePoints(x.id, y.id) < 0;
  });
  for (const n of nodes.values()) if (n.pending === 0) heap.push(n);
  const out: number[] = [];
  for (let n = heap.pop(); n !== undefined; n = heap.pop()) {
    out.push(n.i);
    for (const c of n.children) if (--c.pending === 0) heap.push(c);
  }
  // Nodes on an auth cycle (impossible with hash IDs) never become ready; they are left out.
  return out;
}

/**
 * Mainline ordering of `events` based on the power levels event `plId`: by mainline position
 * (events whose power levels chain meets the mainline at an older event come first, events that
 * never meet it first of all), then origin_server_ts, then event ID.
 */
async function mainlineOrder(ctx: Ctx, events: number[], plId: string | undefined): Promise<number[]> {
  if (events.length === 0) return [];
  const g = ctx.g;
  // Mainline: P0 = the resolved power levels, then the power levels in each one's auth events.
  // Position numbering as in Synapse: oldest = 1 ... P0 = n; no power levels ancestor = 0.
  const mainline: number[] = [];
  if (plId !== undefined) {
    const onMainline = new Set<number>();
    let cur = g.idx(plId);
    for (;;) {
      if (onMainline.has(cur)) break;
      onMainline.add(cur);
      mainline.push(cur);
      await g.load([cur]);
      await g.load(g.auth(cur));
      const next = powerLevelsParent(g, cur);
      if (next < 0) break;
      cur = next;
    }
  }
  const position = new Map<number, number>();
  for (let j = 0; j < mainline.length; j++) position.set(mainline[j]!, mainline.length - j);

  // Walk every event's power levels chain up to the mainline, level by level with batched loads,
  // remembering the answer for every power levels event passed on the way.
  const memo = new Map<number, number>();
  const result = new Map<number, number>();
  interface Walker {
    readonly start: number;
    cur: number;
    readonly path: number[];
  }
  let active: Walker[] = events.map((e) => ({ start: e, cur: e, path: [] }));
  const limit = g.ids.length + events.length + 16;
  for (let round = 0; active.length > 0; round++) {
    const toLoad: number[] = [];
    for (const w of active) {
      toLoad.push(w.cur);
      for (const a of g.auth(w.cur)) toLoad.push(a);
    }
    await g.load(toLoad);
    // Auth lists of events loaded just now are computed on demand; load their entries too.
    const more: number[] = [];
    for (const w of active) for (const a of g.auth(w.cur)) more.push(a);
    await g.load(more);
    const next: Walker[] = [];
    for (const w of active) {
      const p = powerLevelsParent(g, w.cur);
      let pos: number | undefined;
      if (p < 0) pos = 0;
      else pos = position.get(p) ?? memo.get(p);
      if (pos === undefined && (w.path.includes(p) || round > limit)) pos = 0;
      if (pos !== undefined) {
        result.set(w.start, pos);
        for (const q of w.path) memo.set(q, pos);
      } else {
        w.path.push(p);
        w.cur = p;
        next.push(w);
      }
    }
    active = next;
  }

  const keyed = events.map((i) => {
    const ev = g.events[i]!;
    return { i, pos: result.get(i) ?? 0, ts: ts(ev), id: ev.event_id };
  });
  keyed.sort((x, y) => x.pos - y.pos || x.ts - y.ts || compareCodePoints(x.id, y.id));
  return keyed.map((k) => k.i);
}

/**
 * Iterative auth checks: applies each event in order when it passes the auth rules against the
 * state so far (at the keys it is authorised against), falling back to its own non-rejected auth
 * events for keys the state lacks.
 */
function iterativeAuthChecks(ctx: Ctx, order: readonly number[], state: OverlayState): void {
  const { g, rv, isRejected } = ctx;
  for (const i of order) {
    const ev = g.events[i];
    if (!ev || isRejected(ev.event_id)) continue;
    const key = eventStateMapKey(ev);
    if (key === undefined) continue;
    const authState: StateMap<RoomEvent> = new Map();
    for (const a of g.auth(i)) {
      const ae = g.events[a];
      if (!ae || isRejected(ae.event_id)) continue;
      const ak = eventStateMapKey(ae);
      if (ak !== undefined) authState.set(ak, ae);
    }
    if (ctx.roomCreate && !isRejected(ctx.roomCreate.event_id)) authState.set(CREATE_KEY, ctx.roomCreate);
    for (const k of authTypesForEvent(ev, rv, { includeCreate: true })) {
      const id = state.get(k);
      if (id === undefined) continue;
      const se = g.get(id);
      if (se && !isRejected(id)) authState.set(k, se);
    }
    if (checkAuth(ev, authState, rv, ctx.auth).allowed) state.set(key, ev.event_id);
  }
}
