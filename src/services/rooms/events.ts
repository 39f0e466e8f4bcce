// Building, authorising and persisting room events, and reading them back.
// Every local event passes the same auth rules as a remote one (src/core/auth-rules.ts) against the
// room's current state; one writer per room (a keyed mutex) means two local sends never fork the
// room. An event, its state group, the current state, memberships and the client's transaction ID
// are written in one database transaction: a crash either keeps all of it or none of it, and a
// retried send with the same transaction ID finds the first event.
import { EventEffects } from "../event-effects.ts";
import { checkAuth } from "../../core/auth-rules.ts";
import { authTypesForEvent, selectAuthEvents } from "../../core/auth-events.ts";
import { clientEventJsonIssue } from "../../core/client-event-json.ts";
import { CanonicalJsonError } from "../../core/canonical-json.ts";
import { computeEventId, roomIdFromCreateEvent } from "../../core/event-id.ts";
import { checkPduSize, hashAndSignEvent } from "../../core/pdu.ts";
import { redactEvent } from "../../core/redaction.ts";
import { getRoomVersion, type RoomVersion } from "../../core/room-versions.ts";
import { eventStateMapKey, parseStateMapKey, stateMapKey } from "../../core/state-map.ts";
import { domainOf, effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { refIds, type JsonObject, type Pdu, type RoomEvent } from "../../protocol/events.ts";
import { settleAll, type Queryable, type Transaction } from "../../storage/engines/db.ts";
import { GroupCommit } from "../../storage/engines/group-commit.ts";
import type { EventRow, RoomsRepo, StateDelta } from "../../storage/repos/rooms.ts";
import { KeyedMutex, Mutex } from "../../util/mutex.ts";
import { Lru } from "../../util/lru.ts";
import { randomString } from "../../util/random.ts";
import { RoomHeads } from "./room-heads.ts";
import type { SigningKey } from "../../core/signing.ts";
import type { Notifier } from "../notifier.ts";
import type { StreamAllocator } from "../streams.ts";

/** Depth is capped as the spec's integer range requires. */
const MAX_DEPTH = Number.MAX_SAFE_INTEGER;
const MAX_PREV_EVENTS = 10;

/** A room's group-commit lane (a hash of its ID). */
function laneOf(roomId: string, lanes: number): number {
  let h = 0;
  for (let i = 0; i < roomId.length; i++) h = (Math.imul(h, 31) + roomId.charCodeAt(i)) | 0;
  return (h >>> 0) % lanes;
}

export interface LocalEventInput {
  roomId: string;
  type: string;
  stateKey?: string;
  sender: string;
  content: JsonObject;
  /** For m.room.redaction: the redacted event. */
  redacts?: string;
  /** The sending client's transaction, for idempotency and `unsigned.transaction_id`. */
  txn?: { deviceId: string; txnId: string };
  /** origin_server_ts override (appservices' `ts`). */
  ts?: number;
  /** Runs after the auth check, before persisting (under the room lock); may return a co-signed copy. */
  beforePersist?: (event: RoomEvent, rv: RoomVersion) => Promise<RoomEvent>;
}

/** 400 M_BAD_JSON / 413 M_TOO_LARGE unless the event's content, type and state key may go into an event. */
export function assertClientEventJson(input: { type: string; stateKey?: string; content: unknown }): void {
  const issue = clientEventJsonIssue({ type: input.type, state_key: input.stateKey, content: input.content });
  if (issue) throw new MatrixError(issue.errcode, issue.message);
}

export interface PersistedEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  event: RoomEvent;
  /** True when the transaction ID had been used: this is the earlier event. */
  duplicate?: boolean;
}

/** A local event built and authorised by `RoomEvents.prepare`, not yet stored. */
export interface PreparedEvent {
  eventId: string;
  roomId: string;
  rv: RoomVersion;
  event: RoomEvent;
  ownKey?: string;
}

/**
 * Bundled aggregations (`unsigned["m.relations"]`) of events as a viewer sees them, by event ID;
 * set by the relations service and applied by toClientEvents.
 */
export type AggregationBundler = (rows: readonly EventRow[], viewer: { userId: string }) => Promise<Map<string, JsonObject>>;

export interface EventsDeps {
  transaction: Transaction;
  repo: RoomsRepo;
  serverName: string;
  signingKey: SigningKey;
  streams: StreamAllocator;
  notifier: Notifier;
  /** Several processes on one database: a room's writes take its lock there (ClusterRepo). */
  cluster?: { readonly shared: boolean; lockRoom(tx: Queryable, roomId: string): Promise<void> };
  /** Group-commit lanes for local sends (default 1; several only where the database has several writers). */
  commitLanes?: number;
}

/** Another process extended the room between building a local event and storing it: build it again. */
class RoomMovedOn extends Error {}

/** Parses a stored row's JSON into a RoomEvent (event_id added for v3+). */
export function rowToEvent(row: EventRow): RoomEvent {
  const ev = JSON.parse(row.json) as RoomEvent;
  ev.event_id = row.event_id;
  return ev;
}

export class RoomEvents {
  /** One writer per room: the local send path holds it while it builds and writes an event. */
  private readonly writeLocks = new KeyedMutex();
  /**
   * The room lock as other services take it: it also waits until this room's local events whose
   * batch is not committed yet are durable, so that what they read from the database has them.
   */
  readonly roomLocks = {
    run: <T>(roomId: string, fn: () => Promise<T> | T): Promise<T> =>
      this.writeLocks.run(roomId, async () => {
        await this.settled(roomId);
        return fn();
      }),
  };
  /**
   * Per room, the durability of its latest local event written into a batch that is not committed
   * yet (group commit: the room lock is released once the event is written, before the commit).
   */
  private readonly unsettled = new Map<string, Promise<unknown>>();
  /** Transaction IDs of local events not committed yet (sender\0device\0txn → the send). */
  private readonly pendingTxns = new Map<string, { roomId: string; durable: Promise<PersistedEvent> }>();
  /** Transaction IDs of local events committed lately (see send). */
  private readonly recentTxns = new Lru<string, { roomId: string; eventId: string }>(10000, "recent_txns");
  /** Per room, how many batches with its events failed to commit: events built before are refused. */
  private readonly failedWrites = new Map<string, number>();
  /** What persisting an event does, in declared order: services/event-effects.ts. */
  readonly effects = new EventEffects();
  /** Bundled aggregations for client formats (the relations service sets it). */
  bundleAggregations?: AggregationBundler;
  /**
   * Adds the signature of the room's policy server to a local event before it is stored, or throws
   * (its refusal); the federation services set it (spec v1.18 "Policy Servers").
   */
  policySign?: ((ev: RoomEvent, rv: RoomVersion, roomId: string) => Promise<RoomEvent>) | null;
  /** Which of these senders were erased (GDPR); the admin services set it. */
  erasedSenders?: (senders: Iterable<string>) => Promise<ReadonlySet<string>>;
  private readonly cache = new Lru<string, RoomEvent>(20000, "events");
  /** A user's membership in a state group ("leave" when none); groups never change. */
  private readonly membershipCache = new Lru<string, string>(20000, "membership_at");
  /** Local users' current memberships (local_memberships rows; null: none), for membershipsAtEvents. */
  private readonly localMembershipCache = new Lru<string, { membership: string; stream: number; eventId: string } | null>(20000, "local_memberships");
  /** Bumped by every change of a local membership: a read that overlapped one is not cached. */
  private membershipEpoch = 0;
  private readonly versions = new Map<string, RoomVersion>();
  /** stateGroupBefore's answers (state groups never change). */
  private readonly groupBeforeCache = new Lru<string, number>(1000, "state_group_before");
  private readonly backfillLock = new Mutex();
  private lastCreateTs = 0;
  /** What every local send reads of its room (current-state keys, extremities, state group): room-heads.ts. */
  private readonly heads = new RoomHeads();
  /**
   * Group commit of local sends, in lanes (EventsDeps.commitLanes): a room's events always take the
   * same lane (in order); SQLite has one writer, so one lane; on PostgreSQL several batches are
   * written at once, on connections of their own, as the sends of different rooms were before.
   */
  private readonly commitLanes: GroupCommit[];
  /** Sends between their start and their event written into a batch (or refused). */
  private building = 0;

  constructor(private readonly d: EventsDeps) {
    // A batch waits for sends being built only (none: a lone send is committed at once).
    const more = () => this.building > 0;
    this.commitLanes = Array.from({ length: Math.max(1, d.commitLanes ?? 1) }, () => new GroupCommit({ transaction: d.transaction }, { more }));
  }

  // ------------------------------------------------------------------ reading

  /** Parsed events by ID (cached); unknown IDs are absent. */
  async loadEvents(ids: readonly string[], q?: Queryable): Promise<Map<string, RoomEvent>> {
    const out = new Map<string, RoomEvent>();
    const missing: string[] = [];
    for (const id of ids) {
      const hit = this.cache.get(id);
      if (hit) out.set(id, hit);
      else missing.push(id);
    }
    if (missing.length) {
      const rows = await this.d.repo.getEvents(missing, q);
      for (const [id, row] of rows) {
        const ev = rowToEvent(row);
        this.cache.set(id, ev);
        out.set(id, ev);
      }
    }
    return out;
  }

  /**
   * `userId`'s membership at each of these events (by event ID; none for outliers), for
   * unsigned.membership: events after the user's latest membership change (most of what clients
   * read) take their current membership from local_memberships, one lookup per room; older ones
   * that of the state after the event.
   */
  async membershipsAtEvents(userId: string, rows: readonly EventRow[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const current = new Map<string, { membership: string; stream: number; eventId: string } | undefined>();
    const older: EventRow[] = [];
    for (const r of rows) {
      if (!current.has(r.room_id)) current.set(r.room_id, (await this.localMembershipOf(userId, r.room_id)) ?? undefined);
      const m = current.get(r.room_id);
      if (m && (Number(r.stream_ordering) > m.stream || r.event_id === m.eventId)) out.set(r.event_id, m.membership);
      else if (r.state_group !== null) older.push(r);
    }
    if (older.length) {
      const byGroup = await this.membershipsAt(userId, older.map((r) => Number(r.state_group)));
      for (const r of older) out.set(r.event_id, byGroup.get(Number(r.state_group))!);
    }
    return out;
  }

  /** A local user's current membership in a room (cached; see membershipChanged). */
  private async localMembershipOf(userId: string, roomId: string): Promise<{ membership: string; stream: number; eventId: string } | null> {
    const key = `${userId}\u0000${roomId}`;
    const hit = this.localMembershipCache.get(key);
    if (hit !== undefined) return hit;
    const epoch = this.membershipEpoch;
    const m = await this.d.repo.localMembership(userId, roomId);
    const v = m ? { membership: m.membership, stream: Number(m.stream_ordering), eventId: m.event_id } : null;
    if (epoch === this.membershipEpoch) this.localMembershipCache.set(key, v);
    return v;
  }

  /**
   * A local membership is changing: called inside the writing transaction and again after it
   * committed, so no read from before the commit stays cached.
   */
  membershipChanged(userId: string, roomId: string): void {
    this.membershipEpoch++;
    this.localMembershipCache.delete(`${userId}\u0000${roomId}`);
  }

  /**
   * `userId`'s membership in each of these state groups ("leave" when they have no member event
   * there): the state of an event's group is the state after it.
   */
  async membershipsAt(userId: string, groups: Iterable<number>): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const g of new Set(groups)) {
      const key = `${g}\u0000${userId}`;
      let m = this.membershipCache.get(key);
      if (m === undefined) {
        const id = (await this.d.repo.stateOfGroup(g, { keys: [["m.room.member", userId]] })).values().next().value as string | undefined;
        const content = id ? (await this.loadEvent(id))?.content : undefined;
        m = typeof content?.["membership"] === "string" ? (content["membership"] as string) : "leave";
        this.membershipCache.set(key, m);
      }
      out.set(g, m);
    }
    return out;
  }

  async loadEvent(id: string): Promise<RoomEvent | undefined> {
    return (await this.loadEvents([id])).get(id);
  }

  /** Current state events at the given keys (type\0state_key → event). */
  async currentStateEvents(roomId: string, keys: ReadonlyArray<[string, string]>, q?: Queryable): Promise<Map<string, RoomEvent>> {
    const ids = q ? await this.d.repo.currentState(roomId, { keys }, q) : await this.currentStateIds(roomId, keys);
    const evs = await this.loadEvents([...ids.values()], q);
    const out = new Map<string, RoomEvent>();
    for (const [k, id] of ids) {
      const ev = evs.get(id);
      if (ev) out.set(k, ev);
    }
    return out;
  }

  /** Current-state event IDs at the given keys, from the room's head where it has them (room-heads.ts). */
  private async currentStateIds(roomId: string, keys: ReadonlyArray<[string, string]>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const head = this.heads.get(roomId);
    const missing: Array<[string, string]> = [];
    for (const [t, sk] of keys) {
      const k = stateMapKey(t, sk);
      const id = head?.state.get(k);
      if (id === undefined) missing.push([t, sk]);
      else if (id !== null) out.set(k, id);
    }
    if (missing.length === 0) return out;
    // The database has the room's local events once their batch committed.
    await this.allSettled(roomId);
    const token = this.heads.token(roomId);
    const read = await this.d.repo.currentState(roomId, { keys: missing });
    // Only rooms this server has (an unknown room would be kept as a room without state).
    if (read.size > 0 || head) {
      this.heads.fill(roomId, token, (h) => {
        for (const [t, sk] of missing) {
          const k = stateMapKey(t, sk);
          h.state.set(k, read.get(k) ?? null);
        }
      });
    }
    for (const [k, id] of read) out.set(k, id);
    return out;
  }

  /** The room's forward extremities (from its head when known). */
  private async forwardExtremities(roomId: string): Promise<string[]> {
    const known = this.heads.get(roomId)?.extremities;
    if (known) return known;
    await this.allSettled(roomId);
    const token = this.heads.token(roomId);
    const ids = await this.d.repo.forwardExtremities(roomId);
    if (ids.length) this.heads.fill(roomId, token, (h) => (h.extremities = ids));
    return ids;
  }

  /** Forgets what is kept of a room (its rows were deleted: admin purge). */
  forgetRoom(roomId: string): void {
    this.heads.changed(roomId);
    this.versions.delete(roomId);
  }

  async currentStateEvent(roomId: string, type: string, stateKey: string): Promise<RoomEvent | undefined> {
    return (await this.currentStateEvents(roomId, [[type, stateKey]])).get(stateMapKey(type, stateKey));
  }

  /** The room's version, or undefined for an unknown room. Versions never change: cached. */
  async roomVersion(roomId: string): Promise<RoomVersion | undefined> {
    const hit = this.versions.get(roomId);
    if (hit) return hit;
    const room = await this.d.repo.findRoom(roomId);
    if (!room) return undefined;
    const rv = getRoomVersion(room.room_version);
    this.versions.set(roomId, rv);
    return rv;
  }

  /** The version of a room this server has events of (throws when unknown). */
  async versionOf(roomId: string): Promise<RoomVersion> {
    const rv = await this.roomVersion(roomId);
    if (!rv) throw new Error(`unknown room ${roomId}`);
    return rv;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Builds, authorises and persists one local event. Throws M_FORBIDDEN when the auth rules reject
   * it. With `txn`, a repeated transaction ID returns the first event instead.
   */
  async send(input: LocalEventInput): Promise<PersistedEvent> {
    assertClientEventJson(input);
    // Read before taking the lock (no round trip under it); a send with this transaction ID that
    // commits meanwhile is found under the lock in pendingTxns or recentTxns.
    // Counted as being built until its event is written into a batch (or refused): a batch waits
    // a turn of the event loop for such sends, not for a lone one.
    let built = false;
    const doneBuilding = () => {
      if (!built) this.building--;
      built = true;
    };
    this.building++;
    let written: Written;
    try {
      written = await this.buildAndWrite(input, doneBuilding);
    } finally {
      doneBuilding();
    }
    return written.durable;
  }

  /** send, up to its event written into a batch. */
  private async buildAndWrite(input: LocalEventInput, onWritten: () => void): Promise<Written> {
    const stored = input.txn ? await this.d.repo.findTxn(input.sender, input.txn.deviceId, input.txn.txnId) : undefined;
    return this.writeLocks.run(input.roomId, async (): Promise<Written> => {
      if (input.txn) {
        const key = txnKey(input.sender, input.txn);
        const pending = this.pendingTxns.get(key);
        if (pending) {
          if (pending.roomId !== input.roomId) throw new MatrixError("M_INVALID_PARAM", "Transaction ID already used in another room");
          return { durable: handled(pending.durable.then((r) => ({ ...r, duplicate: true }))) };
        }
        const prior = this.recentTxns.get(key) ?? (stored ? { roomId: stored.room_id, eventId: stored.event_id } : undefined);
        if (prior) return { durable: Promise.resolve(await this.priorTxnResult(prior.eventId, prior.roomId, input.roomId)) };
      }
      const rv = await this.roomVersion(input.roomId);
      if (!rv) throw new MatrixError("M_NOT_FOUND", "Unknown room");
      // Rules that read the database about other events (relations, redactions) see the room's
      // earlier local events committed.
      if (input.redacts !== undefined || input.content["m.relates_to"] !== undefined) await this.settled(input.roomId);
      return this.buildAndPersist(input, rv, onWritten);
    });
  }

  /** Resolves once the room's local events written so far are durable (or failed). */
  private settled(roomId: string): Promise<unknown> | undefined {
    return this.unsettled.get(roomId);
  }

  /**
   * Resolves when none of the room's local events is waiting for its commit — checked again after
   * each wait, so the caller's next synchronous step (taking a head token) follows no write.
   */
  private async allSettled(roomId: string): Promise<void> {
    for (let p = this.settled(roomId); p; p = this.settled(roomId)) await p;
  }

  private async priorTxnResult(eventId: string, priorRoom: string, roomId: string): Promise<PersistedEvent> {
    if (priorRoom !== roomId) throw new MatrixError("M_INVALID_PARAM", "Transaction ID already used in another room");
    const row = await this.d.repo.findEvent(eventId);
    if (!row) throw new Error(`transaction maps to missing event ${eventId}`);
    return { eventId, roomId, streamOrdering: Number(row.stream_ordering), event: rowToEvent(row), duplicate: true };
  }

  /**
   * Creates a room from its create event and the events that follow, all under the new room's
   * lock. `rest` is called with the room ID once known (v12 derives it from the create event).
   */
  async createRoom(
    rv: RoomVersion,
    creator: string,
    createContent: JsonObject,
    rest: (roomId: string) => LocalEventInput[],
    opts: { txn?: { deviceId: string; txnId: string }; roomId?: string } = {},
  ): Promise<string> {
    assertClientEventJson({ type: "m.room.create", stateKey: "", content: createContent });
    // v12 room IDs are the create event's hash: two rooms created with the same content in the
    // same millisecond would collide, so create timestamps are kept strictly increasing.
    const ts = (this.lastCreateTs = Math.max(Date.now(), this.lastCreateTs + 1));
    let roomId: string;
    let create: Pdu;
    if (rv.roomIdFromCreateEvent) {
      create = this.signed(
        { type: "m.room.create", state_key: "", sender: creator, content: createContent, origin_server_ts: ts, depth: 1, prev_events: [], auth_events: [] },
        rv,
      );
      roomId = roomIdFromCreateEvent(create, rv);
    } else {
      roomId = opts.roomId ?? this.newRoomId();
      create = this.signed(
        { room_id: roomId, type: "m.room.create", state_key: "", sender: creator, content: createContent, origin_server_ts: ts, depth: 1, prev_events: [], auth_events: [] },
        rv,
      );
    }
    let last: Promise<PersistedEvent> | undefined;
    await this.writeLocks.run(roomId, async () => {
      // Every event of the new room is checked before the first is stored: no half-created rooms.
      const inputs = rest(roomId);
      for (const input of inputs) assertClientEventJson(input);
      const sizeIssues = checkPduSize(create, rv);
      if (sizeIssues.length) throw new MatrixError("M_TOO_LARGE", `m.room.create too large: ${sizeIssues[0]!.field + " " + sizeIssues[0]!.problem}`);
      const createEv = { ...create, event_id: computeEventId(create, rv) } as RoomEvent;
      const auth = checkAuth(createEv, new Map(), rv);
      if (!auth.allowed) throw new MatrixError("M_BAD_JSON", `Invalid m.room.create: ${auth.reason}`);
      last = (await this.persist(createEv, rv, { newRoom: { creator, ts } })).durable;
      for (const input of inputs) last = (await this.buildAndPersist(input, rv)).durable;
    });
    // The room's events are committed in order: the last one durable, all are.
    await last;
    return roomId;
  }

  /** A fresh room ID for room versions whose ID is not derived from the create event (v1–v11). */
  newRoomId(): string {
    return `!${randomString(18)}:${this.d.serverName}`;
  }

  /** Hashes and signs an unsigned event with this server's key (v1–v2: assigns an event ID). */
  signed(ev: Record<string, unknown>, rv: RoomVersion): Pdu {
    if (rv.eventIdInEvent) ev.event_id = `$${randomString(18)}:${this.d.serverName}`;
    try {
      return hashAndSignEvent(ev, rv, this.d.serverName, this.d.signingKey) as unknown as Pdu;
    } catch (e) {
      // Content is checked on the way in (assertClientEventJson); this catches any path that skipped it.
      if (e instanceof CanonicalJsonError) throw new MatrixError("M_BAD_JSON", `Invalid JSON at ${e.path || "event"}: ${e.reason}`);
      throw e;
    }
  }

  /**
   * The unsigned event a sender would create now (prev_events, auth_events and depth from the
   * room's current state), with the auth state it is checked against. Under the room lock.
   * Also used to answer make_join/make_leave/make_knock for other servers.
   */
  async buildTemplate(input: LocalEventInput, rv: RoomVersion): Promise<{ template: Record<string, unknown>; authState: Map<string, RoomEvent>; ownKey?: string }> {
    const { roomId } = input;
    const skeleton: Pdu = {
      room_id: roomId,
      sender: input.sender,
      type: input.type,
      content: input.content,
      origin_server_ts: input.ts ?? Date.now(),
      depth: 0,
      prev_events: [],
      auth_events: [],
      hashes: { sha256: "" },
      signatures: {},
    };
    if (input.stateKey !== undefined) skeleton.state_key = input.stateKey;
    if (input.type === "m.room.redaction" && input.redacts !== undefined) {
      if (rv.redactsInContent) skeleton.content = { ...input.content, redacts: input.redacts };
      else skeleton.redacts = input.redacts;
    }

    // The state the event is authorised against: only the keys the auth rules look at.
    const keys = authTypesForEvent(skeleton, rv, { includeCreate: true }).map(parseStateMapKey);
    const ownKey = eventStateMapKey(skeleton);
    if (ownKey !== undefined && !keys.some(([t, s]) => stateMapKey(t, s) === ownKey)) keys.push(parseStateMapKey(ownKey));
    const authState = await this.currentStateEvents(roomId, keys);
    const authIds = new Map([...authState].map(([k, ev]) => [k, ev.event_id]));

    const prevIds = (await this.forwardExtremities(roomId)).slice(0, MAX_PREV_EVENTS);
    let prevs = await this.loadEvents(prevIds);
    if (prevs.size < prevIds.length && this.settled(roomId)) {
      // A previous event not cached any more and not committed yet: read it once it is.
      await this.settled(roomId);
      prevs = await this.loadEvents(prevIds);
    }
    let depth = 0;
    for (const p of prevs.values()) depth = Math.max(depth, Number(p.depth));
    const authEventIds = selectAuthEvents(skeleton, authIds, rv);

    const ref = (id: string, ev: RoomEvent | undefined): string | [string, { sha256?: string }] =>
      rv.eventFormat === "v1" ? [id, { sha256: ev?.hashes?.sha256 ?? "" }] : id;
    const template: Record<string, unknown> = {
      ...skeleton,
      depth: Math.min(depth + 1, MAX_DEPTH),
      prev_events: prevIds.map((id) => ref(id, prevs.get(id))),
      auth_events: authEventIds.map((id) => ref(id, [...authState.values()].find((e) => e.event_id === id))),
    };
    delete template.hashes;
    delete template.signatures;
    return { template, authState, ownKey };
  }

  /**
   * Builds, signs and authorises a local event without storing it, so that its event ID is known
   * before it is sent with `sendPrepared` (a room upgrade names the old room's tombstone in the new
   * room's m.room.create before the tombstone is sent).
   */
  async prepare(input: LocalEventInput): Promise<PreparedEvent> {
    assertClientEventJson(input);
    return this.writeLocks.run(input.roomId, async () => {
      const room = await this.d.repo.findRoom(input.roomId);
      if (!room) throw new MatrixError("M_NOT_FOUND", "Unknown room");
      const rv = getRoomVersion(room.room_version);
      const built = await this.buildChecked(input, rv);
      return { eventId: built.event.event_id, roomId: input.roomId, rv, event: built.event, ownKey: built.ownKey };
    });
  }

  /**
   * Stores an event made by `prepare`. It is authorised again against the room's current state
   * (which may have moved on since); its prev_events stay those it was built with.
   */
  async sendPrepared(p: PreparedEvent): Promise<PersistedEvent> {
    const { durable } = await this.writeLocks.run(p.roomId, async () => {
      const keys = authTypesForEvent(p.event, p.rv, { includeCreate: true }).map(parseStateMapKey);
      if (p.ownKey !== undefined && !keys.some(([t, s]) => stateMapKey(t, s) === p.ownKey)) keys.push(parseStateMapKey(p.ownKey));
      const authState = await this.currentStateEvents(p.roomId, keys);
      const result = checkAuth(p.event, authState, p.rv);
      if (!result.allowed) throw new MatrixError("M_FORBIDDEN", `Not allowed: ${result.reason}`);
      const replaces = p.ownKey !== undefined ? authState.get(p.ownKey)?.event_id : undefined;
      return this.persist(p.event, p.rv, { replaces, authState });
    });
    return durable;
  }

  /** Must be called under the room lock. */
  private async buildAndPersist(input: LocalEventInput, rv: RoomVersion, onWritten?: () => void): Promise<Written> {
    const roomId = input.roomId;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 && input.txn) {
        // The other writer may have been this very request, retried through another process.
        const prior = await this.d.repo.findTxn(input.sender, input.txn.deviceId, input.txn.txnId);
        if (prior) return { durable: Promise.resolve(await this.priorTxnResult(prior.event_id, prior.room_id, input.roomId)) };
      }
      const { event, authState, replaces } = await this.buildChecked(input, rv);
      // Several processes: a few attempts at extending the room's latest events, then a fork (legal).
      const checkPrevs = this.d.cluster?.shared === true && attempt <= 5;
      try {
        return await this.persist(event, rv, { txn: input.txn, replaces, authState, onWritten, checkPrevs });
      } catch (e) {
        if (!(e instanceof RoomMovedOn)) throw e;
        // Another process wrote to the room: what this one kept of its head is stale.
        this.heads.changed(roomId);
      }
    }
  }

  /** A local event built, signed and allowed by the auth rules and the local checks. Under the room lock. */
  private async buildChecked(
    input: LocalEventInput,
    rv: RoomVersion,
  ): Promise<{ event: RoomEvent; authState: Map<string, RoomEvent>; ownKey?: string; replaces?: string }> {
    const { template, authState, ownKey } = await this.buildTemplate(input, rv);
    const pdu = this.signed(template, rv);
    const sizeIssues = checkPduSize(pdu, rv);
    if (sizeIssues.length) throw new MatrixError("M_TOO_LARGE", `Event too large: ${sizeIssues[0]!.field + " " + sizeIssues[0]!.problem}`);
    let event = { ...pdu, event_id: computeEventId(pdu, rv) } as RoomEvent;

    const result = checkAuth(event, authState, rv);
    if (!result.allowed) throw new MatrixError("M_FORBIDDEN", `Not allowed: ${result.reason}`);
    const redactTarget = redactsOf(event, rv);
    if (redactTarget !== undefined) await this.checkLocalRedaction(event, redactTarget, rv, authState);
    for (const hook of this.effects.handlers("beforeLocal")) await hook(event, rv, authState);
    // E.g. an invite of a user on another server, which that server must co-sign first.
    if (input.beforePersist) event = await input.beforePersist(event, rv);
    if (this.policySign) event = await this.policySign(event, rv, roomIdOf(event, rv));

    const replaces = ownKey !== undefined ? authState.get(ownKey)?.event_id : undefined;
    return { event, authState, ownKey, replaces };
  }

  /**
   * Writes an accepted event that extends the room's current state (local events): event row,
   * edges, state group, current state, membership, transaction ID, redaction marker; then notifies.
   */
  private async persist(
    event: RoomEvent,
    rv: RoomVersion,
    opts: {
      txn?: { deviceId: string; txnId: string };
      replaces?: string;
      newRoom?: { creator: string; ts: number };
      authState?: Map<string, RoomEvent>;
      /** Refuse (RoomMovedOn) when a prev_event stopped being a forward extremity (another process wrote). */
      checkPrevs?: boolean;
      /** Called once the event is written into its batch. */
      onWritten?: () => void;
    },
  ): Promise<Written> {
    const { repo } = this.d;
    const roomId = roomIdOf(event, rv);
    const stateKey = eventStateMapKey(event);
    const membership = membershipOf(event);
    const redactTarget = redactsOf(event, rv);
    const applyRedaction = redactTarget ? await this.redactionApplies(event, redactTarget, rv, { fromClient: true, authState: opts.authState }) : false;

    // Only a new timeline event at this position (no state, no redaction, no new room): waiting
    // syncs may answer from memory (Notifier log, Sync's fan-out path).
    const onlyTimeline = stateKey === undefined && !redactTarget && event.type !== "m.room.redaction" && !opts.newRoom;
    const prevIds = refIds(event.prev_events);
    const ownMember = membership !== null && event.state_key && this.isLocalUser(event.state_key) ? event.state_key : undefined;
    const knownGroup = opts.newRoom ? null : this.heads.get(roomId)?.group;
    /** The room's state as this event was built on: refused if a batch failed since. */
    const failures = this.failedWrites.get(roomId) ?? 0;
    let group: number | null = null;
    const [pos] = (await this.d.streams.allocateMany(1)) as [number];

    const write = async (tx: Queryable) => {
      if ((this.failedWrites.get(roomId) ?? 0) !== failures) throw new MatrixError("M_UNKNOWN", "The room's previous events could not be stored; please try again");
      // Several processes (roomWriteTransaction took the room's lock): refused when another process
      // extended the room since this event was built on its latest events.
      if (opts.checkPrevs) {
        const extremities = new Set(await repo.forwardExtremities(roomId, tx));
        if (!prevIds.every((id) => extremities.has(id))) throw new RoomMovedOn();
        // The same transaction ID stored meanwhile by another process (a client's retry).
        if (opts.txn && (await repo.findTxn(event.sender, opts.txn.deviceId, opts.txn.txnId, tx))) throw new RoomMovedOn();
      }
      if (opts.newRoom) await repo.insertRoom(tx, { room_id: roomId, room_version: rv.id, creator: opts.newRoom.creator, created_ts: opts.newRoom.ts });
      group = knownGroup !== undefined ? knownGroup : ((await repo.findRoom(roomId, tx))?.current_state_group ?? null);
      const writes: Promise<unknown>[] = [];
      if (stateKey !== undefined) {
        const [t, sk] = parseStateMapKey(stateKey);
        group = await this.newStateGroup(tx, roomId, group, [[t, sk, event.event_id]]);
        writes.push(repo.setCurrentStateGroup(tx, roomId, group), repo.applyCurrentState(tx, roomId, [[t, sk, event.event_id, membership]]));
      }
      // Independent statements, issued together (one round trip on PostgreSQL).
      writes.push(this.writeEventRow(tx, event, rv, pos, { group, replaces: opts.replaces, txn: opts.txn }));
      writes.push(repo.replaceForwardExtremities(tx, roomId, prevIds, [event.event_id]));
      if (ownMember) {
        this.membershipChanged(ownMember, roomId);
        writes.push(repo.upsertLocalMembership(tx, ownMember, roomId, membership!, event.event_id, pos));
      }
      if (opts.txn) writes.push(repo.insertTxn(tx, event.sender, opts.txn.deviceId, opts.txn.txnId, roomId, event.event_id));
      if (applyRedaction && redactTarget) writes.push(this.markRedacted(tx, redactTarget, event.event_id));
      await settleAll(writes);
      // The effects touch tables of their own: issued together (their statements pipelined on PostgreSQL).
      await settleAll(this.effects.handlers("inTransaction").map((hook) => hook(tx, event, pos, rv)));
    };

    // Written into the batch (not durable yet), still under the room lock: what the next send of the
    // room reads — its head (room-heads.ts), the event itself, the transaction ID — is this event.
    let markWritten!: () => void;
    let wasWritten = false;
    const written = new Promise<void>((resolve) => (markWritten = resolve));
    const onWritten = () => {
      wasWritten = true;
      this.heads.committed(roomId, (h) => {
        h.group = group;
        if (stateKey !== undefined) h.state.set(stateKey, event.event_id);
        if (h.extremities) h.extremities = [...h.extremities.filter((id) => id !== event.event_id && !prevIds.includes(id)), event.event_id];
      });
      this.cache.set(event.event_id, event);
      if (ownMember) this.membershipChanged(ownMember, roomId);
      opts.onWritten?.();
      markWritten();
    };
    const txnKeyOf = opts.txn ? txnKey(event.sender, opts.txn) : undefined;
    const durable = handled(
      this.roomWriteTransaction(roomId, write, { grouped: true, written: onWritten }).then(
        async () => {
          // Committed; notified before the position becomes visible (woken syncs wait for it), so
          // the notifier knows what it held by the time any sync's range covers it.
          this.cache.set(event.event_id, event);
          this.d.notifier.notifyRoom(roomId, { pos, timelineEvent: onlyTimeline ? event.event_id : undefined });
          await this.d.streams.release([pos]);
          if (txnKeyOf) this.recentTxns.set(txnKeyOf, { roomId, eventId: event.event_id });
          if (ownMember) this.membershipChanged(ownMember, roomId);
          return this.afterWrite(event, roomId, pos, true, false);
        },
        async (e: unknown) => {
          await this.d.streams.release([pos]);
          // Refused before it was written: nothing of it is kept. Lost with its batch (the commit
          // failed): what was kept of it, and every later event of the room built on it, goes too.
          if (wasWritten) {
            this.cache.delete(event.event_id);
            this.failedWrites.set(roomId, failures + 1);
            this.heads.changed(roomId);
            if (ownMember) this.membershipChanged(ownMember, roomId);
          }
          throw e;
        },
      ),
    );
    // Refused (the auth rules passed, but e.g. a constraint did not): thrown here, under the lock.
    await Promise.race([written, durable]);
    const settledRoom = durable.then(
      () => undefined,
      () => undefined,
    );
    this.unsettled.set(roomId, settledRoom);
    void settledRoom.then(() => {
      if (this.unsettled.get(roomId) === settledRoom) this.unsettled.delete(roomId);
    });
    if (txnKeyOf) {
      const entry = { roomId, durable };
      this.pendingTxns.set(txnKeyOf, entry);
      void settledRoom.then(() => {
        if (this.pendingTxns.get(txnKeyOf) === entry) this.pendingTxns.delete(txnKeyOf);
      });
    }
    return { durable };
  }

  /**
   * The one database transaction in which an event of `roomId` is written with what follows from
   * it (local sends and events received from other servers). Callers hold the room lock.
   */
  private roomWriteTransaction<T>(
    roomId: string,
    fn: (tx: Queryable) => Promise<T>,
    opts: { grouped?: boolean; written?: (result: T) => void } = {},
  ): Promise<T> {
    // Several processes: one writer per room across them (this process's room lock is its own only).
    const cluster = this.d.cluster;
    const locked = cluster?.shared
      ? async (tx: Queryable) => {
          await cluster.lockRoom(tx, roomId);
          return fn(tx);
        }
      : fn;
    if (!opts.grouped) return this.d.transaction(locked);
    // Several processes: one transaction per send (a batch would take several rooms' locks, in an
    // order another process's batch may reverse: a deadlock that fails both batches).
    if (cluster?.shared) {
      return this.d.transaction(async (tx) => {
        const result = await locked(tx);
        opts.written?.(result);
        return result;
      });
    }
    // Local sends are group-committed with the others submitted meanwhile (storage/engines/group-commit.ts).
    return this.commitLanes[this.commitLanes.length === 1 ? 0 : laneOf(roomId, this.commitLanes.length)]!.run(locked, opts.written);
  }

  /** `notifyRoom`: false when the room was notified already (inside the position, by persist). */
  private afterWrite(event: RoomEvent, roomId: string, stream: number, timeline: boolean, notifyRoom = true): PersistedEvent {
    this.cache.set(event.event_id, event);
    if (notifyRoom) this.d.notifier.notifyRoom(roomId, { pos: stream });
    if (event.type === "m.room.member" && event.state_key) this.d.notifier.notifyUser(event.state_key);
    if (timeline) for (const hook of this.effects.handlers("afterPersist")) hook(event, stream);
    return { eventId: event.event_id, roomId, streamOrdering: stream, event };
  }

  /**
   * An invite (or a knock's answer) to a room this server is not in: the user sees it in /sync
   * from the stripped state that came with it.
   */
  async recordRemoteInvite(ev: RoomEvent, rv: RoomVersion, strippedState: JsonObject[]): Promise<void> {
    const userId = ev.state_key!;
    const membership = String(ev.content["membership"] ?? "invite");
    await this.d.streams.with(async (pos) => {
      await this.d.transaction(async (tx) => {
        await this.d.repo.upsertRemoteInvite(tx, ev.room_id!, userId, ev.event_id, rv.id, JSON.stringify(strippedState));
        this.membershipChanged(userId, ev.room_id!);
        await this.d.repo.upsertLocalMembership(tx, userId, ev.room_id!, membership, ev.event_id, pos);
      });
    });
    this.membershipChanged(userId, ev.room_id!);
    this.d.notifier.notifyUser(userId);
  }

  /** Drops a remote invite (joined, or rejected with `leave`, which becomes the user's membership). */
  async forgetRemoteInvite(roomId: string, userId: string, leave?: RoomEvent): Promise<void> {
    await this.d.streams.with(async (pos) => {
      await this.d.transaction(async (tx) => {
        await this.d.repo.deleteRemoteInvite(tx, roomId, userId);
        this.membershipChanged(userId, roomId);
        if (leave) await this.d.repo.upsertLocalMembership(tx, userId, roomId, "leave", leave.event_id, pos);
      });
    });
    this.membershipChanged(userId, roomId);
    this.d.notifier.notifyUser(userId);
  }

  private async markRedacted(tx: Queryable, targetId: string, redactionId: string): Promise<void> {
    await this.d.repo.setRedactedBy(tx, targetId, redactionId);
    this.dropCachedEvent(targetId);
  }

  /** Forgets a cached event (redacted: it is read again, redacted). */
  dropCachedEvent(eventId: string): void {
    this.cache.delete(eventId);
  }

  /** A state group: `delta` over `prevGroup` (a snapshot when the chain is long or there is none). */
  async newStateGroup(tx: Queryable, roomId: string, prevGroup: number | null, delta: StateDelta): Promise<number> {
    const { repo } = this.d;
    return repo.insertStateGroup(tx, roomId, prevGroup, delta, async () => {
      const full = await repo.stateOfGroup(prevGroup!, {}, tx);
      return new Map(
        [...full].map(([k, id]) => {
          const [t, sk] = parseStateMapKey(k);
          return [k, [t, sk, id] as [string, string, string]];
        }),
      );
    });
  }

  /**
   * The state group of the state before a stored event: its own group with its state key rolled
   * back to what it replaced (removed when it replaced nothing). Remembered per event.
   */
  async stateGroupBefore(
    roomId: string,
    row: { event_id: string; type: string; state_key: string | null; state_group: number | null; replaces_state: string | null },
  ): Promise<number> {
    const group = Number(row.state_group);
    if (row.state_key === null) return group;
    const hit = this.groupBeforeCache.get(row.event_id);
    if (hit !== undefined) return hit;
    const before = await this.d.transaction((tx) => this.newStateGroup(tx, roomId, group, [[row.type, row.state_key!, row.replaces_state]]));
    this.groupBeforeCache.set(row.event_id, before);
    return before;
  }

  /** A state group holding exactly `state`, written as a delta over `base` when given. */
  async stateGroupFor(tx: Queryable, roomId: string, state: ReadonlyMap<string, string>, base: number | null): Promise<number> {
    const delta: StateDelta = [];
    if (base !== null) {
      const baseState = await this.d.repo.stateOfGroup(base, {}, tx);
      for (const [k, id] of state) if (baseState.get(k) !== id) delta.push([...parseStateMapKey(k), id]);
      for (const k of baseState.keys()) if (!state.has(k)) delta.push([...parseStateMapKey(k), null]);
      if (delta.length === 0) return base;
    } else {
      for (const [k, id] of state) delta.push([...parseStateMapKey(k), id]);
    }
    return this.newStateGroup(tx, roomId, base, delta);
  }

  private async writeEventRow(
    tx: Queryable,
    event: RoomEvent,
    rv: RoomVersion,
    pos: number,
    f: { group: number | null; replaces?: string | null; txn?: { deviceId: string; txnId: string }; outlier?: boolean; softFailed?: boolean; rejectedReason?: string | null },
  ): Promise<void> {
    await this.d.repo.insertEvent(
      tx,
      {
        event_id: event.event_id,
        room_id: roomIdOf(event, rv),
        stream_ordering: pos,
        depth: Number(event.depth),
        type: event.type,
        state_key: event.state_key ?? null,
        sender: event.sender,
        origin_server_ts: Number(event.origin_server_ts),
        received_ts: Date.now(),
        json: JSON.stringify(stripEventId(event, rv)),
        outlier: f.outlier ? 1 : 0,
        soft_failed: f.softFailed ? 1 : 0,
        rejected_reason: f.rejectedReason ?? null,
        state_group: f.group,
        replaces_state: f.replaces ?? null,
        txn_id: f.txn?.txnId ?? null,
        device_id: f.txn?.deviceId ?? null,
      },
      refIds(event.prev_events),
      refIds(event.auth_events),
    );
  }

  // ------------------------------------------------------------------ received events

  /**
   * Stores events without their room state (auth chains and state fetched while joining or
   * backfilling). Events already stored are skipped. `rejected` marks those that failed checks.
   */
  async persistOutliers(events: ReadonlyArray<{ event: RoomEvent; rejectedReason?: string }>, rv: RoomVersion): Promise<void> {
    const known = await this.d.repo.getEvents(events.map((e) => e.event.event_id));
    const seen = new Set<string>();
    const fresh = events.filter((e) => {
      const id = e.event.event_id;
      if (known.has(id) || seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    if (fresh.length === 0) return;
    const positions = await this.d.streams.allocateMany(fresh.length);
    try {
      await this.d.transaction(async (tx) => {
        for (let i = 0; i < fresh.length; i++) {
          const { event, rejectedReason } = fresh[i]!;
          await this.writeEventRow(tx, event, rv, positions[i]!, { group: null, outlier: true, rejectedReason: rejectedReason ?? null });
        }
      });
    } finally {
      await this.d.streams.release(positions);
    }
    for (const { event } of fresh) this.cache.set(event.event_id, event);
  }

  /**
   * Persists an event received from another server (call under the room lock), given the room
   * state before it (`stateBefore`, as a state group or a map). Rejected events are stored with
   * their reason and no state; soft-failed ones are stored with state but kept out of the timeline
   * and the forward extremities. The room's current state is then recomputed from the forward
   * extremities (resolving them when there are several).
   */
  async persistReceived(
    event: RoomEvent,
    rv: RoomVersion,
    opts: {
      stateBefore: { group: number } | { map: ReadonlyMap<string, string>; base: number | null };
      rejectedReason?: string;
      softFailed?: boolean;
      /** For a room this server had no state of (a remote join): creates the room row. */
      newRoom?: { creator: string };
      /** Resolves the states of several forward extremities (state resolution of the room version). */
      resolve: (stateSets: Array<Map<string, string>>) => Promise<Map<string, string>>;
    },
  ): Promise<PersistedEvent> {
    const { repo } = this.d;
    const roomId = roomIdOf(event, rv);
    const stateKey = eventStateMapKey(event);
    const accepted = opts.rejectedReason === undefined;
    const redactTarget = accepted ? redactsOf(event, rv) : undefined;
    const applyRedaction = redactTarget ? await this.redactionApplies(event, redactTarget, rv, { fromClient: false }) : false;
    // A redaction of a known event that it may not redact (another room's event, or without the
    // power): "the server simply waits for a valid partner event" (v3 "Handling redactions") — kept
    // from clients and from the forward extremities, as a soft-failed event is.
    const heldBack = accepted && redactTarget !== undefined && !applyRedaction && (await this.d.repo.findEvent(redactTarget)) !== undefined;
    const timeline = accepted && !opts.softFailed && !heldBack;
    const prevIds = refIds(event.prev_events);
    /** Local users whose membership the new current state changes. */
    const touched: string[] = [];

    const stream = await this.d.streams.with(async (pos) => {
      await this.roomWriteTransaction(roomId, async (tx) => {
        let imported = false;
        if (opts.newRoom && !(await repo.findRoom(roomId, tx))) {
          await repo.insertRoom(tx, { room_id: roomId, room_version: rv.id, creator: opts.newRoom.creator, created_ts: Date.now() });
          imported = "map" in opts.stateBefore;
        }
        let groupBefore: number | null = null;
        let replaces: string | null = null;
        if (accepted) {
          groupBefore = "group" in opts.stateBefore ? opts.stateBefore.group : await this.stateGroupFor(tx, roomId, opts.stateBefore.map, opts.stateBefore.base);
        }
        let groupAfter = groupBefore;
        if (accepted && stateKey !== undefined && groupBefore !== null) {
          const [t, sk] = parseStateMapKey(stateKey);
          replaces = (await repo.stateOfGroup(groupBefore, { keys: [[t, sk]] }, tx)).get(stateKey) ?? null;
          groupAfter = await this.newStateGroup(tx, roomId, groupBefore, [[t, sk, event.event_id]]);
        }
        await this.writeEventRow(tx, event, rv, pos, {
          group: groupAfter,
          replaces,
          softFailed: opts.softFailed || heldBack,
          rejectedReason: opts.rejectedReason ?? null,
        });
        if (!timeline) return;
        await this.trackBackwardExtremities(tx, roomId, event);

        // Forward extremities: this event replaces those of its prev_events that were extremities.
        const before = await repo.forwardExtremities(roomId, tx);
        const covered = before.every((id) => prevIds.includes(id)) ? new Set(prevIds) : await this.prevsThroughUnlisted(tx, prevIds);
        const removed = before.filter((id) => covered.has(id));
        await repo.replaceForwardExtremities(tx, roomId, removed, [event.event_id]);
        const extremities = [...before.filter((id) => !removed.includes(id)), event.event_id];

        // Current state: the state after this event when it extends every extremity; otherwise the
        // resolution of the extremities' states.
        const room = (await repo.findRoom(roomId, tx))!;
        let newCurrentGroup = groupAfter!;
        let newState: Map<string, string> | undefined;
        if (extremities.length > 1) {
          const rows = await repo.getEvents(extremities, tx);
          const groups = [...new Set([...rows.values()].map((r) => r.state_group).filter((g): g is number => g !== null).map(Number))];
          if (groups.length > 1) {
            const sets = await Promise.all(groups.map((g) => repo.stateOfGroup(g, {}, tx)));
            // State resolution loads events outside this transaction: make this (uncommitted)
            // event visible to it through the event cache, or its own state would be ignored.
            this.cache.set(event.event_id, event);
            try {
              newState = await opts.resolve(sets);
            } catch (e) {
              this.cache.delete(event.event_id);
              throw e;
            }
            newCurrentGroup = await this.stateGroupFor(tx, roomId, newState, groupAfter);
          }
        }
        if (room.current_state_group === null || Number(room.current_state_group) !== newCurrentGroup) {
          await this.moveCurrentState(tx, roomId, room.current_state_group === null ? null : Number(room.current_state_group), newCurrentGroup, pos, newState, event.event_id, touched);
        }
        if (applyRedaction && redactTarget) await this.markRedacted(tx, redactTarget, event.event_id);
        if (imported && "map" in opts.stateBefore) {
          const ids = [...opts.stateBefore.map.values()];
          for (const hook of this.effects.handlers("stateImported")) await hook(tx, roomId, ids);
        }
        for (const hook of this.effects.handlers("inTransaction")) await hook(tx, event, pos, rv);
      });
      return pos;
    });
    // Its extremities and current state may have moved (state resolution): read them afresh.
    this.heads.changed(roomId);
    for (const u of touched) this.membershipChanged(u, roomId);
    return this.afterWrite(event, roomId, stream, timeline);
  }

  /**
   * `prevIds` and the events reached from them through rejected and soft-failed events (which are
   * never forward extremities): an extremity among those is an ancestor of the new event, so no
   * longer an extremity (as Synapse's _get_prevs_before_rejected). Bounded walk.
   */
  private async prevsThroughUnlisted(tx: Queryable, prevIds: readonly string[]): Promise<Set<string>> {
    const out = new Set(prevIds);
    let frontier = [...prevIds];
    for (let hop = 0; hop < 20 && frontier.length > 0 && out.size < 500; hop++) {
      const rows = await this.d.repo.getEvents(frontier, tx);
      const through = frontier.filter((id) => {
        const r = rows.get(id);
        return r !== undefined && r.outlier === 0 && (r.rejected_reason !== null || r.soft_failed === 1);
      });
      if (through.length === 0) break;
      frontier = (await this.d.repo.prevEventIds(through, tx)).filter((id) => !out.has(id));
      for (const id of frontier) out.add(id);
    }
    return out;
  }

  /** Remembers the prev_events of `event` we lack (history to backfill); `event` itself is no longer one. */
  private async trackBackwardExtremities(tx: Queryable, roomId: string, event: RoomEvent): Promise<void> {
    await this.d.repo.deleteBackwardExtremity(tx, roomId, event.event_id);
    const prevIds = refIds(event.prev_events);
    const known = await this.d.repo.getEvents(prevIds, tx);
    for (const id of prevIds) {
      const r = known.get(id);
      if (!r || r.outlier === 1) {
        await this.d.repo.insertBackwardExtremity(tx, roomId, id);
      }
    }
  }

  /** Where history before what this server has begins (for backfilling). */
  async backwardExtremities(roomId: string): Promise<string[]> {
    return this.d.repo.backwardExtremities(roomId);
  }

  /**
   * Stores history fetched from other servers (older than anything we had). Backfilled events get
   * stream positions below every other event, so they never show up in /sync as new; they share
   * the state group of the event they precede (`stateGroup`), which decides their visibility.
   */
  async persistBackfilled(event: RoomEvent, rv: RoomVersion, stateGroup: number, rejectedReason?: string): Promise<void> {
    const roomId = roomIdOf(event, rv);
    // One backfill write at a time: each takes the position below the lowest.
    await this.backfillLock.run(() => this.d.transaction(async (tx) => {
      const existing = await this.d.repo.findEvent(event.event_id, tx);
      if (existing && (existing.outlier === 0 || rejectedReason)) {
        await this.d.repo.deleteBackwardExtremity(tx, roomId, event.event_id);
        return;
      }
      const pos = Math.min(0, Number((await this.d.repo.minStreamOrdering(tx)) ?? 0)) - 1;
      if (existing) {
        // Known as an outlier (from a state or auth chain): it joins the timeline now.
        await this.d.repo.promoteOutlier(tx, event.event_id, pos, stateGroup);
      } else {
        await this.writeEventRow(tx, event, rv, pos, { group: rejectedReason ? null : stateGroup, rejectedReason: rejectedReason ?? null });
      }
      if (!rejectedReason) {
        await this.trackBackwardExtremities(tx, roomId, event);
        for (const hook of this.effects.handlers("backfilled")) await hook(tx, event, pos, rv);
      } else await this.d.repo.deleteBackwardExtremity(tx, roomId, event.event_id);
    }));
    this.cache.set(event.event_id, event);
  }

  /**
   * Replaces current_state (and local memberships) by the state of `toGroup`, because `causedBy`
   * (at `pos`) arrived; keys that changed to anything but `causedBy` itself are recorded as
   * resolution deltas for /sync.
   */
  private async moveCurrentState(
    tx: Queryable,
    roomId: string,
    fromGroup: number | null,
    toGroup: number,
    pos: number,
    toState: Map<string, string> | undefined,
    causedBy: string,
    touched: string[],
  ): Promise<void> {
    const { repo } = this.d;
    const from = fromGroup === null ? new Map<string, string>() : await repo.currentState(roomId, {}, tx);
    const to = toState ?? (await repo.stateOfGroup(toGroup, {}, tx));
    const changed: string[] = [];
    for (const [k, id] of to) if (from.get(k) !== id) changed.push(k);
    const removed = [...from.keys()].filter((k) => !to.has(k));
    const evs = await this.loadEvents(changed.map((k) => to.get(k)!), tx);
    const delta: Array<[string, string, string | null, string | null]> = [];
    for (const k of changed) {
      const [t, sk] = parseStateMapKey(k);
      const ev = evs.get(to.get(k)!);
      delta.push([t, sk, to.get(k)!, ev ? membershipOf(ev) : null]);
      if (t === "m.room.member" && this.isLocalUser(sk) && ev) {
        this.membershipChanged(sk, roomId);
        touched.push(sk);
        await repo.upsertLocalMembership(tx, sk, roomId, String(ev.content["membership"] ?? ""), ev.event_id, pos);
      }
    }
    for (const k of removed) delta.push([...parseStateMapKey(k), null, null]);
    await repo.applyCurrentState(tx, roomId, delta);
    if (fromGroup !== null) {
      const unexplained = [...changed.filter((k) => to.get(k) !== causedBy), ...removed].map(parseStateMapKey);
      if (unexplained.length) await repo.insertResolutionDeltas(tx, roomId, pos, unexplained);
    }
    await repo.setCurrentStateGroup(tx, roomId, toGroup);
  }

  /**
   * "Handling redactions" (rooms v3+; v1–v2 checked by the auth rules): a redaction applies when
   * its sender may redact (power level ≥ redact) or the redacted event comes from the same server
   * as the redaction — and, for local clients, only a user's own events without the power.
   */
  private async redactionApplies(
    redaction: RoomEvent,
    targetId: string,
    rv: RoomVersion,
    opts: { fromClient: boolean; authState?: Map<string, RoomEvent> },
  ): Promise<boolean> {
    const target = await this.loadEvent(targetId);
    if (!target || target.room_id !== redaction.room_id) return false;
    if (target.type === "m.room.create") return false;
    if (target.sender === redaction.sender) return true;
    // Over federation (v3+), a server may redact events of its own users.
    if (!opts.fromClient && rv.redactionCheckedByDomain && domainOf(target.sender) === domainOf(redaction.sender)) return true;
    const state = opts.authState ?? (await this.currentStateEvents(redaction.room_id!, [["m.room.create", ""], ["m.room.power_levels", ""]]));
    const pl = effectivePowerLevels(state.get(stateMapKey("m.room.power_levels", ""))?.content, state.get(stateMapKey("m.room.create", "")), rv);
    return userLevel(pl, redaction.sender) >= pl.redact;
  }

  /**
   * A local user's redaction (redaction.yaml: one's own events with the m.room.redaction level,
   * others' only with the `redact` level) is refused rather than stored without effect, as Synapse
   * does: 400 for an event of another room, 403 for the create event or without the power, 404
   * for an unknown event one could only redact if it were one's own.
   */
  private async checkLocalRedaction(redaction: RoomEvent, targetId: string, rv: RoomVersion, authState: Map<string, RoomEvent>): Promise<void> {
    const row = await this.d.repo.findEvent(targetId);
    const target = row && row.rejected_reason === null ? rowToEvent(row) : undefined;
    if (target && row!.room_id !== redaction.room_id) throw new MatrixError("M_INVALID_PARAM", "Cannot redact an event of a different room", {}, 400);
    if (target?.type === "m.room.create") throw new MatrixError("M_FORBIDDEN", "The room's create event cannot be redacted");
    const pl = effectivePowerLevels(authState.get(stateMapKey("m.room.power_levels", ""))?.content, authState.get(stateMapKey("m.room.create", "")), rv);
    if (userLevel(pl, redaction.sender) >= pl.redact) return;
    if (!target) throw new MatrixError("M_NOT_FOUND", "Event not found");
    if (target.sender !== redaction.sender) throw new MatrixError("M_FORBIDDEN", "You don't have permission to redact other users' events");
  }

  isLocalUser(userId: string): boolean {
    return userId.endsWith(`:${this.d.serverName}`);
  }
}

export function roomIdOf(event: RoomEvent, rv: RoomVersion): string {
  return event.room_id ?? roomIdFromCreateEvent(event, rv);
}

function membershipOf(event: RoomEvent): string | null {
  return event.type === "m.room.member" ? String(event.content["membership"] ?? "") : null;
}

function redactsOf(event: RoomEvent, rv: RoomVersion): string | undefined {
  if (event.type !== "m.room.redaction") return undefined;
  const r = rv.redactsInContent ? event.content["redacts"] : event.redacts;
  return typeof r === "string" ? r : undefined;
}

/** The stored form of an event: v3+ events do not carry their ID. */
function stripEventId(ev: RoomEvent, rv: RoomVersion): Pdu {
  if (rv.eventIdInEvent) return ev;
  const { event_id: _omit, ...rest } = ev;
  return rest as Pdu;
}

/** The client-facing redacted form of an event (redaction algorithm of the room version). */
export function redactForClient(ev: RoomEvent, rv: RoomVersion): RoomEvent {
  return redactEvent(ev, rv) as RoomEvent;
}

/** A local event written into a group-commit batch; `durable` settles once the batch committed. */
interface Written {
  durable: Promise<PersistedEvent>;
}

function txnKey(sender: string, txn: { deviceId: string; txnId: string }): string {
  return `${sender}\u0000${txn.deviceId}\u0000${txn.txnId}`;
}

/** The promise itself, marked as handled: its rejection is seen by whoever awaits it later. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
