// Synapse's room admin API (docs/admin_api/rooms.md): list and search rooms, room details, members,
// state, block/unblock, make room admin, and deleting rooms (shutdown: local users leave, aliases
// move to a replacement room; then optionally purge every trace from the database), synchronously
// (v1) or as a background task with a status (v2). The HTTP layer has checked the admin token.
import { CREATOR_POWER_LEVEL, effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { MatrixError, badJson, notFound } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { isValidRoomId, parseUserId } from "../../protocol/ids.ts";
import { AdminRepo, type RoomDeletionRow } from "../../storage/repos/admin.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { randomString } from "../../util/random.ts";
import type { RoomEvents } from "../rooms/events.ts";
import { toClientEvents, type ClientEvent } from "../rooms/format.ts";
import type { Rooms } from "../rooms/rooms.ts";

const log = logger("admin");

/** One room as the list and details APIs show it. */
export interface AdminRoom {
  room_id: string;
  name: string | null;
  canonical_alias: string | null;
  joined_members: number;
  joined_local_members: number;
  version: string;
  creator: string;
  encryption: string | null;
  federatable: boolean;
  public: boolean;
  join_rules: string | null;
  guest_access: string | null;
  history_visibility: string | null;
  state_events: number;
  room_type: string | null;
}

export interface AdminRoomDetails extends AdminRoom {
  topic: string | null;
  avatar: string | null;
  joined_local_devices: number;
  forgotten: boolean;
}

export interface ShutdownResult {
  kicked_users: string[];
  failed_to_kick_users: string[];
  local_aliases: string[];
  new_room_id: string | null;
}

export interface DeleteRoomOptions {
  newRoomUserId?: string;
  roomName: string;
  message: string;
  block: boolean;
  purge: boolean;
  forcePurge: boolean;
}

export interface DeletionStatus {
  delete_id: string;
  room_id: string;
  status: "scheduled" | "active" | "complete" | "failed";
  error?: string;
  shutdown_room: ShutdownResult;
}

const ROOM_ORDERS = [
  "alphabetical",
  "size",
  "name",
  "canonical_alias",
  "joined_members",
  "joined_local_members",
  "version",
  "creator",
  "encryption",
  "federatable",
  "public",
  "join_rules",
  "guest_access",
  "history_visibility",
  "state_events",
] as const;

const STATE_TYPES = [
  "m.room.create",
  "m.room.name",
  "m.room.topic",
  "m.room.avatar",
  "m.room.canonical_alias",
  "m.room.join_rules",
  "m.room.guest_access",
  "m.room.history_visibility",
  "m.room.encryption",
] as const;

export const DEFAULT_SHUTDOWN_ROOM_NAME = "Content Violation Notification";
export const DEFAULT_SHUTDOWN_MESSAGE = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.";
/** How long finished deletions stay visible in the status API (as Synapse: 24 hours). */
const STATUS_RETENTION_MS = 24 * 3600_000;

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

export interface AdminRoomsDeps {
  repos: Pick<Repositories, "transaction" | "admin" | "purgeRoom">;
  serverName: string;
  repo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  now?: () => number;
}

export class AdminRooms {
  readonly store: AdminRepo;
  private readonly now: () => number;
  /** Deletions running in this process (awaited on shutdown). */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly d: AdminRoomsDeps) {
    this.store = d.repos.admin;
    this.now = d.now ?? Date.now;
  }

  /** At start-up: deletions a previous process did not finish are marked failed. */
  async init(): Promise<void> {
    const n = await this.store.failInterruptedDeletions(this.now());
    if (n > 0) log.warn("room deletions interrupted by the last shutdown were marked failed", { count: n });
  }

  /** Waits for running deletions (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private requireRoomId(roomId: string): void {
    if (!roomId.startsWith("!") || !isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", `${JSON.stringify(roomId)} is not a valid room ID`);
  }

  // ---- reading

  /** Details of rooms (all, or one), from current state and counts. */
  private async describe(roomId?: string): Promise<AdminRoomDetails[]> {
    const rooms = await this.store.listRooms(roomId);
    const stateIds = await this.store.roomStateIds(STATE_TYPES, roomId);
    const events = await this.d.events.loadEvents(stateIds.map((s) => s.event_id));
    const content = new Map<string, JsonObject>();
    for (const s of stateIds) {
      const ev = events.get(s.event_id);
      if (ev) content.set(`${s.room_id}\u0000${s.type}`, ev.content);
    }
    const counts = await this.store.roomCounts(this.d.serverName, roomId);
    const c = (room: string, type: string): JsonObject => content.get(`${room}\u0000${type}`) ?? {};
    return rooms.map((r) => {
      const n = counts.get(r.room_id) ?? { joinedMembers: 0, joinedLocalMembers: 0, stateEvents: 0 };
      const create = c(r.room_id, "m.room.create");
      return {
        room_id: r.room_id,
        name: str(c(r.room_id, "m.room.name").name),
        topic: str(c(r.room_id, "m.room.topic").topic),
        avatar: str(c(r.room_id, "m.room.avatar").url),
        canonical_alias: str(c(r.room_id, "m.room.canonical_alias").alias),
        joined_members: n.joinedMembers,
        joined_local_members: n.joinedLocalMembers,
        joined_local_devices: 0,
        version: r.room_version,
        creator: r.creator,
        encryption: str(c(r.room_id, "m.room.encryption").algorithm),
        federatable: create["m.federate"] !== false,
        public: r.is_public === 1,
        join_rules: str(c(r.room_id, "m.room.join_rules").join_rule),
        guest_access: str(c(r.room_id, "m.room.guest_access").guest_access),
        history_visibility: str(c(r.room_id, "m.room.history_visibility").history_visibility),
        state_events: n.stateEvents,
        room_type: str(create.type),
        forgotten: false,
      };
    });
  }

  /** GET /_synapse/admin/v1/rooms. */
  async list(p: {
    from?: number;
    limit?: number;
    orderBy?: string;
    dir?: string;
    searchTerm?: string;
    publicRooms?: boolean;
    emptyRooms?: boolean;
  }): Promise<{ rooms: AdminRoom[]; offset: number; total_rooms: number; next_batch?: number; prev_batch?: number }> {
    const from = p.from ?? 0;
    const limit = p.limit ?? 100;
    const orderBy = p.orderBy ?? "name";
    if (!(ROOM_ORDERS as readonly string[]).includes(orderBy)) {
      throw new MatrixError("M_INVALID_PARAM", `Unknown value for order_by: ${JSON.stringify(orderBy)}; one of ${ROOM_ORDERS.join(", ")}`);
    }
    const dir = p.dir ?? "f";
    if (dir !== "f" && dir !== "b") throw new MatrixError("M_INVALID_PARAM", "Unknown direction: dir must be 'f' or 'b'");
    let rooms = await this.describe();
    if (p.searchTerm !== undefined && p.searchTerm !== "") {
      const term = p.searchTerm.toLowerCase();
      rooms = rooms.filter(
        (r) =>
          (r.name ?? "").toLowerCase().includes(term) ||
          (r.canonical_alias !== null && r.canonical_alias.slice(1, r.canonical_alias.indexOf(":")).toLowerCase().includes(term)) ||
          r.room_id.includes(p.searchTerm!),
      );
    }
    if (p.publicRooms !== undefined) rooms = rooms.filter((r) => r.public === p.publicRooms);
    if (p.emptyRooms !== undefined) rooms = rooms.filter((r) => (r.joined_members === 0) === p.emptyRooms);
    rooms.sort(roomComparator(orderBy));
    if (dir === "b") rooms.reverse();
    const page = rooms.slice(from, from + limit);
    const out: { rooms: AdminRoom[]; offset: number; total_rooms: number; next_batch?: number; prev_batch?: number } = {
      rooms: page.map(({ topic: _t, avatar: _a, joined_local_devices: _d, forgotten: _f, ...r }) => r),
      offset: from,
      total_rooms: rooms.length,
    };
    if (from + page.length < rooms.length) out.next_batch = from + page.length;
    if (from > 0) out.prev_batch = Math.max(0, from - limit);
    return out;
  }

  /** GET /_synapse/admin/v1/rooms/{roomId}. */
  async details(roomId: string): Promise<AdminRoomDetails> {
    this.requireRoomId(roomId);
    const [room] = await this.describe(roomId);
    if (!room) throw notFound("Room not found");
    room.joined_local_devices = await this.store.joinedLocalDevices(roomId);
    room.forgotten = await this.store.forgottenByAll(roomId);
    return room;
  }

  private async requireKnown(roomId: string): Promise<void> {
    this.requireRoomId(roomId);
    if (!(await this.d.repo.findRoom(roomId))) throw notFound("Room not found");
  }

  /** GET /_synapse/admin/v1/rooms/{roomId}/members: joined users. */
  async members(roomId: string): Promise<{ members: string[]; total: number }> {
    await this.requireKnown(roomId);
    const members = (await this.d.repo.currentMembers(roomId, "join")).map((m) => m.user_id).sort();
    return { members, total: members.length };
  }

  /** GET /_synapse/admin/v1/rooms/{roomId}/state[?type=]. */
  async state(roomId: string, type?: string): Promise<{ state: ClientEvent[] }> {
    await this.requireKnown(roomId);
    const ids = await this.d.repo.currentState(roomId, type === undefined ? {} : { types: [type] });
    const rows = await this.d.repo.getEvents([...ids.values()]);
    const state = await toClientEvents(this.d.events, [...rows.values()], undefined, { withRoomId: true });
    state.sort((a, b) => (a.type === b.type ? (a.state_key ?? "").localeCompare(b.state_key ?? "") : a.type.localeCompare(b.type)));
    return { state };
  }

  // ---- blocking

  async blockStatus(roomId: string): Promise<{ block: boolean; user_id?: string }> {
    this.requireRoomId(roomId);
    const b = await this.store.findBlock(roomId);
    return b ? { block: true, user_id: b.user_id } : { block: false };
  }

  async setBlocked(roomId: string, block: unknown, by: string): Promise<{ block: boolean }> {
    this.requireRoomId(roomId);
    if (typeof block !== "boolean") throw new MatrixError("M_BAD_JSON", "'block' must be a boolean");
    if (block) await this.store.blockRoom(roomId, by, this.now());
    else await this.store.unblockRoom(roomId);
    return { block };
  }

  /** Refuses joins, knocks and invites of local users to blocked rooms (a Rooms membership check). */
  async checkNotBlocked(roomId: string): Promise<void> {
    if (await this.store.findBlock(roomId)) throw new MatrixError("M_FORBIDDEN", "This room has been blocked on this server");
  }

  // ---- make room admin

  /**
   * POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin: the local joined user with the
   * highest power level gives `userId` that level (the highest finite level in the room when that
   * user is a v12 creator), and invites `userId` when not joined and the room is not public.
   */
  async makeRoomAdmin(roomIdOrAlias: string, userId: string): Promise<void> {
    const p = parseUserId(userId);
    if (!p) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (p.serverName !== this.d.serverName) throw new MatrixError("M_INVALID_PARAM", "Only local users can be admins of rooms");
    const roomId = await this.d.rooms.resolveRoom(roomIdOrAlias);
    await this.requireKnown(roomId);
    const rv = await this.d.events.versionOf(roomId);
    const create = await this.d.events.currentStateEvent(roomId, "m.room.create", "");
    const plEvent = await this.d.events.currentStateEvent(roomId, "m.room.power_levels", "");
    if (!plEvent) throw new MatrixError("M_UNKNOWN", "No power levels found in the room");
    const pl = effectivePowerLevels(plEvent.content, create, rv);
    const local = (await this.d.repo.currentMembers(roomId, "join")).map((m) => m.user_id).filter((u) => parseUserId(u)?.serverName === this.d.serverName);
    const candidates = local.map((u) => ({ u, level: userLevel(pl, u) })).sort((a, b) => b.level - a.level || a.u.localeCompare(b.u));
    const admin = candidates[0];
    if (!admin || admin.level < pl.stateDefault || admin.level < (pl.events.get("m.room.power_levels") ?? pl.stateDefault)) {
      throw new MatrixError("M_UNKNOWN", "No local admin user in room");
    }
    let level = admin.level;
    if (level === CREATOR_POWER_LEVEL) {
      const finite = [100, ...pl.users.values(), ...pl.events.values(), pl.ban, pl.kick, pl.redact, pl.invite, pl.stateDefault, pl.eventsDefault].filter(Number.isFinite);
      level = Math.max(...finite);
    }
    if (userLevel(pl, userId) < level) {
      const users = { ...((plEvent.content.users as JsonObject | undefined) ?? {}), [userId]: level };
      await this.d.events.send({ roomId, sender: admin.u, type: "m.room.power_levels", stateKey: "", content: { ...plEvent.content, users } });
    }
    const membership = (await this.d.events.currentStateEvent(roomId, "m.room.member", userId))?.content.membership;
    const joinRule = (await this.d.events.currentStateEvent(roomId, "m.room.join_rules", ""))?.content.join_rule;
    if (membership !== "join" && membership !== "invite" && joinRule !== "public") {
      await this.d.rooms.invite(admin.u, roomId, userId);
    }
  }

  // ---- joining users

  /**
   * POST /_synapse/admin/v1/join/{roomIdOrAlias}: makes a local user join a room. A public room is
   * joined directly; otherwise the requesting admin, joined to the room, invites the user first.
   */
  async joinUser(adminUserId: string, roomIdOrAlias: string, userId: string): Promise<{ room_id: string }> {
    const p = parseUserId(userId);
    if (!p) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (p.serverName !== this.d.serverName) throw new MatrixError("M_INVALID_PARAM", "This endpoint can only be used with local users");
    if (!(await this.store.userExists(userId))) throw notFound("User not found");
    const roomId = await this.d.rooms.resolveRoom(roomIdOrAlias);
    if (await this.d.repo.findRoom(roomId)) {
      const joinRule = (await this.d.events.currentStateEvent(roomId, "m.room.join_rules", ""))?.content.join_rule;
      const membership = (await this.d.events.currentStateEvent(roomId, "m.room.member", userId))?.content.membership;
      if (joinRule !== "public" && membership !== "invite" && membership !== "join") {
        const adminIn = (await this.d.events.currentStateEvent(roomId, "m.room.member", adminUserId))?.content.membership === "join";
        if (!adminIn) throw new MatrixError("M_FORBIDDEN", "The room is not public and you are not in it to invite the user");
        await this.d.rooms.invite(adminUserId, roomId, userId);
      }
    }
    return { room_id: await this.d.rooms.join(userId, roomId) };
  }

  // ---- deleting rooms

  /** Validates a delete request body (v1 and v2 take the same). */
  parseDeleteOptions(body: Record<string, unknown>): DeleteRoomOptions {
    const bool = (k: string, def: boolean): boolean => {
      const v = body[k];
      if (v === undefined || v === null) return def;
      if (typeof v !== "boolean") throw badJson(`Param '${k}' must be a boolean, if given`);
      return v;
    };
    const text = (k: string, def: string): string => {
      const v = body[k];
      if (v === undefined || v === null) return def;
      if (typeof v !== "string") throw badJson(`Param '${k}' must be a string, if given`);
      return v;
    };
    const newRoomUserId = body.new_room_user_id;
    if (newRoomUserId !== undefined && newRoomUserId !== null) {
      if (typeof newRoomUserId !== "string" || parseUserId(newRoomUserId)?.serverName !== this.d.serverName) {
        throw new MatrixError("M_INVALID_PARAM", `User must be our own: ${String(newRoomUserId)}`);
      }
    }
    return {
      newRoomUserId: (newRoomUserId ?? undefined) as string | undefined,
      roomName: text("room_name", DEFAULT_SHUTDOWN_ROOM_NAME),
      message: text("message", DEFAULT_SHUTDOWN_MESSAGE),
      block: bool("block", false),
      purge: bool("purge", true),
      forcePurge: bool("force_purge", false),
    };
  }

  /**
   * DELETE /_synapse/admin/v1/rooms/{roomId}: shuts the room down and purges it before answering.
   * An unknown room can only be blocked (block: true).
   */
  async deleteNow(roomId: string, opts: DeleteRoomOptions, requester: string): Promise<ShutdownResult> {
    this.requireRoomId(roomId);
    if (!(await this.d.repo.findRoom(roomId))) {
      if (!opts.block) throw new MatrixError("M_BAD_JSON", "Unknown room: only block: true is possible for a room this server does not know");
      await this.store.blockRoom(roomId, requester, this.now());
      return { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null };
    }
    if (await this.activeDeletion(roomId)) throw new MatrixError("M_UNKNOWN", `History purge already in progress for ${roomId}`);
    const result = await this.shutdown(roomId, opts, requester, () => {});
    if (opts.purge) await this.purge(roomId, opts.forcePurge);
    return result;
  }

  /** DELETE /_synapse/admin/v2/rooms/{roomId}: starts the deletion; returns its ID at once. */
  async startDelete(roomId: string, opts: DeleteRoomOptions, requester: string): Promise<{ delete_id: string }> {
    this.requireRoomId(roomId);
    if (!(await this.d.repo.findRoom(roomId))) throw notFound(`Unknown room id ${roomId}`);
    if (await this.activeDeletion(roomId)) throw new MatrixError("M_UNKNOWN", `History purge already in progress for ${roomId}`);
    const deleteId = randomString(16);
    const empty: ShutdownResult = { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null };
    const now = this.now();
    await this.store.insertDeletion({ delete_id: deleteId, room_id: roomId, status: "scheduled", error: null, shutdown_room: JSON.stringify(empty), created_ts: now, updated_ts: now });
    const task = (async () => {
      try {
        await this.store.updateDeletion(deleteId, { status: "active" }, this.now());
        const result = await this.shutdown(roomId, opts, requester, (r) => void this.store.updateDeletion(deleteId, { shutdown_room: JSON.stringify(r) }, this.now()));
        await this.store.updateDeletion(deleteId, { shutdown_room: JSON.stringify(result) }, this.now());
        if (opts.purge) await this.purge(roomId, opts.forcePurge);
        await this.store.updateDeletion(deleteId, { status: "complete" }, this.now());
        log.info("room deleted", { room_id: roomId, delete_id: deleteId, purged: opts.purge });
      } catch (e) {
        const error = e instanceof MatrixError ? e.message : `internal error: ${(e as Error).message}`;
        log.error("room deletion failed", { room_id: roomId, delete_id: deleteId, error: (e as Error).message });
        await this.store.updateDeletion(deleteId, { status: "failed", error }, this.now()).catch(() => {});
      } finally {
        this.running.delete(deleteId);
      }
    })();
    this.running.set(deleteId, task);
    return { delete_id: deleteId };
  }

  private async activeDeletion(roomId: string): Promise<boolean> {
    return (await this.store.deletionsOfRoom(roomId, Number.MAX_SAFE_INTEGER)).length > 0;
  }

  private status(r: RoomDeletionRow): DeletionStatus {
    const out: DeletionStatus = {
      delete_id: r.delete_id,
      room_id: r.room_id,
      status: r.status as DeletionStatus["status"],
      shutdown_room: JSON.parse(r.shutdown_room) as ShutdownResult,
    };
    if (r.status === "failed" && r.error) out.error = r.error;
    return out;
  }

  /** GET /_synapse/admin/v2/rooms/{roomId}/delete_status. */
  async deleteStatusOfRoom(roomId: string): Promise<{ results: DeletionStatus[] }> {
    this.requireRoomId(roomId);
    const rows = await this.store.deletionsOfRoom(roomId, this.now() - STATUS_RETENTION_MS);
    if (rows.length === 0) throw notFound(`No delete task for room_id '${roomId}' found`);
    return { results: rows.map((r) => this.status(r)) };
  }

  /** GET /_synapse/admin/v2/rooms/delete_status/{deleteId}. */
  async deleteStatus(deleteId: string): Promise<DeletionStatus> {
    const r = await this.store.findDeletion(deleteId);
    if (!r || (r.status !== "scheduled" && r.status !== "active" && Number(r.updated_ts) < this.now() - STATUS_RETENTION_MS)) {
      throw notFound(`delete id '${deleteId}' not found`);
    }
    return this.status(r);
  }

  /**
   * Shuts a room down: blocks it if asked, creates the replacement room, makes every local member
   * leave (and join the replacement), moves or removes local aliases, and unpublishes the room.
   */
  private async shutdown(roomId: string, opts: DeleteRoomOptions, requester: string, progress: (r: ShutdownResult) => void): Promise<ShutdownResult> {
    const result: ShutdownResult = { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null };
    if (opts.block) await this.store.blockRoom(roomId, requester, this.now());
    if (opts.newRoomUserId) {
      result.new_room_id = await this.d.rooms.createRoom(opts.newRoomUserId, {
        preset: "public_chat",
        name: opts.roomName,
        power_level_content_override: { users_default: -10 },
      });
      progress(result);
    }
    const local = await this.d.repo.localUsersIn(roomId, ["join", "invite", "knock"]);
    for (const m of local) {
      try {
        await this.d.rooms.leave(m.user_id, roomId);
        await this.d.rooms.forget(m.user_id, roomId);
        if (result.new_room_id && m.membership === "join") await this.d.rooms.join(m.user_id, result.new_room_id);
        result.kicked_users.push(m.user_id);
      } catch (e) {
        log.warn("could not remove a user from a room being deleted", { room_id: roomId, user_id: m.user_id, error: (e as Error).message });
        result.failed_to_kick_users.push(m.user_id);
      }
      progress(result);
    }
    // Aliases go to the new room (or away), and the room leaves the directory.
    const aliases = await this.store.localAliases(roomId, this.d.serverName);
    if (aliases.length) {
      await this.d.repos.transaction(async (tx) => {
        for (const a of aliases) await this.store.moveAlias(tx, a, result.new_room_id);
      });
      result.local_aliases = aliases;
    }
    await this.store.setPublic(roomId, false);
    if (result.new_room_id) {
      if (aliases.length) {
        await this.d.events.send({ roomId: result.new_room_id, sender: opts.newRoomUserId!, type: "m.room.canonical_alias", stateKey: "", content: { alias: aliases[0]! } });
      }
      await this.d.events.send({ roomId: result.new_room_id, sender: opts.newRoomUserId!, type: "m.room.message", content: { msgtype: "m.text", body: opts.message } });
    }
    return result;
  }

  /** Purges the room's data; refuses while local users are still joined unless forced. */
  private async purge(roomId: string, force: boolean): Promise<void> {
    if (!force) {
      if ((await this.d.repo.localJoinedCount(roomId)) > 0) throw new MatrixError("M_UNKNOWN", "Users are still joined to this room; use force_purge to purge anyway");
    }
    const { deleted } = await this.d.repos.purgeRoom(roomId);
    this.d.events.forgetRoom(roomId);
    log.info("room purged", { room_id: roomId, rows: deleted });
  }
}

function roomComparator(orderBy: string): (a: AdminRoom, b: AdminRoom) => number {
  const byText = (f: (r: AdminRoom) => string | null) => (a: AdminRoom, b: AdminRoom) => {
    const x = f(a);
    const y = f(b);
    if (x === y) return a.room_id.localeCompare(b.room_id);
    if (x === null) return 1;
    if (y === null) return -1;
    return x.localeCompare(y);
  };
  // Numeric orders go largest first (as Synapse).
  const byNumber = (f: (r: AdminRoom) => number) => (a: AdminRoom, b: AdminRoom) => f(b) - f(a) || a.room_id.localeCompare(b.room_id);
  switch (orderBy) {
    case "size":
    case "joined_members":
      return byNumber((r) => r.joined_members);
    case "joined_local_members":
      return byNumber((r) => r.joined_local_members);
    case "state_events":
      return byNumber((r) => r.state_events);
    case "version":
      return byNumber((r) => Number.parseInt(r.version, 10) || 0);
    case "federatable":
      return byNumber((r) => (r.federatable ? 1 : 0));
    case "public":
      return byNumber((r) => (r.public ? 1 : 0));
    case "canonical_alias":
      return byText((r) => r.canonical_alias);
    case "creator":
      return byText((r) => r.creator);
    case "encryption":
      return byText((r) => r.encryption);
    case "join_rules":
      return byText((r) => r.join_rules);
    case "guest_access":
      return byText((r) => r.guest_access);
    case "history_visibility":
      return byText((r) => r.history_visibility);
    default:
      return byText((r) => r.name);
  }
}
