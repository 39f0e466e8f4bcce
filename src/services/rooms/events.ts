// Building, authorising and persisting room events, and reading them back.
// Every local event passes the same auth rules as a remote one (src/core/auth-rules.ts) against the
// room's current state; one writer per room (a keyed mutex) means two local sends never fork the
// room. An event, its state group, the current state, memberships and the client's transaction ID
// are written in one database transaction: a crash either keeps all of it or none of it, and a
// retried send with the same transaction ID finds the first event.
import { checkAuth } from "../../core/auth-rules.ts";
import { authTypesForEvent, selectAuthEvents } from "../../core/auth-events.ts";
import { computeEventId, roomIdFromCreateEvent } from "../../core/event-id.ts";
import { checkPduSize, hashAndSignEvent } from "../../core/pdu.ts";
import { redactEvent } from "../../core/redaction.ts";
import { getRoomVersion, type RoomVersion } from "../../core/room-versions.ts";
import { eventStateMapKey, parseStateMapKey, stateMapKey } from "../../core/state-map.ts";
import { effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, Pdu, RoomEvent } from "../../protocol/events.ts";
import type { Db, Queryable } from "../../storage/db.ts";
import type { EventRow, RoomsRepo, StateDelta } from "../../storage/rooms-repo.ts";
import { KeyedMutex } from "../../util/mutex.ts";
import { Lru } from "../../util/lru.ts";
import { randomString } from "../../util/random.ts";
import type { SigningKey } from "../../core/signing.ts";
import type { Notifier } from "../notifier.ts";
import type { StreamAllocator } from "../streams.ts";

/** Depth is capped as the spec's integer range requires. */
const MAX_DEPTH = Number.MAX_SAFE_INTEGER;
const MAX_PREV_EVENTS = 10;

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
}

export interface PersistedEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  event: RoomEvent;
  /** True when the transaction ID had been used: this is the earlier event. */
  duplicate?: boolean;
}

/** Hooks run inside the persisting transaction (push actions) and after commit (federation, appservices). */
export interface EventHooks {
  inTransaction: Array<(q: Queryable, ev: RoomEvent, stream: number, rv: RoomVersion) => Promise<void>>;
  afterPersist: Array<(ev: RoomEvent, stream: number) => void>;
}

export interface EventsDeps {
  db: Db;
  repo: RoomsRepo;
  serverName: string;
  signingKey: SigningKey;
  streams: StreamAllocator;
  notifier: Notifier;
}

/** Parses a stored row's JSON into a RoomEvent (event_id added for v3+). */
export function rowToEvent(row: EventRow): RoomEvent {
  const ev = JSON.parse(row.json) as RoomEvent;
  ev.event_id = row.event_id;
  return ev;
}

export class RoomEvents {
  readonly roomLocks = new KeyedMutex();
  readonly hooks: EventHooks = { inTransaction: [], afterPersist: [] };
  private readonly cache = new Lru<string, RoomEvent>(20000);
  private readonly versions = new Map<string, RoomVersion>();

  constructor(private readonly d: EventsDeps) {}

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

  async loadEvent(id: string): Promise<RoomEvent | undefined> {
    return (await this.loadEvents([id])).get(id);
  }

  /** Current state events at the given keys (type\0state_key → event). */
  async currentStateEvents(roomId: string, keys: ReadonlyArray<[string, string]>, q?: Queryable): Promise<Map<string, RoomEvent>> {
    const ids = await this.d.repo.currentState(roomId, { keys }, q);
    const evs = await this.loadEvents([...ids.values()], q);
    const out = new Map<string, RoomEvent>();
    for (const [k, id] of ids) {
      const ev = evs.get(id);
      if (ev) out.set(k, ev);
    }
    return out;
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
    return this.roomLocks.run(input.roomId, async () => {
      if (input.txn) {
        const prior = await this.d.repo.findTxn(input.sender, input.txn.deviceId, input.txn.txnId);
        if (prior) return this.priorTxnResult(prior.event_id, prior.room_id, input.roomId);
      }
      const room = await this.d.repo.findRoom(input.roomId);
      if (!room) throw new MatrixError("M_NOT_FOUND", "Unknown room");
      return this.buildAndPersist(input, getRoomVersion(room.room_version));
    });
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
    opts: { txn?: { deviceId: string; txnId: string } } = {},
  ): Promise<string> {
    void opts;
    const ts = Date.now();
    let roomId: string;
    let create: Pdu;
    if (rv.roomIdFromCreateEvent) {
      create = this.signed(
        { type: "m.room.create", state_key: "", sender: creator, content: createContent, origin_server_ts: ts, depth: 1, prev_events: [], auth_events: [] },
        rv,
      );
      roomId = roomIdFromCreateEvent(create, rv);
    } else {
      roomId = `!${randomString(18)}:${this.d.serverName}`;
      create = this.signed(
        { room_id: roomId, type: "m.room.create", state_key: "", sender: creator, content: createContent, origin_server_ts: ts, depth: 1, prev_events: [], auth_events: [] },
        rv,
      );
    }
    await this.roomLocks.run(roomId, async () => {
      const sizeIssues = checkPduSize(create, rv);
      if (sizeIssues.length) throw new MatrixError("M_TOO_LARGE", `m.room.create too large: ${sizeIssues[0]!.field + " " + sizeIssues[0]!.problem}`);
      const createEv = { ...create, event_id: computeEventId(create, rv) } as RoomEvent;
      const auth = checkAuth(createEv, new Map(), rv);
      if (!auth.allowed) throw new MatrixError("M_BAD_JSON", `Invalid m.room.create: ${auth.reason}`);
      await this.persist(createEv, rv, { newRoom: { creator, ts } });
      for (const input of rest(roomId)) await this.buildAndPersist(input, rv);
    });
    return roomId;
  }

  private signed(ev: Record<string, unknown>, rv: RoomVersion): Pdu {
    if (rv.eventIdInEvent) ev.event_id = `$${randomString(18)}:${this.d.serverName}`;
    return hashAndSignEvent(ev, rv, this.d.serverName, this.d.signingKey) as unknown as Pdu;
  }

  /** Must be called under the room lock. */
  private async buildAndPersist(input: LocalEventInput, rv: RoomVersion): Promise<PersistedEvent> {
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

    const prevIds = (await this.d.repo.forwardExtremities(roomId)).slice(0, MAX_PREV_EVENTS);
    const prevs = await this.loadEvents(prevIds);
    let depth = 0;
    for (const p of prevs.values()) depth = Math.max(depth, Number(p.depth));
    const authEventIds = selectAuthEvents(skeleton, authIds, rv);

    const ref = (id: string, ev: RoomEvent | undefined): string | [string, { sha256?: string }] =>
      rv.eventFormat === "v1" ? [id, { sha256: ev?.hashes?.sha256 ?? "" }] : id;
    const unsignedEvent: Record<string, unknown> = {
      ...skeleton,
      depth: Math.min(depth + 1, MAX_DEPTH),
      prev_events: prevIds.map((id) => ref(id, prevs.get(id))),
      auth_events: authEventIds.map((id) => ref(id, [...authState.values()].find((e) => e.event_id === id))),
    };
    delete unsignedEvent.hashes;
    delete unsignedEvent.signatures;
    const pdu = this.signed(unsignedEvent, rv);
    const sizeIssues = checkPduSize(pdu, rv);
    if (sizeIssues.length) throw new MatrixError("M_TOO_LARGE", `Event too large: ${sizeIssues[0]!.field + " " + sizeIssues[0]!.problem}`);
    const event = { ...pdu, event_id: computeEventId(pdu, rv) } as RoomEvent;

    const result = checkAuth(event, authState, rv);
    if (!result.allowed) throw new MatrixError("M_FORBIDDEN", `Not allowed: ${result.reason}`);

    const replaces = ownKey !== undefined ? authState.get(ownKey)?.event_id : undefined;
    return this.persist(event, rv, { txn: input.txn, replaces, authState });
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
    },
  ): Promise<PersistedEvent> {
    const { repo } = this.d;
    const roomId = event.room_id ?? roomIdFromCreateEvent(event, rv);
    const stateKey = eventStateMapKey(event);
    const membership = event.type === "m.room.member" ? String(event.content["membership"] ?? "") : null;
    const prevIds = (event.prev_events as unknown[]).map((r) => (typeof r === "string" ? r : (r as [string])[0]));
    const authIds = (event.auth_events as unknown[]).map((r) => (typeof r === "string" ? r : (r as [string])[0]));
    const redactTarget = event.type === "m.room.redaction" ? ((rv.redactsInContent ? event.content["redacts"] : event.redacts) as string | undefined) : undefined;
    const applyRedaction = redactTarget ? await this.redactionApplies(event, redactTarget, rv, opts.authState) : false;

    const stream = await this.d.streams.with(async (pos) => {
      await this.d.db.transaction(async (tx) => {
        if (opts.newRoom) await repo.insertRoom(tx, { room_id: roomId, room_version: rv.id, creator: opts.newRoom.creator, created_ts: opts.newRoom.ts });
        const room = await repo.findRoom(roomId, tx);
        let group = room?.current_state_group ?? null;
        if (stateKey !== undefined) {
          const [t, sk] = parseStateMapKey(stateKey);
          const delta: StateDelta = [[t, sk, event.event_id]];
          const prevGroup = group;
          group = await repo.insertStateGroup(tx, roomId, prevGroup, delta, async () => {
            const full = await repo.stateOfGroup(prevGroup!, {}, tx);
            return new Map([...full].map(([k, id]) => {
              const [tt, ss] = parseStateMapKey(k);
              return [k, [tt, ss, id] as [string, string, string]];
            }));
          });
          await repo.setCurrentStateGroup(tx, roomId, group);
          await repo.applyCurrentState(tx, roomId, [[t, sk, event.event_id, membership]]);
        }
        await repo.insertEvent(
          tx,
          {
            event_id: event.event_id,
            room_id: roomId,
            stream_ordering: pos,
            depth: Number(event.depth),
            type: event.type,
            state_key: event.state_key ?? null,
            sender: event.sender,
            origin_server_ts: Number(event.origin_server_ts),
            received_ts: Date.now(),
            json: JSON.stringify(stripEventId(event, rv)),
            outlier: 0,
            soft_failed: 0,
            rejected_reason: null,
            state_group: group,
            replaces_state: opts.replaces ?? null,
            txn_id: opts.txn?.txnId ?? null,
            device_id: opts.txn?.deviceId ?? null,
          },
          prevIds,
          authIds,
        );
        await repo.replaceForwardExtremities(tx, roomId, prevIds, [event.event_id]);
        if (membership !== null && event.state_key && this.isLocalUser(event.state_key)) {
          await repo.upsertLocalMembership(tx, event.state_key, roomId, membership, event.event_id, pos);
        }
        if (opts.txn) await repo.insertTxn(tx, event.sender, opts.txn.deviceId, opts.txn.txnId, roomId, event.event_id);
        if (applyRedaction && redactTarget) {
          await repo.setRedactedBy(tx, redactTarget, event.event_id);
          this.cache.delete(redactTarget);
        }
        for (const hook of this.hooks.inTransaction) await hook(tx, event, pos, rv);
      });
      return pos;
    });
    this.cache.set(event.event_id, event);
    this.d.notifier.notifyRoom(roomId);
    if (membership !== null && event.state_key) this.d.notifier.notifyUser(event.state_key);
    for (const hook of this.hooks.afterPersist) hook(event, stream);
    return { eventId: event.event_id, roomId, streamOrdering: stream, event };
  }

  /**
   * "Handling redactions" (rooms v3+; v1–v2 checked by the auth rules): a redaction applies when
   * its sender may redact (power level ≥ redact) or the redacted event comes from the same server
   * as the redaction — and, for local clients, only a user's own events without the power.
   */
  private async redactionApplies(redaction: RoomEvent, targetId: string, rv: RoomVersion, authState?: Map<string, RoomEvent>): Promise<boolean> {
    const target = await this.loadEvent(targetId);
    if (!target || target.room_id !== redaction.room_id) return false;
    if (target.type === "m.room.create") return false;
    if (target.sender === redaction.sender) return true;
    const state = authState ?? (await this.currentStateEvents(redaction.room_id!, [["m.room.create", ""], ["m.room.power_levels", ""]]));
    const pl = effectivePowerLevels(state.get(stateMapKey("m.room.power_levels", ""))?.content, state.get(stateMapKey("m.room.create", "")), rv);
    return userLevel(pl, redaction.sender) >= pl.redact;
  }

  isLocalUser(userId: string): boolean {
    return userId.endsWith(`:${this.d.serverName}`);
  }
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
