// Joining, leaving, knocking and inviting across servers (server-server-api.md "Joining Rooms",
// "Restricted rooms", "Knocking upon a room", "Inviting to a room", "Leaving Rooms").
// Both sides: our users joining rooms elsewhere (make_join → send_join), and other servers' users
// joining our rooms (answering make_join/send_join), and the same for leave, knock and invite.
import { checkAuth } from "../../core/auth-rules.ts";
import { authTypesForEvent } from "../../core/auth-events.ts";
import { computeEventId } from "../../core/event-id.ts";
import { signEvent } from "../../core/pdu.ts";
import { effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { findRoomVersion, ROOM_VERSIONS, type RoomVersion } from "../../core/room-versions.ts";
import { eventStateMapKey, stateMapKey } from "../../core/state-map.ts";
import type { SigningKey } from "../../core/signing.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf, type ServerName } from "../../protocol/ids.ts";
import type { AccountsRepo } from "../../storage/repos/accounts.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { assertClientEventJson, type RoomEvents } from "../rooms/events.ts";
import type { StateResolver } from "../rooms/state-resolution.ts";
import { FederationError } from "./client.ts";
import type { FederationRequester } from "./ports.ts";
import { PduSignatureError, type FederationReceiver, type PduError } from "./receiver.ts";

const log = logger("federation");

/** Room versions whose invites may still carry loosely formatted invite_room_state (v1.16). */
const LEGACY_INVITE_STATE_VERSIONS = new Set(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);

export interface MembershipDeps {
  accounts: AccountsRepo;
  repo: RoomsRepo;
  events: RoomEvents;
  resolver: StateResolver;
  receiver: FederationReceiver;
  fed: FederationRequester;
  serverName: string;
  signingKey: SigningKey;
  /** Refuses the invite of a local user (Rooms.checkInvitee: 403 M_INVITE_BLOCKED). */
  checkInvitee?: (invitee: string, inviter: string) => Promise<void>;
}

/**
 * A failure talking to another server as the client should see it: the remote's own Matrix error
 * when it refused (4xx with an errcode), else 502 M_UNKNOWN.
 */
export function asClientError(e: unknown, what: string): MatrixError {
  if (e instanceof MatrixError) return e;
  // Not an upstream failure: this server is configured not to federate.
  if (e instanceof FederationError && e.kind === "disabled") return new MatrixError("M_FORBIDDEN", `Cannot ${what}: federation is disabled on this server`);
  const r = e as { status?: number; errcode?: string; body?: { error?: unknown; room_version?: unknown }; message?: string } | undefined;
  if (r?.errcode && r.status !== undefined && r.status >= 400 && r.status < 500) {
    const msg = typeof r.body?.error === "string" ? r.body.error : `Failed to ${what}`;
    // M_INCOMPATIBLE_ROOM_VERSION names the version the client would need (federation make_join).
    const extra = r.errcode === "M_INCOMPATIBLE_ROOM_VERSION" && typeof r.body?.room_version === "string" ? { room_version: r.body.room_version } : {};
    return MatrixError.relayed(r.errcode, msg, extra, r.status);
  }
  return new MatrixError("M_UNKNOWN", `Failed to ${what}: ${r?.message ?? "no server answered"}`, {}, 502);
}

/** The remote does not know the endpoint (Synapse's is_unknown_endpoint): 404, 405, or 400 M_UNRECOGNIZED. */
export function isUnknownEndpoint(e: unknown): boolean {
  const r = e as { kind?: string; status?: number; errcode?: string } | undefined;
  if (r?.kind !== "http") return false;
  return ((r.status === 404 || r.status === 405) && (r.errcode === undefined || r.errcode === "M_UNRECOGNIZED")) || (r.status === 400 && r.errcode === "M_UNRECOGNIZED");
}

/**
 * Stripped state sent with invites and knocks (client-server-api "Stripped state"), plus
 * m.room.guest_access (servers may add events): an invited guest's server can only tell from it
 * whether the guest may join (guest_access module).
 */
const STRIPPED_TYPES = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic", "m.room.guest_access"];

type Membership = "join" | "leave" | "knock";

/** How long an invitee's server may take to co-sign an invite. */
export const INVITE_TIMEOUT_MS = 10_000;

export class FederationMembership {
  private readonly accounts: AccountsRepo;

  constructor(private readonly d: MembershipDeps) {
    this.accounts = d.accounts;
  }

  private isLocal(userId: string): boolean {
    return findServerNameOf(userId) === this.d.serverName;
  }

  // =================================================================== resident side

  /** GET make_join / make_leave / make_knock: a template event for a user of `origin`. */
  async makeMembership(origin: string, roomId: string, userId: string, membership: Membership, supportedVersions: string[]): Promise<{ event: Record<string, unknown>; room_version: string }> {
    const rv = await this.d.events.roomVersion(roomId);
    if (!rv || !(await this.residentHere(roomId))) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    if (findServerNameOf(userId) !== origin) throw new MatrixError("M_FORBIDDEN", "The user is not on the requesting server");
    if (membership !== "leave" && !supportedVersions.includes(rv.id)) {
      throw new MatrixError("M_INCOMPATIBLE_ROOM_VERSION", `Your server does not support room version ${rv.id}`, { room_version: rv.id });
    }
    if (membership === "knock" && !rv.knockAllowed) throw new MatrixError("M_FORBIDDEN", `Room version ${rv.id} does not support knocking`);
    return this.d.events.roomLocks.run(roomId, async () => {
      const content: JsonObject = { membership };
      if (membership === "join") {
        const via = await this.restrictedAuthoriser(roomId, userId, rv);
        if (via) content.join_authorised_via_users_server = via;
      }
      const { template, authState } = await this.d.events.buildTemplate({ roomId, sender: userId, type: "m.room.member", stateKey: userId, content }, rv);
      // The template must pass the auth rules (apart from signatures) or the join cannot work.
      const probe = { ...template, event_id: "$probe", hashes: { sha256: "" }, signatures: {} } as unknown as RoomEvent;
      // The template is not signed yet; the authorising signature will be ours (added at send_join).
      const ok = checkAuth(probe, authState, rv, { verifyServerSignature: (_ev, server) => server === this.d.serverName });
      if (!ok.allowed) throw new MatrixError("M_FORBIDDEN", `You cannot ${membership} this room: ${ok.reason}`);
      if (rv.eventIdInEvent) template.event_id = `$placeholder:${origin}`;
      return { event: template, room_version: rv.id };
    });
  }

  /** For restricted rooms: a local user who may authorise `userId`'s join, when a rule applies. */
  private async restrictedAuthoriser(roomId: string, userId: string, rv: RoomVersion): Promise<string | undefined> {
    if (!rv.restrictedJoinAllowed) return undefined;
    const state = await this.d.events.currentStateEvents(roomId, [["m.room.join_rules", ""], ["m.room.member", userId], ["m.room.create", ""], ["m.room.power_levels", ""]]);
    const jr = state.get(stateMapKey("m.room.join_rules", ""));
    const rule = jr?.content["join_rule"];
    if (rule !== "restricted" && !(rule === "knock_restricted" && rv.knockRestrictedAllowed)) return undefined;
    const m = state.get(stateMapKey("m.room.member", userId))?.content["membership"];
    if (m === "invite" || m === "join") return undefined;
    const allow = Array.isArray(jr?.content["allow"]) ? (jr!.content["allow"] as unknown[]) : [];
    let allowed = false;
    for (const a of allow) {
      const roomIdAllowed = typeof a === "object" && a && (a as JsonObject).type === "m.room_membership" ? (a as JsonObject).room_id : undefined;
      if (typeof roomIdAllowed !== "string") continue;
      const other = await this.d.events.currentStateEvent(roomIdAllowed, "m.room.member", userId);
      if (other?.content["membership"] === "join") {
        allowed = true;
        break;
      }
    }
    if (!allowed) throw new MatrixError("M_UNABLE_TO_AUTHORISE_JOIN", "This server cannot confirm that you may join this room");
    const pl = effectivePowerLevels(state.get(stateMapKey("m.room.power_levels", ""))?.content, state.get(stateMapKey("m.room.create", "")), rv);
    for (const member of await this.d.repo.currentMembers(roomId, "join")) {
      if (this.isLocal(member.user_id) && userLevel(pl, member.user_id) >= pl.invite) return member.user_id;
    }
    throw new MatrixError("M_UNABLE_TO_GRANT_JOIN", "No user on this server can authorise your join");
  }

  /** Whether this server is in the room (has a joined user). */
  async residentHere(roomId: string): Promise<boolean> {
    return this.d.repo.hasLocalJoin(roomId);
  }

  /**
   * PUT send_join / send_leave / send_knock: accept the signed membership event of a user of
   * `origin`, persist it, and (joins) answer with the room state before it and its auth chain.
   */
  async sendMembership(
    origin: string,
    roomId: string,
    eventId: string,
    raw: unknown,
    membership: Membership,
    opts: { omitMembers?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const rv = await this.d.events.roomVersion(roomId);
    if (!rv || !(await this.residentHere(roomId))) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    // Restricted joins authorised by one of our users must carry our signature: add it before the
    // signature checks (which require it).
    let pdu = raw;
    const rawContent = (raw as { content?: Record<string, unknown> } | null)?.content;
    const via = rawContent?.["join_authorised_via_users_server"];
    if (membership === "join" && typeof via === "string" && this.isLocal(via) && typeof raw === "object" && raw !== null) {
      pdu = signEvent(raw as Record<string, unknown>, rv, this.d.serverName, this.d.signingKey);
    }
    let ev: RoomEvent;
    try {
      ev = await this.d.receiver.checkSignedPdu(pdu, rv);
    } catch (e) {
      throw refusedPdu(e);
    }
    if (ev.event_id !== eventId) throw new MatrixError("M_BAD_JSON", "Event ID does not match the path");
    if (ev.room_id !== roomId || ev.type !== "m.room.member" || ev.state_key !== ev.sender || ev.content["membership"] !== membership) {
      throw new MatrixError("M_BAD_JSON", `Not a ${membership} event of its sender in this room`);
    }
    if (findServerNameOf(ev.sender) !== origin) throw new MatrixError("M_FORBIDDEN", "The sender is not on the requesting server");
    await this.d.events.roomLocks.run(roomId, () => this.d.receiver.processEvent(origin, ev, rv, 1));
    const row = await this.d.repo.findEvent(ev.event_id);
    if (!row || row.rejected_reason !== null) throw new MatrixError("M_FORBIDDEN", `The ${membership} was rejected: ${row?.rejected_reason ?? "unknown"}`);
    if (membership === "leave") return {};
    if (membership === "knock") return { knock_room_state: await this.strippedState(roomId) };

    const before = await this.stateBefore(ev.event_id);
    let stateIds = [...before.values()];
    let membersOmitted = false;
    if (opts.omitMembers) {
      membersOmitted = true;
      stateIds = [...before.entries()].filter(([k]) => !k.startsWith("m.room.member\u0000") || k === stateMapKey("m.room.member", ev.sender)).map(([, id]) => id);
    }
    const authChain = await this.authChain(stateIds);
    const out: Record<string, unknown> = {
      origin: this.d.serverName,
      state: await this.pdus(roomId, stateIds),
      auth_chain: await this.pdus(roomId, authChain),
      event: this.wire(ev, rv),
      members_omitted: membersOmitted,
    };
    if (membersOmitted) out.servers_in_room = await this.serversInRoom(roomId);
    return out;
  }

  /** The state before an event (its state group minus itself when it is a state event). */
  async stateBefore(eventId: string): Promise<Map<string, string>> {
    const row = await this.d.repo.findEvent(eventId);
    if (!row || row.state_group === null) throw new MatrixError("M_NOT_FOUND", "No state known at that event");
    const state = await this.d.repo.stateOfGroup(Number(row.state_group));
    if (row.state_key !== null) {
      const k = stateMapKey(row.type, row.state_key);
      if (state.get(k) === row.event_id) {
        if (row.replaces_state) state.set(k, row.replaces_state);
        else state.delete(k);
      }
    }
    return state;
  }

  /** The auth chain of a set of events (excluding them), via the auth edges. */
  async authChain(eventIds: readonly string[]): Promise<string[]> {
    const seen = new Set<string>();
    let frontier = [...eventIds];
    while (frontier.length) {
      const next: string[] = [];
      for (const authId of await this.d.repo.authEventIdsOf(frontier)) {
        if (!seen.has(authId)) {
          seen.add(authId);
          next.push(authId);
        }
      }
      frontier = next;
    }
    return [...seen];
  }

  /** Events of a room in their federation (wire) form. */
  async pdus(roomId: string, ids: readonly string[]): Promise<Record<string, unknown>[]> {
    const evs = await this.d.events.loadEvents(ids);
    const rv = await this.d.events.versionOf(roomId);
    const out: Record<string, unknown>[] = [];
    for (const id of ids) {
      const ev = evs.get(id);
      if (ev) out.push(this.wire(ev, rv));
    }
    return out;
  }

  wire(ev: RoomEvent, rv: RoomVersion): Record<string, unknown> {
    if (rv.eventIdInEvent) return { ...ev };
    const { event_id: _id, ...rest } = ev;
    return rest;
  }

  async serversInRoom(roomId: string): Promise<string[]> {
    const members = await this.d.repo.currentMembers(roomId, "join");
    return [...new Set(members.map((m) => findServerNameOf(m.user_id)).filter((s): s is ServerName => !!s))];
  }

  async strippedState(roomId: string, extraMember?: string): Promise<Record<string, unknown>[]> {
    const keys: Array<[string, string]> = STRIPPED_TYPES.map((t) => [t, ""]);
    if (extraMember) keys.push(["m.room.member", extraMember]);
    const evs = await this.d.events.currentStateEvents(roomId, keys);
    const rv = await this.d.events.versionOf(roomId);
    // Whole events in the room version's format, signed (spec v1.16, MSC4311): receivers check them,
    // and must find the create event among them; clients get the stripped fields only.
    return [...evs.values()].map((e) => this.wire(e, rv));
  }

  /**
   * What is wrong with the invite_room_state (or knock_room_state) of an invite to `roomId`, if
   * anything (v1.16): every entry a properly signed event of this room, the create event among them.
   */
  private async checkInviteState(state: unknown[], roomId: string, rv: RoomVersion): Promise<{ problem: string } | { events: RoomEvent[] }> {
    let create = false;
    const events: RoomEvent[] = [];
    for (const raw of state) {
      let ev: RoomEvent;
      try {
        // As checked: redacted when its content hash does not match.
        ev = await this.d.receiver.checkSignedPdu(raw, rv);
      } catch (e) {
        return { problem: `an entry is not a valid event of room version ${rv.id}: ${(e as Error).message}` };
      }
      events.push(ev);
      const isCreate = ev.type === "m.room.create" && ev.state_key === "";
      // A v12 create event has no room_id: the room ID is its event ID with the room sigil.
      const room = isCreate && ev.room_id === undefined && rv.roomIdFromCreateEvent ? `!${ev.event_id.slice(1)}` : ev.room_id;
      if (room !== roomId) return { problem: "an entry belongs to another room" };
      if (isCreate) create = true;
    }
    return create ? { events } : { problem: "the m.room.create event is missing" };
  }

  /** PUT /v2/invite: another server invites one of our users. Returns the event with our signature. */
  async receiveInvite(origin: string, roomId: string, eventId: string, body: { event?: unknown; room_version?: unknown; invite_room_state?: unknown }): Promise<Record<string, unknown>> {
    const rv = typeof body.room_version === "string" ? findRoomVersion(body.room_version) : undefined;
    if (!rv) throw new MatrixError("M_INCOMPATIBLE_ROOM_VERSION", `This server does not support room version ${String(body.room_version)}`, { room_version: body.room_version });
    let ev: RoomEvent;
    try {
      ev = await this.d.receiver.checkSignedPdu(body.event, rv);
    } catch (e) {
      throw refusedPdu(e);
    }
    if (ev.event_id !== eventId || ev.room_id !== roomId) throw new MatrixError("M_BAD_JSON", "Event does not match the path");
    if (ev.type !== "m.room.member" || ev.content["membership"] !== "invite" || typeof ev.state_key !== "string") {
      throw new MatrixError("M_BAD_JSON", "Not an invite");
    }
    if (findServerNameOf(ev.sender) !== origin) throw new MatrixError("M_FORBIDDEN", "The inviter is not on the requesting server");
    if (!this.isLocal(ev.state_key)) throw new MatrixError("M_FORBIDDEN", "The invitee is not on this server");
    const user = await this.accounts.findUser(ev.state_key);
    if (!user || user.deactivated) throw new MatrixError("M_NOT_FOUND", "Unknown user");
    await this.d.checkInvitee?.(ev.state_key, ev.sender);
    const signed = signEvent(ev as unknown as Record<string, unknown>, rv, this.d.serverName, this.d.signingKey) as unknown as RoomEvent;
    signed.event_id = ev.event_id;
    let inviteState = Array.isArray(body.invite_room_state) ? body.invite_room_state : [];
    const checked = await this.checkInviteState(inviteState, roomId, rv);
    if ("problem" in checked) {
      // Required from room version 12 on; older rooms only warn while servers migrate (v1.16).
      if (!LEGACY_INVITE_STATE_VERSIONS.has(rv.id)) throw new MatrixError("M_INVALID_PARAM", `invite_room_state: ${checked.problem}`);
      log.warn("invite_room_state does not follow the room version's format", { room_id: roomId, origin, problem: checked.problem });
    } else {
      inviteState = checked.events;
    }
    if (!(await this.residentHere(roomId))) {
      // A room we are not in: remember the invite so the user sees it and can join or reject it.
      await this.d.events.persistOutliers([{ event: signed }], rv);
      await this.d.events.recordRemoteInvite(signed, rv, inviteState as JsonObject[]);
    }
    return { event: this.wire(signed, rv) };
  }

  // =================================================================== our users, remote rooms

  /** Joins a local user to a room through one of `servers` (make_join/send_join). Returns the room ID. */
  async joinRemote(userId: string, roomId: string, servers: string[], content: JsonObject): Promise<string> {
    assertClientEventJson({ type: "m.room.member", stateKey: userId, content: { ...content, membership: "join" } });
    const supported = [...ROOM_VERSIONS.keys()];
    let lastError: unknown = new MatrixError("M_NOT_FOUND", "No known servers to join this room through");
    for (const server of [...new Set(servers)].filter((s) => s !== this.d.serverName)) {
      try {
        const made = await this.d.fed.request<{ event?: Record<string, unknown>; room_version?: string }>({
          destination: server,
          method: "GET",
          path: `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`,
          query: { ver: supported },
        });
        const rv = findRoomVersion(made.room_version ?? "1");
        if (!rv || !made.event) throw new MatrixError("M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${made.room_version}`);
        await this.completeRemoteJoin(server, roomId, userId, rv, made.event, content);
        return roomId;
      } catch (e) {
        lastError = e;
        log.info("remote join attempt failed", { server, room_id: roomId, error: (e as Error).message });
      }
    }
    throw asClientError(lastError, "join the room");
  }

  private async completeRemoteJoin(server: string, roomId: string, userId: string, rv: RoomVersion, template: Record<string, unknown>, content: JsonObject): Promise<void> {
    const templateContent = (typeof template.content === "object" && template.content ? template.content : {}) as JsonObject;
    const proto: Record<string, unknown> = {
      room_id: roomId,
      sender: userId,
      type: "m.room.member",
      state_key: userId,
      content: { ...content, ...(templateContent.join_authorised_via_users_server ? { join_authorised_via_users_server: templateContent.join_authorised_via_users_server } : {}), membership: "join" },
      origin_server_ts: Date.now(),
      depth: template.depth,
      prev_events: template.prev_events,
      auth_events: template.auth_events,
    };
    const pdu = this.d.events.signed(proto, rv);
    let joinEvent = { ...pdu, event_id: computeEventId(pdu, rv) } as RoomEvent;
    const res = await this.putV2OrV1<{ state?: unknown[]; auth_chain?: unknown[]; event?: unknown; members_omitted?: boolean }>(
      server,
      `send_join/${encodeURIComponent(roomId)}/${encodeURIComponent(joinEvent.event_id)}`,
      this.wire(joinEvent, rv),
      300_000,
    );
    if (res.event) {
      // Restricted joins come back co-signed by the authorising server.
      const cosigned = await this.d.receiver.checkSignedPdu(res.event, rv);
      if (cosigned.event_id === joinEvent.event_id) joinEvent = cosigned;
    }
    await this.d.receiver.storeOutliers([...(res.auth_chain ?? []), ...(res.state ?? [])], rv, roomId);
    const stateMap = new Map<string, string>();
    const stateIds: string[] = [];
    for (const raw of res.state ?? []) {
      try {
        stateIds.push(computeEventId(raw as Record<string, unknown>, rv));
      } catch {
        // malformed: ignored (it was dropped by storeOutliers too)
      }
    }
    const rows = await this.d.repo.getEvents(stateIds);
    const stateEvents = await this.d.events.loadEvents(stateIds);
    for (const id of stateIds) {
      const ev = stateEvents.get(id);
      const r = rows.get(id);
      if (!ev || !r || r.rejected_reason !== null) continue;
      const k = eventStateMapKey(ev);
      if (k !== undefined) stateMap.set(k, id);
    }
    const authKeys = authTypesForEvent(joinEvent, rv, { includeCreate: true });
    const authState = new Map<string, RoomEvent>();
    for (const k of authKeys) {
      const id = stateMap.get(k);
      const ev = id ? stateEvents.get(id) : undefined;
      if (ev) authState.set(k, ev);
    }
    const ok = checkAuth(joinEvent, authState, rv);
    if (!ok.allowed) throw new MatrixError("M_FORBIDDEN", `The join is not allowed by the room state: ${ok.reason}`);
    const create = authState.get(stateMapKey("m.room.create", ""));
    await this.d.events.roomLocks.run(roomId, async () => {
      if (await this.d.repo.findEvent(joinEvent.event_id)) return;
      await this.d.events.persistReceived(joinEvent, rv, {
        stateBefore: { map: stateMap, base: null },
        newRoom: { creator: create?.sender ?? "" },
        resolve: (sets) => this.d.resolver.resolve(roomId, rv, sets),
      });
    });
    await this.d.events.forgetRemoteInvite(roomId, userId);
  }

  /**
   * PUT /_matrix/federation/v2/<path>, or /v1/<path> when the server does not know v2 (404, 405,
   * M_UNRECOGNIZED): the v1 answer is wrapped as [200, body] (send_join, send_leave).
   */
  private async putV2OrV1<T>(server: string, path: string, body: unknown, timeoutMs?: number): Promise<T> {
    try {
      return await this.d.fed.request<T>({ destination: server, method: "PUT", path: `/_matrix/federation/v2/${path}`, body, timeoutMs });
    } catch (e) {
      if (!isUnknownEndpoint(e)) throw e;
      const v1 = await this.d.fed.request<unknown>({ destination: server, method: "PUT", path: `/_matrix/federation/v1/${path}`, body, timeoutMs });
      return (Array.isArray(v1) && v1.length === 2 && typeof v1[0] === "number" ? v1[1] : v1) as T;
    }
  }

  /** Sends a membership change of a local user in a room we are not in (rejecting an invite, knocking). */
  async remoteMembership(userId: string, roomId: string, servers: string[], membership: "leave" | "knock", reason?: string): Promise<void> {
    assertClientEventJson({ type: "m.room.member", stateKey: userId, content: { membership, reason } });
    let lastError: unknown = new MatrixError("M_NOT_FOUND", "No known servers for this room");
    for (const server of [...new Set(servers)].filter((s) => s !== this.d.serverName)) {
      try {
        const made = await this.d.fed.request<{ event?: Record<string, unknown>; room_version?: string }>({
          destination: server,
          method: "GET",
          path: `/_matrix/federation/v1/make_${membership}/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`,
          query: membership === "knock" ? { ver: [...ROOM_VERSIONS.keys()] } : undefined,
        });
        const rv = findRoomVersion(made.room_version ?? "1");
        if (!rv || !made.event) throw new MatrixError("M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version");
        const t = made.event;
        const content: JsonObject = { membership };
        if (reason) content.reason = reason;
        const pdu = this.d.events.signed(
          { room_id: roomId, sender: userId, type: "m.room.member", state_key: userId, content, origin_server_ts: Date.now(), depth: t.depth, prev_events: t.prev_events, auth_events: t.auth_events },
          rv,
        );
        const ev = { ...pdu, event_id: computeEventId(pdu, rv) } as RoomEvent;
        const sendPath = `send_${membership}/${encodeURIComponent(roomId)}/${encodeURIComponent(ev.event_id)}`;
        const res =
          membership === "leave"
            ? await this.putV2OrV1<{ knock_room_state?: unknown[] }>(server, sendPath, this.wire(ev, rv))
            : await this.d.fed.request<{ knock_room_state?: unknown[] }>({ destination: server, method: "PUT", path: `/_matrix/federation/v1/${sendPath}`, body: this.wire(ev, rv) });
        await this.d.events.persistOutliers([{ event: ev }], rv);
        if (membership === "leave") await this.d.events.forgetRemoteInvite(roomId, userId, ev);
        else await this.d.events.recordRemoteInvite(ev, rv, (res.knock_room_state ?? []) as JsonObject[]);
        return;
      } catch (e) {
        lastError = e;
      }
    }
    // Rejecting an invite when the inviting side is unreachable or refuses (make_leave failing
    // with 403, 500, no answer): the user still gets rid of the invite. The rejection is recorded
    // locally as an out-of-band leave event after the invite (what Synapse does), and the room
    // moves to the leave section of their /sync.
    if (membership === "leave" && (await this.rejectInviteLocally(userId, roomId, reason))) {
      log.info("invite rejected locally: no server in the room accepted the rejection", { room_id: roomId, user_id: userId, error: (lastError as Error)?.message });
      return;
    }
    throw asClientError(lastError, membership === "leave" ? "leave the room" : "knock on the room");
  }

  /** A local, out-of-band rejection of a remote invite; false when there is no invite to reject. */
  private async rejectInviteLocally(userId: string, roomId: string, reason?: string): Promise<boolean> {
    const row = await this.d.repo.findRemoteInvite(roomId, userId);
    if (!row) return false;
    const rv = findRoomVersion(row.room_version);
    const invite = await this.d.events.loadEvent(row.event_id);
    if (!rv || !invite) return false;
    const content: JsonObject = { membership: "leave" };
    if (reason) content.reason = reason;
    const pdu = this.d.events.signed(
      {
        room_id: roomId,
        sender: userId,
        type: "m.room.member",
        state_key: userId,
        content,
        origin_server_ts: Date.now(),
        depth: Number(invite.depth ?? 0) + 1,
        prev_events: rv.eventIdInEvent ? [[invite.event_id, (invite.hashes ?? {}) as JsonObject]] : [invite.event_id],
        auth_events: rv.eventIdInEvent ? [[invite.event_id, (invite.hashes ?? {}) as JsonObject]] : [invite.event_id],
      },
      rv,
    );
    const ev = { ...pdu, event_id: computeEventId(pdu, rv) } as RoomEvent;
    await this.d.events.persistOutliers([{ event: ev }], rv);
    await this.d.events.forgetRemoteInvite(roomId, userId, ev);
    return true;
  }

  /**
   * Invites a user of another server: their server co-signs the invite (PUT /v2/invite) before
   * we persist it. Passed as `beforePersist` of the local invite event.
   */
  async cosignInvite(ev: RoomEvent, rv: RoomVersion): Promise<RoomEvent> {
    const target = findServerNameOf(ev.state_key ?? "");
    if (!target) throw new MatrixError("M_INVALID_PARAM", "Invalid invitee");
    const body = { event: this.wire(ev, rv), room_version: rv.id, invite_room_state: await this.strippedState(ev.room_id!, ev.sender) };
    let res: { event?: unknown };
    try {
      res = await this.d.fed.request<{ event?: unknown }>({
        destination: target,
        method: "PUT",
        path: `/_matrix/federation/v2/invite/${encodeURIComponent(ev.room_id!)}/${encodeURIComponent(ev.event_id)}`,
        body,
        // This runs under the room's write lock: a slow or dead server must not hold the room up long.
        timeoutMs: INVITE_TIMEOUT_MS,
      });
    } catch (e) {
      if (!isUnknownEndpoint(e)) {
        // The invitee's refusal as the client should see it (e.g. 403 M_INVITE_BLOCKED).
        throw asClientError(e, "invite the user");
      }
      // A server without /v2/invite can only take invites to rooms of versions 1 and 2, whose
      // events it can parse, through /v1/invite (answered as [200, {event}]).
      if (!rv.eventIdInEvent) throw new MatrixError("M_UNSUPPORTED_ROOM_VERSION", "The invitee's server does not support this room version");
      try {
        const v1 = await this.d.fed.request<unknown>({
          destination: target,
          method: "PUT",
          path: `/_matrix/federation/v1/invite/${encodeURIComponent(ev.room_id!)}/${encodeURIComponent(ev.event_id)}`,
          body: body.event,
          timeoutMs: INVITE_TIMEOUT_MS,
        });
        res = (Array.isArray(v1) ? v1[1] : v1) as { event?: unknown };
      } catch (e2) {
        throw asClientError(e2, "invite the user");
      }
    }
    let signed: RoomEvent;
    try {
      signed = await this.d.receiver.checkSignedPdu(res.event, rv);
    } catch (e) {
      throw new MatrixError("M_FORBIDDEN", `The invitee's server returned an invalid invite: ${(e as PduError).message}`);
    }
    if (signed.event_id !== ev.event_id) throw new MatrixError("M_FORBIDDEN", "The invitee's server changed the invite");
    const sigs = (signed.signatures ?? {}) as Record<string, unknown>;
    if (!sigs[target]) throw new MatrixError("M_FORBIDDEN", "The invitee's server did not sign the invite");
    return signed;
  }

  /** Helper for routes: the event IDs of `ids` that a server may see (it has a member in the room). */
  async serverInRoom(origin: string, roomId: string): Promise<boolean> {
    return this.d.repo.serverHasMember(roomId, origin);
  }
}

/**
 * The error for a membership event another server hands us that fails the format or signature
 * checks: 403 M_FORBIDDEN when it is not signed by its sender's server (the event is not
 * authorised by anyone; the v1 endpoints document 403 for requests that are not authorised, and
 * Synapse answers so), 400 M_BAD_JSON when it is malformed.
 */
function refusedPdu(e: unknown): MatrixError {
  if (e instanceof PduSignatureError) return new MatrixError("M_FORBIDDEN", e.message);
  return new MatrixError("M_BAD_JSON", (e as Error).message);
}
