// Room operations for local users: create, membership, sending events and state, and reading
// rooms (state, members, /messages, /context, event lookup, timestamp_to_event).
// Spec: client-server-api/_index.md "Rooms", create_room.yaml, joining/inviting/leaving/kicking/
// banning/knocking.yaml, room_send.yaml, room_state.yaml, rooms.yaml, message_pagination.yaml,
// event_context.yaml, redaction.yaml, room_event_by_timestamp.yaml.
import { canonicalJsonLenient } from "../../core/canonical-json.ts";
import { findRoomVersion, type RoomVersion } from "../../core/room-versions.ts";
import { memberKey, parseStateMapKey, stateMapKey } from "../../core/state-map.ts";
import { effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf, isValidEventId, isValidRoomAlias, isValidRoomId, isValidUserId, parseRoomAlias } from "../../protocol/ids.ts";
import type { DirectoryRepo } from "../../storage/repos/directory.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import type { RoomEvents } from "./events.ts";
import { toClientEvents, type ClientEvent, type Viewer } from "./format.ts";
import { Visibility } from "./visibility.ts";
import { decodeToken, encodeTopoToken, type TopoPosition } from "./tokens.ts";
import { applyRoomEventFilter, type RoomEventFilter } from "./filters.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";
import { refuseIfSuspended } from "../auth.ts";
import { refuseSuspendedState, requesterOf, senderId, shadowDropsState, shadowEventId, txnKey, type PolicedRequester, type Sender } from "./sending-policy.ts";

export interface Profile {
  displayname?: string;
  avatar_url?: string;
}

/** Membership through other servers (federation), for rooms this server is not in. */
export interface RemoteMembership {
  /** Joins a local user to a room via one of `servers`. */
  join(userId: string, roomId: string, servers: string[], content: JsonObject): Promise<string>;
  /** Rejects an invite to, or knocks on, a room this server is not in. */
  membership(userId: string, roomId: string, servers: string[], membership: "leave" | "knock", reason?: string): Promise<void>;
  /** Has the invitee's server co-sign an invite of a user on another server. */
  cosignInvite(event: RoomEvent, rv: RoomVersion): Promise<RoomEvent>;
  /** Resolves an alias of another server (federation directory query). */
  resolveAlias(alias: string): Promise<{ room_id: string; servers: string[] }>;
  /** Whether this server has a joined user in the room. */
  residentHere(roomId: string): Promise<boolean>;
  /** Fetches history older than what we have from other servers in the room; true when some arrived. */
  backfill(roomId: string, limit: number): Promise<boolean>;
}

export interface RoomsDeps {
  /** Aliases and published rooms. */
  directory: DirectoryRepo;
  repo: RoomsRepo;
  events: RoomEvents;
  serverName: string;
  /** The version of rooms created without one ([default_room_version]). */
  defaultRoomVersion: string;
  /** A local user's profile (for the displayname/avatar_url of their member events). */
  profile: (userId: string) => Promise<Profile | undefined>;
  /** Whether a local user exists (for invites). */
  userExists: (userId: string) => Promise<boolean>;
  /** Federation, when enabled (set after construction by the composition root). */
  remote?: RemoteMembership;
}

export interface CreateRoomRequest {
  visibility?: "public" | "private";
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  room_version?: string;
  creation_content?: JsonObject;
  initial_state?: Array<{ type: string; state_key?: string; content: JsonObject }>;
  preset?: "private_chat" | "public_chat" | "trusted_private_chat";
  is_direct?: boolean;
  power_level_content_override?: JsonObject;
}

export interface MessagesPage {
  chunk: ClientEvent[];
  start: string;
  end?: string;
  state?: ClientEvent[];
}

const PRESETS = {
  private_chat: { join_rule: "invite", history_visibility: "shared", guest_access: "can_join" },
  trusted_private_chat: { join_rule: "invite", history_visibility: "shared", guest_access: "can_join" },
  public_chat: { join_rule: "public", history_visibility: "shared", guest_access: "forbidden" },
} as const;


export class Rooms {
  readonly visibility: Visibility;
  /** Run before a room is created (e.g. the directory's publication policy); throw to refuse. */
  readonly createChecks: Array<(creator: string, req: CreateRoomRequest) => Promise<void>> = [];
  /** Run before a local user joins, knocks on or is invited to a room; throw to refuse (blocked rooms). */
  readonly membershipChecks: Array<(roomId: string, userId: string) => Promise<void>> = [];
  /** Checks run before a user joins (e.g. guests need m.room.guest_access can_join). */
  readonly joinChecks: Array<(roomId: string, userId: string) => Promise<void>> = [];
  /**
   * Run before a local user is invited, whoever invites them (POST /invite, PUT state
   * m.room.member, createRoom, another server's PUT /invite); throw to refuse (invite permission).
   */
  readonly inviteChecks: Array<(invitee: string, inviter: string) => Promise<void>> = [];

  constructor(private readonly d: RoomsDeps) {
    this.visibility = new Visibility(d.repo, d.events);
  }

  /** Connects federation (the composition root does, when federation is enabled). */
  setRemote(remote: RemoteMembership): void {
    this.d.remote = remote;
  }

  private get events(): RoomEvents {
    return this.d.events;
  }

  // ------------------------------------------------------------------ create

  /** `by` a requester: the sending policy applies (a shadow-banned creator's invites are dropped). */
  async createRoom(by: Sender, req: CreateRoomRequest): Promise<string> {
    const creator = senderId(by);
    // A shadow-banned user's room is created, but nobody is invited to it.
    if (requesterOf(by)?.isShadowBanned) req = { ...req, invite: undefined };
    const versionId = req.room_version ?? this.d.defaultRoomVersion;
    const rv = findRoomVersion(versionId);
    if (!rv) throw new MatrixError("M_UNSUPPORTED_ROOM_VERSION", `Room version ${JSON.stringify(versionId)} is not supported`);
    const preset = req.preset ?? (req.visibility === "public" ? "public_chat" : "private_chat");
    if (!(preset in PRESETS)) throw new MatrixError("M_INVALID_PARAM", `Unknown preset ${JSON.stringify(preset)}`);
    const requested = [...new Set(req.invite ?? [])];
    for (const u of requested) if (!isValidUserId(u)) throw new MatrixError("M_INVALID_PARAM", `Invalid user ID in invite: ${u}`);
    for (const check of this.createChecks) await check(creator, req);
    // Local users who block invites are left out from the start (not made creators or given power
    // levels either); the room is created all the same (invite_permission.md).
    const invites: string[] = [];
    for (const u of requested) {
      if (this.events.isLocalUser(u) && (await this.inviteRefused(u, creator))) continue;
      invites.push(u);
    }

    let alias: string | undefined;
    if (req.room_alias_name !== undefined) {
      alias = `#${req.room_alias_name}:${this.d.serverName}`;
      if (!req.room_alias_name || /[\s:#]/.test(req.room_alias_name) || !isValidRoomAlias(alias)) {
        throw new MatrixError("M_INVALID_PARAM", "Invalid room_alias_name");
      }
      if (await this.d.directory.findAlias(alias)) {
        throw new MatrixError("M_ROOM_IN_USE", "Room alias already taken");
      }
    }

    const createContent: JsonObject = { ...(req.creation_content ?? {}), room_version: rv.id };
    if (!rv.implicitRoomCreator) createContent.creator = creator;
    else delete createContent.creator;
    if (preset === "trusted_private_chat" && rv.privilegedCreators && invites.length) {
      const existing = Array.isArray(createContent.additional_creators) ? (createContent.additional_creators as string[]) : [];
      createContent.additional_creators = [...new Set([...existing, ...invites])];
    }

    const p = PRESETS[preset];
    const creatorProfile = await this.memberProfile(creator);
    const roomId = await this.events.createRoom(rv, creator, createContent, (roomId) => {
      const evs = [];
      const st = (type: string, content: JsonObject, stateKey = "") => ({ roomId, sender: creator, type, stateKey, content });
      evs.push(st("m.room.member", { membership: "join", ...creatorProfile }, creator));
      evs.push(st("m.room.power_levels", this.defaultPowerLevels(rv, creator, preset, invites, createContent, req.power_level_content_override)));
      if (alias) evs.push(st("m.room.canonical_alias", { alias }));
      evs.push(st("m.room.join_rules", { join_rule: p.join_rule }));
      evs.push(st("m.room.history_visibility", { history_visibility: p.history_visibility }));
      evs.push(st("m.room.guest_access", { guest_access: p.guest_access }));
      for (const s of req.initial_state ?? []) {
        if (s.type === "m.room.create" || s.type === "m.room.member") continue;
        if ((s.type === "m.room.name" && req.name !== undefined) || (s.type === "m.room.topic" && req.topic !== undefined)) continue;
        evs.push(st(s.type, s.content, s.state_key ?? ""));
      }
      if (req.name !== undefined) evs.push(st("m.room.name", { name: req.name }));
      if (req.topic !== undefined) {
        evs.push(st("m.room.topic", { topic: req.topic, "m.topic": { "m.text": [{ mimetype: "text/plain", body: req.topic }] } }));
      }
      return evs;
    });
    if (alias) {
      // Taken between the check above and now (a concurrent request): as if taken before.
      if (!(await this.d.directory.insertAlias(alias, roomId, creator, Date.now()))) throw new MatrixError("M_ROOM_IN_USE", "Room alias already taken");
    }
    if (req.visibility === "public") await this.d.directory.setPublished(roomId, true);
    for (const invitee of invites) {
      try {
        await this.invite(creator, roomId, invitee, undefined, req.is_direct === true);
      } catch (e) {
        // An invitee who blocks invites (a remote one, whose server refused): just not invited.
        if (!isInviteBlocked(e)) throw e;
      }
    }
    return roomId;
  }

  private defaultPowerLevels(
    rv: RoomVersion,
    creator: string,
    preset: string,
    invites: string[],
    createContent: JsonObject,
    override: JsonObject | undefined,
  ): JsonObject {
    const users: JsonObject = {};
    if (!rv.privilegedCreators) {
      users[creator] = 100;
      if (preset === "trusted_private_chat") for (const u of invites) users[u] = 100;
    }
    const pl: JsonObject = {
      users,
      users_default: 0,
      events: {
        "m.room.name": 50,
        "m.room.power_levels": 100,
        "m.room.history_visibility": 100,
        "m.room.canonical_alias": 50,
        "m.room.avatar": 50,
        // v12+: tombstones must need more than state_default (create_room.yaml step 3).
        "m.room.tombstone": rv.privilegedCreators ? 150 : 100,
        "m.room.server_acl": 100,
        "m.room.encryption": 100,
      },
      events_default: 0,
      state_default: 50,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: 0,
      notifications: { room: 50 },
    };
    if (override) {
      for (const [k, v] of Object.entries(override)) {
        pl[k] = isObject(v) && isObject(pl[k]) ? { ...(pl[k] as JsonObject), ...v } : v;
      }
    }
    if (rv.privilegedCreators && isObject(pl.users)) {
      const creators = new Set([creator, ...(Array.isArray(createContent.additional_creators) ? (createContent.additional_creators as string[]) : [])]);
      for (const c of creators) delete (pl.users as JsonObject)[c];
    }
    return pl;
  }

  private async memberProfile(userId: string): Promise<JsonObject> {
    const p = await this.d.profile(userId);
    const out: JsonObject = {};
    if (p?.displayname) out.displayname = p.displayname;
    if (p?.avatar_url) out.avatar_url = p.avatar_url;
    return out;
  }

  // ------------------------------------------------------------------ membership

  /** Resolves a room ID or alias to a room ID, with servers that may know the room. */
  async resolveRoomAndServers(roomIdOrAlias: string, via: string[] = []): Promise<{ roomId: string; servers: string[] }> {
    if (roomIdOrAlias.startsWith("#")) {
      const alias = parseRoomAlias(roomIdOrAlias);
      if (!alias) throw new MatrixError("M_INVALID_PARAM", "Invalid room alias");
      if (alias.serverName !== this.d.serverName) {
        if (!this.d.remote) throw new MatrixError("M_NOT_FOUND", `Room alias ${roomIdOrAlias} not found`);
        const r = await this.d.remote.resolveAlias(roomIdOrAlias);
        return { roomId: r.room_id, servers: [...via, ...r.servers, alias.serverName] };
      }
      const row = await this.d.directory.findAlias(roomIdOrAlias);
      if (!row) throw new MatrixError("M_NOT_FOUND", `Room alias ${roomIdOrAlias} not found`);
      return { roomId: row.room_id, servers: via };
    }
    if (!roomIdOrAlias.startsWith("!") || !isValidRoomId(roomIdOrAlias)) throw new MatrixError("M_INVALID_PARAM", "Expected a room ID or alias");
    const servers = [...via];
    const domain = findServerNameOf(roomIdOrAlias);
    if (domain) servers.push(domain);
    return { roomId: roomIdOrAlias, servers };
  }

  /** Resolves a room ID or alias to a room ID. */
  async resolveRoom(roomIdOrAlias: string): Promise<string> {
    return (await this.resolveRoomAndServers(roomIdOrAlias)).roomId;
  }

  /** Whether the room must be reached through other servers (we are not in it). */
  /** Whether this server is in the room (has its current state), as opposed to a room elsewhere. */
  async isResident(roomId: string): Promise<boolean> {
    return !(await this.isRemote(roomId));
  }

  private async isRemote(roomId: string): Promise<boolean> {
    if (!this.d.remote) return false;
    if (!(await this.events.roomVersion(roomId))) return true;
    return !(await this.d.remote.residentHere(roomId));
  }

  /** Servers that can help with a room we are not in: the inviter's, then the given ones. */
  private async helperServers(userId: string, roomId: string, servers: string[]): Promise<string[]> {
    const m = await this.d.repo.localMembership(userId, roomId);
    const out: string[] = [];
    if (m) {
      const invite = await this.events.loadEvent(m.event_id);
      const s = invite ? findServerNameOf(invite.sender) : null;
      if (s) out.push(s);
    }
    return [...new Set([...out, ...servers])].filter((s) => s !== this.d.serverName);
  }

  private async requireRoom(roomId: string): Promise<RoomVersion> {
    const rv = await this.events.roomVersion(roomId);
    if (!rv) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    return rv;
  }

  private async membershipOf(roomId: string, userId: string): Promise<string | undefined> {
    const ev = await this.events.currentStateEvent(roomId, "m.room.member", userId);
    const m = ev?.content["membership"];
    return typeof m === "string" ? m : undefined;
  }

  async join(by: Sender, roomIdOrAlias: string, opts: { reason?: string; via?: string[]; extra?: JsonObject } = {}): Promise<string> {
    const userId = senderId(by);
    refuseIfSuspended(requesterOf(by) ?? {}, "join rooms");
    const { roomId, servers } = await this.resolveRoomAndServers(roomIdOrAlias, opts.via);
    for (const check of this.membershipChecks) await check(roomId, userId);
    for (const check of this.joinChecks) await check(roomId, userId);
    // Other keys of the request body go into the member event (as Synapse); the server sets the
    // membership, the profile and the restricted-join authoriser.
    const extra = Object.fromEntries(
      Object.entries(opts.extra ?? {}).filter(([k]) => !["membership", "reason", "third_party_signed", "join_authorised_via_users_server", "displayname", "avatar_url"].includes(k)),
    );
    const content: JsonObject = { ...extra, membership: "join", ...(await this.memberProfile(userId)) };
    if (opts.reason) content.reason = opts.reason;
    if (await this.isRemote(roomId)) {
      const helpers = await this.helperServers(userId, roomId, servers);
      if (helpers.length === 0) throw new MatrixError("M_NOT_FOUND", "No known servers to join this room through");
      return this.d.remote!.join(userId, roomId, helpers, content);
    }
    const rv = await this.events.roomVersion(roomId);
    if (!rv) throw new MatrixError("M_NOT_FOUND", "No known servers to join this room through");
    const memberEvent = await this.events.currentStateEvent(roomId, "m.room.member", userId);
    const current = typeof memberEvent?.content["membership"] === "string" ? memberEvent.content["membership"] : undefined;
    // Joining again is a no-op when the member event would not change (as Synapse's
    // deduplication of state events); a new reason or profile makes a new join event.
    if (current === "join") {
      const { join_authorised_via_users_server: _via, ...was } = memberEvent!.content;
      if (sameJson(was, content)) return roomId;
    }
    if (current === "ban") throw new MatrixError("M_FORBIDDEN", "You are banned from this room");
    if (current !== "invite" && current !== "join" && rv.restrictedJoinAllowed) {
      const via = await this.restrictedJoinAuthoriser(roomId, userId, rv);
      if (via) content.join_authorised_via_users_server = via;
    }
    await this.events.send({ roomId, sender: userId, type: "m.room.member", stateKey: userId, content });
    return roomId;
  }

  /**
   * For restricted join rules: a local user with invite power in the room, when `userId` is joined
   * to one of the rooms the join rule allows. Undefined when the rule does not apply.
   */
  private async restrictedJoinAuthoriser(roomId: string, userId: string, rv: RoomVersion): Promise<string | undefined> {
    const jr = await this.events.currentStateEvent(roomId, "m.room.join_rules", "");
    const rule = jr?.content["join_rule"];
    if (rule !== "restricted" && !(rule === "knock_restricted" && rv.knockRestrictedAllowed)) return undefined;
    const allow = Array.isArray(jr?.content["allow"]) ? (jr!.content["allow"] as unknown[]) : [];
    let allowed = false;
    for (const a of allow) {
      if (isObject(a) && a.type === "m.room_membership" && typeof a.room_id === "string") {
        const m = await this.d.repo.localMembership(userId, a.room_id);
        if (m?.membership === "join") {
          allowed = true;
          break;
        }
      }
    }
    if (!allowed) throw new MatrixError("M_FORBIDDEN", "You are not a member of a room that allows you to join this one");
    const state = await this.events.currentStateEvents(roomId, [["m.room.create", ""], ["m.room.power_levels", ""]]);
    const pl = effectivePowerLevels(state.get(stateMapKey("m.room.power_levels", ""))?.content, state.get(stateMapKey("m.room.create", "")), rv);
    for (const m of await this.d.repo.currentMembers(roomId, "join")) {
      if (m.user_id.endsWith(`:${this.d.serverName}`) && userLevel(pl, m.user_id) >= pl.invite) return m.user_id;
    }
    throw new MatrixError("M_UNABLE_TO_GRANT_JOIN", "No local user can authorise this join");
  }

  /** Runs the inviteChecks for a local invitee: throws (403 M_INVITE_BLOCKED) to refuse the invite. */
  async checkInvitee(invitee: string, inviter: string): Promise<void> {
    for (const check of this.inviteChecks) await check(invitee, inviter);
  }

  /** Whether the inviteChecks refuse a local invitee because they block invites. */
  private async inviteRefused(invitee: string, inviter: string): Promise<boolean> {
    try {
      await this.checkInvitee(invitee, inviter);
      return false;
    } catch (e) {
      if (isInviteBlocked(e)) return true;
      throw e;
    }
  }

  async invite(by: Sender, roomId: string, target: string, reason?: string, isDirect = false): Promise<void> {
    const sender = senderId(by);
    refuseIfSuspended(requesterOf(by) ?? {}, "invite users");
    // A shadow-banned user's invite is answered as sent and goes nowhere.
    if (requesterOf(by)?.isShadowBanned) return;
    await this.requireRoom(roomId);
    if (!isValidUserId(target)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (target.endsWith(`:${this.d.serverName}`) && !(await this.d.userExists(target))) {
      throw new MatrixError("M_NOT_FOUND", "Unknown user");
    }
    if (target.endsWith(`:${this.d.serverName}`)) {
      for (const check of this.membershipChecks) await check(roomId, target);
      await this.checkInvitee(target, sender);
    }
    const remoteTarget = !target.endsWith(`:${this.d.serverName}`);
    if (remoteTarget && !this.d.remote) throw new MatrixError("M_FORBIDDEN", "Federation is disabled on this server");
    const current = await this.membershipOf(roomId, target);
    if (current === "join") throw new MatrixError("M_FORBIDDEN", `${target} is already in the room`);
    if (current === "ban") throw new MatrixError("M_FORBIDDEN", `${target} is banned from the room`);
    if (current === "invite") return;
    const content: JsonObject = { membership: "invite", ...(await this.memberProfile(target)) };
    if (reason) content.reason = reason;
    if (isDirect) content.is_direct = true;
    const remote = this.d.remote;
    await this.events.send({
      roomId,
      sender,
      type: "m.room.member",
      stateKey: target,
      content,
      beforePersist: remoteTarget && remote ? (ev, rv) => remote.cosignInvite(ev, rv) : undefined,
    });
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    if (await this.isRemote(roomId)) {
      // Rejecting an invite (or withdrawing a knock) to a room we are not in.
      const m = await this.d.repo.localMembership(userId, roomId);
      if (!m || (m.membership !== "invite" && m.membership !== "knock")) {
        if (m && (m.membership === "leave" || m.membership === "ban")) return;
        throw new MatrixError("M_FORBIDDEN", "You are not in this room");
      }
      const helpers = await this.helperServers(userId, roomId, []);
      // A room whose state this server holds, with nobody elsewhere to ask (e.g. a local room
      // everyone has left since the invite): the rejection is sent here, as in a room we are in.
      if (helpers.length > 0 || !(await this.events.roomVersion(roomId))) {
        await this.d.remote!.membership(userId, roomId, helpers, "leave", reason);
        return;
      }
    }
    await this.requireRoom(roomId);
    const current = await this.membershipOf(roomId, userId);
    if (current === undefined) throw new MatrixError("M_FORBIDDEN", "You are not in this room");
    if (current === "leave" || current === "ban") return;
    const content: JsonObject = { membership: "leave" };
    if (reason) content.reason = reason;
    await this.events.send({ roomId, sender: userId, type: "m.room.member", stateKey: userId, content });
  }

  /** Re-sends the user's member event in each joined room with their current profile. */
  async propagateProfile(userId: string): Promise<void> {
    const profile = await this.memberProfile(userId);
    for (const roomId of await this.joinedRooms(userId)) {
      const current = await this.events.currentStateEvent(roomId, "m.room.member", userId);
      if (!current || current.content["membership"] !== "join") continue;
      const content: JsonObject = { ...current.content };
      delete content.displayname;
      delete content.avatar_url;
      Object.assign(content, profile);
      if (JSON.stringify(content) === JSON.stringify(current.content)) continue;
      try {
        await this.events.send({ roomId, sender: userId, type: "m.room.member", stateKey: userId, content });
      } catch (e) {
        // One room refusing the change (e.g. its rules) must not stop the others.
        if (!(e instanceof MatrixError)) throw e;
      }
    }
  }

  /** Leaves (or rejects) every room of a user: deactivation. */
  async leaveAll(userId: string): Promise<void> {
    for (const m of await this.d.repo.localMemberships(userId, { memberships: ["join", "invite", "knock"], includeForgotten: true })) {
      try {
        await this.leave(userId, m.room_id);
      } catch (e) {
        if (!(e instanceof MatrixError)) throw e;
      }
    }
  }

  async forget(userId: string, roomId: string): Promise<void> {
    const m = await this.d.repo.localMembership(userId, roomId);
    if (m && (m.membership === "join" || m.membership === "invite" || m.membership === "knock")) {
      throw new MatrixError("M_UNKNOWN", "You must leave the room before forgetting it", {}, 400);
    }
    await this.d.repo.forget(userId, roomId);
  }

  /** kick, ban and unban: a membership change by `sender` for `target`. */
  async moderate(by: Sender, roomId: string, target: string, action: "kick" | "ban" | "unban", reason?: string): Promise<void> {
    const sender = senderId(by);
    refuseIfSuspended(requesterOf(by) ?? {}, `${action} users`);
    await this.requireRoom(roomId);
    if (!isValidUserId(target)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    const current = await this.membershipOf(roomId, target);
    if (action === "kick" && (current === undefined || current === "leave" || current === "ban")) {
      throw new MatrixError("M_FORBIDDEN", `${target} is not in the room`);
    }
    if (action === "unban" && current !== "ban") throw new MatrixError("M_FORBIDDEN", `${target} is not banned`);
    if (action === "ban" && current === "ban") return;
    const content: JsonObject = { membership: action === "ban" ? "ban" : "leave" };
    if (reason) content.reason = reason;
    await this.events.send({ roomId, sender, type: "m.room.member", stateKey: target, content });
  }

  async knock(by: Sender, roomIdOrAlias: string, reason?: string, via: string[] = []): Promise<string> {
    const userId = senderId(by);
    refuseIfSuspended(requesterOf(by) ?? {}, "knock on rooms");
    const { roomId, servers } = await this.resolveRoomAndServers(roomIdOrAlias, via);
    for (const check of this.membershipChecks) await check(roomId, userId);
    if (await this.isRemote(roomId)) {
      await this.d.remote!.membership(userId, roomId, await this.helperServers(userId, roomId, servers), "knock", reason);
      return roomId;
    }
    const rv = await this.events.roomVersion(roomId);
    if (!rv) throw new MatrixError("M_NOT_FOUND", "No known servers to knock on this room through");
    if (!rv.knockAllowed) throw new MatrixError("M_FORBIDDEN", `Room version ${rv.id} does not support knocking`);
    const current = await this.membershipOf(roomId, userId);
    if (current === "join") throw new MatrixError("M_FORBIDDEN", "You are already in the room");
    if (current === "invite") throw new MatrixError("M_FORBIDDEN", "You are already invited to the room");
    if (current === "ban") throw new MatrixError("M_FORBIDDEN", "You are banned from this room");
    const content: JsonObject = { membership: "knock", ...(await this.memberProfile(userId)) };
    if (reason) content.reason = reason;
    await this.events.send({ roomId, sender: userId, type: "m.room.member", stateKey: userId, content });
    return roomId;
  }

  // ------------------------------------------------------------------ sending

  /** `txn` undefined: the legacy POST form without a transaction ID (no deduplication). */
  async sendMessage(by: Sender, roomId: string, type: string, content: JsonObject, txn: { deviceId: string; txnId: string } | undefined, ts?: number): Promise<string> {
    const sender = senderId(by);
    const who = requesterOf(by);
    if (who) {
      // A suspended user may still redact their own events (a redaction sent through /send).
      if (type !== "m.room.redaction") refuseIfSuspended(who, "send messages");
      else await this.refuseSuspendedRedaction(who, roomId, content["redacts"]);
      if (who.isShadowBanned) return shadowEventId(who, `send\u0000${roomId}\u0000${txnKey(txn?.txnId)}`);
    }
    await this.requireJoined(sender, roomId);
    // A redaction sent through /send (allowed in every room version since v1.18): `redacts` is
    // read from the content and, in versions before 11, also set at the top level.
    const redacts = type === "m.room.redaction" && typeof content["redacts"] === "string" ? content["redacts"] : undefined;
    const r = await this.events.send({ roomId, sender, type, content, txn, ts, redacts });
    return r.eventId;
  }

  async sendState(by: Sender, roomId: string, type: string, stateKey: string, content: JsonObject, ts?: number): Promise<string> {
    const sender = senderId(by);
    const who = requesterOf(by);
    if (who) {
      refuseSuspendedState(who, type, stateKey, content);
      // Shadow-banned: joins and leaves work; invites and other state go nowhere.
      if (who.isShadowBanned && shadowDropsState(type, content)) {
        return shadowEventId(who, `state\u0000${roomId}\u0000${type}\u0000${stateKey}\u0000${JSON.stringify(content)}`);
      }
    }
    await this.requireRoom(roomId);
    let beforePersist: ((ev: RoomEvent, rv: RoomVersion) => Promise<RoomEvent>) | undefined;
    if (type === "m.room.member") {
      // Membership changes through the state API follow the same checks as the membership endpoints.
      const m = content["membership"];
      if (typeof m !== "string") throw new MatrixError("M_BAD_JSON", "m.room.member needs a membership");
      if (m === "invite" && this.events.isLocalUser(stateKey)) {
        for (const check of this.membershipChecks) await check(roomId, stateKey);
        await this.checkInvitee(stateKey, sender);
      } else if (m === "invite") {
        // A remote invitee's server co-signs the invite first (and may refuse it), as with POST /invite.
        const remote = this.d.remote;
        if (!remote) throw new MatrixError("M_FORBIDDEN", "Federation is disabled on this server");
        beforePersist = (ev, rv) => remote.cosignInvite(ev, rv);
      }
    } else {
      await this.requireJoined(sender, roomId);
    }
    if (type === "m.room.canonical_alias") await this.checkCanonicalAlias(roomId, content);
    // Sending the same content again is a no-op that returns the current event (as Synapse does).
    const current = await this.events.currentStateEvent(roomId, type, stateKey);
    if (current && current.sender === sender && JSON.stringify(current.content) === JSON.stringify(content)) return current.event_id;
    const r = await this.events.send({ roomId, sender, type, stateKey, content, ts, beforePersist });
    return r.eventId;
  }

  /**
   * m.room.canonical_alias (room_state.yaml): invalid syntax → M_INVALID_PARAM; an alias that does
   * not point to this room (local, or resolved over federation) → M_BAD_ALIAS. An absent, null or
   * empty `alias` means none.
   */
  private async checkCanonicalAlias(roomId: string, content: JsonObject): Promise<void> {
    if (content.alt_aliases !== undefined && !Array.isArray(content.alt_aliases)) throw new MatrixError("M_INVALID_PARAM", "'alt_aliases' must be a list of room aliases");
    const main = content.alias === undefined || content.alias === null || content.alias === "" ? [] : [content.alias];
    const aliases = [...main, ...((content.alt_aliases as unknown[] | undefined) ?? [])];
    for (const a of aliases) {
      if (typeof a !== "string" || !isValidRoomAlias(a)) throw new MatrixError("M_INVALID_PARAM", `Invalid room alias ${JSON.stringify(a)}`);
    }
    for (const a of new Set(aliases as string[])) {
      let target: string | undefined;
      if (a.endsWith(`:${this.d.serverName}`)) {
        target = (await this.d.directory.findAlias(a))?.room_id;
      } else if (this.d.remote) {
        target = await this.d.remote.resolveAlias(a).then((r) => r.room_id, () => undefined);
      }
      if (target !== roomId) throw new MatrixError("M_BAD_ALIAS", `The alias ${a} does not point to this room`);
    }
  }

  async redact(by: Sender, roomId: string, eventId: string, reason: string | undefined, txn: { deviceId: string; txnId: string } | undefined): Promise<string> {
    const sender = senderId(by);
    const who = requesterOf(by);
    if (who) {
      await this.refuseSuspendedRedaction(who, roomId, eventId);
      if (who.isShadowBanned) return shadowEventId(who, `redact\u0000${roomId}\u0000${txnKey(txn?.txnId)}`);
    }
    await this.requireJoined(sender, roomId);
    const content: JsonObject = {};
    if (reason !== undefined) content.reason = reason;
    const r = await this.events.send({ roomId, sender, type: "m.room.redaction", content, redacts: eventId, txn });
    return r.eventId;
  }

  /** A suspended user may redact their own events only (client-server-api "Account suspension"). */
  private async refuseSuspendedRedaction(who: PolicedRequester, roomId: string, eventId: unknown): Promise<void> {
    if (!who.isSuspended) return;
    const viewer = { userId: who.userId, deviceId: who.deviceId ?? undefined };
    const target = typeof eventId === "string" && isValidEventId(eventId) ? await this.getEvent(viewer, roomId, eventId).catch(() => undefined) : undefined;
    if (target?.sender !== who.userId) refuseIfSuspended(who, "redact other users' events");
  }

  private async requireJoined(userId: string, roomId: string): Promise<void> {
    await this.requireRoom(roomId);
    const m = await this.membershipOf(roomId, userId);
    if (m !== "join") throw new MatrixError("M_FORBIDDEN", "You are not joined to this room");
  }

  // ------------------------------------------------------------------ reading

  /**
   * What a user may read of a room: "current" (joined, or world_readable), or the state group and
   * stream position where they left (leave/ban: they see the room as it was then).
   */
  private async readPoint(userId: string, roomId: string): Promise<{ upTo?: number; group: number }> {
    await this.requireRoom(roomId);
    const m = await this.d.repo.localMembership(userId, roomId);
    const room = (await this.d.repo.findRoom(roomId))!;
    if (m?.membership === "join") return { group: Number(room.current_state_group) };
    if (m && (m.membership === "leave" || m.membership === "ban")) {
      const row = await this.d.repo.findEvent(m.event_id);
      if (row?.state_group != null) {
        if ((await this.visibility.currentVisibility(roomId)) === "world_readable") return { group: Number(room.current_state_group) };
        return { upTo: Number(row.stream_ordering), group: Number(row.state_group) };
      }
    }
    if ((await this.visibility.currentVisibility(roomId)) === "world_readable") return { group: Number(room.current_state_group) };
    throw new MatrixError("M_FORBIDDEN", "You aren't a member of the room and weren't previously a member of the room");
  }

  /**
   * Throws unless the user may read the room (404 unknown room, 403 not and never a member of a
   * room that is not world_readable); the stream position their view ends at when they left.
   */
  async readableUpTo(userId: string, roomId: string): Promise<number | undefined> {
    return (await this.readPoint(userId, roomId)).upTo;
  }

  async getState(viewer: Viewer, roomId: string): Promise<ClientEvent[]> {
    const point = await this.readPoint(viewer.userId, roomId);
    const ids = await this.d.repo.stateOfGroup(point.group);
    const rows = await this.d.repo.getEvents([...ids.values()]);
    return toClientEvents(this.events, [...rows.values()], viewer);
  }

  async getStateEvent(viewer: Viewer, roomId: string, type: string, stateKey: string): Promise<ClientEvent> {
    const point = await this.readPoint(viewer.userId, roomId);
    const ids = await this.d.repo.stateOfGroup(point.group, { keys: [[type, stateKey]] });
    const id = ids.get(stateMapKey(type, stateKey));
    const row = id ? await this.d.repo.findEvent(id) : undefined;
    if (!row) throw new MatrixError("M_NOT_FOUND", "Event not found");
    const [ev] = await toClientEvents(this.events, [row], viewer);
    return ev!;
  }

  async getEvent(viewer: Viewer, roomId: string, eventId: string): Promise<ClientEvent> {
    // rooms.yaml: 404 "not found or you do not have permission to read this event" — also for
    // users who may not read the room at all (as Synapse), so an event ID reveals nothing.
    await this.readPoint(viewer.userId, roomId).catch((e: unknown) => {
      if (e instanceof MatrixError && e.errcode === "M_FORBIDDEN") throw new MatrixError("M_NOT_FOUND", "Event not found");
      throw e;
    });
    const row = await this.d.repo.findEvent(eventId);
    if (!row || row.room_id !== roomId || row.rejected_reason !== null || row.outlier) throw new MatrixError("M_NOT_FOUND", "Event not found");
    const visible = await this.visibility.filter(viewer.userId, [row]);
    if (visible.length === 0) throw new MatrixError("M_NOT_FOUND", "Event not found");
    const [ev] = await toClientEvents(this.events, [row], viewer);
    return ev!;
  }

  async members(
    viewer: Viewer,
    roomId: string,
    opts: { at?: string; membership?: string; notMembership?: string },
  ): Promise<ClientEvent[]> {
    const point = await this.readPoint(viewer.userId, roomId);
    let group = point.group;
    if (opts.at) {
      const tok = decodeToken(opts.at);
      const stream = tok.kind === "stream" ? tok.stream : tok.stream;
      const row = await this.d.repo.lastEventAtOrBefore(roomId, Math.min(stream, point.upTo ?? Infinity));
      if (row?.state_group != null) group = Number(row.state_group);
    }
    const ids = await this.d.repo.stateOfGroup(group, { types: ["m.room.member"] });
    const rows = [...(await this.d.repo.getEvents([...ids.values()])).values()].filter((r) => {
      const m = (JSON.parse(r.json) as RoomEvent).content["membership"];
      if (opts.membership && m !== opts.membership) return false;
      if (opts.notMembership && m === opts.notMembership) return false;
      return true;
    });
    return toClientEvents(this.events, rows, viewer);
  }

  async joinedMembers(userId: string, roomId: string): Promise<Record<string, { display_name?: string; avatar_url?: string }>> {
    await this.requireRoom(roomId);
    if ((await this.membershipOf(roomId, userId)) !== "join" && (await this.visibility.currentVisibility(roomId)) !== "world_readable") {
      throw new MatrixError("M_FORBIDDEN", "You aren't a member of the room");
    }
    const members = await this.d.repo.currentMembers(roomId, "join");
    const evs = await this.events.loadEvents(members.map((m) => m.event_id));
    const out: Record<string, { display_name?: string; avatar_url?: string }> = {};
    for (const m of members) {
      const c = evs.get(m.event_id)?.content ?? {};
      const entry: { display_name?: string; avatar_url?: string } = {};
      if (typeof c.displayname === "string") entry.display_name = c.displayname;
      if (typeof c.avatar_url === "string") entry.avatar_url = c.avatar_url;
      out[m.user_id] = entry;
    }
    return out;
  }

  async joinedRooms(userId: string): Promise<string[]> {
    return (await this.d.repo.localMemberships(userId, { memberships: ["join"] })).map((r) => r.room_id);
  }

  /** The position of the newest visible event for a user (the gap after it). */
  private async latestGap(roomId: string, upTo?: number): Promise<TopoPosition> {
    // Topologically last (not last received): events arriving out of order still come first.
    const row = await this.d.repo.topologicalLastAtOrBefore(roomId, upTo ?? Number.MAX_SAFE_INTEGER);
    return row ? { depth: Number(row.depth), stream: Number(row.stream_ordering) + 1 } : { depth: 0, stream: 0 };
  }

  /** Converts any pagination or sync token to a topological gap in this room. */
  private async gapOf(roomId: string, token: string): Promise<TopoPosition> {
    const tok = decodeToken(token);
    if (tok.kind === "topo") return { depth: tok.depth, stream: tok.stream };
    return this.latestGap(roomId, tok.stream);
  }

  async messages(
    viewer: Viewer,
    roomId: string,
    opts: { from?: string; to?: string; dir: "b" | "f"; limit: number; filter?: RoomEventFilter; noBackfill?: boolean; alwaysEnd?: boolean },
  ): Promise<MessagesPage> {
    const point = await this.readPoint(viewer.userId, roomId);
    const limit = Math.max(0, Math.min(opts.limit, 1000));
    let gap: TopoPosition = opts.from
      ? await this.gapOf(roomId, opts.from)
      : opts.dir === "b"
        ? await this.latestGap(roomId, point.upTo)
        : { depth: 0, stream: 0 };
    if (point.upTo !== undefined && opts.dir === "b") {
      const cap = await this.latestGap(roomId, point.upTo);
      if (gap.depth > cap.depth || (gap.depth === cap.depth && gap.stream > cap.stream)) gap = cap;
    }
    const toGap = opts.to ? await this.gapOf(roomId, opts.to) : undefined;
    const start = encodeTopoToken(gap);
    const chunk: EventRow[] = [];
    let cursor = gap;
    let exhausted = false;
    // Fetch in batches until `limit` visible events are found (filters and visibility drop some).
    while (chunk.length < limit && !exhausted) {
      const batch = await this.d.repo.roomEventsByTopology(roomId, cursor.depth, cursor.stream, opts.dir, Math.max(limit * 2, 20));
      if (batch.length === 0) {
        exhausted = true;
        break;
      }
      let inRange = batch;
      if (toGap) {
        inRange = batch.filter((r) => (opts.dir === "b" ? cmpPos(r, toGap) >= 0 : cmpPos(r, toGap) < 0));
        if (inRange.length < batch.length) exhausted = true;
      }
      if (point.upTo !== undefined) {
        inRange = inRange.filter((r) => Number(r.stream_ordering) <= point.upTo!);
        if (opts.dir === "f" && inRange.length < batch.length) exhausted = true;
      }
      const last = batch[batch.length - 1]!;
      cursor = opts.dir === "b" ? { depth: Number(last.depth), stream: Number(last.stream_ordering) } : { depth: Number(last.depth), stream: Number(last.stream_ordering) + 1 };
      const visible = await this.visibility.filter(viewer.userId, applyRoomEventFilter(inRange, opts.filter));
      for (const r of visible) {
        if (chunk.length >= limit) {
          // Stop right before r: the next page starts at r.
          cursor = opts.dir === "b" ? { depth: Number(r.depth), stream: Number(r.stream_ordering) + 1 } : { depth: Number(r.depth), stream: Number(r.stream_ordering) };
          break;
        }
        chunk.push(r);
        if (chunk.length === limit) {
          cursor = opts.dir === "b" ? { depth: Number(r.depth), stream: Number(r.stream_ordering) } : { depth: Number(r.depth), stream: Number(r.stream_ordering) + 1 };
        }
      }
      if (batch.length < Math.max(limit * 2, 20)) {
        if (chunk.length < limit) exhausted = true;
      }
    }
    if (exhausted && opts.dir === "b" && chunk.length < limit && this.d.remote && !opts.noBackfill) {
      // The start of what this server has: ask the other servers in the room for older history.
      if (await this.d.remote.backfill(roomId, Math.max(limit - chunk.length, 20))) {
        return this.messages(viewer, roomId, { ...opts, noBackfill: true });
      }
    }
    const page: MessagesPage = { chunk: await toClientEvents(this.events, chunk, viewer), start };
    // Forwards, the live end of the room is not the end of what may come: `end` continues there
    // (as Synapse), unless the page stopped at `to` or where the user's view ends (they left).
    const live = opts.dir === "f" && !toGap && point.upTo === undefined;
    if (!exhausted || chunk.length === limit || opts.alwaysEnd || live) page.end = encodeTopoToken(cursor);
    if (opts.filter?.lazy_load_members && chunk.length) page.state = await this.lazyMembers(viewer, roomId, chunk);
    return page;
  }

  /** The member events of the senders of `rows`, at the state of the newest of them. */
  private async lazyMembers(viewer: Viewer, roomId: string, rows: EventRow[]): Promise<ClientEvent[]> {
    void roomId;
    const senders = [...new Set(rows.map((r) => r.sender))];
    const newest = rows.reduce((a, b) => (Number(b.stream_ordering) > Number(a.stream_ordering) ? b : a));
    if (newest.state_group === null) return [];
    const ids = await this.d.repo.stateOfGroup(Number(newest.state_group), { keys: senders.map((s) => ["m.room.member", s] as [string, string]) });
    const memberRows = await this.d.repo.getEvents([...ids.values()]);
    return toClientEvents(this.events, [...memberRows.values()], viewer);
  }

  async context(
    viewer: Viewer,
    roomId: string,
    eventId: string,
    limit: number,
    filter?: RoomEventFilter,
  ): Promise<{ event: ClientEvent; events_before: ClientEvent[]; events_after: ClientEvent[]; start: string; end: string; state: ClientEvent[] }> {
    // Users who may not read the room get 403 here (as Synapse); GET /event answers 404 instead.
    await this.readPoint(viewer.userId, roomId);
    const event = await this.getEvent(viewer, roomId, eventId);
    const row = (await this.d.repo.findEvent(eventId))!;
    const before = Math.floor(limit / 2);
    const after = limit - before;
    const pos = { depth: Number(row.depth), stream: Number(row.stream_ordering) };
    const b = await this.messages(viewer, roomId, { from: encodeTopoToken(pos), dir: "b", limit: before, filter });
    const f = await this.messages(viewer, roomId, { from: encodeTopoToken({ ...pos, stream: pos.stream + 1 }), dir: "f", limit: after, filter });
    const ids = row.state_group !== null ? await this.d.repo.stateOfGroup(Number(row.state_group)) : new Map<string, string>();
    let stateIds = [...ids.entries()];
    if (filter?.lazy_load_members) {
      const senders = new Set([row.sender, ...[...b.chunk, ...f.chunk].map((e) => e.sender)]);
      stateIds = stateIds.filter(([k]) => {
        const [t, sk] = parseStateMapKey(k);
        return t !== "m.room.member" || senders.has(sk);
      });
    }
    const stateRows = await this.d.repo.getEvents(stateIds.map(([, id]) => id));
    return {
      event,
      events_before: b.chunk,
      events_after: f.chunk,
      start: b.end ?? b.start,
      end: f.end ?? encodeTopoToken(await this.latestGap(roomId)),
      state: await toClientEvents(this.events, [...stateRows.values()], viewer),
    };
  }

  async timestampToEvent(viewer: Viewer, roomId: string, ts: number, dir: "b" | "f"): Promise<{ event_id: string; origin_server_ts: number }> {
    const point = await this.readPoint(viewer.userId, roomId);
    const row = await this.d.repo.eventNearTimestamp(roomId, ts, dir);
    if (!row || (point.upTo !== undefined && Number(row.stream_ordering) > point.upTo) || (await this.visibility.filter(viewer.userId, [row])).length === 0) {
      throw new MatrixError("M_NOT_FOUND", `Unable to find event from ${ts} in direction ${dir}`);
    }
    return { event_id: row.event_id, origin_server_ts: Number(row.origin_server_ts) };
  }

  /** The membership events of a user in a room, for the member key lookup (used by sync). */
  memberKeyOf(userId: string): string {
    return memberKey(userId);
  }
}

/** An invite refused because the invitee blocks invites (here or on their server). */
function isInviteBlocked(e: unknown): boolean {
  return e instanceof MatrixError && e.errcode === "M_INVITE_BLOCKED";
}

function cmpPos(r: EventRow, p: TopoPosition): number {
  const d = Number(r.depth) - p.depth;
  return d !== 0 ? d : Number(r.stream_ordering) - p.stream;
}

/** Whether two JSON values encode the same (content that cannot be encoded, e.g. a lone surrogate, never does). */
function sameJson(a: unknown, b: unknown): boolean {
  try {
    return canonicalJsonLenient(a) === canonicalJsonLenient(b);
  } catch {
    return false;
  }
}
