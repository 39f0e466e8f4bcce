// Spaces: GET /rooms/{roomId}/hierarchy (client, paginated) and GET /hierarchy/{roomId}
// (federation, not paginated), and room summaries (GET /room_summary/{roomIdOrAlias}, v1.15).
// Spec: client-server-api modules/spaces.md, space_hierarchy.yaml, room_summary.yaml;
// server-server-api "Spaces".
//
// The client walk is depth-first from the requested room: each room shown (one the user may
// preview: joined, invited, an open join rule, world-readable history, or a restricted rule they
// meet) is followed by its children before its later siblings. Only spaces (`m.space`) have
// children: their m.space.child events with a non-empty `via`, in the spec's order (`order`, then
// timestamp, then room ID), at most MAX_CHILDREN per space. Rooms this server is not in are asked
// for over federation from the child event's `via` servers (answers cached for a minute). Loops are
// cut by visiting every room once. `from` tokens name a walk kept in memory for 10 minutes; they
// only continue with the same `suggested_only` and `max_depth`.
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf, isValidRoomId } from "../../protocol/ids.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { randomString } from "../../util/random.ts";
import { asClientError } from "../federation/membership.ts";
import type { FederationRequester } from "../federation/ports.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { Rooms } from "../rooms/rooms.ts";
import { OPEN_JOIN_RULES, type RoomSummaries, type RoomSummary } from "./summaries.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

export const DEFAULT_HIERARCHY_LIMIT = 50;
export const MAX_HIERARCHY_LIMIT = 50;
export const DEFAULT_MAX_DEPTH = 10;
const MAX_CHILDREN = 50;
const SESSION_TTL_MS = 10 * 60_000;
const REMOTE_CACHE_MS = 60_000;

export interface ChildState {
  type: "m.space.child";
  state_key: string;
  content: JsonObject;
  sender: string;
  origin_server_ts: number;
}

export type HierarchyRoom = RoomSummary & { children_state: ChildState[] };

export interface HierarchyRequest {
  suggestedOnly: boolean;
  maxDepth?: number;
  limit?: number;
  from?: string;
}

interface QueueEntry {
  roomId: string;
  via: string[];
  depth: number;
}

interface Session {
  userId: string;
  roomId: string;
  suggestedOnly: boolean;
  maxDepth: number;
  queue: QueueEntry[];
  seen: Set<string>;
  expires: number;
}

/** A room as another server described it (federation /hierarchy). */
interface RemoteRoom {
  summary: RoomSummary;
  children: ChildState[];
  /** Summaries of its children, as that server gave them. */
  childSummaries: Map<string, RoomSummary>;
  inaccessible: Set<string>;
}

export interface SpacesDeps {
  serverName: string;
  repo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  summaries: RoomSummaries;
  fed?: FederationRequester;
  now?: () => number;
}


/** A valid `order` (spec: at most 50 characters in \x20–\x7E). */
function validOrder(o: unknown): o is string {
  return typeof o === "string" && o.length <= 50 && /^[\x20-\x7E]*$/.test(o);
}

/** The spec's child order: valid `order` first (code points), then timestamp, then room ID. */
export function orderChildren<T extends { state_key: string; content: JsonObject; origin_server_ts: number }>(children: T[]): T[] {
  return [...children].sort((a, b) => {
    const oa = validOrder(a.content.order) ? a.content.order : undefined;
    const ob = validOrder(b.content.order) ? b.content.order : undefined;
    if (oa !== undefined && ob === undefined) return -1;
    if (oa === undefined && ob !== undefined) return 1;
    if (oa !== undefined && ob !== undefined && oa !== ob) return oa < ob ? -1 : 1;
    if (a.origin_server_ts !== b.origin_server_ts) return a.origin_server_ts - b.origin_server_ts;
    return a.state_key < b.state_key ? -1 : a.state_key > b.state_key ? 1 : 0;
  });
}

/** m.space.child events that link a child: a room ID state key and a non-empty `via` list. */
function validChild(c: { state_key?: unknown; content?: unknown }): boolean {
  if (typeof c.state_key !== "string" || !isValidRoomId(c.state_key) || !isObject(c.content)) return false;
  const via = c.content.via;
  return Array.isArray(via) && via.length > 0 && via.every((v) => typeof v === "string");
}

const viaOf = (c: ChildState): string[] => (Array.isArray(c.content.via) ? (c.content.via as string[]) : []);

export class Spaces {
  private readonly sessions = new Map<string, Session>();
  private readonly remoteCache = new Map<string, { room: RemoteRoom; expires: number }>();

  constructor(private readonly d: SpacesDeps) {}

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /** The m.space.child events of a space this server has state for, valid and ordered. */
  private async localChildren(roomId: string, suggestedOnly: boolean): Promise<ChildState[]> {
    const ids = await this.d.repo.currentState(roomId, { types: ["m.space.child"] });
    const evs = await this.d.events.loadEvents([...ids.values()]);
    const out: ChildState[] = [];
    for (const ev of evs.values()) {
      if (!validChild(ev)) continue;
      if (suggestedOnly && ev.content["suggested"] !== true) continue;
      out.push(stripped(ev));
    }
    return orderChildren(out).slice(0, MAX_CHILDREN);
  }

  /** A local room's summary with its children (empty unless it is a space). */
  private async localRoom(roomId: string, suggestedOnly: boolean): Promise<{ room: HierarchyRoom; facts: NonNullable<Awaited<ReturnType<RoomSummaries["facts"]>>> } | undefined> {
    const facts = await this.d.summaries.facts(roomId);
    if (!facts) return undefined;
    const children = facts.summary.room_type === "m.space" ? await this.localChildren(roomId, suggestedOnly) : [];
    return { room: { ...facts.summary, children_state: children }, facts };
  }

  /** Asks `servers` for a room's hierarchy entry (federation), cached for a minute. */
  private async remoteRoom(roomId: string, servers: string[], suggestedOnly: boolean): Promise<RemoteRoom | undefined> {
    const cacheKey = `${roomId}\u0000${suggestedOnly}`;
    const hit = this.remoteCache.get(cacheKey);
    if (hit && hit.expires > this.now()) return hit.room;
    if (!this.d.fed) return undefined;
    for (const server of [...new Set(servers)].filter((s) => s !== this.d.serverName).slice(0, 5)) {
      try {
        const res = await this.d.fed.request<unknown>({
          destination: server,
          method: "GET",
          path: `/_matrix/federation/v1/hierarchy/${encodeURIComponent(roomId)}`,
          query: { suggested_only: String(suggestedOnly) },
          timeoutMs: 20_000,
        });
        const room = parseRemoteHierarchy(roomId, res, suggestedOnly);
        if (!room) continue;
        this.remoteCache.set(cacheKey, { room, expires: this.now() + REMOTE_CACHE_MS });
        if (this.remoteCache.size > 1000) this.remoteCache.delete(this.remoteCache.keys().next().value as string);
        return room;
      } catch {
        // try the next server
      }
    }
    return undefined;
  }

  /** Whether a user may preview a room known only from another server's summary. */
  private async remoteAccessible(userId: string | undefined, s: RoomSummary): Promise<boolean> {
    if (OPEN_JOIN_RULES.has(s.join_rule ?? "public") || s.world_readable) return true;
    if (userId === undefined) return false;
    const m = await this.d.summaries.membership(userId, s.room_id);
    if (m === "join" || m === "invite") return true;
    return this.d.summaries.inAnyRoom(userId, s.allowed_room_ids ?? []);
  }

  // ------------------------------------------------------------------ client: /hierarchy

  async hierarchy(userId: string, roomId: string, req: HierarchyRequest): Promise<{ rooms: HierarchyRoom[]; next_batch?: string }> {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    if (req.limit !== undefined && (!Number.isInteger(req.limit) || req.limit < 1)) throw new MatrixError("M_INVALID_PARAM", "'limit' must be a positive integer");
    if (req.maxDepth !== undefined && (!Number.isInteger(req.maxDepth) || req.maxDepth < 0)) throw new MatrixError("M_INVALID_PARAM", "'max_depth' must be a non-negative integer");
    const limit = Math.min(req.limit ?? DEFAULT_HIERARCHY_LIMIT, MAX_HIERARCHY_LIMIT);
    const maxDepth = Math.min(req.maxDepth ?? DEFAULT_MAX_DEPTH, DEFAULT_MAX_DEPTH);
    this.expireSessions();

    let session: Session;
    if (req.from !== undefined) {
      const s = this.sessions.get(req.from);
      if (!s || s.userId !== userId || s.roomId !== roomId) throw new MatrixError("M_INVALID_PARAM", "Unknown pagination token");
      if (s.suggestedOnly !== req.suggestedOnly || (req.maxDepth !== undefined && s.maxDepth !== maxDepth)) {
        throw new MatrixError("M_INVALID_PARAM", "suggested_only and max_depth cannot change on paginated requests");
      }
      this.sessions.delete(req.from);
      session = s;
    } else {
      const facts = await this.d.summaries.facts(roomId);
      if (!facts || !(await this.d.summaries.accessibleTo(userId, roomId, facts))) {
        throw new MatrixError("M_FORBIDDEN", "You are not allowed to view this room");
      }
      session = { userId, roomId, suggestedOnly: req.suggestedOnly, maxDepth, queue: [{ roomId, via: [], depth: 0 }], seen: new Set(), expires: 0 };
    }

    const rooms: HierarchyRoom[] = [];
    // Summaries other servers gave for children we have not visited yet.
    const known = new Map<string, RoomSummary>();
    while (session.queue.length && rooms.length < limit) {
      const entry = session.queue.pop()!;
      if (session.seen.has(entry.roomId)) continue;
      session.seen.add(entry.roomId);
      const isRoot = entry.depth === 0;
      let room: HierarchyRoom | undefined;
      const local = (await this.d.summaries.resident(entry.roomId)) || isRoot ? await this.localRoom(entry.roomId, session.suggestedOnly) : undefined;
      if (local) {
        if (!isRoot && !(await this.d.summaries.accessibleTo(userId, entry.roomId, local.facts))) continue;
        room = local.room;
      } else {
        const cached = known.get(entry.roomId);
        const wantsChildren = entry.depth < session.maxDepth;
        if (cached && (cached.room_type !== "m.space" || !wantsChildren)) {
          room = { ...cached, children_state: [] };
        } else {
          const servers = [...entry.via, findServerNameOf(entry.roomId) ?? ""].filter(Boolean);
          const remote = await this.remoteRoom(entry.roomId, servers, session.suggestedOnly);
          if (!remote) continue;
          for (const [id, s] of remote.childSummaries) known.set(id, s);
          for (const id of remote.inaccessible) session.seen.add(id);
          room = { ...remote.summary, children_state: remote.summary.room_type === "m.space" ? remote.children : [] };
        }
        if (!(await this.remoteAccessible(userId, room))) continue;
      }
      rooms.push(room);
      if (room.room_type === "m.space" && entry.depth < session.maxDepth) {
        const children = room.children_state.filter((c) => !session.seen.has(c.state_key));
        for (let i = children.length - 1; i >= 0; i--) {
          const c = children[i]!;
          session.queue.push({ roomId: c.state_key, via: viaOf(c), depth: entry.depth + 1 });
        }
      }
    }
    // Rooms already visited may still be queued (reached twice): drop them so the walk ends cleanly.
    session.queue = session.queue.filter((e) => !session.seen.has(e.roomId));
    const out: { rooms: HierarchyRoom[]; next_batch?: string } = { rooms };
    if (session.queue.length) {
      const token = randomString(16);
      session.expires = this.now() + SESSION_TTL_MS;
      this.sessions.set(token, session);
      out.next_batch = token;
    }
    return out;
  }

  private expireSessions(): void {
    const now = this.now();
    for (const [k, s] of this.sessions) if (s.expires <= now) this.sessions.delete(k);
    while (this.sessions.size > 10_000) this.sessions.delete(this.sessions.keys().next().value as string);
  }

  // ------------------------------------------------------------------ federation: /hierarchy

  /** GET /_matrix/federation/v1/hierarchy/{roomId} for `origin`. */
  async federationHierarchy(origin: string, roomId: string, suggestedOnly: boolean): Promise<{ room: HierarchyRoom; children: RoomSummary[]; inaccessible_children: string[] }> {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    const local = (await this.d.summaries.resident(roomId)) ? await this.localRoom(roomId, suggestedOnly) : undefined;
    if (!local || !(await this.d.summaries.accessibleToServer(origin, roomId, local.facts))) {
      throw new MatrixError("M_NOT_FOUND", "Room does not exist or is not accessible");
    }
    const children: RoomSummary[] = [];
    const inaccessible: string[] = [];
    for (const c of local.room.children_state) {
      if (!(await this.d.summaries.resident(c.state_key))) continue;
      const f = await this.d.summaries.facts(c.state_key);
      if (!f) continue;
      if (await this.d.summaries.accessibleToServer(origin, c.state_key, f)) children.push(f.summary);
      else inaccessible.push(c.state_key);
    }
    return { room: local.room, children, inaccessible_children: inaccessible };
  }

  // ------------------------------------------------------------------ room summary

  /**
   * GET /room_summary/{roomIdOrAlias}: the summary of a room the user may preview (anyone, for
   * rooms with an open join rule or world-readable history); rooms this server is not in are asked
   * for over federation (`via`, the alias's servers, the room ID's server). 404 otherwise.
   */
  async roomSummary(userId: string | undefined, roomIdOrAlias: string, via: string[]): Promise<RoomSummary & { membership?: string }> {
    let roomId: string;
    let servers: string[];
    try {
      ({ roomId, servers } = await this.d.rooms.resolveRoomAndServers(roomIdOrAlias, via));
    } catch (e) {
      if (e instanceof MatrixError && e.errcode === "M_INVALID_PARAM") throw e;
      throw new MatrixError("M_NOT_FOUND", "Room not found");
    }
    const membership = userId !== undefined ? await this.d.summaries.membership(userId, roomId) : undefined;
    const withMembership = (s: RoomSummary) => (userId !== undefined ? { ...s, membership: membership ?? "leave" } : { ...s });
    const knowsRoom = membership === "join" || membership === "invite" || membership === "knock";
    if (await this.d.summaries.resident(roomId)) {
      const facts = await this.d.summaries.facts(roomId);
      if (facts && (knowsRoom || (await this.d.summaries.accessibleTo(userId, roomId, facts)))) return withMembership(facts.summary);
      throw new MatrixError("M_NOT_FOUND", "Room not found or not accessible");
    }
    let remote: RemoteRoom | undefined;
    try {
      remote = await this.remoteRoom(roomId, servers, false);
    } catch (e) {
      throw asClientError(e, "fetch the room summary");
    }
    if (remote && (knowsRoom || (await this.remoteAccessible(userId, remote.summary)))) return withMembership(remote.summary);
    // A room we were invited to or knocked on but cannot reach: what we know locally, if anything.
    if (knowsRoom) {
      const facts = await this.d.summaries.facts(roomId);
      if (facts) return withMembership(facts.summary);
    }
    throw new MatrixError("M_NOT_FOUND", "Room not found or not accessible");
  }
}

function stripped(ev: RoomEvent): ChildState {
  return { type: "m.space.child", state_key: ev.state_key!, content: ev.content, sender: ev.sender, origin_server_ts: Number(ev.origin_server_ts) };
}

/** The well-formed summary fields of another server's answer. */
function parseSummary(v: unknown): RoomSummary | undefined {
  if (!isObject(v) || typeof v.room_id !== "string" || !isValidRoomId(v.room_id)) return undefined;
  const s: RoomSummary = {
    room_id: v.room_id,
    num_joined_members: typeof v.num_joined_members === "number" && Number.isInteger(v.num_joined_members) ? v.num_joined_members : 0,
    world_readable: v.world_readable === true,
    guest_can_join: v.guest_can_join === true,
  };
  for (const k of ["name", "topic", "avatar_url", "canonical_alias", "join_rule", "room_type", "encryption", "room_version"] as const) {
    if (typeof v[k] === "string") s[k] = v[k] as string;
  }
  if (Array.isArray(v.allowed_room_ids)) s.allowed_room_ids = v.allowed_room_ids.filter((r): r is string => typeof r === "string");
  return s;
}

function parseRemoteHierarchy(roomId: string, res: unknown, suggestedOnly: boolean): RemoteRoom | undefined {
  if (!isObject(res)) return undefined;
  const summary = parseSummary(res.room);
  if (!summary || summary.room_id !== roomId) return undefined;
  const rawChildren = isObject(res.room) && Array.isArray(res.room.children_state) ? res.room.children_state : [];
  const children: ChildState[] = [];
  for (const c of rawChildren) {
    if (!isObject(c) || c.type !== "m.space.child" || !validChild(c) || typeof c.sender !== "string") continue;
    if (suggestedOnly && (c.content as JsonObject).suggested !== true) continue;
    children.push({
      type: "m.space.child",
      state_key: c.state_key as string,
      content: c.content as JsonObject,
      sender: c.sender,
      origin_server_ts: typeof c.origin_server_ts === "number" ? c.origin_server_ts : 0,
    });
  }
  const childSummaries = new Map<string, RoomSummary>();
  for (const c of Array.isArray(res.children) ? res.children : []) {
    const s = parseSummary(c);
    if (s) childSummaries.set(s.room_id, s);
  }
  const inaccessible = new Set((Array.isArray(res.inaccessible_children) ? res.inaccessible_children : []).filter((r): r is string => typeof r === "string"));
  return { summary, children: orderChildren(children).slice(0, MAX_CHILDREN), childSummaries, inaccessible };
}
