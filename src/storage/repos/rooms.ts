// SQL for rooms, the event graph, state groups and current state.
// Writes take a Queryable so the caller can group them into one transaction.
import { settleAll, type Db, type Queryable } from "../engines/db.ts";
import { Lru } from "../../util/lru.ts";

export interface RoomRow {
  room_id: string;
  room_version: string;
  creator: string;
  created_ts: number;
  current_state_group: number | null;
  is_public: number;
}

export interface EventRow {
  event_id: string;
  room_id: string;
  stream_ordering: number;
  depth: number;
  type: string;
  state_key: string | null;
  sender: string;
  origin_server_ts: number;
  received_ts: number;
  json: string;
  outlier: number;
  soft_failed: number;
  rejected_reason: string | null;
  state_group: number | null;
  redacted_by: string | null;
  replaces_state: string | null;
  txn_id: string | null;
  device_id: string | null;
}

export type NewEventRow = Omit<EventRow, "redacted_by" | "replaces_state"> & { redacted_by?: string | null; replaces_state?: string | null };

/** One (type, state_key) → event_id change; eventId null removes the key. */
export type StateDelta = Array<[type: string, stateKey: string, eventId: string | null]>;

const EVENT_COLS =
  "event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, received_ts, json, outlier, soft_failed, rejected_reason, state_group, redacted_by, replaces_state, txn_id, device_id";

/** Longest delta chain before a state group is written as a full snapshot. */
export const MAX_STATE_CHAIN = 64;

/** Splits a list into chunks (to keep IN (...) lists within engine limits). */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const placeholders = (n: number) => Array(n).fill("?").join(", ");

/** Which state entries to read: given (type, state_key) pairs, given types, or everything. */
export interface StateFilter {
  keys?: ReadonlyArray<[string, string]>;
  types?: readonly string[];
  /** Everything except these types (lazy-loading /sync: all state but m.room.member). */
  notTypes?: readonly string[];
}

/** The SQL condition for a StateFilter; null when it selects nothing. */
function stateFilterSql(filter: StateFilter): { where: string; params: string[] } | null {
  if (filter.keys) {
    if (filter.keys.length === 0) return null;
    return { where: ` AND (${filter.keys.map(() => "(type = ? AND state_key = ?)").join(" OR ")})`, params: filter.keys.flat() };
  }
  if (filter.types) {
    if (filter.types.length === 0) return null;
    return { where: ` AND type IN (${placeholders(filter.types.length)})`, params: [...filter.types] };
  }
  if (filter.notTypes?.length) {
    return { where: ` AND type NOT IN (${placeholders(filter.notTypes.length)})`, params: [...filter.notTypes] };
  }
  return { where: "", params: [] };
}

/** The sequence state_group_ids counts in blocks of this many (sql/0021_cluster.postgres.sql). */
const STATE_GROUP_BLOCK = 64;

export class RoomsRepo {
  private nextStateGroup = 0;
  /** group id → its chain [group, prev, prev.prev, ...]; chains never change once written. */
  private readonly chainCache = new Lru<number, number[]>(10000, "state_group_chains");

  constructor(private readonly db: Db) {}

  async init(): Promise<void> {
    const r = await this.db.get<{ m: number | null }>("SELECT MAX(id) AS m FROM state_groups");
    this.nextStateGroup = Number(r?.m ?? 0) + 1;
    if (this.db.dialect === "postgres") {
      // Several processes take blocks of IDs from a sequence; it must start past the groups stored
      // (rows copied in by port-db or import-synapse bypass it).
      // Under a lock, so that two processes starting together cannot set it back behind a block
      // the first already handed out.
      await this.db.transaction(async (tx) => {
        await tx.get("SELECT pg_advisory_xact_lock(hashtext('hs.state_group_ids')) AS l");
        const m = await tx.get<{ m: number | null }>("SELECT MAX(id) AS m FROM state_groups");
        const next = Number(m?.m ?? 0) + 1;
        const s = await tx.get<{ v: number }>("SELECT last_value AS v FROM state_group_ids");
        if (Number(s?.v ?? 0) <= next) await tx.get("SELECT setval('state_group_ids', ?) AS v", [next + STATE_GROUP_BLOCK]);
      });
      this.stateGroupBlockEnd = 0;
    }
  }

  private stateGroupBlockEnd = Infinity;

  /** The next state group ID (PostgreSQL: from this process's block of the shared sequence). */
  private async newStateGroupId(q: Queryable): Promise<number> {
    if (this.nextStateGroup >= this.stateGroupBlockEnd) {
      const r = await q.get<{ v: number }>("SELECT nextval('state_group_ids') AS v");
      this.nextStateGroup = Number(r!.v);
      this.stateGroupBlockEnd = this.nextStateGroup + STATE_GROUP_BLOCK;
    }
    return this.nextStateGroup++;
  }

  /** Highest stream position persisted by any table of the global stream. */
  async maxStreamPosition(): Promise<number> {
    const r = await this.db.get<{ a: number | null; b: number | null; c: number | null; d: number | null; e: number | null }>(
      `SELECT (SELECT MAX(stream_ordering) FROM events) AS a,
              (SELECT MAX(stream_id) FROM account_data) AS b,
              (SELECT MAX(stream_id) FROM receipts) AS c,
              (SELECT MAX(stream_ordering) FROM local_memberships) AS d,
              (SELECT MAX(stream_id) FROM presence) AS e`,
    );
    return Math.max(0, Number(r?.a ?? 0), Number(r?.b ?? 0), Number(r?.c ?? 0), Number(r?.d ?? 0), Number(r?.e ?? 0));
  }

  // ---- rooms

  async insertRoom(q: Queryable, room: Omit<RoomRow, "current_state_group" | "is_public">): Promise<void> {
    await q.run("INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES (?, ?, ?, ?)", [
      room.room_id,
      room.room_version,
      room.creator,
      room.created_ts,
    ]);
  }

  findRoom(roomId: string, q: Queryable = this.db): Promise<RoomRow | undefined> {
    return q.get<RoomRow>("SELECT * FROM rooms WHERE room_id = ?", [roomId]);
  }

  async setCurrentStateGroup(q: Queryable, roomId: string, group: number): Promise<void> {
    await q.run("UPDATE rooms SET current_state_group = ? WHERE room_id = ?", [group, roomId]);
  }

  // ---- events

  async insertEvent(q: Queryable, e: NewEventRow, prevEvents: readonly string[], authEvents: readonly string[]): Promise<void> {
    const row = [
      e.event_id,
      e.room_id,
      e.stream_ordering,
      e.depth,
      e.type,
      e.state_key,
      e.sender,
      e.origin_server_ts,
      e.received_ts,
      e.json,
      e.outlier,
      e.soft_failed,
      e.rejected_reason,
      e.state_group,
      e.redacted_by ?? null,
      e.replaces_state ?? null,
      e.txn_id,
      e.device_id,
    ];
    const prevs = [...new Set(prevEvents)];
    const auths = [...new Set(authEvents)];
    // Issued together (one round trip on PostgreSQL): the event row first, then its edges.
    await settleAll([
      q.run(`INSERT INTO events (${EVENT_COLS}) VALUES (${placeholders(18)})`, row),
      ...(prevs.length
        ? [q.run(`INSERT INTO event_edges (event_id, prev_event_id) VALUES ${prevs.map(() => "(?, ?)").join(", ")} ON CONFLICT DO NOTHING`, prevs.flatMap((p) => [e.event_id, p]))]
        : []),
      ...(auths.length
        ? [q.run(`INSERT INTO event_auth_edges (event_id, auth_event_id) VALUES ${auths.map(() => "(?, ?)").join(", ")} ON CONFLICT DO NOTHING`, auths.flatMap((a) => [e.event_id, a]))]
        : []),
    ]);
  }

  findEvent(eventId: string, q: Queryable = this.db): Promise<EventRow | undefined> {
    return q.get<EventRow>(`SELECT ${EVENT_COLS} FROM events WHERE event_id = ?`, [eventId]);
  }

  async getEvents(ids: readonly string[], q: Queryable = this.db): Promise<Map<string, EventRow>> {
    const out = new Map<string, EventRow>();
    for (const part of chunks([...new Set(ids)])) {
      const rows = await q.all<EventRow>(`SELECT ${EVENT_COLS} FROM events WHERE event_id IN (${placeholders(part.length)})`, part);
      for (const r of rows) out.set(r.event_id, r);
    }
    return out;
  }

  /** The prev_events of each of `ids` (from event_edges), all together. */
  async prevEventIds(ids: readonly string[], q: Queryable = this.db): Promise<string[]> {
    const out = new Set<string>();
    for (const part of chunks([...new Set(ids)])) {
      const rows = await q.all<{ prev_event_id: string }>(`SELECT prev_event_id FROM event_edges WHERE event_id IN (${placeholders(part.length)})`, part);
      for (const r of rows) out.add(r.prev_event_id);
    }
    return [...out];
  }

  async setRedactedBy(q: Queryable, eventId: string, redactionId: string): Promise<void> {
    await q.run("UPDATE events SET redacted_by = ? WHERE event_id = ? AND redacted_by IS NULL", [redactionId, eventId]);
  }

  /** Timeline events of a room in stream order, (from, to]. Newest first when `backwards`. */
  roomEventsByStream(roomId: string, fromExclusive: number, toInclusive: number, limit: number, backwards: boolean): Promise<EventRow[]> {
    return this.db.all<EventRow>(
      `SELECT ${EVENT_COLS} FROM events
       WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ? AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       ORDER BY stream_ordering ${backwards ? "DESC" : "ASC"} LIMIT ?`,
      [roomId, fromExclusive, toInclusive, limit],
    );
  }

  /** Whether older history of the room exists on other servers (it has backward extremities). */
  async hasBackwardExtremities(roomId: string): Promise<boolean> {
    return (await this.db.get<{ x: number }>("SELECT 1 AS x FROM backward_extremities WHERE room_id = ? LIMIT 1", [roomId])) !== undefined;
  }

  /** Where history before what this server has begins (for backfilling): at most `limit` event IDs. */
  async backwardExtremities(roomId: string, limit = 20): Promise<string[]> {
    const rows = await this.db.all<{ event_id: string }>("SELECT event_id FROM backward_extremities WHERE room_id = ? LIMIT ?", [roomId, limit]);
    return rows.map((r) => r.event_id);
  }

  async deleteBackwardExtremity(q: Queryable, roomId: string, eventId: string): Promise<void> {
    await q.run("DELETE FROM backward_extremities WHERE room_id = ? AND event_id = ?", [roomId, eventId]);
  }

  async insertBackwardExtremity(q: Queryable, roomId: string, eventId: string): Promise<void> {
    await q.run("INSERT INTO backward_extremities (room_id, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [roomId, eventId]);
  }

  /** The lowest stream position of any event (backfilled events go below it). */
  async minStreamOrdering(q: Queryable = this.db): Promise<number | null> {
    const r = await q.get<{ m: number | null }>("SELECT MIN(stream_ordering) AS m FROM events");
    return r?.m ?? null;
  }

  /** An outlier (known from a state or auth chain) joins the timeline at `stream` with `stateGroup`. */
  async promoteOutlier(q: Queryable, eventId: string, stream: number, stateGroup: number): Promise<void> {
    await q.run("UPDATE events SET outlier = 0, stream_ordering = ?, state_group = ? WHERE event_id = ?", [stream, stateGroup, eventId]);
  }

  /** The earliest accepted timeline event with a state group (the oldest point whose state is known). */
  earliestTimelineEventWithState(roomId: string) {
    return this.db.get<{ event_id: string; type: string; state_key: string | null; state_group: number | null; replaces_state: string | null; stream_ordering: number }>(
      "SELECT event_id, type, state_key, state_group, replaces_state, stream_ordering FROM events WHERE room_id = ? AND outlier = 0 AND rejected_reason IS NULL AND state_group IS NOT NULL ORDER BY depth ASC, stream_ordering ASC LIMIT 1",
      [roomId],
    );
  }

  /** An event's redaction and position (redactions of relations and search entries). */
  redactionOf(eventId: string, q: Queryable = this.db) {
    return q.get<{ redacted_by: string | null; stream_ordering: number }>("SELECT redacted_by, stream_ordering FROM events WHERE event_id = ?", [eventId]);
  }

  /** The auth events of `eventIds` (one step of an auth chain). */
  async authEventIdsOf(eventIds: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (const part of chunks(eventIds)) {
      const rows = await this.db.all<{ auth_event_id: string }>(`SELECT auth_event_id FROM event_auth_edges WHERE event_id IN (${placeholders(part.length)})`, part);
      for (const r of rows) out.push(r.auth_event_id);
    }
    return out;
  }

  /** Whether a user of `serverName` is joined, invited or knocking in the room (current state). */
  async serverHasMember(roomId: string, serverName: string): Promise<boolean> {
    const row = await this.db.get(
      "SELECT 1 FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND membership IN ('join', 'invite', 'knock') AND state_key LIKE ? LIMIT 1",
      [roomId, `%:${serverName}`],
    );
    return row !== undefined;
  }

  /** A user's membership in current state (null when none). */
  async currentMembership(roomId: string, userId: string): Promise<string | null | undefined> {
    const row = await this.db.get<{ membership: string | null }>("SELECT membership FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND state_key = ?", [roomId, userId]);
    return row ? row.membership : undefined;
  }

  /** Whether a local user is joined to the room (this server is resident). */
  async hasLocalJoin(roomId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 FROM local_memberships WHERE room_id = ? AND membership = 'join' LIMIT 1", [roomId])) !== undefined;
  }

  /** How many local users are joined to the room. */
  async localJoinedCount(roomId: string): Promise<number> {
    return Number((await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM local_memberships WHERE room_id = ? AND membership = 'join'", [roomId]))?.n ?? 0);
  }

  /** Local users with `membership`, ordered by user ID. */
  async localUsersIn(roomId: string, memberships: readonly string[]): Promise<Array<{ user_id: string; membership: string }>> {
    return this.db.all<{ user_id: string; membership: string }>(
      `SELECT user_id, membership FROM local_memberships WHERE room_id = ? AND membership IN (${placeholders(memberships.length)}) ORDER BY user_id`,
      [roomId, ...memberships],
    );
  }

  /** Rooms a local user is joined to. */
  async joinedRoomIds(userId: string): Promise<string[]> {
    return (await this.db.all<{ room_id: string }>("SELECT room_id FROM local_memberships WHERE user_id = ? AND membership = 'join'", [userId])).map((r) => r.room_id);
  }

  // ---- invites to rooms this server is not in

  async upsertRemoteInvite(q: Queryable, roomId: string, userId: string, eventId: string, roomVersion: string, inviteRoomState: string): Promise<void> {
    await q.run(
      `INSERT INTO remote_invites (room_id, user_id, event_id, room_version, invite_room_state, received_ts) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, user_id) DO UPDATE SET event_id = excluded.event_id, room_version = excluded.room_version,
         invite_room_state = excluded.invite_room_state, received_ts = excluded.received_ts`,
      [roomId, userId, eventId, roomVersion, inviteRoomState, Date.now()],
    );
  }

  async deleteRemoteInvite(q: Queryable, roomId: string, userId: string): Promise<void> {
    await q.run("DELETE FROM remote_invites WHERE room_id = ? AND user_id = ?", [roomId, userId]);
  }

  findRemoteInvite(roomId: string, userId: string) {
    return this.db.get<{ event_id: string; room_version: string }>("SELECT event_id, room_version FROM remote_invites WHERE room_id = ? AND user_id = ?", [roomId, userId]);
  }

  /**
   * Timeline events in topological order around a gap (depth, stream): `b` returns the events
   * before the gap (< (depth, stream)), newest first; `f` the events from the gap on
   * (≥ (depth, stream)), oldest first.
   */
  roomEventsByTopology(roomId: string, depth: number, stream: number, dir: "b" | "f", limit: number): Promise<EventRow[]> {
    const cond = dir === "b" ? "(depth < ? OR (depth = ? AND stream_ordering < ?))" : "(depth > ? OR (depth = ? AND stream_ordering >= ?))";
    const order = dir === "b" ? "DESC" : "ASC";
    return this.db.all<EventRow>(
      `SELECT ${EVENT_COLS} FROM events
       WHERE room_id = ? AND ${cond} AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       ORDER BY depth ${order}, stream_ordering ${order} LIMIT ?`,
      [roomId, depth, depth, stream, limit],
    );
  }

  /** The timeline event closest to a timestamp in a direction (timestamp_to_event). */
  eventNearTimestamp(roomId: string, ts: number, dir: "b" | "f"): Promise<EventRow | undefined> {
    const cmp = dir === "b" ? "<=" : ">=";
    const order = dir === "b" ? "DESC" : "ASC";
    return this.db.get<EventRow>(
      `SELECT ${EVENT_COLS} FROM events WHERE room_id = ? AND origin_server_ts ${cmp} ? AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       ORDER BY origin_server_ts ${order}, stream_ordering ${order} LIMIT 1`,
      [roomId, ts],
    );
  }

  /** The last timeline event of a room at or before a stream position. */
  lastEventAtOrBefore(roomId: string, stream: number): Promise<EventRow | undefined> {
    return this.db.get<EventRow>(
      `SELECT ${EVENT_COLS} FROM events WHERE room_id = ? AND stream_ordering <= ? AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       ORDER BY stream_ordering DESC LIMIT 1`,
      [roomId, stream],
    );
  }

  /** The topologically last timeline event among those at or before a stream position (/messages from "now"). */
  topologicalLastAtOrBefore(roomId: string, stream: number): Promise<EventRow | undefined> {
    return this.db.get<EventRow>(
      `SELECT ${EVENT_COLS} FROM events WHERE room_id = ? AND stream_ordering <= ? AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       ORDER BY depth DESC, stream_ordering DESC LIMIT 1`,
      [roomId, stream],
    );
  }

  // ---- graph

  async forwardExtremities(roomId: string, q: Queryable = this.db): Promise<string[]> {
    const rows = await q.all<{ event_id: string }>("SELECT event_id FROM forward_extremities WHERE room_id = ?", [roomId]);
    return rows.map((r) => r.event_id);
  }

  async replaceForwardExtremities(q: Queryable, roomId: string, removed: readonly string[], added: readonly string[]): Promise<void> {
    const gone = [...new Set(removed)];
    const fresh = [...new Set(added)];
    await settleAll([
      ...(gone.length ? [q.run(`DELETE FROM forward_extremities WHERE room_id = ? AND event_id IN (${placeholders(gone.length)})`, [roomId, ...gone])] : []),
      ...(fresh.length
        ? [q.run(`INSERT INTO forward_extremities (room_id, event_id) VALUES ${fresh.map(() => "(?, ?)").join(", ")} ON CONFLICT DO NOTHING`, fresh.flatMap((id) => [roomId, id]))]
        : []),
    ]);
  }

  // ---- state groups

  /**
   * Writes a state group as a delta over `prevGroup` (or as a full snapshot when there is none or
   * the chain is long, in which case `fullState` is called to get the complete state).
   */
  async insertStateGroup(
    q: Queryable,
    roomId: string,
    prevGroup: number | null,
    delta: StateDelta,
    fullState: () => Promise<Map<string, [string, string, string]>>,
  ): Promise<number> {
    const id = await this.newStateGroupId(q);
    let chainLength = 0;
    let rows: StateDelta = delta;
    let prev: number | null = prevGroup;
    if (prevGroup !== null) {
      const p = await q.get<{ chain_length: number }>("SELECT chain_length FROM state_groups WHERE id = ?", [prevGroup]);
      chainLength = Number(p?.chain_length ?? 0) + 1;
      if (chainLength > MAX_STATE_CHAIN) {
        const full = await fullState();
        for (const [t, sk, eid] of delta) {
          const k = `${t}\u0000${sk}`;
          if (eid === null) full.delete(k);
          else full.set(k, [t, sk, eid]);
        }
        rows = [...full.values()];
        prev = null;
        chainLength = 0;
      }
    } else {
      rows = delta.filter(([, , eid]) => eid !== null);
    }
    await q.run("INSERT INTO state_groups (id, room_id, prev_group, chain_length) VALUES (?, ?, ?, ?)", [id, roomId, prev, chainLength]);
    for (const [t, sk, eid] of rows) {
      await q.run("INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES (?, ?, ?, ?)", [id, t, sk, eid]);
    }
    return id;
  }

  private async chain(groupId: number, q: Queryable): Promise<number[]> {
    const cached = this.chainCache.get(groupId);
    if (cached) return cached;
    const chain: number[] = [];
    let cur: number | null = groupId;
    while (cur !== null) {
      const hit = this.chainCache.get(cur);
      if (hit) {
        chain.push(...hit);
        break;
      }
      chain.push(cur);
      const row: { prev_group: number | null } | undefined = await q.get<{ prev_group: number | null }>(
        "SELECT prev_group FROM state_groups WHERE id = ?",
        [cur],
      );
      if (!row) throw new Error(`state group ${cur} is missing`);
      cur = row.prev_group === null ? null : Number(row.prev_group);
    }
    this.chainCache.set(groupId, chain);
    return chain;
  }

  /**
   * The state of a group as (type\0state_key) → event_id. With `keys`, only those entries are
   * read (for auth checks and history visibility, never the whole room); with `types`, only those
   * event types.
   */
  async stateOfGroup(
    groupId: number,
    filter: StateFilter = {},
    q: Queryable = this.db,
  ): Promise<Map<string, string>> {
    const chain = await this.chain(groupId, q);
    const rank = new Map(chain.map((g, i) => [g, i]));
    const f = stateFilterSql(filter);
    if (!f) return new Map();
    const { where, params } = f;
    const best = new Map<string, { rank: number; eventId: string | null }>();
    for (const part of chunks(chain, 200)) {
      const rows = await q.all<{ group_id: number; type: string; state_key: string; event_id: string | null }>(
        `SELECT group_id, type, state_key, event_id FROM state_group_entries WHERE group_id IN (${placeholders(part.length)})${where}`,
        [...part, ...params],
      );
      for (const r of rows) {
        const k = `${r.type}\u0000${r.state_key}`;
        const rk = rank.get(Number(r.group_id))!;
        const cur = best.get(k);
        if (!cur || rk < cur.rank) best.set(k, { rank: rk, eventId: r.event_id });
      }
    }
    const out = new Map<string, string>();
    for (const [k, v] of best) if (v.eventId !== null) out.set(k, v.eventId);
    return out;
  }

  // ---- current state

  async currentState(
    roomId: string,
    filter: StateFilter = {},
    q: Queryable = this.db,
  ): Promise<Map<string, string>> {
    const f = stateFilterSql(filter);
    if (!f) return new Map();
    const rows = await q.all<{ type: string; state_key: string; event_id: string }>(
      `SELECT type, state_key, event_id FROM current_state WHERE room_id = ?${f.where}`,
      [roomId, ...f.params],
    );
    return new Map(rows.map((r) => [`${r.type}\u0000${r.state_key}`, r.event_id]));
  }

  /** Records current-state keys changed by state resolution rather than by the event at `stream`. */
  async insertResolutionDeltas(q: Queryable, roomId: string, stream: number, keys: ReadonlyArray<[string, string]>): Promise<void> {
    for (const [type, stateKey] of keys) {
      await q.run("INSERT INTO state_resolution_deltas (room_id, stream_ordering, type, state_key) VALUES (?, ?, ?, ?)", [roomId, stream, type, stateKey]);
    }
    this.latestResolutionDelta = Math.max(this.latestResolutionDelta ?? Number.MIN_SAFE_INTEGER, stream);
  }

  /**
   * Keys state resolution changed in (fromExclusive, toInclusive] (no event of the timeline explains
   * them). Such changes are rare: while none is newer than `fromExclusive` (the newest one's position
   * is kept in memory; this process writes them all) no query is made, as on most incremental syncs.
   */
  async resolutionDeltaKeys(roomId: string, fromExclusive: number, toInclusive: number): Promise<Array<[string, string]>> {
    if ((await this.resolutionDeltaWatermark()) <= fromExclusive) return [];
    const rows = await this.db.all<{ type: string; state_key: string }>(
      "SELECT DISTINCT type, state_key FROM state_resolution_deltas WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ?",
      [roomId, fromExclusive, toInclusive],
    );
    return rows.map((r) => [r.type, r.state_key]);
  }

  private latestResolutionDelta: number | undefined;

  private async resolutionDeltaWatermark(): Promise<number> {
    if (this.latestResolutionDelta === undefined) {
      const m = Number((await this.db.get<{ m: number | null }>("SELECT MAX(stream_ordering) AS m FROM state_resolution_deltas"))?.m ?? Number.MIN_SAFE_INTEGER);
      // Merged, not assigned: an insert may have raised it meanwhile.
      this.latestResolutionDelta = Math.max(this.latestResolutionDelta ?? Number.MIN_SAFE_INTEGER, m);
    }
    return this.latestResolutionDelta;
  }

  /** Applies changes to current_state; `membershipOf` gives the membership of member events. */
  async applyCurrentState(q: Queryable, roomId: string, delta: ReadonlyArray<[string, string, string | null, string | null]>): Promise<void> {
    for (const [type, sk, eventId, membership] of delta) {
      if (eventId === null) {
        await q.run("DELETE FROM current_state WHERE room_id = ? AND type = ? AND state_key = ?", [roomId, type, sk]);
      } else {
        await q.run(
          `INSERT INTO current_state (room_id, type, state_key, event_id, membership) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership`,
          [roomId, type, sk, eventId, membership],
        );
      }
    }
  }

  /** Members of a room by membership, from current state. */
  async currentMembers(roomId: string, membership?: string): Promise<Array<{ user_id: string; membership: string; event_id: string }>> {
    const rows = await this.db.all<{ state_key: string; membership: string; event_id: string }>(
      `SELECT state_key, membership, event_id FROM current_state WHERE room_id = ? AND type = 'm.room.member'${membership ? " AND membership = ?" : ""}`,
      membership ? [roomId, membership] : [roomId],
    );
    return rows.map((r) => ({ user_id: r.state_key, membership: r.membership, event_id: r.event_id }));
  }

  async memberCounts(roomId: string): Promise<{ joined: number; invited: number }> {
    const rows = await this.db.all<{ membership: string; n: number }>(
      "SELECT membership, COUNT(*) AS n FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND membership IN ('join', 'invite') GROUP BY membership",
      [roomId],
    );
    let joined = 0;
    let invited = 0;
    for (const r of rows) {
      if (r.membership === "join") joined = Number(r.n);
      else invited = Number(r.n);
    }
    return { joined, invited };
  }

  // ---- local memberships

  async upsertLocalMembership(q: Queryable, userId: string, roomId: string, membership: string, eventId: string, stream: number): Promise<void> {
    await q.run(
      `INSERT INTO local_memberships (user_id, room_id, membership, event_id, stream_ordering, forgotten) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (user_id, room_id) DO UPDATE SET membership = excluded.membership, event_id = excluded.event_id,
         stream_ordering = excluded.stream_ordering, forgotten = 0`,
      [userId, roomId, membership, eventId, stream],
    );
  }

  localMembership(userId: string, roomId: string, q: Queryable = this.db) {
    return q.get<{ membership: string; event_id: string; stream_ordering: number; forgotten: number }>(
      "SELECT membership, event_id, stream_ordering, forgotten FROM local_memberships WHERE user_id = ? AND room_id = ?",
      [userId, roomId],
    );
  }

  /** A local user's rooms (optionally by membership), or those changed after a stream position. */
  localMemberships(userId: string, opts: { memberships?: string[]; since?: number; includeForgotten?: boolean } = {}) {
    const params: (string | number)[] = [userId];
    let where = "";
    if (opts.memberships) {
      where += ` AND membership IN (${placeholders(opts.memberships.length)})`;
      params.push(...opts.memberships);
    }
    if (opts.since !== undefined) {
      where += " AND stream_ordering > ?";
      params.push(opts.since);
    }
    if (!opts.includeForgotten) where += " AND forgotten = 0";
    return this.db.all<{ room_id: string; membership: string; event_id: string; stream_ordering: number }>(
      `SELECT room_id, membership, event_id, stream_ordering FROM local_memberships WHERE user_id = ?${where}`,
      params,
    );
  }

  async forget(userId: string, roomId: string): Promise<void> {
    await this.db.run("UPDATE local_memberships SET forgotten = 1 WHERE user_id = ? AND room_id = ?", [userId, roomId]);
  }

  // ---- transaction IDs

  findTxn(userId: string, deviceId: string, txnId: string, q: Queryable = this.db) {
    return q.get<{ room_id: string; event_id: string }>(
      "SELECT room_id, event_id FROM event_txn_ids WHERE user_id = ? AND device_id = ? AND txn_id = ?",
      [userId, deviceId, txnId],
    );
  }

  async insertTxn(q: Queryable, userId: string, deviceId: string, txnId: string, roomId: string, eventId: string): Promise<void> {
    await q.run("INSERT INTO event_txn_ids (user_id, device_id, txn_id, room_id, event_id, created_ts) VALUES (?, ?, ?, ?, ?, ?)", [
      userId,
      deviceId,
      txnId,
      roomId,
      eventId,
      Date.now(),
    ]);
  }
}
