// What the room directory, the space hierarchy and room summaries say about a room, read from its
// current state: name, topic, avatar, canonical alias, joined member count, join rule (and the
// rooms a restricted rule allows), history visibility, guest access, room type, encryption,
// version. Spec: definitions/public_rooms_chunk.yaml and room_summary.yaml; and who may preview a
// room ("accessible"): space_hierarchy.yaml "rooms".
import { stateMapKey } from "../../core/state-map.ts";
import { effectivePowerLevels, eventLevel, userLevel } from "../../core/power-levels.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf } from "../../protocol/ids.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import type { RoomEvents } from "../rooms/events.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

/** The fields of a room summary (room_summary.yaml, a superset of public_rooms_chunk.yaml). */
export interface RoomSummary {
  room_id: string;
  name?: string;
  topic?: string;
  avatar_url?: string;
  canonical_alias?: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  join_rule?: string;
  room_type?: string;
  allowed_room_ids?: string[];
  encryption?: string;
  room_version?: string;
}

/** A room summary plus what access checks need. */
export interface RoomFacts {
  summary: RoomSummary;
  joinRule: string;
  historyVisibility: string;
  /** Rooms whose members may join (restricted join rules). */
  allowRooms: string[];
  create?: RoomEvent;
  powerLevels?: RoomEvent;
}

const KEYS: Array<[string, string]> = [
  ["m.room.create", ""],
  ["m.room.name", ""],
  ["m.room.topic", ""],
  ["m.room.avatar", ""],
  ["m.room.canonical_alias", ""],
  ["m.room.join_rules", ""],
  ["m.room.history_visibility", ""],
  ["m.room.guest_access", ""],
  ["m.room.encryption", ""],
  ["m.room.power_levels", ""],
];

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The plain-text topic of an m.room.topic content: `topic`, else the text/plain `m.topic` body. */
export function plainTopic(content: JsonObject | undefined): string | undefined {
  if (!content) return undefined;
  if (typeof content.topic === "string") return content.topic;
  const mt = content["m.topic"];
  const list = isObject(mt) && Array.isArray(mt["m.text"]) ? mt["m.text"] : [];
  for (const t of list) {
    if (isObject(t) && typeof t.body === "string" && (t.mimetype === undefined || t.mimetype === "text/plain")) return t.body;
  }
  return undefined;
}

/** Join rules under which anyone may ask to join or look in without an invite. */
export const OPEN_JOIN_RULES = new Set(["public", "knock", "knock_restricted"]);

export class RoomSummaries {
  constructor(
    private readonly d: { repo: RoomsRepo; events: RoomEvents; serverName: string },
  ) {}

  /** Facts about a room this server has state for; undefined when unknown. */
  async facts(roomId: string): Promise<RoomFacts | undefined> {
    const rv = await this.d.events.roomVersion(roomId);
    if (!rv) return undefined;
    const st = await this.d.events.currentStateEvents(roomId, KEYS);
    const c = (type: string) => st.get(stateMapKey(type, ""))?.content;
    const create = st.get(stateMapKey("m.room.create", ""));
    const jr = c("m.room.join_rules");
    const joinRule = str(jr?.join_rule) ?? "invite";
    const hv = str(c("m.room.history_visibility")?.history_visibility) ?? "shared";
    const allowRooms: string[] = [];
    if (joinRule === "restricted" || joinRule === "knock_restricted") {
      for (const a of Array.isArray(jr?.allow) ? jr.allow : []) {
        if (isObject(a) && a.type === "m.room_membership" && typeof a.room_id === "string") allowRooms.push(a.room_id);
      }
    }
    const { joined } = await this.d.repo.memberCounts(roomId);
    const summary: RoomSummary = {
      room_id: roomId,
      num_joined_members: joined,
      world_readable: hv === "world_readable",
      guest_can_join: c("m.room.guest_access")?.guest_access === "can_join",
      join_rule: joinRule,
      room_version: rv.id,
    };
    const name = str(c("m.room.name")?.name);
    if (name) summary.name = name;
    const topic = plainTopic(c("m.room.topic"));
    if (topic) summary.topic = topic;
    const avatar = str(c("m.room.avatar")?.url);
    if (avatar) summary.avatar_url = avatar;
    const alias = str(c("m.room.canonical_alias")?.alias);
    if (alias) summary.canonical_alias = alias;
    const type = str(create?.content.type);
    if (type) summary.room_type = type;
    if (allowRooms.length) summary.allowed_room_ids = allowRooms;
    if (c("m.room.encryption")?.algorithm === "m.megolm.v1.aes-sha2") summary.encryption = "m.megolm.v1.aes-sha2";
    return { summary, joinRule, historyVisibility: hv, allowRooms, create, powerLevels: st.get(stateMapKey("m.room.power_levels", "")) };
  }

  /** A user's current membership in a room (undefined: none). */
  async membership(userId: string, roomId: string): Promise<string | undefined> {
    const local = await this.d.repo.localMembership(userId, roomId);
    if (local) return local.membership;
    const ev = await this.d.events.currentStateEvent(roomId, "m.room.member", userId);
    return str(ev?.content.membership);
  }

  /** Whether this server has a joined user in the room (its state is current). */
  async resident(roomId: string): Promise<boolean> {
    return this.d.repo.hasLocalJoin(roomId);
  }

  /**
   * Whether a user may preview a room (space_hierarchy.yaml): joined or invited, an open join
   * rule, world-readable history, or a restricted rule whose allowed rooms the user is in.
   */
  async accessibleTo(userId: string | undefined, roomId: string, f: Pick<RoomFacts, "joinRule" | "historyVisibility" | "allowRooms">): Promise<boolean> {
    if (OPEN_JOIN_RULES.has(f.joinRule) || f.historyVisibility === "world_readable") return true;
    if (userId === undefined) return false;
    const m = await this.membership(userId, roomId);
    if (m === "join" || m === "invite") return true;
    return this.inAnyRoom(userId, f.allowRooms);
  }

  /** Whether the user is joined to one of `roomIds` (restricted join rules). */
  async inAnyRoom(userId: string, roomIds: readonly string[]): Promise<boolean> {
    for (const r of roomIds) if ((await this.d.repo.localMembership(userId, r))?.membership === "join") return true;
    return false;
  }

  /**
   * Whether another server may preview a room (federation /hierarchy): an open join rule,
   * world-readable history, a user of that server in the room, or a restricted rule whose allowed
   * rooms have one of its users (or that this server cannot check).
   */
  async accessibleToServer(origin: string, roomId: string, f: RoomFacts): Promise<boolean> {
    if (OPEN_JOIN_RULES.has(f.joinRule) || f.historyVisibility === "world_readable") return true;
    if (await this.serverHasMember(origin, roomId, ["join", "invite"])) return true;
    for (const r of f.allowRooms) {
      if (!(await this.resident(r))) return true;
      if (await this.serverHasMember(origin, r, ["join"])) return true;
    }
    return false;
  }

  private async serverHasMember(server: string, roomId: string, memberships: string[]): Promise<boolean> {
    const members = await this.d.repo.currentMembers(roomId);
    return members.some((m) => memberships.includes(m.membership) && findServerNameOf(m.user_id) === server);
  }

  /**
   * Whether a user may change the room's directory entries (aliases, published visibility): in
   * the room, with the power to send m.room.canonical_alias (as Synapse).
   */
  async canEditDirectory(userId: string, roomId: string): Promise<boolean> {
    const rv = await this.d.events.roomVersion(roomId);
    if (!rv) return false;
    if ((await this.membership(userId, roomId)) !== "join") return false;
    const st = await this.d.events.currentStateEvents(roomId, [["m.room.create", ""], ["m.room.power_levels", ""]]);
    const pl = effectivePowerLevels(st.get(stateMapKey("m.room.power_levels", ""))?.content, st.get(stateMapKey("m.room.create", "")), rv);
    return userLevel(pl, userId) >= eventLevel(pl, "m.room.canonical_alias", true);
  }
}
