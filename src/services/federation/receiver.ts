// Receiving room events from other servers: "Checks performed on receipt of a PDU"
// (server-server-api.md). For each PDU:
//   1. format and size (drop), 2. signatures (drop), 3. content hash (redact on mismatch),
//   4. auth against its auth events (reject), 5. auth against the state before it (reject),
//   6. auth against the room's current state (soft-fail).
// Missing auth events are fetched (/event_auth); missing prev_events through /get_missing_events,
// and when a gap remains the state before the event is fetched (/state_ids + /event).
import { checkAuth, checkEventAgainstAuthEvents } from "../../core/auth-rules.ts";
import { authTypesForEvent } from "../../core/auth-events.ts";
import { computeEventId, createEventIdOfRoom } from "../../core/event-id.ts";
import { checkPdu, verifyEventSignaturesAsync } from "../../core/pdu.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import { CREATE_KEY, eventStateMapKey, parseStateMapKey, stateMapKey, type StateMap } from "../../core/state-map.ts";
import { refIds, type RoomEvent } from "../../protocol/events.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { Lru } from "../../util/lru.ts";
import { roomIdOf, type RoomEvents } from "../rooms/events.ts";
import type { StateResolver } from "../rooms/state-resolution.ts";
import type { FederationRequester, KeyLookup } from "./ports.ts";

const log = logger("federation");

export type PduOutcome = { eventId: string; error?: string };

const MAX_MISSING_EVENTS = 20;
/** How many rejected events the state before an event is looked for behind. */
const MAX_REJECTED_WALK = 20;

export interface ReceiverDeps {
  transaction: Transaction;
  repo: RoomsRepo;
  events: RoomEvents;
  resolver: StateResolver;
  keys: KeyLookup;
  fed: FederationRequester;
  serverName: string;
  /** Policy servers: events a room's policy server does not recommend are soft-failed (step 7). */
  policy?: { recommended(ev: RoomEvent, rv: RoomVersion, roomId: string): Promise<boolean> };
  /** Server ACLs: PDUs sent by a denied server are refused (server-server-api "Server Access Control Lists"). */
  acls?: { isAllowed(roomId: string, serverName: string): Promise<boolean> };
}

export class PduError extends Error {}
/** The event's signatures do not verify (step 2): the sender's server did not make it. */
export class PduSignatureError extends PduError {}

export class FederationReceiver {
  /**
   * The state after events we lack the state of (outliers, events we never got), as fetched from
   * other servers: an event after a rejected one may need it again (state never changes).
   */
  private readonly fetchedStateAfter = new Lru<string, Map<string, string>>(64, "fetched_state_after");

  constructor(private readonly d: ReceiverDeps) {}

  /**
   * Format, signature and hash checks (steps 1–3): the event as it must be used (redacted when its
   * content hash does not match), with its ID. Throws PduError for events to drop.
   */
  async checkSignedPdu(raw: unknown, rv: RoomVersion): Promise<RoomEvent> {
    const issues = checkPdu(raw, rv);
    if (issues.length) throw new PduError(`invalid event: ${issues[0]!.field} ${issues[0]!.problem}`);
    const pdu = raw as Record<string, unknown>;
    const v = await verifyEventSignaturesAsync(pdu, rv, (server, keyId, min) => this.d.keys.getVerifyKey(server, keyId, min));
    if (!v.ok) throw new PduSignatureError(`bad signature: ${v.failures.map((f) => `${f.server} ${f.reason}`).join("; ")}`);
    const ev = v.event as unknown as RoomEvent;
    ev.event_id = computeEventId(pdu, rv);
    return ev;
  }

  /** Handles one PDU of a /send transaction from `origin`. Never throws: errors are per PDU. */
  async receivePdu(origin: string, raw: unknown): Promise<PduOutcome> {
    const roomId = typeof (raw as { room_id?: unknown })?.room_id === "string" ? ((raw as { room_id: string }).room_id as string) : undefined;
    let eventId = "unknown";
    try {
      if (!roomId) throw new PduError("missing room_id");
      const rv = await this.d.events.roomVersion(roomId);
      if (!rv) throw new PduError("unknown room");
      const ev = await this.checkSignedPdu(raw, rv);
      eventId = ev.event_id;
      if (this.d.acls && !(await this.d.acls.isAllowed(roomId, origin))) throw new PduError(`Server ${origin} is denied by the room's server ACL`);
      await this.d.events.roomLocks.run(roomId, () => this.processEvent(origin, ev, rv, 0));
      return { eventId };
    } catch (e) {
      if (!(e instanceof PduError)) log.warn("failed to process PDU", { origin, event_id: eventId, error: (e as Error).message });
      return { eventId, error: (e as Error).message };
    }
  }

  /**
   * Steps 4–6 and persistence for a checked event (call under the room lock). `depth` bounds the
   * recursion of missing-event fetches.
   */
  async processEvent(origin: string, ev: RoomEvent, rv: RoomVersion, depth: number): Promise<void> {
    const roomId = ev.room_id!;
    if (await this.d.repo.findEvent(ev.event_id)) return;

    // As Synapse, the DAG comes first: missing prev_events are fetched and the state before the
    // event is known before the auth checks, so that what a rejected event leaves behind (the
    // events and state around it) is there for the events after it.
    // Missing prev_events: ask the origin for the gap, then process those first (oldest first).
    const prevIds = refIds(ev.prev_events);
    let missing = await this.unknownIds(prevIds);
    if (missing.length && depth === 0) {
      await this.fillGap(origin, ev, rv);
      missing = await this.unknownIds(prevIds);
      // An event pushed to us whose prev_events its server will not give us: refused (as Synapse
      // does), rather than trusting the state it would bring. Events fetched to fill the gap
      // (depth > 0) get the state after their missing prev_events asked of the origin instead.
      if (missing.length) throw new PduError(`prev_events not found: ${missing.slice(0, 5).join(", ")}`);
    }

    // The state before the event.
    let stateBefore: { group: number } | { map: Map<string, string>; base: number | null };
    const known = missing.length === 0 ? await this.d.resolver.stateAfterEvents(roomId, rv, prevIds) : undefined;
    if (known?.group !== undefined) stateBefore = { group: known.group };
    else if (known?.map) stateBefore = { map: known.map, base: await this.currentGroup(roomId) };
    else stateBefore = { map: await this.stateBeforeWithGap(origin, ev, rv), base: await this.currentGroup(roomId) };

    // Step 4: auth events (fetch those we lack from the origin).
    const authEvents = await this.authEventsOf(origin, ev, rv);
    const createEvent = await this.createEventOf(roomId, rv);
    const rejectedIds = await this.rejectedAmong(refIds(ev.auth_events));
    const authCheck = checkEventAgainstAuthEvents(ev, authEvents, rv, { createEvent, isRejected: (id) => rejectedIds.has(id) });
    if (!authCheck.allowed) {
      log.info("rejected event (auth events)", { event_id: ev.event_id, reason: authCheck.reason });
      await this.persistRejected(ev, rv, authCheck.reason);
      return;
    }

    // Step 5: against the state before the event.
    const beforeAuth = await this.authStateFrom(roomId, ev, rv, stateBefore);
    const r5 = checkAuth(ev, beforeAuth, rv);
    if (!r5.allowed) {
      log.info("rejected event (state before)", { event_id: ev.event_id, reason: r5.reason });
      await this.persistRejected(ev, rv, r5.reason);
      return;
    }

    // Step 6: soft failure against the current state.
    const current = await this.d.events.currentStateEvents(roomId, authTypesForEvent(ev, rv, { includeCreate: true }).map(parseStateMapKey));
    const r6 = checkAuth(ev, current, rv);
    let softFailed = !r6.allowed;
    if (!r6.allowed) log.info("soft-failed event", { event_id: ev.event_id, reason: r6.reason });
    // Step 7: the room's policy server recommends it (v1.18).
    if (!softFailed && this.d.policy && !(await this.d.policy.recommended(ev, rv, roomId))) {
      softFailed = true;
      log.info("soft-failed event (not signed by the room's policy server)", { event_id: ev.event_id });
    }

    await this.d.events.persistReceived(ev, rv, {
      stateBefore,
      softFailed,
      resolve: (sets) => this.d.resolver.resolve(roomId, rv, sets),
    });
  }

  /**
   * Fetches history older than our backward extremities from `servers` (GET /backfill) and stores
   * it (checked: signatures, hashes, auth events). True when new events were stored.
   */
  async backfill(roomId: string, servers: readonly string[], limit: number): Promise<boolean> {
    const rv = await this.d.events.roomVersion(roomId);
    if (!rv) return false;
    const extremities = await this.d.events.backwardExtremities(roomId);
    if (extremities.length === 0) return false;
    const earliest = await this.d.repo.earliestTimelineEventWithState(roomId);
    if (earliest?.state_group == null) return false;
    // History before the earliest event we have shares the state *before* it: after a remote join
    // that is the state without the join, so events from before a `joined`-visibility join stay
    // hidden from the joiner. (Backfilled events already carry such a "before" group.)
    const groupBefore = Number(earliest.stream_ordering) >= 0 ? await this.d.events.stateGroupBefore(roomId, earliest) : Number(earliest.state_group);
    for (const server of servers) {
      if (server === this.d.serverName) continue;
      let pdus: unknown[];
      try {
        const res = await this.d.fed.request<{ pdus?: unknown[] }>({
          destination: server,
          method: "GET",
          path: `/_matrix/federation/v1/backfill/${encodeURIComponent(roomId)}`,
          query: { v: extremities, limit: String(Math.min(limit, 100)) },
        });
        pdus = res.pdus ?? [];
      } catch (e) {
        log.info("backfill failed", { server, room_id: roomId, error: (e as Error).message });
        continue;
      }
      const events: RoomEvent[] = [];
      for (const raw of pdus) {
        try {
          const ev = await this.checkSignedPdu(raw, rv);
          if (roomIdOf(ev, rv) === roomId) events.push(ev);
        } catch (e) {
          log.info("dropped backfilled event", { server, error: (e as Error).message });
        }
      }
      if (events.length === 0) continue;
      events.sort((a, b) => Number(a.depth) - Number(b.depth));
      const createEvent = await this.createEventOf(roomId, rv);
      let stored = 0;
      await this.d.events.roomLocks.run(roomId, async () => {
        for (const ev of events) {
          if ((await this.d.repo.findEvent(ev.event_id))?.outlier === 0) continue;
          const authEvents = await this.authEventsOf(server, ev, rv);
          const rejected = await this.rejectedAmong(refIds(ev.auth_events));
          const r = checkEventAgainstAuthEvents(ev, authEvents, rv, { createEvent, isRejected: (id) => rejected.has(id) });
          await this.d.events.persistBackfilled(ev, rv, groupBefore, r.allowed ? undefined : r.reason);
          if (r.allowed) stored++;
        }
      });
      if (stored > 0) return true;
    }
    return false;
  }

  private async persistRejected(ev: RoomEvent, rv: RoomVersion, reason: string): Promise<void> {
    await this.d.events.persistReceived(ev, rv, {
      stateBefore: { map: new Map(), base: null },
      rejectedReason: reason,
      resolve: async () => new Map(),
    });
  }

  private async currentGroup(roomId: string): Promise<number | null> {
    const room = await this.d.repo.findRoom(roomId);
    return room?.current_state_group == null ? null : Number(room.current_state_group);
  }

  private async unknownIds(ids: readonly string[]): Promise<string[]> {
    const rows = await this.d.repo.getEvents(ids);
    return ids.filter((id) => !rows.has(id) || rows.get(id)!.outlier === 1);
  }

  private async rejectedAmong(ids: readonly string[]): Promise<Set<string>> {
    const rows = await this.d.repo.getEvents(ids);
    return new Set([...rows.values()].filter((r) => r.rejected_reason !== null).map((r) => r.event_id));
  }

  /** v12+: the room's create event, implied by the room ID (not among the auth events). */
  private async createEventOf(roomId: string, rv: RoomVersion): Promise<RoomEvent | undefined> {
    if (!rv.roomIdFromCreateEvent) return undefined;
    return this.d.events.loadEvent(createEventIdOfRoom(roomId, rv));
  }

  /** The event's auth events, fetching the ones we lack (with their auth chain) from `origin`. */
  private async authEventsOf(origin: string, ev: RoomEvent, rv: RoomVersion): Promise<Map<string, RoomEvent>> {
    const ids = refIds(ev.auth_events);
    let have = await this.d.events.loadEvents(ids);
    if (have.size < ids.length) {
      let chain: unknown[];
      try {
        const res = await this.d.fed.request<{ auth_chain: unknown[] }>({
          destination: origin,
          method: "GET",
          path: `/_matrix/federation/v1/event_auth/${encodeURIComponent(ev.room_id!)}/${encodeURIComponent(ev.event_id)}`,
        });
        chain = res.auth_chain ?? [];
      } catch (e) {
        // A server that does not answer /event_auth (for this event): the missing auth events
        // one by one with GET /event, and theirs, a few levels deep.
        log.info("event_auth failed; fetching auth events one by one", { origin, event_id: ev.event_id, error: (e as Error).message });
        chain = await this.fetchAuthEventsOneByOne(origin, ids.filter((id) => !have.has(id)));
      }
      await this.storeOutliers(chain, rv, ev.room_id!);
      have = await this.d.events.loadEvents(ids);
    }
    return have;
  }

  /** Fetches events and the auth events they lack (up to 3 levels, 50 events) with GET /event. */
  private async fetchAuthEventsOneByOne(origin: string, missing: string[]): Promise<unknown[]> {
    const out: unknown[] = [];
    const seen = new Set<string>();
    let wanted = missing;
    for (let level = 0; level < 3 && wanted.length > 0 && seen.size < 50; level++) {
      const next: string[] = [];
      for (const id of wanted.slice(0, 50 - seen.size)) {
        seen.add(id);
        const pdu = await this.d.fed
          .request<{ pdus: unknown[] }>({ destination: origin, method: "GET", path: `/_matrix/federation/v1/event/${encodeURIComponent(id)}` })
          .then((r) => r.pdus?.[0])
          .catch(() => undefined);
        if (!pdu || typeof pdu !== "object") continue;
        out.push(pdu);
        const auth = (pdu as { auth_events?: unknown }).auth_events;
        if (Array.isArray(auth)) for (const a of refIds(auth as string[])) if (typeof a === "string" && !seen.has(a)) next.push(a);
      }
      const known = await this.d.events.loadEvents(next);
      wanted = [...new Set(next.filter((id) => !known.has(id)))];
    }
    return out;
  }

  /**
   * Checks and stores events as outliers (auth chains, fetched state). Each must pass the auth
   * rules against its own auth events, processed in depth order; failures are stored as rejected.
   */
  async storeOutliers(raw: readonly unknown[], rv: RoomVersion, roomId: string): Promise<Map<string, RoomEvent>> {
    const checked: RoomEvent[] = [];
    for (const r of raw) {
      try {
        const ev = await this.checkSignedPdu(r, rv);
        if (checked.some((c) => c.event_id === ev.event_id)) continue;
        if (roomIdOf(ev, rv) === roomId) checked.push(ev);
      } catch (e) {
        log.info("dropped fetched event", { error: (e as Error).message });
      }
    }
    checked.sort((a, b) => Number(a.depth) - Number(b.depth));
    const byId = new Map(checked.map((e) => [e.event_id, e]));
    const known = await this.d.events.loadEvents(checked.flatMap((e) => refIds(e.auth_events)));
    const rejected = new Set<string>((await this.rejectedAmong([...known.keys()])).values());
    const createEvent = rv.roomIdFromCreateEvent ? (byId.get(createEventIdOfRoom(roomId, rv)) ?? (await this.createEventOf(roomId, rv))) : undefined;
    const out: Array<{ event: RoomEvent; rejectedReason?: string }> = [];
    for (const ev of checked) {
      const authEvents = new Map<string, RoomEvent>();
      for (const id of refIds(ev.auth_events)) {
        const a = byId.get(id) ?? known.get(id);
        if (a) authEvents.set(id, a);
      }
      const r = checkEventAgainstAuthEvents(ev, authEvents, rv, { createEvent, isRejected: (id) => rejected.has(id) });
      if (!r.allowed) rejected.add(ev.event_id);
      out.push(r.allowed ? { event: ev } : { event: ev, rejectedReason: r.reason });
    }
    await this.d.events.persistOutliers(out, rv);
    return byId;
  }

  /** Fetches the events between our forward extremities and `ev` and processes them, oldest first. */
  private async fillGap(origin: string, ev: RoomEvent, rv: RoomVersion): Promise<void> {
    const roomId = ev.room_id!;
    const earliest = await this.d.repo.forwardExtremities(roomId);
    let res: { events?: unknown[] };
    try {
      res = await this.d.fed.request<{ events?: unknown[] }>({
        destination: origin,
        method: "POST",
        path: `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(roomId)}`,
        body: { earliest_events: earliest, latest_events: [ev.event_id], limit: MAX_MISSING_EVENTS, min_depth: 0 },
      });
    } catch (e) {
      log.info("get_missing_events failed", { origin, error: (e as Error).message });
      return;
    }
    const fetched: RoomEvent[] = [];
    for (const r of res.events ?? []) {
      try {
        fetched.push(await this.checkSignedPdu(r, rv));
      } catch (e) {
        log.info("dropped missing event", { error: (e as Error).message });
      }
    }
    fetched.sort((a, b) => Number(a.depth) - Number(b.depth));
    for (const m of fetched) {
      if (m.room_id !== roomId || m.event_id === ev.event_id) continue;
      try {
        await this.processEvent(origin, m, rv, 1);
      } catch (e) {
        // Stays missing: the event that needed it is refused.
        log.info("failed to process a missing event", { origin, event_id: m.event_id, error: (e as Error).message });
      }
    }
  }

  /**
   * The room state before `ev` when some of its prev_events (or the state after them) are unknown:
   * the state after each prev event (from our own state groups when we have them, else asked of
   * `origin` for that prev event), resolved together.
   */
  private async stateBeforeWithGap(origin: string, ev: RoomEvent, rv: RoomVersion): Promise<Map<string, string>> {
    return this.stateAfterAll(origin, ev.room_id!, refIds(ev.prev_events), rv, { walks: MAX_REJECTED_WALK });
  }

  /** The state after each of `ids`, resolved together (see stateBeforeWithGap). */
  private async stateAfterAll(
    origin: string,
    roomId: string,
    ids: readonly string[],
    rv: RoomVersion,
    budget: { walks: number },
  ): Promise<Map<string, string>> {
    const prevIds = [...new Set(ids)];
    const unknown = new Set(await this.unknownIds(prevIds));
    const rows = await this.d.repo.getEvents(prevIds);
    const sets: Array<Map<string, string>> = [];
    for (const id of prevIds) {
      const known = unknown.has(id) ? undefined : await this.d.resolver.stateAfterEvents(roomId, rv, [id]);
      const row = rows.get(id);
      if (known?.group !== undefined) sets.push(await this.d.repo.stateOfGroup(known.group));
      else if (known?.map) sets.push(known.map);
      else if (row && row.outlier === 0 && row.rejected_reason !== null && row.state_group === null && budget.walks > 0) {
        // A rejected event (in the timeline, without state of its own) changes no state: the state
        // after it is the state after its prev_events, which may be the ones we lack.
        budget.walks--;
        const rejected = await this.d.events.loadEvent(id);
        sets.push(rejected ? await this.stateAfterAll(origin, roomId, refIds(rejected.prev_events), rv, budget) : await this.fetchStateAfter(origin, roomId, id, rv));
      } else {
        let fetched = this.fetchedStateAfter.get(`${roomId}\0${id}`);
        if (!fetched) this.fetchedStateAfter.set(`${roomId}\0${id}`, (fetched = await this.fetchStateAfter(origin, roomId, id, rv)));
        sets.push(new Map(fetched));
      }
    }
    if (sets.length === 1) return sets[0]!;
    return this.d.resolver.resolve(roomId, rv, sets);
  }

  /**
   * The room state after the event `eventId` (which we lack, or lack the state of), asked of
   * `origin`: /state_ids at it (the state before it), the events we lack fetched with /event and
   * stored as outliers (the event itself too), and the event added when it is an accepted state event.
   */
  private async fetchStateAfter(origin: string, roomId: string, eventId: string, rv: RoomVersion): Promise<Map<string, string>> {
    const ids = await this.d.fed.request<{ pdu_ids: string[]; auth_chain_ids: string[] }>({
      destination: origin,
      method: "GET",
      path: `/_matrix/federation/v1/state_ids/${encodeURIComponent(roomId)}`,
      query: { event_id: eventId },
    });
    const pduIds = Array.isArray(ids.pdu_ids) ? ids.pdu_ids.filter((id): id is string => typeof id === "string") : [];
    const authIds = Array.isArray(ids.auth_chain_ids) ? ids.auth_chain_ids.filter((id): id is string => typeof id === "string") : [];
    const wanted = [...new Set([...pduIds, ...authIds, eventId])];
    const have = await this.d.events.loadEvents(wanted);
    const lacking = wanted.filter((id) => !have.has(id));
    const fetched: unknown[] = [];
    // Fetch missing events one by one (bounded parallelism).
    for (let i = 0; i < lacking.length; i += 10) {
      const batch = await Promise.all(
        lacking.slice(i, i + 10).map((id) =>
          this.d.fed
            .request<{ pdus: unknown[] }>({ destination: origin, method: "GET", path: `/_matrix/federation/v1/event/${encodeURIComponent(id)}` })
            .then((r) => r.pdus?.[0])
            .catch(() => undefined),
        ),
      );
      for (const p of batch) if (p) fetched.push(p);
    }
    await this.storeOutliers(fetched, rv, roomId);
    const stateEvents = await this.d.events.loadEvents(pduIds);
    const map: StateMap<string> = new Map();
    for (const e of stateEvents.values()) {
      if (roomIdOf(e, rv) !== roomId) continue;
      const k = eventStateMapKey(e);
      if (k !== undefined) map.set(k, e.event_id);
    }
    const self = (await this.d.events.loadEvents([eventId])).get(eventId);
    if (self && roomIdOf(self, rv) === roomId && !(await this.rejectedAmong([eventId])).has(eventId)) {
      const k = eventStateMapKey(self);
      if (k !== undefined) map.set(k, eventId);
    }
    return map;
  }

  /** The auth-relevant part of a state (group or map) as events. */
  private async authStateFrom(
    roomId: string,
    ev: RoomEvent,
    rv: RoomVersion,
    state: { group: number } | { map: Map<string, string> },
  ): Promise<Map<string, RoomEvent>> {
    const keys = authTypesForEvent(ev, rv, { includeCreate: true }).map(parseStateMapKey);
    const ids =
      "group" in state
        ? await this.d.repo.stateOfGroup(state.group, { keys })
        : new Map(keys.map(([t, s]) => [stateMapKey(t, s), state.map.get(stateMapKey(t, s))]).filter((e): e is [string, string] => e[1] !== undefined));
    const evs = await this.d.events.loadEvents([...ids.values()]);
    const out = new Map<string, RoomEvent>();
    for (const [k, id] of ids) {
      const e = evs.get(id);
      if (e) out.set(k, e);
    }
    if (rv.roomIdFromCreateEvent && !out.has(CREATE_KEY)) {
      const c = await this.createEventOf(roomId, rv);
      if (c) out.set(CREATE_KEY, c);
    }
    return out;
  }
}
