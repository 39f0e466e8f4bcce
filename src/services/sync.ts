// GET /sync (spec: client-server-api/_index.md "Syncing", "Filtering", "Lazy-loading room
// members"; data/api/client-server/sync.yaml).
//
// A sync token `s<stream>_<typing>` names a position in the global stream (events, memberships,
// account data, receipts all take positions there) and the typing serial. A sync covers the range
// (since, to] where `to` is the stream position visible when the computation starts; everything is
// read bounded by it, so nothing committed later is half-shown, and the next sync picks it up.
//
// Per room: the timeline is the newest `limit` visible events of the range (`limited` when more
// exist, `prev_batch` a topological token /messages continues from); `state` is the state at the
// start of the timeline (initial sync, full_state, newly joined rooms) or, for an incremental
// limited sync, the state keys that changed in the gap with their values at the timeline start;
// `state_after` (use_state_after) is the same up to the end of the timeline. State is read from
// state groups with key/type filters: lazy loading never reads a room's whole member list.
//
// Long-polling: an incremental sync with nothing to report waits on the Notifier (by user and by
// joined room) and recomputes when woken; a wake-up that happened between the computation and
// registering the wait is caught by comparing the stream and typing positions after registering.
import type { StateFilter } from "../storage/repos/rooms.ts";
import { memberKey, parseStateMapKey, stateMapKey } from "../core/state-map.ts";
import { splitPropertyPath } from "../core/push-rules.ts";
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { AccountDataRepo } from "../storage/repos/account-data.ts";
import type { ReceiptRow, ReceiptsRepo } from "../storage/repos/receipts.ts";
import type { EventRow, RoomsRepo } from "../storage/repos/rooms.ts";
import type { SyncRepo } from "../storage/repos/sync.ts";
import { Lru } from "../util/lru.ts";
import type { Notifier } from "./notifier.ts";
import type { PushActions, RoomUnread } from "./push.ts";
import { rowToEvent, type RoomEvents } from "./rooms/events.ts";
import { applyRoomEventFilter, eventFilterMatches, roomAllowed, type RoomEventFilter, type SyncFilter } from "./rooms/filters.ts";
import { clientFormat, toClientEvents, type ClientEvent } from "./rooms/format.ts";
import { decodeStreamToken, encodeStreamToken, encodeTopoToken } from "./rooms/tokens.ts";
import { inviteHidden, type HiddenInvites, type Visibility } from "./rooms/visibility.ts";
import { INVITE_PERMISSION_CONFIG } from "./invite-permission.ts";
import type { StreamAllocator } from "./streams.ts";
import { membershipHistory, readTimeline, receiptContent, stateAfterEvent, stateAtStream, stateBeforeEvent, strippedStateFor } from "./sync-common.ts";
import type { Typing } from "./typing.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

export const DEFAULT_TIMELINE_LIMIT = 10;
export const MAX_TIMELINE_LIMIT = 1000;
/** Longest long-poll honoured (the listener closes connections idle for 120 s). */
export const MAX_SYNC_TIMEOUT_MS = 100_000;
/** Rooms computed concurrently (helps PostgreSQL; SQLite runs them one after another anyway). */
const ROOM_CONCURRENCY = 8;
const MAX_HEROES = 5;

export type SyncEvent = Record<string, unknown>;

export interface TimelineBatch {
  events: SyncEvent[];
  limited: boolean;
  prev_batch?: string;
}

export interface JoinedRoomSync {
  summary?: Record<string, unknown>;
  state?: { events: SyncEvent[] };
  state_after?: { events: SyncEvent[] };
  timeline: TimelineBatch;
  ephemeral: { events: SyncEvent[] };
  account_data: { events: SyncEvent[] };
  unread_notifications: { notification_count: number; highlight_count: number };
  unread_thread_notifications?: Record<string, { notification_count: number; highlight_count: number }>;
}

export interface LeftRoomSync {
  state?: { events: SyncEvent[] };
  state_after?: { events: SyncEvent[] };
  timeline: TimelineBatch;
  account_data: { events: SyncEvent[] };
}

export interface SyncResponse {
  next_batch: string;
  account_data: { events: SyncEvent[] };
  presence: { events: SyncEvent[] };
  rooms: {
    join: Record<string, JoinedRoomSync>;
    invite: Record<string, { invite_state: { events: SyncEvent[] } }>;
    leave: Record<string, LeftRoomSync>;
    knock: Record<string, { knock_state: { events: SyncEvent[] } }>;
  };
  to_device: { events: SyncEvent[] };
  device_lists?: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
  [key: string]: unknown;
}

export interface SyncRequest {
  userId: string;
  deviceId: string | null;
  /** The `since` token; undefined for an initial sync. */
  since?: string;
  filter: SyncFilter;
  fullState?: boolean;
  timeoutMs?: number;
  useStateAfter?: boolean;
  /** The `set_presence` parameter (online, offline, unavailable), for the presence module. */
  setPresence?: string;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

export interface SyncExtensionContext {
  userId: string;
  deviceId: string | null;
  /** The stream position of `since`; undefined for an initial sync. */
  since?: number;
  /** The upper bound of this sync (inclusive). */
  to: number;
  fullState: boolean;
  filter: SyncFilter;
  /** The `set_presence` parameter, when given. */
  setPresence?: string;
  /**
   * (since, to] holds only new timeline events of rooms (Notifier.timelineOnly): no position of
   * account data, receipts, memberships, to-device, device lists or presence. An extension whose
   * data moves with the stream has nothing new and need not look; it still fills what it always
   * reports (e.g. one-time key counts). Never set on an initial sync.
   */
  quiet?: boolean;
  /**
   * With `quiet`: this request already read this device's to-device inbox (acknowledging up to an
   * earlier `since`) and found it empty; new messages would have taken a stream position.
   */
  inboxRead?: boolean;
  /**
   * Only whether there is news matters (a long-poll that waits when there is none): parts always
   * reported may be left out unless the extension reports news.
   */
  newsOnly?: boolean;
}

/**
 * Fills top-level parts of a response (to_device, device_lists, one-time key counts, presence)
 * for the range (since, to]; returns true when it added something new, which ends a long-poll.
 * Wake waiting syncs with Notifier.notifyUser after storing something.
 */
export type SyncExtension = (ctx: SyncExtensionContext, body: SyncResponse) => Promise<boolean>;

export interface SyncDeps {
  repo: RoomsRepo;
  syncRepo: SyncRepo;
  events: RoomEvents;
  visibility: Visibility;
  accountData: AccountDataRepo;
  /** Server-managed global account data types and how they are shown (AccountData.views). */
  accountDataViews?: ReadonlyMap<string, (userId: string, stored: JsonObject | undefined) => Promise<JsonObject | undefined>>;
  receipts: ReceiptsRepo;
  push: PushActions;
  typing: Typing;
  streams: StreamAllocator;
  notifier: Notifier;
}

interface Membership {
  room_id: string;
  membership: string;
  event_id: string;
  stream_ordering: number;
}

/** What a computation gives: the response, whether it has news (ends a long-poll), the joined rooms to wait on. */
export interface Computed {
  body: SyncResponse;
  news: boolean;
  rooms: string[];
  /** The body lacks what is always reported (SyncExtensionContext.newsOnly): compute it before sending. */
  partial?: boolean;
}

/** Fan-out (Sync.fromMemory): the new events of one room in a range, read and formatted once. */
interface RoomDelivery {
  /** Newest first. */
  rows: EventRow[];
  /** Each sender's member event at these events. */
  members: Map<string, string>;
  /** The event as /sync shows it (client format, or federation format). */
  format(r: EventRow, federation: boolean): SyncEvent;
}

/** (room, range) entries kept for the fan-out path. */
const MAX_DELIVERIES = 256;

/** Everything one computation shares across rooms. */
interface Pass {
  req: SyncRequest;
  since?: { stream: number; typing: number };
  to: number;
  fullState: boolean;
  limit: number;
  lazy: boolean;
  redundant: boolean;
  threads: boolean;
  roomsWithEvents?: Set<string>;
  receipts: Map<string, ReceiptRow[]>;
  roomAccountData: Map<string, SyncEvent[]>;
  /** Member event IDs already sent to this device, per room (lazy loading). */
  sentMembers: Map<string, Map<string, string>>;
}


export class Sync {
  /** Providers of to_device, device_lists, key counts, presence... (E2EE and presence modules). */
  readonly extensions: SyncExtension[] = [];
  /**
   * Run when a /sync request starts, before its upper bound is taken (presence: `set_presence`
   * marks the user online, a change the request's own range then covers). `since`: the stream
   * position of its token, undefined for an initial sync.
   */
  readonly beforeSync: Array<(userId: string, setPresence: string | undefined, since: number | undefined) => Promise<void>> = [];
  /** Lazy loading: per (user, device), the member events each room's client already has. */
  private readonly lazyCache = new Lru<string, Map<string, Map<string, string>>>(2000, "sync_lazy_members");
  private closed = false;
  /** Fan-out: what every waiter woken for the same new events of a room shares, per (room, range). */
  private readonly deliveries = new Map<string, Promise<RoomDelivery | undefined>>();
  /** Per user, the joined rooms (unfiltered, in membership order) a computation saw at position `at`. */
  private readonly joinedOf = new Lru<string, { rooms: string[]; at: number }>(20_000, "sync_joined_rooms");
  /** How incremental syncs were answered: from memory (fan-out path) or by the full computation. */
  readonly answered = { fromMemory: 0, computed: 0 };

  constructor(private readonly d: SyncDeps) {}

  /** Ends long-polls (shutdown). */
  close(): void {
    this.closed = true;
  }

  async sync(req: SyncRequest): Promise<SyncResponse> {
    let since = req.since !== undefined ? decodeStreamToken(req.since) : undefined;
    // Another process may have handed the token out before this one saw that far (docs/SCALING.md).
    if (since) await this.d.streams.catchUp(since.stream);
    // A token from the future (e.g. a restored database) is read as "now".
    if (since && since.stream > this.d.streams.current()) since = { stream: this.d.streams.current(), typing: since.typing };
    const wait = since !== undefined && !req.fullState;
    const deadline = Date.now() + (wait ? Math.max(0, Math.min(req.timeoutMs ?? 0, MAX_SYNC_TIMEOUT_MS)) : 0);
    for (const hook of this.beforeSync) await hook(req.userId, req.setPresence, since?.stream);
    /** The joined rooms of the last computation, once woken (the fan-out path starts from them). */
    let woken: string[] | undefined;
    for (;;) {
      const to = this.d.streams.current();
      const typingTo = this.d.typing.current();
      let quick: Computed | undefined;
      if (since && !req.fullState) {
        // Woken: the rooms of the last computation; a new request: those known for the user.
        const joined = woken ?? this.knownJoined(req, since.stream);
        // When it will wait, only whether there is news matters (an empty answer is not sent).
        if (joined) quick = await this.fromMemory(req, since, to, typingTo, joined, woken !== undefined, wait && deadline > Date.now());
        this.answered[quick ? "fromMemory" : "computed"]++;
      }
      const { body, news, rooms, partial } = quick ?? (await this.compute(req, since, to, typingTo));
      const remaining = deadline - Date.now();
      if (news || !wait || remaining <= 0 || this.closed || req.signal?.aborted) {
        return partial ? (await this.compute(req, since, to, typingTo)).body : body;
      }
      // Nothing new in (since, to]: the response would have said so with next_batch = to, so the
      // next round only needs to look at what comes after.
      since = { stream: to, typing: typingTo };
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const waiting = this.d.notifier.wait(req.userId, rooms, remaining, ac.signal);
      // Registered: anything persisted from now on wakes us. Catch what came in before that.
      const missed = this.d.streams.current() !== to || this.d.typing.current() !== typingTo;
      if (missed) ac.abort();
      const notified = await waiting;
      woken = rooms;
      req.signal?.removeEventListener("abort", onAbort);
      if (!notified && !missed) {
        // Timed out, client gone or shutting down: answer with the latest position.
        if (req.signal?.aborted || this.closed) return body;
        return (await this.compute(req, since, this.d.streams.current(), this.d.typing.current())).body;
      }
      // What woke us is committed, but may sit above a position still being written elsewhere:
      // wait until it is visible (usually at once).
      if (notified) await this.d.streams.waitUntil(this.d.streams.lastAllocated(), Math.max(0, deadline - Date.now()));
    }
  }

  // ------------------------------------------------------------------ fan-out: answering from memory

  /**
   * The incremental sync over (since, to] without the full computation, when all that happened in
   * the range is new timeline events (Notifier.timelineOnly) and, for this waiter, they are only
   * "these new events in these rooms": no typing change, no limited timeline, none of its own
   * events, no lazy-loaded member it lacks. The events are read and formatted once per (room,
   * range) for every waiter; per waiter remain the filter, ignored users, unread counts and the
   * extensions' always-reported parts. Undefined when it is not that simple: compute in full.
   * The answer is the one `compute` gives (tests/sync/fanout.test.ts compares them), but for
   * `unsigned.age`, which is taken when the events are formatted.
   * `joined`: the joined rooms (filtered, in order) of the computation that ended at `since`.
   */
  async fromMemory(
    req: SyncRequest,
    since: { stream: number; typing: number },
    to: number,
    typingTo: number,
    joined: readonly string[],
    inboxRead = false,
    newsOnly = false,
  ): Promise<Computed | undefined> {
    if (typingTo !== since.typing || req.fullState) return undefined;
    const positions = this.d.notifier.timelineOnly(since.stream, to);
    if (!positions) return undefined;
    const { userId } = req;
    const f = req.filter;
    const rf = f.room ?? {};
    const lazy = rf.state?.lazy_load_members === true;
    const redundant = rf.state?.include_redundant_members === true;
    const sentMembers = this.lazyCache.get(`${userId}\u0000${req.deviceId ?? ""}`);
    if (!sentMembers) return undefined;
    const limit = Math.max(0, Math.min(rf.timeline?.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT));
    // readTimeline's first batch: more rows than that, and it would read again (limited or not).
    const batchSize = Math.min(Math.max((limit + 1) * 2, 20), 200);
    const withEvents = new Set(positions.map((p) => p.roomId));

    const body = emptySyncBody(encodeStreamToken(to, typingTo), true);
    const results = new Map<string, JoinedRoomSync>();
    for (const roomId of joined) {
      if (!withEvents.has(roomId)) continue;
      const d = await this.delivery(roomId, since.stream, to);
      if (!d || d.rows.length >= batchSize) return undefined;
      const rows = await this.d.visibility.withoutIgnored(userId, applyRoomEventFilter(d.rows, rf.timeline));
      if (rows.length > limit) return undefined;
      if (rows.length === 0) continue;
      const sent = sentMembers.get(roomId);
      for (const r of rows) {
        // Its own events carry its transaction ID: the full computation formats them.
        if (r.sender === userId) return undefined;
        const member = d.members.get(r.sender);
        // A member event the client lacks would go into `state`.
        if (lazy && member !== undefined && (redundant || sent?.get(r.sender) !== member)) return undefined;
      }
      rows.reverse();
      const first = rows[0]!;
      const out: JoinedRoomSync = {
        timeline: {
          events: rows.map((r) => d.format(r, f.event_format === "federation")),
          limited: false,
          prev_batch: encodeTopoToken({ depth: Number(first.depth), stream: Number(first.stream_ordering) }),
        },
        ephemeral: { events: [] },
        account_data: { events: [] },
        unread_notifications: { notification_count: 0, highlight_count: 0 },
      };
      if (req.useStateAfter) out.state_after = { events: [] };
      else out.state = { events: [] };
      results.set(roomId, out);
    }
    if (results.size) {
      // One room (the usual wake-up): counted with every other waiter of that room at once.
      const [only] = results.keys();
      const unread = results.size === 1 ? new Map([[only!, await this.d.push.unreadInRoom(userId, only!)]]) : await this.d.push.unreadCounts(userId, [...results.keys()]);
      const threads = rf.timeline?.unread_thread_notifications === true;
      for (const roomId of joined) {
        const room = results.get(roomId);
        if (!room) continue;
        setUnread(room, unread.get(roomId), threads);
        body.rooms.join[roomId] = room;
      }
    }
    let news = results.size > 0;
    const ctx: SyncExtensionContext = {
      userId,
      deviceId: req.deviceId,
      since: since.stream,
      to,
      fullState: false,
      filter: f,
      setPresence: req.setPresence,
      quiet: true,
      inboxRead,
      newsOnly: newsOnly && !news,
    };
    for (const ext of this.extensions) if (await ext(ctx, body)) news = true;
    if (f.event_fields) applyEventFields(body, f.event_fields);
    return { body, news, rooms: [...joined], partial: ctx.newsOnly && !news };
  }

  /**
   * A new request's joined rooms (filtered, in membership order) without reading them: those a
   * computation of this user saw at a position `at` <= since, when nothing but timeline events
   * happened since (no membership changed). Undefined: unknown.
   */
  private knownJoined(req: SyncRequest, since: number): string[] | undefined {
    const known = this.joinedOf.get(req.userId);
    if (!known || known.at > since || !this.d.notifier.timelineOnly(known.at, since)) return undefined;
    const rf = req.filter.room ?? {};
    return known.rooms.filter((r) => roomAllowed(rf, r));
  }

  /** The shared part of the fan-out answers for new events of a room in (from, to]. */
  private delivery(roomId: string, from: number, to: number): Promise<RoomDelivery | undefined> {
    const key = `${roomId}\u0000${from}\u0000${to}`;
    let d = this.deliveries.get(key);
    // Something else came after `to` (a redaction of one of these events, say): read them again.
    if (d && !this.d.notifier.timelineOnly(to, this.d.streams.current())) d = undefined;
    if (!d) {
      d = this.loadDelivery(roomId, from, to).catch(() => undefined);
      this.deliveries.set(key, d);
      if (this.deliveries.size > MAX_DELIVERIES) this.deliveries.delete(this.deliveries.keys().next().value!);
    }
    return d;
  }

  private async loadDelivery(roomId: string, from: number, to: number): Promise<RoomDelivery | undefined> {
    // Newest first, as readTimeline reads them.
    const rows = await this.d.repo.roomEventsByStream(roomId, from, to, 201, true);
    if (rows.length > 200) return undefined;
    // One state group for all (no state in between): the state before the first and after the last
    // shown event are the same, and nothing in the range changed state (nor did a resolution).
    const groups = new Set(rows.map((r) => r.state_group));
    if (groups.size > 1 || rows.some((r) => r.state_key !== null || r.state_group === null)) return undefined;
    if ((await this.d.syncRepo.stateKeysChangedBetween(roomId, from, to)).length) return undefined;
    if (rows.length && !(await this.d.events.roomVersion(roomId))) return undefined;
    const members = new Map<string, string>();
    if (rows.length) {
      const senders = [...new Set(rows.map((r) => r.sender))];
      const state = await this.d.repo.stateOfGroup(Number(rows[0]!.state_group), { keys: senders.map((u) => ["m.room.member", u] as [string, string]) });
      for (const u of senders) {
        const id = state.get(memberKey(u));
        if (id !== undefined) members.set(u, id);
      }
    }
    // Every waiter is joined since before the range: its membership at each event is "join" (and
    // what differs per viewer — the sender's transaction ID, bundled aggregations — is not used).
    const client = new Map<string, SyncEvent>();
    const evs = await toClientEvents(this.d.events, rows, undefined, { withRoomId: false, bundle: false, membership: "join" });
    rows.forEach((r, i) => client.set(r.event_id, evs[i] as unknown as SyncEvent));
    const federation = new Map<string, SyncEvent>();
    return {
      rows,
      members,
      format(r, fed) {
        if (!fed) return client.get(r.event_id)!;
        let ev = federation.get(r.event_id);
        if (!ev) federation.set(r.event_id, (ev = rowToEvent(r) as unknown as SyncEvent));
        return ev;
      },
    };
  }

  // ------------------------------------------------------------------ one computation

  /** The full computation of a sync over (since, to] (initial when `since` is undefined). */
  async compute(req: SyncRequest, since: { stream: number; typing: number } | undefined, to: number, typingTo: number): Promise<Computed> {
    const { userId } = req;
    const f = req.filter;
    const rf = f.room ?? {};
    const initial = since === undefined;
    const fullState = initial || req.fullState === true;
    const lazy = rf.state?.lazy_load_members === true;
    const cacheKey = `${userId}\u0000${req.deviceId ?? ""}`;
    let sentMembers = this.lazyCache.get(cacheKey);
    if (!sentMembers || initial) this.lazyCache.set(cacheKey, (sentMembers = new Map()));

    const body = emptySyncBody(encodeStreamToken(to, typingTo), !initial);
    let news = false;

    // Account data, global and per room.
    const roomAccountData = new Map<string, SyncEvent[]>();
    let invitePermissionChanged = false;
    for (const row of await this.d.accountData.list(userId, since?.stream, to)) {
      const ev = { type: row.type, content: JSON.parse(row.content) as JsonObject };
      if (row.room_id === "") {
        if (row.type === INVITE_PERMISSION_CONFIG) invitePermissionChanged = true;
        if (eventFilterMatches(f.account_data, row.type)) body.account_data.events.push(ev);
      } else if (eventFilterMatches(rf.account_data, row.type) && roomAllowed(rf.account_data, row.room_id)) {
        let list = roomAccountData.get(row.room_id);
        if (!list) roomAccountData.set(row.room_id, (list = []));
        list.push(ev);
      }
    }
    // Server-managed types (m.push_rules) as the server computes them; always there initially.
    for (const [type, view] of this.d.accountDataViews ?? []) {
      if (!eventFilterMatches(f.account_data, type)) continue;
      const i = body.account_data.events.findIndex((e) => e.type === type);
      if (i < 0 && !initial) continue;
      const stored = i >= 0 ? (body.account_data.events[i]!.content as JsonObject) : undefined;
      const content = await view(userId, stored);
      if (i >= 0) body.account_data.events.splice(i, 1);
      if (content) body.account_data.events.push({ type, content });
    }
    if (body.account_data.events.length) news = true;

    const all = ((await this.d.repo.localMemberships(userId)) as Membership[]).map((m) => ({ ...m, stream_ordering: Number(m.stream_ordering) }));
    // Known for the user's next requests (knownJoined) when none is beyond `to`.
    if (all.every((m) => m.stream_ordering <= to)) this.joinedOf.set(userId, { rooms: all.filter((m) => m.membership === "join").map((m) => m.room_id), at: to });
    const memberships = all.filter((m) => m.stream_ordering <= to && roomAllowed(rf, m.room_id));
    const joined = memberships.filter((m) => m.membership === "join").map((m) => m.room_id);

    const receiptRows = initial ? await this.d.receipts.listForRooms(joined, to) : await this.d.receipts.listBetween(since.stream, to);
    const receipts = new Map<string, ReceiptRow[]>();
    for (const r of receiptRows) {
      if (r.receipt_type === "m.read.private" && r.user_id !== userId) continue;
      let list = receipts.get(r.room_id);
      if (!list) receipts.set(r.room_id, (list = []));
      list.push(r);
    }

    const pass: Pass = {
      req,
      since,
      to,
      fullState,
      limit: Math.max(0, Math.min(rf.timeline?.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT)),
      lazy,
      redundant: rf.state?.include_redundant_members === true,
      threads: rf.timeline?.unread_thread_notifications === true,
      roomsWithEvents: initial ? undefined : await this.d.syncRepo.roomsWithEventsBetween(since.stream, to),
      receipts,
      roomAccountData,
      sentMembers,
    };

    // Invites not shown (ignored inviters; all while invites are blocked). Lifting the block
    // shows the pending invites again in the sync that reports the change (invite_permission.md).
    const hiddenInvites = await this.d.visibility.hiddenInvites(userId);
    const reshowInvites = !initial && invitePermissionChanged && hiddenInvites !== "all";

    const joinedResults = new Map<string, JoinedRoomSync>();
    const tasks = memberships.map((m) => async () => {
      const changed = !initial && m.stream_ordering > since.stream;
      switch (m.membership) {
        case "join": {
          const room = await this.joinedRoom(pass, m, changed);
          if (room) joinedResults.set(m.room_id, room);
          break;
        }
        case "invite":
          if ((initial || changed || reshowInvites) && !(await this.inviteHidden(m, hiddenInvites))) {
            body.rooms.invite[m.room_id] = { invite_state: { events: await this.strippedState(m, userId) } };
          }
          break;
        case "knock":
          if (initial || changed) body.rooms.knock[m.room_id] = { knock_state: { events: await this.strippedState(m, userId) } };
          break;
        case "leave":
        case "ban": {
          if (initial ? rf.include_leave === true : changed) {
            body.rooms.leave[m.room_id] = await this.leftRoom(pass, m);
          }
          break;
        }
      }
    });
    for (let i = 0; i < tasks.length; i += ROOM_CONCURRENCY) await Promise.all(tasks.slice(i, i + ROOM_CONCURRENCY).map((t) => t()));

    // Unread counts for the joined rooms in the response (as of now: they change with the events).
    const unread = await this.d.push.unreadCounts(userId, [...joinedResults.keys()]);
    for (const m of memberships) {
      const room = joinedResults.get(m.room_id);
      if (!room) continue;
      setUnread(room, unread.get(m.room_id), pass.threads);
      body.rooms.join[m.room_id] = room;
    }
    if (
      Object.keys(body.rooms.join).length ||
      Object.keys(body.rooms.invite).length ||
      Object.keys(body.rooms.leave).length ||
      Object.keys(body.rooms.knock).length
    ) {
      news = true;
    }

    const ctx: SyncExtensionContext = { userId, deviceId: req.deviceId, since: since?.stream, to, fullState, filter: f, setPresence: req.setPresence };
    for (const ext of this.extensions) if (await ext(ctx, body)) news = true;

    if (f.event_fields) applyEventFields(body, f.event_fields);
    return { body, news, rooms: joined };
  }

  // ------------------------------------------------------------------ joined rooms

  private async joinedRoom(p: Pass, m: Membership, membershipChanged: boolean): Promise<JoinedRoomSync | undefined> {
    const roomId = m.room_id;
    const userId = p.req.userId;
    const rf = p.req.filter.room ?? {};
    const newlyJoined = membershipChanged && (await this.newlyJoined(m.event_id, p.since!.stream));
    const full = p.fullState || newlyJoined;
    const hasEvents = p.roomsWithEvents === undefined || p.roomsWithEvents.has(roomId);
    const ephemeral = this.ephemeral(p, roomId, full);
    const accountData = p.roomAccountData.get(roomId) ?? [];
    if (!full && !hasEvents && ephemeral.length === 0 && accountData.length === 0) return undefined;

    // A newly joined room's timeline is the room's latest events, as in an initial sync (the client
    // has none of them; `limited` then tells it to paginate back), not just those since the token.
    const from = newlyJoined ? undefined : p.since?.stream;
    const tl = hasEvents || full ? await this.timeline(userId, roomId, from, p.to, p.limit, rf.timeline, m.stream_ordering) : { rows: [], limited: false };
    const needSummary = full || membershipChanged || tl.limited || tl.rows.some((r) => r.type === "m.room.member");
    const summary = needSummary ? await this.summary(roomId, userId) : undefined;
    const heroes = (summary?.["m.heroes"] as string[] | undefined) ?? [];

    const { state, stateAfter } = await this.roomState(p, roomId, tl, full, heroes);
    if (!full && tl.rows.length === 0 && state.length === 0 && stateAfter.length === 0 && ephemeral.length === 0 && accountData.length === 0) {
      return undefined;
    }
    const out: JoinedRoomSync = {
      timeline: await this.timelineBatch(p, tl),
      ephemeral: { events: ephemeral },
      account_data: { events: accountData },
      unread_notifications: { notification_count: 0, highlight_count: 0 },
    };
    if (summary) out.summary = summary;
    if (p.req.useStateAfter) out.state_after = { events: await this.format(p, stateAfter) };
    else out.state = { events: await this.format(p, state) };
    return out;
  }

  /**
   * The user's memberships in a room walking back from their current member event: the one in
   * force at `since` (undefined: none, or `since` is undefined) and those that came after it.
   */
  private async membershipHistory(memberEventId: string, sinceStream: number | undefined): Promise<{ atSince?: string; after: string[] }> {
    return membershipHistory(this.d.repo, memberEventId, sinceStream);
  }

  /** Whether the user's membership at `since` was something else than join (or changed meanwhile). */
  private async newlyJoined(memberEventId: string, sinceStream: number): Promise<boolean> {
    const h = await this.membershipHistory(memberEventId, sinceStream);
    return h.atSince !== "join" || h.after.some((m) => m !== "join");
  }

  private ephemeral(p: Pass, roomId: string, full: boolean): SyncEvent[] {
    const ef = p.req.filter.room?.ephemeral;
    const out: SyncEvent[] = [];
    if (!roomAllowed(ef, roomId)) return out;
    if (eventFilterMatches(ef, "m.typing")) {
      const users = this.d.typing.typingUsers(roomId);
      const changed = p.since !== undefined && this.d.typing.changedSince(roomId, p.since.typing);
      // A room sent in full says who types when anyone typed there lately, even nobody now (as
      // Synapse): a client whose earlier syncs missed the stop learns the list is empty.
      if (changed || (full && (users.length > 0 || this.d.typing.hasActivity(roomId)))) out.push({ type: "m.typing", content: { user_ids: users } });
    }
    const receipts = p.receipts.get(roomId);
    if (receipts?.length && eventFilterMatches(ef, "m.receipt")) {
      const content = receiptContent(receipts, (r) => !ef || eventFilterMatches({ senders: ef.senders, not_senders: ef.not_senders }, "m.receipt", r.user_id));
      if (Object.keys(content).length) out.push({ type: "m.receipt", content });
    }
    return out;
  }

  private async summary(roomId: string, userId: string): Promise<Record<string, unknown>> {
    const counts = await this.d.repo.memberCounts(roomId);
    const out: Record<string, unknown> = { "m.joined_member_count": counts.joined, "m.invited_member_count": counts.invited };
    const named = await this.d.events.currentStateEvents(roomId, [
      ["m.room.name", ""],
      ["m.room.canonical_alias", ""],
    ]);
    const name = named.get(stateMapKey("m.room.name", ""))?.content["name"];
    const alias = named.get(stateMapKey("m.room.canonical_alias", ""))?.content["alias"];
    if (!(typeof name === "string" && name) && !(typeof alias === "string" && alias)) {
      out["m.heroes"] = await this.d.syncRepo.heroes(roomId, userId, MAX_HEROES);
    }
    return out;
  }

  // ------------------------------------------------------------------ left rooms

  private async leftRoom(p: Pass, m: Membership): Promise<LeftRoomSync> {
    const userId = p.req.userId;
    const rf = p.req.filter.room ?? {};
    const h = await this.membershipHistory(m.event_id, p.since?.stream);
    const joinedAtSince = h.atSince === "join";
    const everJoined = joinedAtSince || h.after.includes("join");
    const full = p.since === undefined || p.fullState || !joinedAtSince;
    // The timeline ends with the user's leave: they see nothing after it.
    const tl = await this.timeline(userId, m.room_id, full ? undefined : p.since?.stream, m.stream_ordering, p.limit, rf.timeline, undefined);
    if (!tl.rows.some((r) => r.event_id === m.event_id)) {
      // A leave outside the room's timeline (rejecting an invite to a room on another server).
      const own = await this.d.repo.findEvent(m.event_id);
      if (own?.outlier) tl.rows.push(own);
    }
    // A user who never joined (a rejected or withdrawn invite, a refused knock) gets no room state.
    const { state, stateAfter } = everJoined ? await this.roomState({ ...p, to: m.stream_ordering }, m.room_id, tl, full, []) : { state: [], stateAfter: [] };
    const out: LeftRoomSync = {
      timeline: await this.timelineBatch(p, tl),
      account_data: { events: p.roomAccountData.get(m.room_id) ?? [] },
    };
    if (p.req.useStateAfter) out.state_after = { events: await this.format(p, stateAfter) };
    else out.state = { events: await this.format(p, state) };
    return out;
  }

  // ------------------------------------------------------------------ invites and knocks

  /** Whether an invite is hidden (modules/ignore_users.md, modules/invite_permission.md). */
  private async inviteHidden(m: Membership, hidden: HiddenInvites): Promise<boolean> {
    if (hidden === "all") return true;
    if (hidden.size === 0) return false;
    const ev = await this.d.events.loadEvent(m.event_id);
    return inviteHidden(hidden, ev?.sender);
  }

  private async strippedState(m: Membership, userId: string): Promise<SyncEvent[]> {
    return strippedStateFor(this.d, m.event_id, m.room_id, userId);
  }

  // ------------------------------------------------------------------ timeline

  /**
   * The newest `limit` visible events in (from, to] (oldest first) and whether there are more.
   * `joinedSince`: the user is joined since this stream position, so later events are visible
   * without consulting history visibility.
   */
  private async timeline(
    userId: string,
    roomId: string,
    fromExclusive: number | undefined,
    toInclusive: number,
    limit: number,
    filter: RoomEventFilter | undefined,
    joinedSince: number | undefined,
  ): Promise<{ rows: EventRow[]; limited: boolean; to?: number }> {
    return readTimeline(this.d, userId, roomId, fromExclusive, toInclusive, limit, filter, joinedSince);
  }

  private async timelineBatch(p: Pass, tl: { rows: EventRow[]; limited: boolean; to?: number }): Promise<TimelineBatch> {
    const first = tl.rows[0];
    return {
      // Bundled aggregations for limited timelines (client-server API "Aggregations of child events").
      events: await this.format(p, tl.rows, tl.limited),
      limited: tl.limited,
      prev_batch: first
        ? encodeTopoToken({ depth: Number(first.depth), stream: Number(first.stream_ordering) })
        : encodeStreamToken(tl.to ?? p.to, 0),
    };
  }

  // ------------------------------------------------------------------ state

  /** State before a timeline event (its state group with its own key rolled back). */
  private stateBefore(roomId: string, row: EventRow, filter: StateFilter): Promise<Map<string, string>> {
    return stateBeforeEvent(this.d.repo, roomId, row, filter);
  }

  private stateAfter(roomId: string, row: EventRow, filter: StateFilter): Promise<Map<string, string>> {
    return stateAfterEvent(this.d.repo, roomId, row, filter);
  }

  /** State after the last timeline event at or before a stream position. */
  private stateAtStream(roomId: string, stream: number, filter: StateFilter): Promise<Map<string, string>> {
    return stateAtStream(this.d.repo, roomId, stream, filter);
  }

  /**
   * The `state` (at the timeline start) and `state_after` (at its end) lists of a room, as event
   * rows. Only the one the client asked for is computed.
   */
  private async roomState(
    p: Pass,
    roomId: string,
    tl: { rows: EventRow[]; limited: boolean; to?: number },
    full: boolean,
    heroes: string[],
  ): Promise<{ state: EventRow[]; stateAfter: EventRow[] }> {
    const userId = p.req.userId;
    const sf = p.req.filter.room?.state;
    const after = p.req.useStateAfter === true;
    const first = tl.rows[0];
    const last = tl.rows[tl.rows.length - 1];
    const upper = tl.to ?? p.to;
    const at = (filter: StateFilter) =>
      after
        ? last
          ? this.stateAfter(roomId, last, filter)
          : this.stateAtStream(roomId, upper, filter)
        : first
          ? this.stateBefore(roomId, first, filter)
          : this.stateAtStream(roomId, upper, filter);

    let sent = p.sentMembers.get(roomId);
    if (full) p.sentMembers.delete(roomId), (sent = undefined);
    // Lazy loading: members the timeline needs (its senders), plus heroes and, on a full sync, the user.
    const wantedMembers = new Set(tl.rows.map((r) => r.sender));
    for (const h of heroes) wantedMembers.add(h);
    if (full) wantedMembers.add(userId);

    let ids = new Map<string, string>();
    if (full) {
      if (!p.lazy) ids = await at({});
      else {
        ids = await at({ notTypes: ["m.room.member"] });
        for (const [k, v] of await at({ keys: [...wantedMembers].map((u) => ["m.room.member", u] as [string, string]) })) ids.set(k, v);
      }
    } else {
      // Incremental: keys that changed in the gap (state) or anywhere in the range (state_after).
      let changedKeys: Array<[string, string]> = [];
      if (after) changedKeys = await this.d.syncRepo.stateKeysChangedBetween(roomId, p.since!.stream, upper);
      else if (tl.limited && first) changedKeys = await this.d.syncRepo.stateKeysChangedBetween(roomId, p.since!.stream, Number(first.stream_ordering) - 1);
      if (changedKeys.length) ids = await at({ keys: changedKeys });
      if (!after) {
        // Keys state resolution changed during the timeline with no event of their own (a state
        // reset after a netsplit): the client gets their values as of the end of the timeline.
        const reset = await this.d.repo.resolutionDeltaKeys(roomId, first ? Number(first.stream_ordering) - 1 : p.since!.stream, upper);
        if (reset.length) for (const [k, v] of await this.stateAtStream(roomId, upper, { keys: reset })) ids.set(k, v);
      }
      if (p.lazy) {
        const have = new Set(ids.keys());
        const extra = [...wantedMembers].filter((u) => !have.has(memberKey(u))).map((u) => ["m.room.member", u] as [string, string]);
        if (extra.length) {
          for (const [k, v] of await at({ keys: extra })) {
            const [, member] = parseStateMapKey(k);
            // Redundant: the client already has this member event.
            if (!p.redundant && sent?.get(member) === v) continue;
            ids.set(k, v);
          }
        }
      }
    }
    // Never repeat in `state` what the timeline carries.
    if (!after) for (const r of tl.rows) if (r.state_key !== null && ids.get(stateMapKey(r.type, r.state_key)) === r.event_id) ids.delete(stateMapKey(r.type, r.state_key));

    const rows = [...(await this.d.repo.getEvents([...ids.values()])).values()].filter(
      (r) => eventFilterMatches(sf, r.type, r.sender) && roomAllowed(sf, roomId),
    );
    if (p.lazy) {
      let m = p.sentMembers.get(roomId);
      if (!m) p.sentMembers.set(roomId, (m = new Map()));
      for (const r of [...rows, ...tl.rows]) if (r.type === "m.room.member" && r.state_key !== null) m.set(r.state_key, r.event_id);
    }
    return after ? { state: [], stateAfter: rows } : { state: rows, stateAfter: [] };
  }

  // ------------------------------------------------------------------ formatting

  private async format(p: Pass, rows: EventRow[], bundle = false): Promise<SyncEvent[]> {
    if (rows.length === 0) return [];
    if (p.req.filter.event_format === "federation") return rows.map((r) => rowToEvent(r) as unknown as SyncEvent);
    if (!(await this.d.events.roomVersion(rows[0]!.room_id))) {
      // A room this server is not in (the user's own membership events from federation): as stored.
      return rows.map((r) => clientFormat(rowToEvent(r), { withRoomId: false }) as unknown as SyncEvent);
    }
    const evs: ClientEvent[] = await toClientEvents(this.d.events, rows, { userId: p.req.userId, deviceId: p.req.deviceId ?? undefined }, { withRoomId: false, bundle });
    return evs as unknown as SyncEvent[];
  }
}

function setUnread(room: JoinedRoomSync, u: RoomUnread | undefined, threads: boolean): void {
  if (!u) return;
  if (!threads) {
    room.unread_notifications = { ...u.total };
    return;
  }
  room.unread_notifications = { ...u.main };
  if (u.threads.size) {
    room.unread_thread_notifications = {};
    for (const [root, c] of u.threads) room.unread_thread_notifications[root] = { ...c };
  }
}

/** Keeps only the listed (dot-separated, `\.`-escaped) fields of each room event. */
function projectEvent(ev: SyncEvent, fields: string[]): SyncEvent {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const path = splitPropertyPath(field);
    let src: unknown = ev;
    for (const p of path) src = isObject(src) ? src[p] : undefined;
    if (src === undefined) continue;
    let dst = out;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i]!;
      if (!isObject(dst[k])) dst[k] = {};
      dst = dst[k] as Record<string, unknown>;
    }
    dst[path[path.length - 1]!] = src;
  }
  return out;
}

function applyEventFields(body: SyncResponse, fields: string[]): void {
  const map = (list: { events: SyncEvent[] } | undefined) => {
    if (list) list.events = list.events.map((e) => projectEvent(e, fields));
  };
  for (const r of Object.values(body.rooms.join)) {
    map(r.timeline);
    map(r.state);
    map(r.state_after);
  }
  for (const r of Object.values(body.rooms.leave)) {
    map(r.timeline);
    map(r.state);
    map(r.state_after);
  }
}

/** A /sync answer with nothing in it yet (`device_lists` only in incremental syncs). */
function emptySyncBody(nextBatch: string, withDeviceLists: boolean): SyncResponse {
  const body: SyncResponse = {
    next_batch: nextBatch,
    account_data: { events: [] },
    presence: { events: [] },
    rooms: { join: {}, invite: {}, leave: {}, knock: {} },
    to_device: { events: [] },
    device_one_time_keys_count: {},
    device_unused_fallback_key_types: [],
  };
  if (withDeviceLists) body.device_lists = { changed: [], left: [] };
  return body;
}
