// Room aliases and the published room directory (spec: client-server-api "Room aliases",
// "Published room directory"; directory.yaml, list_public_rooms.yaml; server-server-api
// "Published Room Directory", public_rooms.yaml).
//
// Aliases: any member of a room may add a local alias for it (as Synapse); the alias's creator, a
// server admin, or a member with the power to send m.room.canonical_alias may delete it, and the
// room's canonical alias event then drops it. Remote aliases resolve over federation.
// The directory lists published rooms (rooms.is_public) that anyone may join or knock on, or read:
// ordered by joined members (most first) then room ID, with keyset pagination tokens in both
// directions; `generic_search_term` matches name, topic, canonical alias and room ID, case- and
// accent-insensitively; `room_types` filters on the create event's `type` (null = untyped).
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { isValidRoomId, isValidServerName, parseRoomAlias } from "../../protocol/ids.ts";
import type { DirectoryRepo } from "../../storage/repos/directory.ts";
import { foldText } from "../../util/fold.ts";
import { log } from "../../util/log.ts";
import { asClientError } from "../federation/membership.ts";
import type { FederationRequester } from "../federation/ports.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { Rooms } from "../rooms/rooms.ts";
import type { Sender } from "../rooms/sending-policy.ts";
import type { Requester } from "../auth.ts";
import { Lru } from "../../util/lru.ts";
import { OPEN_JOIN_RULES, type RoomFacts, type RoomSummaries, type RoomSummary } from "./summaries.ts";

export interface PublicRoomsRequest {
  limit?: number;
  since?: string;
  filter?: { generic_search_term?: string; room_types?: Array<string | null> };
  /** A third-party network (an application service's list; see `networkRooms`). */
  thirdPartyInstanceId?: string;
  /** The main list and every third-party network's (POST /publicRooms include_all_networks). */
  includeAllNetworks?: boolean;
}

export interface PublicRoomsResponse {
  chunk: RoomSummary[];
  next_batch?: string;
  prev_batch?: string;
  total_room_count_estimate?: number;
}

export interface DirectoryActor extends Partial<Pick<Requester, "deviceId" | "tokenHash" | "isSuspended" | "isShadowBanned" | "appserviceId">> {
  userId: string;
  isAdmin: boolean;
  /** An application service creating an alias in its own namespace: no membership needed (Synapse's rule). */
  aliasNamespaceOwner?: boolean;
}

export interface RoomDirectoryDeps {
  serverName: string;
  repo: DirectoryRepo;
  summaries: RoomSummaries;
  rooms: Rooms;
  events: RoomEvents;
  /** Federation (undefined when disabled). */
  fed?: FederationRequester;
  /** The servers with joined users in a room. */
  serversInRoom: (roomId: string) => Promise<string[]>;
  publicationAllowed: boolean;
}

interface PageToken {
  /** f: rooms after the key; b: rooms before it. */
  d: "f" | "b";
  n: number;
  r: string;
}

function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeToken(s: string): PageToken {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as PageToken;
    if ((t.d === "f" || t.d === "b") && Number.isInteger(t.n) && typeof t.r === "string") return t;
  } catch {
    // fall through
  }
  throw new MatrixError("M_INVALID_PARAM", "Invalid 'since' token");
}

/** Directory order: most joined members first, then room ID. */
function cmp(a: { n: number; r: string }, b: { n: number; r: string }): number {
  if (a.n !== b.n) return b.n - a.n;
  return a.r < b.r ? -1 : a.r > b.r ? 1 : 0;
}

const key = (s: RoomSummary) => ({ n: s.num_joined_members, r: s.room_id });

export class RoomDirectory {
  /** Directory entries of published rooms; dropped when a state event of the room is stored. */
  private readonly entries = new Lru<string, RoomFacts | null>(2000, "directory_entries");

  /** Rooms published in third-party networks (application services), for include_all_networks. */
  networkRooms?: () => Promise<string[]>;

  constructor(private readonly d: RoomDirectoryDeps) {}

  /** A state event (membership, name, join rules...) changed a room: its entry is recomputed. */
  invalidate(roomId: string): void {
    this.entries.delete(roomId);
  }

  // ------------------------------------------------------------------ aliases

  private localAlias(alias: string): void {
    const parsed = parseRoomAlias(alias);
    if (!parsed) throw new MatrixError("M_INVALID_PARAM", "Room alias invalid");
    if (/\s/.test(parsed.localpart)) throw new MatrixError("M_INVALID_PARAM", "Room alias may not contain whitespace");
    if (parsed.serverName !== this.d.serverName) throw new MatrixError("M_INVALID_PARAM", `Room alias must be on this server (${this.d.serverName})`);
  }

  /** GET /directory/room/{roomAlias}: the room ID and servers that know the room. */
  async resolveAlias(alias: string): Promise<{ room_id: string; servers: string[] }> {
    const parsed = parseRoomAlias(alias);
    if (!parsed) throw new MatrixError("M_INVALID_PARAM", "Room alias invalid");
    if (parsed.serverName !== this.d.serverName) {
      const r = await this.d.rooms.resolveRoomAndServers(alias);
      return { room_id: r.roomId, servers: [...new Set(r.servers)] };
    }
    const row = await this.d.repo.findAlias(alias);
    if (!row) throw new MatrixError("M_NOT_FOUND", `Room alias ${alias} not found`);
    const servers = (await this.d.serversInRoom(row.room_id)).filter((s) => s !== this.d.serverName);
    return { room_id: row.room_id, servers: [this.d.serverName, ...servers] };
  }

  /** PUT /directory/room/{roomAlias}. */
  async createAlias(actor: DirectoryActor, alias: string, roomId: string): Promise<void> {
    this.localAlias(alias);
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room_id");
    if (!(await this.d.summaries.facts(roomId))) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    if (!actor.isAdmin && !actor.aliasNamespaceOwner && (await this.d.summaries.membership(actor.userId, roomId)) !== "join") {
      throw new MatrixError("M_FORBIDDEN", "You must be in the room to create an alias for it");
    }
    if (!(await this.d.repo.insertAlias(alias, roomId, actor.userId, Date.now()))) {
      throw new MatrixError("M_ROOM_IN_USE", `Room alias ${alias} already exists`, {}, 409);
    }
  }

  /** DELETE /directory/room/{roomAlias}; drops the alias from the room's canonical alias event. */
  async deleteAlias(actor: DirectoryActor, alias: string): Promise<void> {
    this.localAlias(alias);
    const row = await this.d.repo.findAlias(alias);
    if (!row) throw new MatrixError("M_NOT_FOUND", `Room alias ${alias} not found`);
    if (row.creator !== actor.userId && !actor.isAdmin && !(await this.d.summaries.canEditDirectory(actor.userId, row.room_id))) {
      throw new MatrixError("M_FORBIDDEN", "You don't have permission to delete the alias");
    }
    await this.d.repo.deleteAlias(alias);
    // From the requester when there is one, so the sending policy (suspension, shadow-ban) applies.
    const by: Sender = actor.tokenHash !== undefined ? { ...actor, tokenHash: actor.tokenHash, deviceId: actor.deviceId ?? null } : actor.userId;
    await this.dropFromCanonicalAlias(by, row.room_id, alias);
  }

  /** Removes an alias from the room's m.room.canonical_alias (best effort, as the user). */
  private async dropFromCanonicalAlias(by: Sender, roomId: string, alias: string): Promise<void> {
    try {
      const ev = await this.d.events.currentStateEvent(roomId, "m.room.canonical_alias", "");
      if (!ev) return;
      const content: JsonObject = { ...ev.content };
      let changed = false;
      if (content.alias === alias) {
        delete content.alias;
        changed = true;
      }
      if (Array.isArray(content.alt_aliases) && content.alt_aliases.includes(alias)) {
        content.alt_aliases = content.alt_aliases.filter((a) => a !== alias);
        changed = true;
      }
      if (changed) await this.d.rooms.sendState(by, roomId, "m.room.canonical_alias", "", content);
    } catch (e) {
      log.info("could not update the canonical alias after deleting an alias", { room_id: roomId, alias, error: (e as Error).message });
    }
  }

  /** GET /rooms/{roomId}/aliases: for members (or anyone when the history is world-readable). */
  async localAliases(actor: DirectoryActor, roomId: string): Promise<string[]> {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    const facts = await this.d.summaries.facts(roomId);
    const member = facts !== undefined && (await this.d.summaries.membership(actor.userId, roomId)) === "join";
    if (!facts || (!member && !actor.isAdmin && facts.historyVisibility !== "world_readable")) {
      throw new MatrixError("M_FORBIDDEN", "You are not a member of the room");
    }
    return this.d.repo.aliasesOfRoom(roomId, this.d.serverName);
  }

  // ------------------------------------------------------------------ published rooms

  /** GET /directory/list/room/{roomId}. */
  async visibility(roomId: string): Promise<"public" | "private"> {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    const published = await this.d.repo.isPublished(roomId);
    if (published === undefined) throw new MatrixError("M_NOT_FOUND", "Room not found");
    return published ? "public" : "private";
  }

  /** PUT /directory/list/room/{roomId}: room admins (and server admins) may publish or hide. */
  async setVisibility(actor: DirectoryActor, roomId: string, visibility: "public" | "private"): Promise<void> {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    if ((await this.d.repo.isPublished(roomId)) === undefined) throw new MatrixError("M_NOT_FOUND", "Room not found");
    if (!actor.isAdmin && !(await this.d.summaries.canEditDirectory(actor.userId, roomId))) {
      throw new MatrixError("M_FORBIDDEN", "You need the power to change the room's canonical alias to change its directory visibility");
    }
    if (visibility === "public" && !this.d.publicationAllowed && !actor.isAdmin) {
      throw new MatrixError("M_FORBIDDEN", "Publishing rooms to the directory is not allowed on this server");
    }
    await this.d.repo.setPublished(roomId, visibility === "public");
  }

  /** createRoom with visibility public: refused when publication is off (server admins excepted). */
  async checkPublishOnCreate(creator: string): Promise<void> {
    if (this.d.publicationAllowed || (await this.d.repo.isServerAdmin(creator))) return;
    throw new MatrixError("M_FORBIDDEN", "Publishing rooms to the directory is not allowed on this server");
  }

  /** The published rooms shown in the directory, in directory order. */
  private async listed(allNetworks = false): Promise<RoomSummary[]> {
    const out: RoomSummary[] = [];
    let ids = await this.d.repo.publishedRooms();
    if (allNetworks && this.networkRooms) ids = [...new Set([...ids, ...(await this.networkRooms())])];
    for (const roomId of ids) {
      let f = this.entries.get(roomId);
      if (f === undefined) {
        f = (await this.d.summaries.facts(roomId)) ?? null;
        this.entries.set(roomId, f);
      }
      if (!f || f.summary.num_joined_members === 0) continue;
      if (!OPEN_JOIN_RULES.has(f.joinRule) && f.historyVisibility !== "world_readable") continue;
      out.push(f.summary);
    }
    return out.sort((a, b) => cmp(key(a), key(b)));
  }

  /** This server's directory (for local clients and other servers). */
  async localPublicRooms(req: PublicRoomsRequest): Promise<PublicRoomsResponse> {
    if (req.limit !== undefined && (!Number.isInteger(req.limit) || req.limit < 0)) throw new MatrixError("M_INVALID_PARAM", "'limit' must be a non-negative integer");
    const token = req.since ? decodeToken(req.since) : undefined;
    if (req.thirdPartyInstanceId !== undefined) return { chunk: [], total_room_count_estimate: 0 };
    let rooms = await this.listed(req.includeAllNetworks === true);
    const term = req.filter?.generic_search_term?.trim();
    if (term) {
      const t = foldText(term);
      rooms = rooms.filter((r) => [r.name, r.topic, r.canonical_alias, r.room_id].some((v) => v !== undefined && foldText(v).includes(t)));
    }
    const types = req.filter?.room_types;
    if (types) rooms = rooms.filter((r) => types.includes(r.room_type ?? null));
    const total = rooms.length;
    // 0 (federation's default) means no limit, as does no limit at all.
    const limit = req.limit === undefined || req.limit === 0 ? Infinity : req.limit;
    let start = 0;
    let end = rooms.length;
    if (token?.d === "f") {
      start = rooms.findIndex((r) => cmp(key(r), { n: token.n, r: token.r }) > 0);
      if (start < 0) start = rooms.length;
      end = Math.min(rooms.length, start + limit);
    } else if (token?.d === "b") {
      end = rooms.findIndex((r) => cmp(key(r), { n: token.n, r: token.r }) >= 0);
      if (end < 0) end = rooms.length;
      start = Math.max(0, end - limit);
    } else {
      end = Math.min(rooms.length, limit);
    }
    const chunk = rooms.slice(start, end);
    const out: PublicRoomsResponse = { chunk, total_room_count_estimate: total };
    if (end < rooms.length && chunk.length) out.next_batch = encodeToken({ d: "f", ...key(chunk[chunk.length - 1]!) });
    if (start > 0 && chunk.length) out.prev_batch = encodeToken({ d: "b", ...key(chunk[0]!) });
    return out;
  }

  /** GET/POST /publicRooms with `server`: another server's directory over federation. */
  async publicRooms(req: PublicRoomsRequest, server?: string, method: "GET" | "POST" = "GET"): Promise<PublicRoomsResponse> {
    if (server === undefined || server === this.d.serverName) return this.localPublicRooms(req);
    if (!isValidServerName(server)) throw new MatrixError("M_INVALID_PARAM", "Invalid server name");
    if (!this.d.fed) throw new MatrixError("M_UNKNOWN", "Federation is disabled on this server", {}, 502);
    let res: unknown;
    try {
      if (method === "POST" || req.filter) {
        const body: JsonObject = {};
        if (req.limit !== undefined) body.limit = req.limit;
        if (req.since !== undefined) body.since = req.since;
        if (req.filter) body.filter = req.filter as JsonObject;
        if (req.thirdPartyInstanceId !== undefined) body.third_party_instance_id = req.thirdPartyInstanceId;
        res = await this.d.fed.request({ destination: server, method: "POST", path: "/_matrix/federation/v1/publicRooms", body, timeoutMs: 30_000 });
      } else {
        const query: Record<string, string> = {};
        if (req.limit !== undefined) query.limit = String(req.limit);
        if (req.since !== undefined) query.since = req.since;
        if (req.thirdPartyInstanceId !== undefined) query.third_party_instance_id = req.thirdPartyInstanceId;
        res = await this.d.fed.request({ destination: server, method: "GET", path: "/_matrix/federation/v1/publicRooms", query, timeoutMs: 30_000 });
      }
    } catch (e) {
      throw asClientError(e, `fetch the room directory of ${server}`);
    }
    return sanitizeRemoteDirectory(res, server);
  }
}

/** Keeps the well-formed parts of another server's directory answer. */
function sanitizeRemoteDirectory(res: unknown, server: string): PublicRoomsResponse {
  const o = (typeof res === "object" && res !== null ? res : {}) as Record<string, unknown>;
  if (!Array.isArray(o.chunk)) throw new MatrixError("M_UNKNOWN", `${server} sent an invalid room directory`, {}, 502);
  const chunk = o.chunk.filter(
    (r): r is RoomSummary =>
      typeof r === "object" && r !== null && typeof (r as RoomSummary).room_id === "string" && typeof (r as RoomSummary).num_joined_members === "number",
  ).map((r) => ({ ...r, world_readable: r.world_readable === true, guest_can_join: r.guest_can_join === true }));
  const out: PublicRoomsResponse = { chunk };
  if (typeof o.next_batch === "string") out.next_batch = o.next_batch;
  if (typeof o.prev_batch === "string") out.prev_batch = o.prev_batch;
  if (typeof o.total_room_count_estimate === "number") out.total_room_count_estimate = o.total_room_count_estimate;
  return out;
}
