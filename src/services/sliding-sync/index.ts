// Simplified sliding sync (MSC4186) as Synapse serves it at
// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync: the rooms of a user matched by
// the request's lists (filtered, sorted by recency, windowed by `ranges`) and room subscriptions,
// each sent when new to the connection or changed since it was last sent, plus extensions.
//
// Cost: the user's room list is cached and caught up incrementally (room-lists.ts); each request
// works on the rooms in its list ranges and subscriptions, and per room only on what changed since
// the connection last sent it. A long-poll with nothing to report registers with the Notifier
// (the user and their joined rooms) and costs nothing until woken; a wake-up for a room outside
// every range recomputes cheaply (in memory, plus one or two indexed reads) and waits again.
import { pairsSignature, unionPairs, type StatePair } from "../../core/required-state.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { AccountDataRepo } from "../../storage/repos/account-data.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { SlidingSyncRepo } from "../../storage/repos/sliding-sync.ts";
import { SyncRepo } from "../../storage/repos/sync.ts";
import { Lru } from "../../util/lru.ts";
import type { E2eeServices } from "../e2ee/index.ts";
import type { Notifier } from "../notifier.ts";
import type { PushActions } from "../push.ts";
import { roomIdOf, type RoomEvents } from "../rooms/events.ts";
import { inviteHidden, type Visibility } from "../rooms/visibility.ts";
import type { StreamAllocator } from "../streams.ts";
import { strippedStateFor } from "../sync-common.ts";
import type { Typing } from "../typing.ts";
import { CONNECTION_IDLE_MS, Connection, Connections, type ConnectionView, type RoomSent } from "./connections.ts";
import { SlidingSyncExtensions, type AccountDataView, type E2eePort, type ExtensionRoom } from "./extensions.ts";
import type { ListConfig, ListFilters, SlidingSyncBody } from "./request.ts";
import { RoomInfoCache, UserRooms, type Membership } from "./room-lists.ts";
import { metaFromStripped, RoomResults, type EffectiveConfig, type RoomOutput } from "./rooms.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

export { parseSlidingSyncBody } from "./request.ts";
export type { SlidingSyncBody } from "./request.ts";
export type { E2eePort } from "./extensions.ts";

/** Longest long-poll honoured (as /sync: the listener closes connections idle for 120 s). */
export const MAX_TIMEOUT_MS = 100_000;
/** Rooms computed at once (helps PostgreSQL; SQLite runs them one after another anyway). */
const ROOM_CONCURRENCY = 8;
const PRESENCE_VALUES = new Set(["online", "offline", "unavailable"]);

export interface SlidingSyncDeps {
  repo: RoomsRepo;
  syncRepo: SyncRepo;
  ssRepo: SlidingSyncRepo;
  events: RoomEvents;
  visibility: Visibility;
  accountData: AccountDataRepo;
  accountDataViews?: ReadonlyMap<string, AccountDataView>;
  push: PushActions;
  typing: Typing;
  streams: StreamAllocator;
  notifier: Notifier;
  infos: RoomInfoCache;
  e2ee?: E2eePort;
  /** Presence: the user is syncing with this `set_presence`. */
  syncing?: (userId: string, setPresence: string | undefined) => Promise<void>;
  now?: () => number;
}

export interface SlidingSyncRequest {
  userId: string;
  deviceId: string | null;
  body: SlidingSyncBody;
  /** Query parameters (they win over the body's). */
  pos?: string;
  timeoutMs?: number;
  setPresence?: string;
  signal?: AbortSignal;
}

export type SlidingSyncResponse = {
  pos: string;
  lists?: Record<string, unknown>;
  rooms: Record<string, Record<string, unknown>>;
  extensions: Record<string, unknown>;
};

interface Computed {
  body: Omit<SlidingSyncResponse, "pos">;
  news: boolean;
  changes: Map<string, RoomSent>;
  otkSignature?: string;
  waitRooms: string[];
}


/** Per-user facts read alongside the room list: DM rooms, tags, invite metadata. */
interface UserExtras {
  directPos?: number;
  direct: Set<string>;
  /** Changes when the DM set does. */
  directVersion: number;
  /** The rooms lists may show (self-left ones aside), and each list's filtered rooms, cached. */
  candidates?: { key: string; rooms: Membership[] };
  filtered: Map<string, { key: string; rooms: Membership[] }>;
  tagsPos?: number;
  tags: Map<string, Set<string>>;
  /** Type and encryption of invited/knocked rooms this server is not in (from stripped state). */
  strippedMeta: Map<string, { eventId: string; type: string | null; encrypted: boolean; known: boolean }>;
}

export class SlidingSync {
  readonly connections: Connections;
  /** Computations run (each request runs one, plus one per long-poll wake-up). */
  readonly stats = { computes: 0 };
  private readonly users = new Lru<string, { rooms: UserRooms; extras: UserExtras }>(1000, "sliding_sync_users");
  private readonly roomResults: RoomResults;
  private readonly extensions: SlidingSyncExtensions;
  private closed = false;

  /** An event persisted by another process (docs/SCALING.md): room recency and metadata. */
  noteEvent(roomId: string, type: string, stateKey: string | undefined, content: JsonObject, stream: number): void {
    this.d.infos.noteEvent(roomId, type, stateKey, content, stream);
  }

  constructor(private readonly d: SlidingSyncDeps) {
    this.connections = new Connections(d.now);
    this.roomResults = new RoomResults(d);
    this.extensions = new SlidingSyncExtensions({ ...d, ssRepo: d.ssRepo });
  }

  /** Ends long-polls (shutdown). */
  close(): void {
    this.closed = true;
  }

  async sync(req: SlidingSyncRequest): Promise<SlidingSyncResponse> {
    const { userId, deviceId, body } = req;
    const pos = req.pos ?? body.pos;
    const setPresence = req.setPresence ?? body.setPresence;
    if (setPresence !== undefined && !PRESENCE_VALUES.has(setPresence)) {
      throw new MatrixError("M_INVALID_PARAM", "'set_presence' must be one of online, offline, unavailable");
    }
    await this.d.syncing?.(userId, setPresence);

    let resumed = pos === undefined ? undefined : this.connections.resume(userId, deviceId, body.connId, pos);
    if (pos !== undefined && !resumed && this.sharedConnections) {
      // Another process served this connection last: continue from the state it stored.
      const row = await this.d.ssRepo.findConnection(userId, deviceId ?? "", body.connId);
      if (row && Date.now() - row.updated_ts <= CONNECTION_IDLE_MS) {
        this.connections.adopt(userId, deviceId, body.connId, Connection.deserialize(row.data));
        resumed = this.connections.resume(userId, deviceId, body.connId, pos);
      }
    }
    if (pos !== undefined && !resumed) throw new MatrixError("M_UNKNOWN_POS", "Unknown position");
    const { conn, view } = resumed ?? this.connections.start(userId, deviceId, body.connId);
    const from = view.state?.stream;
    if (from !== undefined) await this.d.streams.catchUp(from);
    // A position from the future (e.g. a restored database) counts as now.
    const fromClamped = from !== undefined ? Math.min(from, this.d.streams.current()) : undefined;
    const timeout = Math.max(0, Math.min(req.timeoutMs ?? body.timeout ?? 0, MAX_TIMEOUT_MS));
    const deadline = Date.now() + (from !== undefined ? timeout : 0);

    for (;;) {
      const to = this.d.streams.current();
      const typingTo = this.d.typing.current();
      const c = await this.compute(req, view, fromClamped, to, typingTo);
      const remaining = deadline - Date.now();
      const done = c.news || from === undefined || remaining <= 0 || this.closed || req.signal?.aborted;
      if (done) {
        const p = conn.mint({ stream: to, typing: typingTo, otkSignature: c.otkSignature ?? view.state?.otkSignature }, c.changes);
        if (this.sharedConnections) await this.storeConnection(userId, deviceId, body.connId, conn);
        return { pos: p, ...c.body };
      }
      // Nothing new: wait for the user or one of their rooms to be notified, then look again.
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const woken = this.d.notifier.wait(userId, c.waitRooms, remaining, ac.signal);
      // Registered: anything persisted from now on wakes us. Catch what came in before that.
      const missed = this.d.streams.current() !== to || this.d.typing.current() !== typingTo;
      if (missed) ac.abort();
      const notified = await woken;
      req.signal?.removeEventListener("abort", onAbort);
      if (notified) await this.d.streams.waitUntil(this.d.streams.lastAllocated(), Math.max(0, deadline - Date.now()));
    }
  }

  // ------------------------------------------------------------------ one computation

  private async userState(userId: string): Promise<{ rooms: UserRooms; extras: UserExtras }> {
    let u = this.users.get(userId);
    if (!u) {
      u = { rooms: new UserRooms(userId, this.d.ssRepo, this.d.infos), extras: { direct: new Set(), directVersion: 0, filtered: new Map(), tags: new Map(), strippedMeta: new Map() } };
      this.users.set(userId, u);
    }
    return u;
  }

  private async compute(req: SlidingSyncRequest, view: ConnectionView, from: number | undefined, to: number, typingTo: number): Promise<Computed> {
    const { userId, body } = req;
    const { rooms: user, extras } = await this.userState(userId);
    await user.refresh(to, this.now());
    if (extras.directPos === undefined || to > extras.directPos) {
      const direct = parseDirect(await this.d.accountData.find(userId, "", "m.direct"));
      if (direct.size !== extras.direct.size || [...direct].some((id) => !extras.direct.has(id))) {
        extras.direct = direct;
        extras.directVersion++;
      }
      extras.directPos = to;
    }
    const hiddenInvites = await this.d.visibility.hiddenInvites(userId);
    this.stats.computes++;

    // Which of the user's rooms lists may show: not self-left rooms (the user knows), unless this
    // connection showed the room and has not told the client it left yet; not hidden invites
    // (from ignored users; all while the user blocks invites).
    const eligible = (m: Membership): boolean => {
      if (m.membership === "leave" && m.sender === userId) {
        const sent = view.room(m.roomId);
        return sent !== undefined && sent.membership !== "leave";
      }
      if (m.membership === "invite" && inviteHidden(hiddenInvites, m.sender)) return false;
      return true;
    };

    // ---- lists
    const relevant = new Map<string, EffectiveConfig>();
    const listRooms = new Map<string, string[]>();
    const listsOut: Record<string, unknown> = {};
    // Each list's (and subscription's) pairs once: rooms share them, and so do connection records.
    const own = new Map<object, { pairs: StatePair[]; sig: string }>();
    const ownPairs = (cfg: { requiredState: readonly StatePair[] }) => {
      let p = own.get(cfg);
      if (!p) own.set(cfg, (p = internPairs(unionPairs([], cfg.requiredState))));
      return p;
    };
    const include = (roomId: string, cfg: { timelineLimit: number; requiredState: readonly StatePair[] }, list?: string) => {
      const cur = relevant.get(roomId);
      if (!cur) {
        const p = ownPairs(cfg);
        relevant.set(roomId, { timelineLimit: cfg.timelineLimit, required: p.pairs, requiredSig: p.sig, lists: list ? [list] : [] });
      } else {
        cur.timelineLimit = Math.max(cur.timelineLimit, cfg.timelineLimit);
        const p = internPairs(unionPairs(cur.required, cfg.requiredState));
        cur.required = p.pairs;
        cur.requiredSig = p.sig;
        if (list) cur.lists.push(list);
      }
    };
    if (body.lists.size) {
      // Self-left rooms this connection has not reported yet (rare): no caches then.
      let selfLeftShown = false;
      for (const id of user.selfLeft()) {
        const sent = view.room(id);
        if (sent && sent.membership !== "leave") selfLeftShown = true;
      }
      const baseKey = `${user.version}|${hiddenInvites === "all" ? "all" : objectId(hiddenInvites)}`;
      let candidates: Membership[];
      if (!selfLeftShown && extras.candidates?.key === baseKey) candidates = extras.candidates.rooms;
      else {
        candidates = [];
        for (const id of user.ordered()) {
          const m = user.entries.get(id)!;
          if (eligible(m)) candidates.push(m);
        }
        if (!selfLeftShown) extras.candidates = { key: baseKey, rooms: candidates };
      }
      for (const [key, list] of body.lists) {
        // Filtered lists are cached while nothing they depend on changed (space and tag filters
        // read state and account data, so they are computed each time).
        const cacheable = !selfLeftShown && !list.filters?.spaces && !list.filters?.tags && !list.filters?.not_tags;
        const fKey = `${baseKey}|${extras.directVersion}|${this.d.infos.metaEpoch}|${JSON.stringify(list.filters ?? {})}`;
        let filtered: Membership[];
        const hit = cacheable ? extras.filtered.get(fKey) : undefined;
        if (hit) filtered = hit.rooms;
        else {
          filtered = await this.filter(userId, candidates, list.filters, extras);
          if (cacheable) {
            if (extras.filtered.size > 20) extras.filtered.clear();
            extras.filtered.set(fKey, { key: fKey, rooms: filtered });
          }
        }
        const ids: string[] = [];
        const ops: Array<Record<string, unknown>> = [];
        const ranges = list.ranges ?? [[0, Math.max(0, filtered.length - 1)]];
        for (const [start, end] of ranges) {
          const slice = start <= end ? filtered.slice(start, end + 1) : [];
          const roomIds = slice.map((m) => m.roomId);
          for (const id of roomIds) {
            include(id, list, key);
            ids.push(id);
          }
          ops.push({ op: "SYNC", range: [start, end], room_ids: roomIds });
        }
        listRooms.set(key, ids);
        listsOut[key] = { count: filtered.length, ops };
      }
    }
    // ---- subscriptions: rooms the user is or was in (or invited to, or knocked on)
    for (const [roomId, sub] of body.subscriptions) {
      const m = user.entries.get(roomId);
      if (!m || (m.membership === "invite" && inviteHidden(hiddenInvites, m.sender))) continue;
      include(roomId, sub);
    }

    // ---- rooms to send: new to the connection, or changed since last sent
    await this.d.infos.load(relevant.keys());
    const todo: Array<{ id: string; m: Membership; cfg: EffectiveConfig; prev: RoomSent | undefined }> = [];
    for (const [id, cfg] of relevant) {
      const m = user.entries.get(id)!;
      const prev = view.room(id);
      if (!prev || this.changed(user, m, prev, cfg, extras.direct.has(id))) todo.push({ id, m, cfg, prev });
    }
    const outputs = new Map<string, RoomOutput>();
    for (let i = 0; i < todo.length; i += ROOM_CONCURRENCY) {
      await Promise.all(
        todo.slice(i, i + ROOM_CONCURRENCY).map(async (t) => {
          const out = await this.roomResults.compute({
            userId,
            deviceId: req.deviceId,
            roomId: t.id,
            m: t.m,
            config: t.cfg,
            prev: t.prev,
            from,
            to,
            bumpStamp: user.bumpStamp(t.id) ?? t.m.stream,
            isDm: extras.direct.has(t.id),
          });
          outputs.set(t.id, out);
        }),
      );
    }
    // Unread counts of the joined rooms sent (as of now: they change with events and receipts).
    const joinedOut = [...outputs].filter(([, o]) => o.joined).map(([id]) => id);
    const unread = await this.d.push.unreadCounts(userId, joinedOut);
    const changes = new Map<string, RoomSent>();
    const rooms: Record<string, Record<string, unknown>> = {};
    for (const { id } of todo) {
      const o = outputs.get(id)!;
      let substantive = o.substantive;
      if (o.joined) {
        const u = unread.get(id)?.total ?? { notification_count: 0, highlight_count: 0 };
        o.result.notification_count = u.notification_count;
        o.result.highlight_count = u.highlight_count;
        const prev = view.room(id);
        if (prev && (prev.notificationCount !== u.notification_count || prev.highlightCount !== u.highlight_count)) substantive = true;
        o.sent.notificationCount = u.notification_count;
        o.sent.highlightCount = u.highlight_count;
      }
      changes.set(id, o.sent);
      if (substantive || from === undefined) rooms[id] = o.result;
    }

    // ---- extensions
    const extRooms = new Map<string, ExtensionRoom>();
    for (const id of relevant.keys()) {
      const o = outputs.get(id);
      extRooms.set(id, { m: user.entries.get(id)!, fresh: o !== undefined && (o.initial || o.expanded), timelineEventIds: o?.timelineEventIds ?? [] });
    }
    const ext = await this.extensions.compute({
      userId,
      deviceId: req.deviceId,
      req: body.extensions,
      from,
      fromTyping: view.state?.typing,
      to,
      prevOtkSignature: view.state?.otkSignature,
      listRooms,
      rooms: extRooms,
      record: (id) => changes.get(id) ?? view.room(id),
      update: (id, patch) => {
        const cur = changes.get(id) ?? view.room(id);
        if (cur) changes.set(id, { ...cur, ...patch });
      },
    });

    const out: Computed["body"] = body.lists.size ? { lists: listsOut, rooms, extensions: ext.body } : { rooms, extensions: ext.body };
    let waitRooms = user.joinedRooms() as string[];
    const extra = [...body.subscriptions.keys()].filter((id) => user.entries.get(id)?.membership !== "join");
    if (extra.length) waitRooms = [...waitRooms, ...extra];
    return { body: out, news: Object.keys(rooms).length > 0 || ext.news, changes, otkSignature: ext.otkSignature, waitRooms };
  }

  /** Whether a room sent before may have something new for the connection. */
  private changed(user: UserRooms, m: Membership, prev: RoomSent, cfg: EffectiveConfig, isDm: boolean): boolean {
    if (prev.membership !== m.membership || m.stream > prev.sentUpTo) return true;
    if ((prev.isDm ?? false) !== isDm) return true;
    if (m.membership === "invite" || m.membership === "knock") return false;
    if (cfg.timelineLimit > prev.timelineLimit) return true;
    if (cfg.requiredSig !== prev.requiredSig && widensSig(prev, cfg)) return true;
    if (m.membership !== "join") return false;
    const info = this.d.infos.get(m.roomId);
    if (info && info.last > prev.sentUpTo) return true;
    const receipt = user.ownReceipts.get(m.roomId);
    return receipt !== undefined && receipt > prev.sentUpTo;
  }

  // ------------------------------------------------------------------ list filters

  private async filter(userId: string, rooms: Membership[], f: ListFilters | undefined, extras: UserExtras): Promise<Membership[]> {
    if (!f) return rooms;
    let out = rooms;
    if (f.is_dm !== undefined) out = out.filter((m) => extras.direct.has(m.roomId) === f.is_dm);
    if (f.is_invite !== undefined) out = out.filter((m) => (m.membership === "invite") === f.is_invite);
    if (f.is_encrypted !== undefined || f.room_types !== undefined || f.not_room_types !== undefined) {
      await this.d.infos.loadMeta(out.map((m) => m.roomId));
      await this.loadStrippedMeta(userId, out, extras);
      const metaOf = (m: Membership): { type: string | null; encrypted: boolean } | undefined => {
        const info = this.d.infos.get(m.roomId);
        if (info?.metaKnown) return { type: info.type ?? null, encrypted: info.encrypted ?? false };
        const s = extras.strippedMeta.get(m.roomId);
        return s?.known ? s : undefined;
      };
      out = out.filter((m) => {
        const meta = metaOf(m);
        // Rooms whose type or encryption cannot be told are left out (as Synapse does).
        if (!meta) return false;
        if (f.is_encrypted !== undefined && meta.encrypted !== f.is_encrypted) return false;
        if (f.room_types !== undefined && !f.room_types.includes(meta.type)) return false;
        if (f.not_room_types !== undefined && f.not_room_types.includes(meta.type)) return false;
        return true;
      });
    }
    if (f.spaces !== undefined) {
      const children = await this.spaceChildren(userId, f.spaces);
      out = out.filter((m) => children.has(m.roomId));
    }
    if (f.tags !== undefined || f.not_tags !== undefined) {
      const tags = await this.tags(userId, extras);
      if (f.tags !== undefined) out = out.filter((m) => f.tags!.some((t) => tags.get(m.roomId)?.has(t)));
      if (f.not_tags !== undefined) out = out.filter((m) => !f.not_tags!.some((t) => tags.get(m.roomId)?.has(t)));
    }
    return out;
  }

  /** Type and encryption of invites and knocks to rooms this server has no state of. */
  private async loadStrippedMeta(userId: string, rooms: Membership[], extras: UserExtras): Promise<void> {
    for (const m of rooms) {
      if (m.membership !== "invite" && m.membership !== "knock") continue;
      if (this.d.infos.get(m.roomId)?.metaKnown) continue;
      if (extras.strippedMeta.get(m.roomId)?.eventId === m.eventId) continue;
      const stripped = await strippedStateFor(this.d, m.eventId, m.roomId, userId);
      extras.strippedMeta.set(m.roomId, { eventId: m.eventId, ...metaFromStripped(stripped) });
    }
  }

  /** Rooms named by m.space.child events (with a non-empty `via`) of the spaces the user is joined to. */
  private async spaceChildren(userId: string, spaces: string[]): Promise<Set<string>> {
    const { rooms: user } = await this.userState(userId);
    const joined = spaces.filter((s) => user.entries.get(s)?.membership === "join");
    const out = new Set<string>();
    for (const row of await this.d.ssRepo.spaceChildren(joined)) {
      try {
        const content = (JSON.parse(row.json) as { content?: JsonObject }).content;
        if (Array.isArray(content?.["via"]) && (content["via"] as unknown[]).length > 0) out.add(row.state_key);
      } catch {
        // unreadable child event: skipped
      }
    }
    return out;
  }

  private async tags(userId: string, extras: UserExtras): Promise<Map<string, Set<string>>> {
    const to = this.d.streams.current();
    if (extras.tagsPos !== undefined && extras.tagsPos >= to) return extras.tags;
    const out = new Map<string, Set<string>>();
    for (const [roomId, raw] of await this.d.ssRepo.roomAccountDataOfType(userId, "m.tag")) {
      try {
        const c = JSON.parse(raw) as { tags?: unknown };
        if (isObject(c.tags)) out.set(roomId, new Set(Object.keys(c.tags)));
      } catch {
        // unreadable: no tags
      }
    }
    extras.tags = out;
    extras.tagsPos = to;
    return out;
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  // ------------------------------------------------------------------ maintenance

  /** A device was deleted or logged out: its connections go. */
  async forgetDevice(userId: string, deviceId: string): Promise<void> {
    this.connections.forget(userId, deviceId);
    if (this.sharedConnections) await this.d.ssRepo.deleteConnections({ userId, deviceId });
  }

  private sharedConnections = false;
  private stores = 0;

  /**
   * Several processes (docs/SCALING.md): every response's connection state is stored, so that the
   * client's next request may reach any process.
   */
  shareConnections(): void {
    this.sharedConnections = true;
  }

  private async storeConnection(userId: string, deviceId: string | null, connId: string, conn: Connection): Promise<void> {
    const now = Date.now();
    await this.d.ssRepo.upsertConnection(userId, deviceId ?? "", connId, conn.serialize(), now);
    if (++this.stores % 1000 === 0) await this.d.ssRepo.deleteConnections({ olderThan: now - CONNECTION_IDLE_MS });
  }
}

function widensSig(prev: RoomSent, cfg: EffectiveConfig): boolean {
  const before = new Set(prev.required.map((p) => `${p[0]}\u0000${p[1]}`));
  return cfg.required.some((p) => !before.has(`${p[0]}\u0000${p[1]}`));
}

/** Shared copies of required_state configs (most rooms of most connections have the same few). */
const interned = new Lru<string, { pairs: StatePair[]; sig: string }>(1000, "sliding_sync_configs");
function internPairs(pairs: StatePair[]): { pairs: StatePair[]; sig: string } {
  const sig = pairsSignature(pairs);
  let hit = interned.get(sig);
  if (!hit) interned.set(sig, (hit = { pairs, sig }));
  return hit;
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
/** A number identifying an object (cache keys on sets that are replaced when they change). */
function objectId(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = ++nextObjectId));
  return id;
}

/** The rooms listed in m.direct account data (user → [room IDs]); anything else ignored. */
function parseDirect(raw: string | undefined): Set<string> {
  const out = new Set<string>();
  if (raw === undefined) return out;
  try {
    const v = JSON.parse(raw) as unknown;
    if (!isObject(v)) return out;
    for (const ids of Object.values(v)) if (Array.isArray(ids)) for (const id of ids) if (typeof id === "string") out.add(id);
  } catch {
    // unreadable: no DMs
  }
  return out;
}

export type { ListConfig };

// ------------------------------------------------------------------ construction

export interface CreateSlidingSyncDeps extends Omit<SlidingSyncDeps, "infos" | "ssRepo" | "syncRepo" | "accountData" | "e2ee"> {
  repos: Repositories;
  /** The E2EE services (keys, device lists, to-device inbox). */
  e2ee?: Pick<E2eeServices, "keys" | "deviceLists" | "toDevice">;
}

/**
 * Builds the service and keeps room recency current: each accepted timeline event updates
 * room_recency in its own transaction, and the in-memory cache with it.
 */
export function createSlidingSync(d: CreateSlidingSyncDeps): SlidingSync {
  const ssRepo = d.repos.slidingSync;
  const infos = new RoomInfoCache(ssRepo);
  d.events.effects.set("inTransaction", "slidingSync.recency", async (q, ev, stream, rv) => {
    const roomId = roomIdOf(ev, rv);
    await ssRepo.recordEvent(q, roomId, ev.type, stream);
    infos.noteEvent(roomId, ev.type, ev.state_key, ev.content ?? {}, stream);
  });
  const e = d.e2ee;
  const e2ee: E2eePort | undefined = e && {
    oneTimeKeyCounts: (u, dev) => e.keys.oneTimeKeyCounts(u, dev),
    unusedFallbackKeyTypes: (u, dev) => e.keys.unusedFallbackKeyTypes(u, dev),
    deviceListChanges: (u, from, to) => e.deviceLists.changesFor(u, from, to),
    toDeviceForSync: (u, dev, since, to) => e.toDevice.forSync(u, dev, since, to),
  };
  return new SlidingSync({ ...d, ssRepo, syncRepo: d.repos.sync, accountData: d.repos.accountData, infos, e2ee });
}
