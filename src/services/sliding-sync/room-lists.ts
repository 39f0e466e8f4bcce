// The room lists of simplified sliding sync, kept up to date incrementally.
//
// RoomInfoCache (one per server): each room's recency — the stream position of its latest
// timeline event (`last`, "has anything happened since?") and of its latest "bump" event (`bump`,
// the sort key and `bump_stamp`) — plus its type and encryption for list filters. Loaded in bulk
// from room_recency the first time a room is needed, then updated from the persisting transaction
// of each timeline event (before the commit, so that once a stream position is visible the cache
// already knows about it; a rolled-back event only makes a room look changed once).
//
// UserRooms (one per syncing user): the user's memberships, read once and then only those changed
// in (last read, now] (an indexed query that returns nothing most of the time), and the user's
// rooms in sort order. When rooms are bumped or memberships change, only those rooms move (a
// binary search each): the order is never rebuilt from scratch per request.
import type { JsonObject } from "../../protocol/events.ts";
import { BUMP_EVENT_TYPES, type MembershipRow, type SlidingSyncRepo } from "../../storage/repos/sliding-sync.ts";
import { Lru } from "../../util/lru.ts";

export interface RoomInfo {
  /** Latest bump event (null: none). */
  bump: number | null;
  /** Latest timeline event. */
  last: number;
  /** Whether room_recency has been read (else the values come from events seen since). */
  loaded: boolean;
  /** The room type (m.room.create content.type; null for none); undefined until read. */
  type?: string | null;
  encrypted?: boolean;
  /** Whether type and encryption were read from current state (false: the room has none here). */
  metaKnown?: boolean;
}

/** Bumps remembered for UserRooms to catch up on (older ones: a full re-check). */
const BUMP_LOG_SIZE = 20_000;

export class RoomInfoCache {
  private readonly rooms = new Lru<string, RoomInfo>(100_000, "sliding_sync_rooms");
  /** Changes whenever a room's type or encryption is learnt or changes (list filter caches). */
  metaEpoch = 0;
  /** Rooms whose bump changed, in order; `bumpSeq` counts them all. */
  private readonly bumpLog: string[] = [];
  private bumpSeq = 0;

  constructor(private readonly repo: SlidingSyncRepo) {}

  /** A timeline event of a room is being persisted at `stream` (called in its transaction). */
  noteEvent(roomId: string, type: string, stateKey: string | undefined, content: JsonObject, stream: number): void {
    let info = this.rooms.peek(roomId);
    if (!info) this.rooms.set(roomId, (info = { bump: null, last: 0, loaded: false }));
    if (stream > info.last) info.last = stream;
    if (BUMP_EVENT_TYPES.has(type) && (info.bump === null || stream > info.bump)) {
      info.bump = stream;
      this.logBump(roomId);
    }
    if (stateKey === "" && type === "m.room.encryption" && info.metaKnown) {
      info.encrypted = typeof content["algorithm"] === "string";
      this.metaEpoch++;
    }
    if (stateKey === "" && type === "m.room.create") {
      info.type = typeof content["type"] === "string" ? (content["type"] as string) : null;
      info.encrypted ??= false;
      info.metaKnown = true;
      this.metaEpoch++;
    }
  }

  private logBump(roomId: string): void {
    this.bumpSeq++;
    this.bumpLog.push(roomId);
    if (this.bumpLog.length > BUMP_LOG_SIZE) this.bumpLog.splice(0, this.bumpLog.length - BUMP_LOG_SIZE);
  }

  /** The bump counter (UserRooms remembers where it caught up to). */
  get seq(): number {
    return this.bumpSeq;
  }

  /** Rooms bumped after `seq`, or undefined when that is too long ago to know. */
  bumpedSince(seq: number): string[] | undefined {
    const n = this.bumpSeq - seq;
    if (n <= 0) return [];
    if (n > this.bumpLog.length) return undefined;
    return this.bumpLog.slice(this.bumpLog.length - n);
  }

  get(roomId: string): RoomInfo | undefined {
    return this.rooms.peek(roomId);
  }

  /** Makes sure the recency of these rooms is known. */
  async load(roomIds: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const r of roomIds) if (!this.rooms.peek(r)?.loaded) missing.push(r);
    if (missing.length === 0) return;
    const rows = await this.repo.recency(missing);
    for (const r of missing) {
      const row = rows.get(r);
      let info = this.rooms.peek(r);
      if (!info) this.rooms.set(r, (info = { bump: null, last: 0, loaded: false }));
      // Events noted while reading are at least as new as what was read.
      if (row) {
        if (row.last > info.last) info.last = row.last;
        if (row.bump !== null && (info.bump === null || row.bump > info.bump)) info.bump = row.bump;
      }
      info.loaded = true;
    }
  }

  /** Makes sure type and encryption of these rooms are known (rooms not on this server stay unknown). */
  async loadMeta(roomIds: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const r of roomIds) {
      const info = this.rooms.peek(r);
      if (!info || info.type === undefined) missing.push(r);
    }
    if (missing.length === 0) return;
    await this.load(missing);
    const rows = await this.repo.roomMeta(missing);
    this.metaEpoch++;
    const found = new Map<string, { type: string | null; encrypted: boolean }>();
    for (const row of rows) {
      const m = found.get(row.room_id) ?? { type: null, encrypted: false };
      if (row.type === "m.room.create") m.type = typeof row.value === "string" ? row.value : null;
      else m.encrypted = typeof row.value === "string";
      found.set(row.room_id, m);
    }
    for (const r of missing) {
      const info = this.rooms.peek(r)!;
      const m = found.get(r);
      if (m) {
        info.type = m.type;
        info.encrypted = m.encrypted;
        info.metaKnown = true;
      } else {
        // No state here (a room this server is not in): callers fall back to stripped state.
        info.type = null;
        info.encrypted = false;
        info.metaKnown = false;
      }
    }
  }
}

export interface Membership {
  roomId: string;
  membership: string;
  eventId: string;
  stream: number;
  sender: string | null;
}

/** Full re-read of a user's memberships after this long (catches /forget, which moves no stream). */
const FULL_RELOAD_MS = 60_000;

/**
 * The place of a room in the user's list: the latest bump event for joined rooms (the membership
 * when the room has none), the membership for the others (Synapse's `bump_stamp` rules).
 */
export function sortKey(m: Membership, info: RoomInfo | undefined): number {
  if (m.membership === "join" && info?.bump != null) return info.bump;
  return m.stream;
}

export class UserRooms {
  readonly entries = new Map<string, Membership>();
  /** Memberships are read up to this stream position. */
  private pos: number | undefined;
  private loadedAt = 0;
  /** Rooms in list order and the key each was placed with. */
  private order: string[] = [];
  private readonly placedKey = new Map<string, number>();
  private sortedSeq = 0;
  /** Changes whenever memberships or the order change (list caches). */
  version = 0;
  private joinedCache: { version: number; rooms: string[] } | undefined;
  private readonly selfLeftIds = new Set<string>();
  /** Latest stream position of the user's own receipts per room (since this object exists). */
  readonly ownReceipts = new Map<string, number>();
  private receiptPos: number | undefined;

  constructor(
    readonly userId: string,
    private readonly repo: SlidingSyncRepo,
    private readonly infos: RoomInfoCache,
  ) {}

  /** Catches up with memberships and own receipts up to `to`, then the order (one at a time). */
  refresh(to: number, now = Date.now()): Promise<void> {
    const run = this.refreshing.then(() => this.doRefresh(to, now));
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  private refreshing: Promise<void> = Promise.resolve();

  private async doRefresh(to: number, now: number): Promise<void> {
    const full = this.pos === undefined || now - this.loadedAt > FULL_RELOAD_MS;
    if (full || to > this.pos!) {
      const rows = await this.repo.memberships(this.userId, full ? undefined : this.pos, to);
      const dirty = new Set<string>();
      if (full) {
        const seen = new Set(rows.map((r) => r.room_id));
        for (const id of this.entries.keys()) {
          if (!seen.has(id)) {
            this.entries.delete(id);
            this.selfLeftIds.delete(id);
            dirty.add(id);
          }
        }
        this.loadedAt = now;
      }
      for (const r of rows) this.apply(r, dirty);
      if (dirty.size) this.version++;
      this.pos = Math.max(this.pos ?? to, to);
      if (full) {
        await this.infos.load(this.entries.keys());
        this.rebuild();
      } else if (dirty.size) {
        await this.infos.load(dirty);
        for (const id of dirty) this.place(id);
      }
    }
    this.catchUpBumps();
    if (this.receiptPos === undefined) this.receiptPos = to;
    else if (to > this.receiptPos) {
      for (const [room, s] of await this.repo.ownReceiptRooms(this.userId, this.receiptPos, to)) this.ownReceipts.set(room, s);
      this.receiptPos = to;
    }
  }

  private apply(r: MembershipRow, dirty: Set<string>): void {
    if (r.forgotten) {
      if (this.entries.delete(r.room_id)) dirty.add(r.room_id);
      this.selfLeftIds.delete(r.room_id);
      return;
    }
    const prev = this.entries.get(r.room_id);
    if (prev && (prev.eventId === r.event_id || prev.stream > r.stream_ordering)) return;
    this.entries.set(r.room_id, { roomId: r.room_id, membership: r.membership, eventId: r.event_id, stream: r.stream_ordering, sender: r.sender });
    if (r.membership === "leave" && r.sender === this.userId) this.selfLeftIds.add(r.room_id);
    else this.selfLeftIds.delete(r.room_id);
    dirty.add(r.room_id);
  }

  private catchUpBumps(): void {
    const seq = this.infos.seq;
    if (seq === this.sortedSeq) return;
    const bumped = this.infos.bumpedSince(this.sortedSeq);
    this.sortedSeq = seq;
    if (bumped === undefined) return this.rebuild();
    for (const id of new Set(bumped)) {
      if (!this.entries.has(id)) continue;
      const key = this.keyOf(id);
      if (key === this.placedKey.get(id)) continue;
      this.place(id);
      this.version++;
    }
  }

  private keyOf(id: string): number {
    return sortKey(this.entries.get(id)!, this.infos.get(id));
  }

  /** Newest first; equal keys by room ID. */
  private before(aKey: number, aId: string, bKey: number, bId: string): boolean {
    return aKey > bKey || (aKey === bKey && aId < bId);
  }

  private indexFor(key: number, id: string): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const mId = this.order[mid]!;
      if (this.before(this.placedKey.get(mId)!, mId, key, id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Moves one room to its place (removing it when it has no membership any more). */
  private place(id: string): void {
    const old = this.placedKey.get(id);
    if (old !== undefined) {
      const i = this.indexFor(old, id);
      if (this.order[i] === id) this.order.splice(i, 1);
      else this.order.splice(this.order.indexOf(id), 1);
      this.placedKey.delete(id);
    }
    if (!this.entries.has(id)) return;
    const key = this.keyOf(id);
    this.order.splice(this.indexFor(key, id), 0, id);
    this.placedKey.set(id, key);
  }

  private rebuild(): void {
    this.placedKey.clear();
    for (const id of this.entries.keys()) this.placedKey.set(id, this.keyOf(id));
    this.order = [...this.entries.keys()].sort((a, b) => {
      const ka = this.placedKey.get(a)!;
      const kb = this.placedKey.get(b)!;
      return kb - ka || (a < b ? -1 : a > b ? 1 : 0);
    });
    this.sortedSeq = this.infos.seq;
    this.version++;
  }

  /** Every room of the user, most recent first. */
  ordered(): readonly string[] {
    return this.order;
  }

  /** The sort key (and bump_stamp) a room has now. */
  bumpStamp(roomId: string): number | undefined {
    const m = this.entries.get(roomId);
    return m ? sortKey(m, this.infos.get(roomId)) : undefined;
  }

  /** Joined rooms (what a long-poll listens to). */
  joinedRooms(): readonly string[] {
    if (this.joinedCache?.version !== this.version) {
      const rooms: string[] = [];
      for (const m of this.entries.values()) if (m.membership === "join") rooms.push(m.roomId);
      this.joinedCache = { version: this.version, rooms };
    }
    return this.joinedCache.rooms;
  }

  /** Rooms the user left by themselves (lists show them only to connections not told yet). */
  selfLeft(): ReadonlySet<string> {
    return this.selfLeftIds;
  }
}
