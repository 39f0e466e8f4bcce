// Room upgrades (spec: client-server-api modules/room_upgrades.md "Server behaviour",
// room_upgrades.yaml):
//   1. the upgrader needs the power to send m.room.tombstone in the old room (403 M_FORBIDDEN);
//      an unknown version is 400 M_UNSUPPORTED_ROOM_VERSION;
//   2. a new room whose m.room.create has `predecessor` {room_id, event_id of the last known event:
//      the tombstone of step 5, built beforehand, when the new room's ID is not derived from it},
//      the new `room_version`, the old room's `type` and `m.federate`, and `additional_creators`
//      when the new version has them (never copied: they must be given again);
//   3. the recommended state is copied (server ACL, encryption, name, avatar, topic, guest access,
//      history visibility, join rules, power levels) and the old room's bans; power levels are
//      ported to the new version (integers; v12+ creators left out of `users`; creators of a v12+
//      old room get 100 in an older one); if the upgrader lacks a level needed to copy the state,
//      they hold it for the copy and the old levels are restored afterwards;
//   4. local aliases, the canonical alias and the directory listing move to the new room;
//   5. an m.room.tombstone is sent in the old room;
//   6. the old room's `events_default` and `invite` are raised to max(50, users_default + 1).
// When a local user later joins the new room, their tags and m.direct entries of the old room
// are carried over (`carryOverOnJoin`); on a server that did not upgrade the room itself, that
// join also moves the server's aliases and directory listing of the old room (when the old room's
// tombstone names the new one).
import { effectivePowerLevels, eventLevel, userLevel, NAMED_LEVELS, type PowerLevels } from "../../core/power-levels.ts";
import { findRoomVersion, type RoomVersion } from "../../core/room-versions.ts";
import { stateMapKey } from "../../core/state-map.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, JsonValue, RoomEvent } from "../../protocol/events.ts";
import { isValidUserId } from "../../protocol/ids.ts";
import type { RoomUpgradesRepo } from "../../storage/repos/room-upgrades.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { KeyedMutex } from "../../util/mutex.ts";
import { randomString } from "../../util/random.ts";
import { requesterOf, senderId, type Sender } from "./sending-policy.ts";
import type { AccountData } from "../account-data.ts";
import type { LocalEventInput, PreparedEvent, RoomEvents } from "./events.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const log = logger("rooms");

/** State copied to the new room, as the spec recommends (power levels handled apart). */
export const TRANSFERRED_STATE = [
  "m.room.server_acl",
  "m.room.encryption",
  "m.room.name",
  "m.room.avatar",
  "m.room.topic",
  "m.room.guest_access",
  "m.room.history_visibility",
  "m.room.join_rules",
] as const;

export interface RoomUpgradesDeps {
  events: RoomEvents;
  roomsRepo: RoomsRepo;
  repo: RoomUpgradesRepo;
  accountData: AccountData;
  serverName: string;
}

const clone = <T>(v: T): T => structuredClone(v);

/** The power levels content of the old room as the new room version takes it. */
function portPowerLevels(oldContent: JsonObject | undefined, pl: PowerLevels): JsonObject {
  const out: JsonObject = {};
  // Keys the spec does not define are kept as they are.
  for (const [k, v] of Object.entries(oldContent ?? {})) if (!["users", "events", "notifications", ...NAMED_LEVELS].includes(k)) out[k] = clone(v);
  out.users = Object.fromEntries(pl.users);
  out.users_default = pl.usersDefault;
  out.events = Object.fromEntries(pl.events);
  out.events_default = pl.eventsDefault;
  out.state_default = pl.stateDefault;
  out.ban = pl.ban;
  out.kick = pl.kick;
  out.redact = pl.redact;
  out.invite = pl.invite;
  out.notifications = Object.fromEntries(pl.notifications);
  return out;
}

/** A join rule the new room version understands (else `invite`, the safe choice). */
function portJoinRules(content: JsonObject, rv: RoomVersion): JsonObject {
  const rule = content.join_rule;
  const ok =
    (rule !== "knock" || rv.knockAllowed) && (rule !== "restricted" || rv.restrictedJoinAllowed) && (rule !== "knock_restricted" || rv.knockRestrictedAllowed);
  return ok ? clone(content) : { join_rule: "invite" };
}

function tombstoneInput(userId: string, roomId: string, newRoomId: string): LocalEventInput {
  return { roomId, sender: userId, type: "m.room.tombstone", stateKey: "", content: { body: "This room has been replaced", replacement_room: newRoomId } };
}

export class RoomUpgrades {
  private readonly locks = new KeyedMutex();

  constructor(private readonly d: RoomUpgradesDeps) {}

  /**
   * POST /rooms/{roomId}/upgrade. Sending policy: a shadow-banned requester who may upgrade the room
   * is answered with a made-up replacement room ID and nothing changes (Synapse answers a random ID).
   */
  async upgrade(who: Sender, roomId: string, newVersion: string, additionalCreators: string[] = []): Promise<string> {
    const userId = senderId(who);
    const rv = findRoomVersion(newVersion);
    if (!rv) throw new MatrixError("M_UNSUPPORTED_ROOM_VERSION", `Room version ${JSON.stringify(newVersion)} is not supported by this server`);
    for (const u of additionalCreators) if (!isValidUserId(u)) throw new MatrixError("M_BAD_JSON", `Invalid user ID in additional_creators: ${JSON.stringify(u)}`);
    const oldRv = await this.d.events.roomVersion(roomId);
    if (!oldRv) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    return this.locks.run(roomId, () => this.upgradeLocked(userId, roomId, oldRv, rv, additionalCreators, requesterOf(who)?.isShadowBanned === true));
  }

  private async upgradeLocked(userId: string, roomId: string, oldRv: RoomVersion, rv: RoomVersion, additionalCreators: string[], shadowBanned: boolean): Promise<string> {
    const { events } = this.d;
    const keys: Array<[string, string]> = [
      ["m.room.create", ""],
      ["m.room.power_levels", ""],
      ["m.room.canonical_alias", ""],
      ["m.room.member", userId],
      ...TRANSFERRED_STATE.map((t) => [t, ""] as [string, string]),
    ];
    const state = await events.currentStateEvents(roomId, keys);
    const get = (t: string, sk = "") => state.get(stateMapKey(t, sk));
    if (get("m.room.member", userId)?.content["membership"] !== "join") throw new MatrixError("M_FORBIDDEN", "You are not joined to this room");
    const oldCreate = get("m.room.create")!;
    const oldPlEvent = get("m.room.power_levels");
    const oldPl = effectivePowerLevels(oldPlEvent?.content, oldCreate, oldRv);
    if (userLevel(oldPl, userId) < eventLevel(oldPl, "m.room.tombstone", true)) {
      throw new MatrixError("M_FORBIDDEN", "You do not have the power to upgrade this room (m.room.tombstone)");
    }
    // The checks above answer as they would for anyone; past them a shadow-banned upgrade does nothing.
    if (shadowBanned) return rv.roomIdFromCreateEvent ? `!${randomString(43)}` : events.newRoomId();

    // 2. The new room's create event. Where the new room's ID does not hash its create event
    // (v1–v11), the tombstone (step 5) is built first and is the "last known event" the
    // predecessor names, as Synapse does; a v12+ room ID depends on the create event, so there the
    // predecessor names the old room's latest event before the upgrade.
    let tombstone: PreparedEvent | undefined;
    let chosenRoomId: string | undefined;
    let predecessor: JsonObject;
    if (!rv.roomIdFromCreateEvent) {
      chosenRoomId = events.newRoomId();
      tombstone = await events.prepare(tombstoneInput(userId, roomId, chosenRoomId));
      predecessor = { room_id: roomId, event_id: tombstone.eventId };
    } else {
      const last = await this.d.roomsRepo.lastEventAtOrBefore(roomId, Number.MAX_SAFE_INTEGER);
      predecessor = last ? { room_id: roomId, event_id: last.event_id } : { room_id: roomId };
    }
    const createContent: JsonObject = { room_version: rv.id, predecessor };
    if (!rv.implicitRoomCreator) createContent.creator = userId;
    if (typeof oldCreate.content["type"] === "string") createContent.type = oldCreate.content["type"];
    if (oldCreate.content["m.federate"] === false) createContent["m.federate"] = false;
    const newCreators = new Set([userId]);
    if (rv.privilegedCreators) {
      const extra = [...new Set(additionalCreators.filter((u) => u !== userId))];
      if (extra.length) createContent.additional_creators = extra;
      for (const u of extra) newCreators.add(u);
    }

    // 3. Power levels for the new room.
    const finalPl = portPowerLevels(oldPlEvent?.content, oldPl);
    const users = finalPl.users as JsonObject;
    if (oldRv.privilegedCreators && !rv.privilegedCreators) {
      // Creators had unlimited power; in an older version they get the highest usual level.
      for (const c of oldPl.creators) users[c] = Math.max(Number(users[c] ?? 0), 100);
    }
    if (rv.privilegedCreators) for (const c of newCreators) delete users[c];
    let bans = (await this.d.roomsRepo.currentMembers(roomId, "ban")).map((m) => m.user_id).filter((u) => !newCreators.has(u));
    const copied = TRANSFERRED_STATE.map((t) => get(t)).filter((e): e is RoomEvent => e !== undefined);
    let initialPl = finalPl;
    if (!rv.privilegedCreators) {
      const newPl = effectivePowerLevels(finalPl, undefined, rv);
      let needed = eventLevel(newPl, "m.room.power_levels", true);
      for (const e of copied) needed = Math.max(needed, eventLevel(newPl, e.type, true));
      if (bans.length) needed = Math.max(needed, newPl.ban, newPl.kick);
      const own = typeof users[userId] === "number" ? (users[userId] as number) : newPl.usersDefault;
      if (own < needed) {
        initialPl = clone(finalPl);
        (initialPl.users as JsonObject)[userId] = needed;
      }
      // A ban needs a level above the banned user's.
      const copier = Math.max(own, needed);
      bans = bans.filter((u) => userLevel(newPl, u) < copier);
    }

    const member = get("m.room.member", userId)!;
    const memberContent: JsonObject = { membership: "join" };
    for (const k of ["displayname", "avatar_url"]) if (typeof member.content[k] === "string") memberContent[k] = member.content[k] as JsonValue;

    const newRoomId = await events.createRoom(rv, userId, createContent, (newId) => {
      const st = (type: string, content: JsonObject, stateKey = ""): LocalEventInput => ({ roomId: newId, sender: userId, type, stateKey, content });
      const out: LocalEventInput[] = [st("m.room.member", memberContent, userId), st("m.room.power_levels", initialPl)];
      for (const e of copied) out.push(st(e.type, e.type === "m.room.join_rules" ? portJoinRules(e.content, rv) : clone(e.content)));
      for (const u of bans) out.push(st("m.room.member", { membership: "ban" }, u));
      if (initialPl !== finalPl) out.push(st("m.room.power_levels", finalPl));
      return out;
    }, { roomId: chosenRoomId });

    // 4. Aliases and the directory listing follow the room.
    await this.d.repo.moveLocalAliases(roomId, newRoomId, this.d.serverName);
    await this.d.repo.moveDirectoryListing(roomId, newRoomId);
    const canonical = get("m.room.canonical_alias");
    if (canonical && (canonical.content["alias"] !== undefined || canonical.content["alt_aliases"] !== undefined)) {
      await this.trySend({ roomId: newRoomId, sender: userId, type: "m.room.canonical_alias", stateKey: "", content: clone(canonical.content) });
    }

    // 5. The tombstone.
    if (tombstone) await events.sendPrepared(tombstone);
    else await events.send(tombstoneInput(userId, roomId, newRoomId));

    // 6. Discourage further use of the old room; it no longer advertises the moved aliases.
    const restricted = Math.max(50, oldPl.usersDefault + 1);
    if (oldPlEvent && (oldPl.eventsDefault < restricted || oldPl.invite < restricted)) {
      const content = clone(oldPlEvent.content);
      if (oldPl.eventsDefault < restricted) content.events_default = restricted;
      if (oldPl.invite < restricted) content.invite = restricted;
      await this.trySend({ roomId, sender: userId, type: "m.room.power_levels", stateKey: "", content });
    }
    if (canonical && Object.keys(canonical.content).length) {
      await this.trySend({ roomId, sender: userId, type: "m.room.canonical_alias", stateKey: "", content: {} });
    }
    return newRoomId;
  }

  /** Sends an event the upgrade can do without (the user may lack the power for it). */
  private async trySend(input: LocalEventInput): Promise<void> {
    try {
      await this.d.events.send(input);
    } catch (e) {
      if (!(e instanceof MatrixError)) throw e;
      log.info("room upgrade: optional event refused", { room_id: input.roomId, type: input.type, error: e.message });
    }
  }

  /**
   * RoomEvents effect afterPersist (services/event-effects.ts): a local user joining a room that replaces another keeps their
   * tags and direct-chat entry of the old room (room_upgrades.md "Server behaviour").
   */
  readonly carryOverOnJoin = (ev: RoomEvent): void => {
    if (ev.type !== "m.room.member" || ev.content["membership"] !== "join" || ev.state_key !== ev.sender || !ev.room_id) return;
    if (!ev.sender.endsWith(`:${this.d.serverName}`)) return;
    const userId = ev.sender;
    const roomId = ev.room_id;
    void this.carryOver(userId, roomId).catch((e) => log.warn("room upgrade: carrying over settings failed", { error: e instanceof Error ? e.message : String(e) }));
  };

  /**
   * A room upgraded on another server: when a local user joins the replacement, this server's
   * aliases of the old room and its directory listing move to it, as the upgrading server moved
   * its own (Synapse does the same on joining an upgraded room). Only when the old room's
   * tombstone names this room: a create event alone cannot claim another room's aliases.
   */
  private async followUpgrade(oldRoom: string, newRoom: string): Promise<void> {
    const tombstone = await this.d.events.currentStateEvent(oldRoom, "m.room.tombstone", "");
    if (tombstone?.content["replacement_room"] !== newRoom) return;
    const moved = await this.d.repo.moveLocalAliases(oldRoom, newRoom, this.d.serverName);
    const listed = await this.d.repo.moveDirectoryListing(oldRoom, newRoom);
    if (moved.length || listed) log.info("room upgrade followed", { old_room_id: oldRoom, room_id: newRoom, aliases: moved.length, listed });
  }

  private async carryOver(userId: string, roomId: string): Promise<void> {
    const create = await this.d.events.currentStateEvent(roomId, "m.room.create", "");
    const pred = create?.content["predecessor"];
    if (!isObject(pred) || typeof pred.room_id !== "string") return;
    const oldRoom = pred.room_id;
    await this.followUpgrade(oldRoom, roomId);
    if (!(await this.d.roomsRepo.localMembership(userId, oldRoom))) return;
    const { accountData } = this.d;
    const tags = await accountData.get(userId, oldRoom, "m.tag");
    if (tags && isObject(tags.tags) && Object.keys(tags.tags).length && !(await accountData.get(userId, roomId, "m.tag"))) {
      await accountData.set(userId, roomId, "m.tag", tags);
    }
    const direct = await accountData.get(userId, "", "m.direct");
    if (direct) {
      let changed = false;
      const next: JsonObject = {};
      for (const [other, rooms] of Object.entries(direct)) {
        if (Array.isArray(rooms) && rooms.includes(oldRoom) && !rooms.includes(roomId)) {
          next[other] = [...rooms, roomId];
          changed = true;
        } else next[other] = rooms;
      }
      if (changed) await accountData.set(userId, "", "m.direct", next);
    }
  }
}
