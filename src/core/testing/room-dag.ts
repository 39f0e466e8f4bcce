// A tiny DSL to build a room's event DAG in tests: events get fake but unique IDs
// (`$NODE:example.com`), prev events from the edges you give, auth events by the auth events
// selection from the resolved state before each event, and are checked against the auth rules
// on "receipt" (rejected events do not update state). No hashes or real signatures.
//
//   const room = new TestRoom(getRoomVersion("10"));
//   await room.build([...initialEvents(room.rv), ...mine], [...INITIAL_EDGES_CHAINS, ["END", "X", "START"]]);
//   room.stateAt("END")   // state after END, resolved at every merge with the room's algorithm
//
// Edges are chains: ["END", "B", "A"] means END's prev events include B and B's include A.

import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import { selectAuthEvents } from "../auth-events.ts";
import { checkAuth, checkEventAgainstAuthEvents, type AuthCheckOptions, type AuthResult } from "../auth-rules.ts";
import type { RoomVersion } from "../room-versions.ts";
import { resolveState, type EventSource } from "../state-res.ts";
import { CREATE_KEY, eventStateMapKey, parseStateMapKey, type ReadonlyStateMap, type StateMap } from "../state-map.ts";

export const ALICE = "@alice:example.com";
export const BOB = "@bob:example.com";
export const CHARLIE = "@charlie:example.com";
export const EVELYN = "@evelyn:example.com";
export const ZARA = "@zara:example.com";

export interface EventSpec {
  /** Node name; the event ID is `$<id>:example.com`. */
  readonly id: string;
  readonly sender: string;
  readonly type: string;
  readonly stateKey?: string;
  readonly content: JsonObject;
  /** Overrides the selected auth events (node names). */
  readonly auth?: readonly string[];
  /** Overrides the signatures (default: one from the sender's server and any authorising server). */
  readonly signatures?: Record<string, Record<string, string>>;
  /** Extra top-level fields (e.g. `redacts`). */
  readonly extra?: JsonObject;
}

export function ev(id: string, sender: string, type: string, stateKey: string | undefined, content: JsonObject = {}): EventSpec {
  return stateKey === undefined ? { id, sender, type, content } : { id, sender, type, stateKey, content };
}

export function member(id: string, sender: string, target: string, membership: string, extra: JsonObject = {}): EventSpec {
  return { id, sender, type: "m.room.member", stateKey: target, content: { membership, ...extra } };
}

export function powerLevels(id: string, sender: string, content: JsonObject): EventSpec {
  return { id, sender, type: "m.room.power_levels", stateKey: "", content };
}

export function joinRules(id: string, sender: string, joinRule: string, extra: JsonObject = {}): EventSpec {
  return { id, sender, type: "m.room.join_rules", stateKey: "", content: { join_rule: joinRule, ...extra } };
}

export function topic(id: string, sender: string, text = id): EventSpec {
  return { id, sender, type: "m.room.topic", stateKey: "", content: { topic: text } };
}

/** The create event content for a room version (creator where the version needs it). */
export function createContent(rv: RoomVersion, extra: JsonObject = {}): JsonObject {
  return rv.implicitRoomCreator ? { room_version: rv.id, ...extra } : { creator: ALICE, room_version: rv.id, ...extra };
}

/**
 * The events every scenario starts with (as in Synapse's state resolution tests): Alice creates a
 * public room where she has power 100 (v12: as the creator), Bob, Charlie and Zara join, and Zara
 * sends START; END is the event whose state the scenarios look at.
 */
export function initialEvents(rv: RoomVersion): EventSpec[] {
  return [
    ev("CREATE", ALICE, "m.room.create", "", createContent(rv)),
    member("IMA", ALICE, ALICE, "join"),
    powerLevels("IPOWER", ALICE, rv.privilegedCreators ? { users: {} } : { users: { [ALICE]: 100 } }),
    joinRules("IJR", ALICE, "public"),
    member("IMB", BOB, BOB, "join"),
    member("IMC", CHARLIE, CHARLIE, "join"),
    member("IMZ", ZARA, ZARA, "join"),
    ev("START", ZARA, "m.room.message", undefined, { body: "start" }),
    ev("END", ZARA, "m.room.message", undefined, { body: "end" }),
  ];
}

/** The chain of the initial events (END is left for the scenario to attach). */
export const INITIAL_EDGES: readonly string[] = ["START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"];

export function eventIdOf(node: string): string {
  return `$${node}:example.com`;
}

/** An EventSource over an in-memory map (counting loads, for tests of batching). */
export class MapEventSource implements EventSource {
  loads = 0;
  loadedIds = 0;
  constructor(readonly events: ReadonlyMap<string, RoomEvent>) {}
  async getEvents(ids: readonly string[]): Promise<Map<string, RoomEvent>> {
    this.loads++;
    this.loadedIds += ids.length;
    const out = new Map<string, RoomEvent>();
    for (const id of ids) {
      const e = this.events.get(id);
      if (e) out.set(id, e);
    }
    return out;
  }
}

export class TestRoom {
  readonly events = new Map<string, RoomEvent>();
  readonly byNode = new Map<string, RoomEvent>();
  readonly stateAfterNode = new Map<string, StateMap<string>>();
  readonly stateBeforeNode = new Map<string, StateMap<string>>();
  readonly rejected = new Set<string>();
  readonly authResults = new Map<string, AuthResult>();
  readonly source: MapEventSource;
  private ts = 0;
  private tip: string | undefined;

  constructor(
    readonly rv: RoomVersion,
    readonly authOptions: AuthCheckOptions = {},
    readonly roomIdV1: string = "!test:example.com",
  ) {
    this.source = new MapEventSource(this.events);
  }

  /** The room ID (v12+: derived from the create event's ID). */
  get roomId(): string {
    return this.rv.roomIdFromCreateEvent ? "!" + eventIdOf("CREATE").slice(1) : this.roomIdV1;
  }

  node(name: string): RoomEvent {
    const e = this.byNode.get(name);
    if (!e) throw new Error(`no node ${name}`);
    return e;
  }

  isRejected = (eventId: string): boolean => this.rejected.has(eventId);

  /** The state after a node, as event IDs. */
  stateAt(name: string): StateMap<string> {
    const s = this.stateAfterNode.get(name);
    if (!s) throw new Error(`no node ${name}`);
    return s;
  }

  /** The state after a node as node names keyed "type|state_key" (handy in assertions). */
  namedStateAt(name: string): Record<string, string> {
    return this.named(this.stateAt(name));
  }

  named(state: ReadonlyStateMap<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, id] of state) {
      const [t, s] = parseStateMapKey(k);
      out[`${t}|${s}`] = id.slice(1, id.indexOf(":"));
    }
    return out;
  }

  /** Resolves the states after the given nodes with the room's algorithm. */
  async resolve(nodes: readonly string[]): Promise<StateMap<string>> {
    return resolveState(this.rv, nodes.map((n) => this.stateAt(n)), this.source, {
      isRejected: this.isRejected,
      auth: this.authOptions,
    });
  }

  /** Adds one event on top of `prevs` (node names). Returns the auth result on receipt. */
  async add(spec: EventSpec, prevs: readonly string[]): Promise<AuthResult> {
    const eventId = eventIdOf(spec.id);
    if (this.byNode.has(spec.id)) throw new Error(`duplicate node ${spec.id}`);
    let before: StateMap<string>;
    if (prevs.length === 0) before = new Map();
    else if (prevs.length === 1) before = new Map(this.stateAt(prevs[0]!));
    else before = await this.resolve(prevs);

    const isCreate = spec.type === "m.room.create" && spec.stateKey === "";
    const fields = { type: spec.type, sender: spec.sender, content: spec.content } as const;
    const selectable = spec.stateKey === undefined ? fields : { ...fields, state_key: spec.stateKey };
    const authIds = spec.auth ? spec.auth.map(eventIdOf) : isCreate ? [] : selectAuthEvents(selectable, before, this.rv);
    const depth = prevs.reduce((d, p) => Math.max(d, this.node(p).depth + 1), 0);
    const signatures: Record<string, Record<string, string>> = spec.signatures ?? { [domain(spec.sender)]: { "ed25519:a": "fake" } };
    const via = spec.content["join_authorised_via_users_server"];
    if (!spec.signatures && typeof via === "string") signatures[domain(via)] = { "ed25519:a": "fake" };
    const event: RoomEvent = {
      event_id: eventId,
      ...(isCreate && this.rv.roomIdFromCreateEvent ? {} : { room_id: this.roomId }),
      sender: spec.sender,
      type: spec.type,
      ...(spec.stateKey === undefined ? {} : { state_key: spec.stateKey }),
      content: spec.content,
      origin_server_ts: this.ts++,
      depth,
      prev_events: prevs.map(eventIdOf),
      auth_events: authIds,
      hashes: { sha256: "fake" },
      signatures,
      ...(spec.extra ?? {}),
    };
    this.events.set(eventId, event);
    this.byNode.set(spec.id, event);
    this.stateBeforeNode.set(spec.id, before);

    const authEvents = new Map<string, RoomEvent>();
    for (const id of authIds) {
      const e = this.events.get(id);
      if (e) authEvents.set(id, e);
    }
    const createId = before.get(CREATE_KEY);
    const createEvent = createId !== undefined ? this.events.get(createId) : undefined;
    let result = checkEventAgainstAuthEvents(event, authEvents, this.rv, {
      ...this.authOptions,
      isRejected: this.isRejected,
      ...(this.rv.roomIdFromCreateEvent && createEvent ? { createEvent } : {}),
    });
    if (result.allowed && !isCreate) {
      // Step 5: the state before the event (identical to the auth events unless overridden).
      const stateEvents: StateMap<RoomEvent> = new Map();
      for (const [k, id] of before) {
        const e = this.events.get(id);
        if (e && !this.rejected.has(id)) stateEvents.set(k, e);
      }
      result = checkAuth(event, stateEvents, this.rv, this.authOptions);
    }
    this.authResults.set(spec.id, result);
    const after = new Map(before);
    if (result.allowed) {
      const k = eventStateMapKey(event);
      if (k !== undefined) after.set(k, eventId);
    } else {
      this.rejected.add(eventId);
    }
    this.stateAfterNode.set(spec.id, after);
    this.tip = spec.id;
    return result;
  }

  /** Adds events one after the other, each on top of the previous one (or of `after`). */
  async chain(specs: readonly EventSpec[], after?: string): Promise<AuthResult[]> {
    const out: AuthResult[] = [];
    let prev = after ?? this.tip;
    for (const s of specs) {
      out.push(await this.add(s, prev === undefined ? [] : [prev]));
      prev = s.id;
    }
    return out;
  }

  /** Builds a DAG from specs and edge chains, adding events in topological order (ties by name). */
  async build(specs: readonly EventSpec[], edges: ReadonlyArray<readonly string[]>): Promise<void> {
    const prevs = new Map<string, Set<string>>();
    const byId = new Map<string, EventSpec>();
    for (const s of specs) {
      prevs.set(s.id, new Set());
      byId.set(s.id, s);
    }
    for (const chain of edges) {
      for (let i = 0; i + 1 < chain.length; i++) {
        const a = prevs.get(chain[i]!);
        if (!a || !prevs.has(chain[i + 1]!)) throw new Error(`edge to unknown node in ${chain.join(" -> ")}`);
        a.add(chain[i + 1]!);
      }
    }
    const done = new Set<string>(this.byNode.keys());
    const pending = new Set(specs.map((s) => s.id).filter((id) => !done.has(id)));
    while (pending.size > 0) {
      const ready = [...pending].filter((id) => [...prevs.get(id)!].every((p) => done.has(p))).sort();
      if (ready.length === 0) throw new Error("cycle in test DAG");
      const id = ready[0]!;
      await this.add(byId.get(id)!, [...prevs.get(id)!].sort());
      pending.delete(id);
      done.add(id);
    }
  }
}

function domain(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

/** Builds the standard scenario: initial events + `events`, `edges`; returns the room. */
export async function scenario(
  rv: RoomVersion,
  events: readonly EventSpec[],
  edges: ReadonlyArray<readonly string[]>,
  authOptions: AuthCheckOptions = {},
): Promise<TestRoom> {
  const room = new TestRoom(rv, authOptions);
  await room.build([...initialEvents(rv), ...events], [INITIAL_EDGES, ...edges]);
  return room;
}

/**
 * The state at END restricted to keys that changed since START plus the expected keys, as node
 * names: the comparison Synapse's and Ruma's scenario tests make.
 */
export function endStateDelta(room: TestRoom, expectedNodes: readonly string[]): { expected: Record<string, string>; actual: Record<string, string> } {
  const expected: Record<string, string> = {};
  const keys = new Set<string>();
  for (const n of expectedNodes) {
    const e = room.node(n);
    const k = eventStateMapKey(e)!;
    keys.add(k);
    const [t, s] = parseStateMapKey(k);
    expected[`${t}|${s}`] = n;
  }
  const start = room.stateAt("START");
  const end = room.stateAt("END");
  const delta: StateMap<string> = new Map();
  for (const [k, v] of end) if (keys.has(k) || start.get(k) !== v) delta.set(k, v);
  return { expected, actual: room.named(delta) };
}
