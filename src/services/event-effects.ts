// What happens to an event when it is persisted — every rule, named, in the order it runs.
//
// RoomEvents (services/rooms/events.ts) persists an event and then runs these phases:
//   beforeLocal    local events only, after the auth rules allowed them, under the room lock;
//                  throwing a MatrixError refuses the event
//   inTransaction  inside the transaction that stores the event (local and remote events); for
//                  local sends they are started together (statements pipelined on PostgreSQL):
//                  each touches tables of its own and none may rely on another's writes
//   backfilled     inside the transaction that stores history fetched from other servers
//   stateImported  inside a remote join's transaction, with the room state the resident server sent
//   afterPersist   after commit, for timeline events (fire-and-forget: never awaited)
// and consults three callbacks while formatting and sending (EVENT_CALLBACKS).
//
// The service that owns a rule sets it — `events.effects.set("afterPersist", "pushers.deliver", fn)`,
// next to the code it calls — and createServices (services/index.ts) calls assertComplete() at
// start-up: a declared rule that nothing set stops the server. A rule that is off in this
// configuration (federation disabled) is set to null, explicitly. tests/architecture.test.ts checks
// that every name here is set somewhere in src/services.
import type { RoomVersion } from "../core/room-versions.ts";
import type { RoomEvent } from "../protocol/events.ts";
import type { Queryable } from "../storage/engines/db.ts";

export const EVENT_EFFECTS = {
  beforeLocal: [
    /** room-extra-services → rooms/relations.ts checkLocal: one edit/annotation rule per relation type. */
    "relations.localRules",
    /** room-extra-services → server-notices.ts guardLeave: a server notices room cannot be left by refusing its invite. */
    "serverNotices.guardLeave",
  ],
  inTransaction: [
    /** sync-services → push.ts: push actions (notification counts) for the event's local recipients. */
    "push.actions",
    /** room-extra-services → rooms/relations.ts: the relations index; redactions break relations. */
    "relations.index",
    /** directory-services → directory/user-directory.ts: who shares a room with whom, public rooms' members. */
    "userDirectory.index",
    /** directory-services → search.ts: the full-text index (redacted events leave it). */
    "search.index",
    /** sliding-sync/index.ts: room recency and the room-info cache of sliding sync. */
    "slidingSync.recency",
  ],
  backfilled: [
    /** History fetched from other servers is indexed like new events. */
    "relations.index",
    "search.index",
  ],
  stateImported: [
    /** directory-services → user-directory.ts: the members already in a room this server joins over federation. */
    "userDirectory.importState",
  ],
  afterPersist: [
    /** metrics.ts: hs_events_persisted_total by origin. */
    "metrics.count",
    /** index.ts → rooms/guest-access.ts: guest access revoked → the room's local guests leave. */
    "guestAccess.revoke",
    /** sync-services → typing.ts: whoever leaves a room stops typing in it. */
    "typing.stopOnLeave",
    /** federation/room-federation.ts: local events go to every other server in the room. */
    "federation.send",
    /** index.ts → federation/remote-profiles.ts: a remote user's new member event may carry a new name. */
    "remoteProfiles.invalidate",
    /** e2ee/index.ts → device-lists.ts: device list changes for users who join or leave shared rooms. */
    "deviceLists.membership",
    /** room-extra-services → rooms/upgrade.ts: a join to a replacement room carries over tags and push rules. */
    "roomUpgrades.carryOverOnJoin",
    /** directory-services → room-directory.ts: state changes refresh the published room's entry. */
    "roomDirectory.invalidate",
    /** directory-services → presence.ts: sending an event is activity (membership changes are not). */
    "presence.activeOnSend",
    /** directory-services → presence.ts: presence shared with servers of users who join (null: federation off). */
    "presence.federateOnJoin",
    /** appservices/index.ts: a membership change resets the services' room interest cache. */
    "appservices.forgetInterest",
    /** index.ts → pushers.ts: the event's notified users with pushers get it delivered. */
    "pushers.deliver",
    /** index.ts → cluster/caches.ts: other processes on the database drop what they cached of the room (null: one process). */
    "cluster.announce",
  ],
} as const;

/** Callbacks RoomEvents consults (fields of RoomEvents), each set by the service that owns it. */
export const EVENT_CALLBACKS = [
  /** room-extra-services → relations.bundle: `unsigned["m.relations"]` in client formats. */
  "bundleAggregations",
  /** federation/room-federation.ts → policy.ts signLocal: the policy server's signature (null: federation off). */
  "policySign",
  /** admin-services → admin/erased-users.ts: erased users' events are shown redacted. */
  "erasedSenders",
] as const;

export type InTransactionEffect = (q: Queryable, ev: RoomEvent, stream: number, rv: RoomVersion) => Promise<void>;
export interface EffectHandlers {
  beforeLocal: (ev: RoomEvent, rv: RoomVersion, authState: ReadonlyMap<string, RoomEvent>) => Promise<void>;
  inTransaction: InTransactionEffect;
  backfilled: InTransactionEffect;
  stateImported: (q: Queryable, roomId: string, stateEventIds: readonly string[]) => Promise<void>;
  afterPersist: (ev: RoomEvent, stream: number) => void;
}
export type EffectPhase = keyof typeof EVENT_EFFECTS;
export type EffectName<P extends EffectPhase> = (typeof EVENT_EFFECTS)[P][number];

/** The declared effects of persisting an event, filled in by the services that own them. */
export class EventEffects {
  /** phase → name → handler (null: off in this configuration; undefined: not set yet). */
  private readonly slots = new Map<EffectPhase, Map<string, unknown>>();
  private readonly ordered = new Map<EffectPhase, unknown[]>();

  constructor() {
    for (const phase of Object.keys(EVENT_EFFECTS) as EffectPhase[]) {
      this.slots.set(phase, new Map(EVENT_EFFECTS[phase].map((name) => [name, undefined])));
      this.ordered.set(phase, []);
    }
  }

  /** Sets a declared rule (null: off in this configuration). Each is set once. */
  set<P extends EffectPhase>(phase: P, name: EffectName<P>, fn: EffectHandlers[P] | null): void {
    const slots = this.slots.get(phase)!;
    if (!slots.has(name)) throw new Error(`event effect ${phase}/${name} is not declared in services/event-effects.ts`);
    if (slots.get(name) !== undefined) throw new Error(`event effect ${phase}/${name} is set twice`);
    slots.set(name, fn);
    this.ordered.set(phase, [...slots.values()].filter((f) => typeof f === "function"));
  }

  /** The handlers of a phase, in declared order. */
  handlers<P extends EffectPhase>(phase: P): ReadonlyArray<EffectHandlers[P]> {
    return this.ordered.get(phase) as EffectHandlers[P][];
  }

  /** Declared rules (and callbacks of `target`) that nothing has set. */
  missing(target?: Partial<Record<(typeof EVENT_CALLBACKS)[number], unknown>>): string[] {
    const out: string[] = [];
    for (const [phase, slots] of this.slots) for (const [name, fn] of slots) if (fn === undefined) out.push(`${phase}/${name}`);
    if (target) for (const name of EVENT_CALLBACKS) if (target[name] === undefined) out.push(`callback ${name}`);
    return out;
  }

  /** The start-up check: throws when a declared rule or callback was never set. */
  assertComplete(target: Partial<Record<(typeof EVENT_CALLBACKS)[number], unknown>>): void {
    const missing = this.missing(target);
    if (missing.length) throw new Error(`event effects declared but never set: ${missing.join(", ")}`);
  }
}
