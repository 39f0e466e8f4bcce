// Presence (spec: client-server-api modules/presence.md, presence.yaml, m.presence;
// server-server-api "Presence").
//
// Each user is online, unavailable or offline, with an optional status message and the time of
// their last pro-active action (sending an event or a receipt, or setting presence to online).
// A local user is online while their clients sync (set_presence online, the default) or act;
// unavailable after [presence] idle_timeout_ms without activity (or when a client says so); offline
// after offline_timeout_ms without syncing or activity. `currently_active` is true for a minute
// after an action; while it is, last_active_ago updates are not sent.
//
// What clients are shown only changes on a state or status change or a currently_active flip: such a
// change takes a position in the global stream and a row in `presence` (for /sync), wakes the /sync
// long-polls of users sharing a room, and (local users) goes out as an m.presence EDU to the servers
// sharing a room. Between changes, last_active_ts moves in memory only. Remote users' presence comes
// in through EDUs from their server (only for users sharing a room with ours) and falls back to
// offline when their server has said nothing for 30 minutes (servers repeat it every 25 minutes).
// [presence] enabled = false: the endpoints still answer (everyone offline), nothing is tracked.
import { isJsonObject } from "../protocol/events.ts";
import { MatrixError } from "../protocol/errors.ts";
import { findServerNameOf, isValidUserId } from "../protocol/ids.ts";
import type { RoomEvent } from "../protocol/events.ts";
import type { PresenceRepo, PresenceRow } from "../storage/repos/presence.ts";
import { KeyedMutex } from "../util/mutex.ts";
import type { Notifier } from "./notifier.ts";
import { eventFilterMatches } from "./rooms/filters.ts";
import type { StreamAllocator } from "./streams.ts";
import type { SyncExtension } from "./sync.ts";

export type PresenceState = "online" | "unavailable" | "offline";
/** Remote presence kept for users who share no room with ours yet: how many, how long. */
const MAX_PENDING = 1000;
const PENDING_TTL_MS = 60_000;
export const PRESENCE_STATES: readonly PresenceState[] = ["online", "unavailable", "offline"];

/** How long after an action a user counts as currently active. */
const ACTIVE_WINDOW_MS = 60_000;
/** Remote presence not refreshed for this long is shown as offline. */
const REMOTE_TIMEOUT_MS = 30 * 60_000;
/** Local users' presence is sent again to other servers this often. */
const FEDERATION_PING_MS = 25 * 60_000;

export interface PresenceContent {
  presence: PresenceState;
  last_active_ago?: number;
  currently_active?: boolean;
  status_msg?: string;
}

/** A change of a local user's presence, for federation. */
export interface PresenceUpdate {
  user_id: string;
  presence: PresenceState;
  status_msg?: string;
  last_active_ago: number;
  currently_active: boolean;
}

export type PresenceHook = (update: PresenceUpdate) => void;

/** What presence and receipts need of federation to send their EDUs. */
export interface FederationPort {
  /** The servers (not this one) in any of the rooms. */
  otherServers(roomIds: Iterable<string>): Promise<string[]>;
  sendEdu(eduType: string, content: unknown, destinations: Iterable<string>): Promise<void>;
  /** The rooms a local user is joined to. */
  joinedRoomIds(userId: string): Promise<string[]>;
}

interface LocalState {
  row: PresenceRow;
  /** Last /sync (any client). */
  lastSyncTs: number;
  /** Last time the presence went to other servers. */
  lastFederatedTs: number;
  /**
   * The stream position of a change made by the user's own /sync (set_presence), and the `since`
   * of that sync (null: an initial sync): that request skips it, so that coming online does not
   * end its long-poll at once. The change precedes the request's upper bound, so the request's
   * next_batch is past it; a sync from an older token (another request's) sees it.
   */
  syncCausedStream?: number;
  syncCausedSince?: number | null;
}

export interface PresenceDeps {
  repo: PresenceRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  serverName: string;
  enabled: boolean;
  idleTimeoutMs: number;
  offlineTimeoutMs: number;
  now?: () => number;
}

export class Presence {
  /** Local users' changes (federation sends them as m.presence EDUs). */
  readonly hooks: PresenceHook[] = [];
  /** Local users who are not offline, and those seen since start-up. */
  private readonly local = new Map<string, LocalState>();
  private readonly locks = new KeyedMutex();
  private timer: ReturnType<typeof setInterval> | undefined;
  private started = false;

  constructor(private readonly d: PresenceDeps) {}

  get enabled(): boolean {
    return this.d.enabled;
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  private isLocal(userId: string): boolean {
    return userId.endsWith(`:${this.d.serverName}`);
  }

  private get activeWindow(): number {
    return Math.min(ACTIVE_WINDOW_MS, this.d.idleTimeoutMs);
  }

  /** Resumes local users' presence and starts the timeout sweep. */
  async start(): Promise<void> {
    if (!this.d.enabled || this.started) return;
    this.started = true;
    const now = this.now();
    for (const row of await this.d.repo.listLocalNotOffline(this.d.serverName)) {
      // Nobody synced while we were down: the sweep decides (from last_active_ts) when they go offline.
      this.local.set(row.user_id, { row, lastSyncTs: now, lastFederatedTs: now });
    }
    const every = Math.max(50, Math.min(5000, Math.floor(Math.min(this.d.idleTimeoutMs, this.d.offlineTimeoutMs, this.activeWindow) / 4)));
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), every);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Stops the sweep and writes the in-memory last-active times. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.local.values()) {
      await this.locks.run(s.row.user_id, () => this.d.repo.upsert(s.row)).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ local state

  private async localState(userId: string): Promise<LocalState> {
    let s = this.local.get(userId);
    if (!s) {
      const row = (await this.d.repo.find(userId)) ?? {
        user_id: userId,
        state: "offline",
        status_msg: null,
        last_active_ts: 0,
        currently_active: 0,
        stream_id: 0,
        updated_ts: 0,
      };
      // Another call may have filled it meanwhile.
      s = this.local.get(userId) ?? { row, lastSyncTs: 0, lastFederatedTs: 0 };
      this.local.set(userId, s);
    }
    return s;
  }

  /**
   * Applies a change to a local user's presence under their lock: `mutate` edits a copy; when what
   * clients see changed, the row takes a new stream position and everyone interested hears of it.
   */
  private async changeLocal(userId: string, mutate: (row: PresenceRow, s: LocalState) => void, opts: { bySync?: { since: number | null } } = {}): Promise<void> {
    await this.locks.run(userId, async () => {
      const s = await this.localState(userId);
      const before = s.row;
      const row = { ...before };
      mutate(row, s);
      const visibleChange = row.state !== before.state || row.status_msg !== before.status_msg || row.currently_active !== before.currently_active;
      s.row = row;
      if (visibleChange) {
        await this.publish(row);
        s.syncCausedStream = opts.bySync ? row.stream_id : undefined;
        s.syncCausedSince = opts.bySync ? opts.bySync.since : undefined;
      }
      if (row.state === "offline") this.local.delete(userId);
    });
  }

  /** Writes a changed row at a new stream position and tells everyone interested. */
  private async publish(row: PresenceRow): Promise<void> {
    const now = this.now();
    row.updated_ts = now;
    await this.d.streams.with(async (pos) => {
      row.stream_id = pos;
      await this.d.repo.upsert(row);
    });
    for (const roomId of await this.d.repo.joinedRooms(row.user_id)) this.d.notifier.notifyRoom(roomId);
    this.d.notifier.notifyUser(row.user_id);
    if (this.isLocal(row.user_id)) {
      const s = this.local.get(row.user_id);
      if (s) s.lastFederatedTs = now;
      const update = this.update(row, now);
      for (const h of this.hooks) h(update);
    }
  }

  private update(row: PresenceRow, now: number): PresenceUpdate {
    const u: PresenceUpdate = {
      user_id: row.user_id,
      presence: row.state as PresenceState,
      last_active_ago: Math.max(0, now - row.last_active_ts),
      currently_active: row.currently_active === 1,
    };
    if (row.status_msg !== null) u.status_msg = row.status_msg;
    return u;
  }

  private bump(row: PresenceRow, now: number): void {
    row.last_active_ts = now;
    row.currently_active = 1;
    row.state = "online";
  }

  /** PUT /presence/{userId}/status. */
  async setStatus(requester: string, userId: string, presence: PresenceState, statusMsg: string | undefined): Promise<void> {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (requester !== userId) throw new MatrixError("M_FORBIDDEN", "You cannot set the presence of another user");
    if (!PRESENCE_STATES.includes(presence)) throw new MatrixError("M_INVALID_PARAM", "'presence' must be one of online, unavailable, offline");
    if (!this.d.enabled) return;
    const now = this.now();
    await this.changeLocal(userId, (row) => {
      if (presence === "online") this.bump(row, now);
      else {
        row.state = presence;
        row.currently_active = 0;
      }
      row.status_msg = statusMsg ?? null;
    });
  }

  /** A pro-active action of a local user (sent an event or a receipt): online, currently active. */
  async userActive(userId: string): Promise<void> {
    if (!this.d.enabled || !this.isLocal(userId)) return;
    const now = this.now();
    const s = this.local.get(userId);
    // The common case needs no lock, no write and no stream position.
    if (s && s.row.state === "online" && s.row.currently_active === 1) {
      s.row.last_active_ts = now;
      return;
    }
    await this.changeLocal(userId, (row) => this.bump(row, now));
  }

  /**
   * A /sync of a local user, with its `set_presence`; `since` is the stream position of its token
   * (null for an initial sync), for `syncExtension` to know which request made the change.
   */
  async syncing(userId: string, setPresence: string | undefined, since: number | null = null): Promise<void> {
    if (!this.d.enabled) return;
    const now = this.now();
    const wanted = setPresence ?? "online";
    if (wanted === "offline") return;
    const s = this.local.get(userId);
    if (s) s.lastSyncTs = now;
    if (s && (s.row.state === wanted || (wanted === "online" && s.row.state === "unavailable"))) return;
    await this.changeLocal(userId, (row, st) => {
      st.lastSyncTs = now;
      if (wanted === "online") {
        // Coming online is an action; an idle (unavailable) user stays so until they act.
        if (row.state === "offline") this.bump(row, now);
      } else if (row.state !== "unavailable") {
        row.state = "unavailable";
        row.currently_active = 0;
      }
    }, { bySync: { since } });
  }

  /** Sync.beforeSync: a /sync marks its user as syncing before its upper bound is taken. */
  readonly beforeSync = (userId: string, setPresence: string | undefined, since: number | undefined): Promise<void> =>
    this.syncing(userId, setPresence, since ?? null);

  /** Applies the timeouts to local users (runs periodically). */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const [userId, s] of [...this.local]) {
      const r = s.row;
      if (r.state === "offline") continue;
      const quietFor = now - Math.max(s.lastSyncTs, r.last_active_ts);
      const goOffline = quietFor > this.d.offlineTimeoutMs;
      const goIdle = r.state === "online" && now - r.last_active_ts > this.d.idleTimeoutMs;
      const inactive = r.currently_active === 1 && now - r.last_active_ts > this.activeWindow;
      if (goOffline || goIdle || inactive) {
        await this.changeLocal(userId, (row) => {
          if (goOffline) row.state = "offline";
          else if (goIdle) row.state = "unavailable";
          row.currently_active = 0;
        });
      } else if (now - s.lastFederatedTs > FEDERATION_PING_MS) {
        s.lastFederatedTs = now;
        const update = this.update(r, now);
        for (const h of this.hooks) h(update);
      }
    }
  }

  // ------------------------------------------------------------------ reading

  /** What a row looks like now (timeouts applied to rows not swept yet). */
  private view(row: PresenceRow, now: number): PresenceContent {
    let state = row.state as PresenceState;
    let active = row.currently_active === 1;
    if (!this.isLocal(row.user_id) && now - row.updated_ts > REMOTE_TIMEOUT_MS) state = "offline";
    if (active && now - row.last_active_ts > this.activeWindow) active = false;
    const c: PresenceContent = { presence: state };
    if (row.last_active_ts > 0) c.last_active_ago = Math.max(0, now - row.last_active_ts);
    if (state === "online") c.currently_active = active;
    if (row.status_msg !== null) c.status_msg = row.status_msg;
    return c;
  }

  private async rowOf(userId: string): Promise<PresenceRow | undefined> {
    return this.local.get(userId)?.row ?? (await this.d.repo.find(userId));
  }

  /** GET /presence/{userId}/status: for the user themselves and users sharing a room with them. */
  async get(requester: string, userId: string): Promise<PresenceContent> {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (requester !== userId) {
      if (this.isLocal(userId) && !(await this.d.repo.userExists(userId))) throw new MatrixError("M_NOT_FOUND", "Unknown user");
      if (!(await this.d.repo.sharingRoomWith(requester, [userId])).has(userId)) {
        throw new MatrixError("M_FORBIDDEN", "You are not allowed to see their presence");
      }
    }
    if (!this.d.enabled) return { presence: "offline" };
    const row = await this.rowOf(userId);
    return row ? this.view(row, this.now()) : { presence: "offline" };
  }

  // ------------------------------------------------------------------ /sync

  /**
   * The /sync extension: marks the user as syncing, then adds the presence of users sharing a room
   * with them (and their own) that changed in (since, to] — on an initial sync, everyone not
   * offline — passing the `presence` filter.
   */
  readonly syncExtension: SyncExtension = async (ctx, body) => {
    if (!this.d.enabled) return false;
    await this.syncing(ctx.userId, ctx.setPresence, ctx.since ?? null);
    // Only room events in the range: no presence change (each takes a stream position), no new
    // room shared with anyone (a membership change).
    if (ctx.quiet) return false;
    const f = ctx.filter.presence;
    if (f?.limit === 0 || !eventFilterMatches(f, "m.presence")) return false;
    const rows = ctx.since === undefined ? await this.d.repo.listNotOffline(ctx.to) : await this.d.repo.listBetween(ctx.since, ctx.to);
    /** Newly sharing local users never seen online: offline, as GET /presence says. */
    const neverSeen: string[] = [];
    if (ctx.since !== undefined) {
      // Users who newly share a room with the user: their current presence, changed or not.
      const have = new Set(rows.map((r) => r.user_id));
      for (const u of await this.d.repo.newlySharing(ctx.userId, ctx.since, ctx.to)) {
        if (have.has(u)) continue;
        const row = await this.rowOf(u);
        if (row) rows.push(row);
        // A local user never seen online is offline; a remote user's presence comes from their
        // server (it sends it to the newly shared room's members), not from a guess here.
        else if (this.isLocal(u)) neverSeen.push(u);
      }
    }
    if (rows.length === 0 && neverSeen.length === 0) return false;
    const others = rows.map((r) => r.user_id).filter((u) => u !== ctx.userId);
    const visible = others.length ? await this.d.repo.sharingRoomWith(ctx.userId, others) : new Set<string>();
    const now = this.now();
    const events: Array<{ type: "m.presence"; sender: string; content: PresenceContent }> = [];
    const own = this.local.get(ctx.userId);
    for (const r of rows) {
      if (r.user_id !== ctx.userId && !visible.has(r.user_id)) continue;
      // What this very sync request changed is no news to it (it would end every first long-poll);
      // a sync from an earlier token, made before the change, shows it.
      if (ctx.since !== undefined && r.user_id === ctx.userId && r.stream_id === own?.syncCausedStream && ctx.since === own.syncCausedSince) continue;
      // Remote users whose server went quiet are offline: nothing to show in an initial sync.
      if (ctx.since === undefined && this.view(r, now).presence === "offline") continue;
      if (!eventFilterMatches(f, "m.presence", r.user_id)) continue;
      // The in-memory row of a local user has the current last_active_ts.
      const row = this.local.get(r.user_id)?.row.stream_id === r.stream_id ? this.local.get(r.user_id)!.row : r;
      events.push({ type: "m.presence", sender: r.user_id, content: this.view(row, now) });
    }
    for (const u of neverSeen) if (eventFilterMatches(f, "m.presence", u)) events.push({ type: "m.presence", sender: u, content: { presence: "offline" } });
    const limited = f?.limit !== undefined ? events.slice(-f.limit) : events;
    if (limited.length === 0) return false;
    body.presence.events.push(...limited);
    return true;
  };

  /**
   * Presence for the old initialSync APIs (old_sync.yaml, room_initial_sync.yaml): events with
   * `content.user_id`, of the user themselves (marked as syncing, as /sync does) and of the users
   * sharing a room with them — or only those of `among` (a room's members) — who are not offline.
   */
  async initialSyncPresence(userId: string, among?: readonly string[]): Promise<Array<{ type: "m.presence"; content: PresenceContent & { user_id: string } }>> {
    if (!this.d.enabled) return [];
    await this.syncing(userId, undefined);
    const wanted = among ? new Set(among) : undefined;
    const rows = (await this.d.repo.listNotOffline(Number.MAX_SAFE_INTEGER)).filter((r) => !wanted || wanted.has(r.user_id));
    const others = rows.map((r) => r.user_id).filter((u) => u !== userId);
    const visible = others.length ? await this.d.repo.sharingRoomWith(userId, others) : new Set<string>();
    const now = this.now();
    const out: Array<{ type: "m.presence"; content: PresenceContent & { user_id: string } }> = [];
    for (const r of rows) {
      if (r.user_id !== userId && !visible.has(r.user_id)) continue;
      const row = this.local.get(r.user_id)?.row ?? r;
      const view = this.view(row, now);
      if (view.presence === "offline" && r.user_id !== userId) continue;
      out.push({ type: "m.presence", content: { ...view, user_id: r.user_id } });
    }
    return out;
  }

  // ------------------------------------------------------------------ federation

  /** The current presence of a local user as an EDU item (for servers that just joined a room). */
  async localUpdate(userId: string): Promise<PresenceUpdate | undefined> {
    const row = await this.rowOf(userId);
    if (!row || row.state === "offline") return undefined;
    return this.update(row, this.now());
  }

  /** Local users of a room who are not offline (their presence goes to a server joining it). */
  async localUpdatesForRoom(roomId: string): Promise<PresenceUpdate[]> {
    if (!this.d.enabled) return [];
    const now = this.now();
    return (await this.d.repo.localMembersNotOffline(roomId)).map((r) => this.update(this.local.get(r.user_id)?.row ?? r, now));
  }

  /**
   * One item of an inbound m.presence EDU from `origin`: applied when the user belongs to `origin`
   * and shares a room with a local user; otherwise ignored.
   */
  /** Remote presence for users not (yet) sharing a room with ours, by user ID (see applyRemote). */
  private readonly pending = new Map<string, { origin: string; item: Record<string, unknown>; ts: number }>();

  /**
   * Presence over federation, outbound: local changes go to the servers sharing a room with the
   * user; returns the afterPersist effect "presence.federateOnJoin" — a server whose user joins a
   * room learns the presence of our users there, and a local user joining a room tells the other
   * servers in it.
   */
  federate(port: FederationPort): (ev: RoomEvent) => void {
    const send = (updates: PresenceUpdate[], dests: string[]) =>
      dests.length && updates.length ? port.sendEdu("m.presence", { push: updates }, dests) : Promise.resolve();
    this.hooks.push((u) => {
      void (async () => {
        await send([u], await port.otherServers(await port.joinedRoomIds(u.user_id)));
      })().catch(() => undefined);
    });
    return (ev) => {
      if (ev.type !== "m.room.member" || ev.content["membership"] !== "join" || typeof ev.state_key !== "string" || !ev.room_id) return;
      const roomId = ev.room_id;
      const userServer = findServerNameOf(ev.state_key);
      void (async () => {
        if (userServer === this.d.serverName) {
          // Remote presence that arrived before this join (for users of the room) applies now.
          await this.applyPending();
          const u = await this.localUpdate(ev.state_key!);
          if (u) await send([u], await port.otherServers([roomId]));
        } else if (userServer) {
          await send(await this.localUpdatesForRoom(roomId), [userServer]);
        }
      })().catch(() => undefined);
    };
  }

  /** An inbound m.presence EDU (services/edus.ts): at most 1000 items of `push`, each as applyRemote. */
  async receiveEdu(origin: string, content: Record<string, unknown>): Promise<void> {
    const push = Array.isArray(content.push) ? content.push : [];
    for (const item of push.slice(0, 1000)) if (isJsonObject(item)) await this.applyRemote(origin, item);
  }

  /** Applies the remote presence kept while its users shared no room with ours (a local user joined). */
  async applyPending(): Promise<void> {
    const now = this.now();
    for (const [userId, p] of [...this.pending]) {
      this.pending.delete(userId);
      if (now - p.ts <= PENDING_TTL_MS) await this.applyRemote(p.origin, p.item);
    }
  }

  async applyRemote(origin: string, item: Record<string, unknown>): Promise<boolean> {
    if (!this.d.enabled) return false;
    const userId = item.user_id;
    if (typeof userId !== "string" || !isValidUserId(userId) || !userId.endsWith(`:${origin}`) || this.isLocal(userId)) return false;
    const state = item.presence;
    if (typeof state !== "string" || !PRESENCE_STATES.includes(state as PresenceState)) return false;
    const ago = typeof item.last_active_ago === "number" && Number.isFinite(item.last_active_ago) ? Math.max(0, item.last_active_ago) : undefined;
    if (!(await this.d.repo.sharesRoomWithLocalUser(userId))) {
      // Presence often arrives just before the room it is for: the resident server sends it when
      // our user's join reaches it, while we are still storing the room's state. Keep it a
      // minute; applyPending tries again once a local user has joined.
      if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
      this.pending.set(userId, { origin, item, ts: this.now() });
      return false;
    }
    this.pending.delete(userId);
    const now = this.now();
    await this.locks.run(userId, async () => {
      const prior = await this.d.repo.find(userId);
      const row: PresenceRow = {
        user_id: userId,
        state,
        status_msg: typeof item.status_msg === "string" ? item.status_msg : null,
        last_active_ts: ago !== undefined ? now - ago : (prior?.last_active_ts ?? 0),
        currently_active: item.currently_active === true ? 1 : 0,
        stream_id: prior?.stream_id ?? 0,
        updated_ts: now,
      };
      await this.publish(row);
    });
    return true;
  }
}
