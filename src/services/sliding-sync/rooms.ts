// One room of a sliding sync response (MSC4186 "Room results", as Synapse fills them).
//
// A room the connection has not sent yet (or that the user newly joined) is sent "initial": its
// latest `timeline_limit` events, its `required_state` at the end of the timeline, name, avatar,
// heroes, member counts. A room sent before is sent incrementally from where the connection left
// it (`sentUpTo`, which stays behind while the room is out of every list range): new timeline
// events, the state keys that changed (filtered by `required_state`), and whatever the client's
// wider config now asks for (an increased `timeline_limit` re-sends the latest events with
// `unstable_expanded_timeline`; new `required_state` entries send their current values).
// Invites and knocks carry only their stripped state. Left and banned rooms end at the
// user's membership event: nothing after it is shown.
import { memberKey, parseStateMapKey, stateMapKey } from "../../core/state-map.ts";
import { parseRequiredState, readPlan, wantsNothing, wantsState, widens, type RequiredState, type StatePair } from "../../core/required-state.ts";
import type { JsonObject } from "../../protocol/events.ts";
import type { EventRow, RoomsRepo, StateFilter } from "../../storage/repos/rooms.ts";
import type { SyncRepo } from "../../storage/repos/sync.ts";
import { BUMP_EVENT_TYPES } from "../../storage/repos/sliding-sync.ts";
import { clientFormat, toClientEvents } from "../rooms/format.ts";
import { rowToEvent, type RoomEvents } from "../rooms/events.ts";
import { encodeStreamToken, encodeTopoToken } from "../rooms/tokens.ts";
import type { Visibility } from "../rooms/visibility.ts";
import { membershipHistory, readTimeline, strippedStateFor, type Timeline } from "../sync-common.ts";
import type { RoomSent } from "./connections.ts";
import type { Membership } from "./room-lists.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const MEMBER = "m.room.member";
const MAX_HEROES = 5;
/** Lazy-loaded members remembered per room and connection (beyond that the set starts over). */
const MAX_LAZY_REMEMBERED = 500;

export interface RoomDeps {
  repo: RoomsRepo;
  syncRepo: SyncRepo;
  events: RoomEvents;
  visibility: Visibility;
}

/** The combined config of the lists and subscriptions a room matched. */
export interface EffectiveConfig {
  timelineLimit: number;
  required: StatePair[];
  /** pairsSignature(required). */
  requiredSig: string;
  lists: string[];
}

export interface RoomInput {
  userId: string;
  deviceId: string | null;
  roomId: string;
  m: Membership;
  config: EffectiveConfig;
  prev: RoomSent | undefined;
  /** The connection's position (undefined: a new connection). */
  from: number | undefined;
  to: number;
  bumpStamp: number;
  isDm: boolean;
}

export interface RoomOutput {
  /** The room's entry in `rooms` (before unread counts). */
  result: Record<string, unknown>;
  /** Whether it carries anything new (an incremental entry with nothing new is left out). */
  substantive: boolean;
  initial: boolean;
  expanded: boolean;
  joined: boolean;
  /** Timeline event IDs sent (receipts extension). */
  timelineEventIds: string[];
  sent: RoomSent;
}


export class RoomResults {
  constructor(private readonly d: RoomDeps) {}

  async compute(inp: RoomInput): Promise<RoomOutput> {
    const { m } = inp;
    if (m.membership === "invite" || m.membership === "knock") return this.strippedRoom(inp);
    return this.fullRoom(inp);
  }

  // ------------------------------------------------------------------ invites and knocks

  private async strippedRoom(inp: RoomInput): Promise<RoomOutput> {
    const { m, prev, config } = inp;
    const changed = !prev || prev.membership !== m.membership || m.stream > prev.sentUpTo;
    const result: Record<string, unknown> = { membership: m.membership };
    if (changed) {
      const stripped = await strippedStateFor(this.d, m.eventId, inp.roomId, inp.userId);
      result.initial = true;
      // Synapse sends knocks' stripped state as invite_state too (clients read that field).
      result.invite_state = stripped;
      if (m.membership === "knock") result.knock_state = stripped;
    }
    if (changed || prev?.bumpStamp !== inp.bumpStamp) result.bump_stamp = inp.bumpStamp;
    if (inp.isDm) result.is_dm = true;
    else if (prev?.isDm) result.is_dm = false;
    if (config.lists.length) result.lists = config.lists;
    return {
      result,
      substantive: changed || prev?.bumpStamp !== inp.bumpStamp || (prev?.isDm ?? false) !== inp.isDm,
      initial: changed,
      expanded: false,
      joined: false,
      timelineEventIds: [],
      sent: {
        ...(prev ?? {}),
        sentUpTo: Math.max(inp.to, m.stream),
        membership: m.membership,
        timelineLimit: config.timelineLimit,
        required: config.required,
        requiredSig: config.requiredSig,
        bumpStamp: inp.bumpStamp,
        isDm: inp.isDm,
      },
    };
  }

  // ------------------------------------------------------------------ joined and left rooms

  private async fullRoom(inp: RoomInput): Promise<RoomOutput> {
    const { userId, roomId, m, config, to } = inp;
    let prev = inp.prev;
    const joined = m.membership === "join";
    const left = !joined;
    // Nothing after the user's leave or ban is shown.
    const upper = left ? Math.min(m.stream, to) : to;

    // Initial: never sent on this connection, or newly (re)joined since it was.
    let initial = prev === undefined;
    if (prev && joined && (prev.membership !== "join" || (m.stream > prev.sentUpTo && (await this.rejoinedSince(m.eventId, prev.sentUpTo))))) {
      initial = true;
    }
    if (initial) prev = undefined;
    // A user who never joined (a rejected invite, a refused knock) sees no room state or history.
    const everJoined = joined || inp.prev?.membership === "join" || (await membershipHistory(this.d.repo, m.eventId, undefined)).after.includes("join");

    const limit = config.timelineLimit;
    const expanded = prev !== undefined && limit > prev.timelineLimit;
    let tl: Timeline | undefined;
    if (limit > 0) {
      const fromBound = prev && !expanded ? prev.sentUpTo : undefined;
      tl = await readTimeline(this.d, userId, roomId, fromBound, upper, limit, undefined, joined ? m.stream : undefined);
    }
    const rows = tl?.rows ?? [];
    if (tl && left && !rows.some((r) => r.event_id === m.eventId) && (prev === undefined || m.stream > prev.sentUpTo)) {
      // A leave outside the room's timeline (rejecting an invite to a room on another server).
      const own = await this.d.repo.findEvent(m.eventId);
      if (own?.outlier) rows.push(own);
    }

    // ---- state
    const rs = parseRequiredState(config.required, userId);
    const lazyUsers = new Set<string>();
    if (rs.lazy) {
      for (const r of rows) {
        lazyUsers.add(r.sender);
        if (r.type === MEMBER && r.state_key !== null) lazyUsers.add(r.state_key);
      }
    }
    const group = everJoined ? await this.groupAt(roomId, upper) : null;
    const state = new Map<string, string>();
    let changedKeys: Array<[string, string]> = [];
    let memberChanged = initial;
    let nameChanged = initial;
    let avatarChanged = initial;
    let lazyMembers: Set<string> = new Set(prev?.lazyMembers ?? []);
    if (group !== null) {
      if (!prev) {
        for (const [k, v] of await this.readRequired(group, rs)) state.set(k, v);
        const lazyKeys = [...lazyUsers].filter((u) => !state.has(memberKey(u))).map((u) => [MEMBER, u] as [string, string]);
        if (lazyKeys.length) for (const [k, v] of await this.d.repo.stateOfGroup(group, { keys: lazyKeys })) state.set(k, v);
        lazyMembers = new Set(lazyUsers);
      } else {
        changedKeys = await this.d.syncRepo.stateKeysChangedBetween(roomId, prev.sentUpTo, upper);
        const wanted: Array<[string, string]> = [];
        for (const [t, k] of changedKeys) {
          if (t === MEMBER) memberChanged = true;
          if (t === "m.room.name" && k === "") nameChanged = true;
          if (t === "m.room.avatar" && k === "") avatarChanged = true;
          // Lazy members: every membership change of a gapless sync, those the timeline needs otherwise.
          const lazyWanted = rs.lazy && t === MEMBER && (!tl?.limited || lazyUsers.has(k));
          if (wantsState(rs, t, k) || lazyWanted) wanted.push([t, k]);
          else if (t === MEMBER) lazyMembers.delete(k);
        }
        for (const u of lazyUsers) if (!lazyMembers.has(u) && !wanted.some(([t, k]) => t === MEMBER && k === u)) wanted.push([MEMBER, u]);
        if (wanted.length) for (const [k, v] of await this.d.repo.stateOfGroup(group, { keys: wanted })) state.set(k, v);
        // A wider config: the current values of what the old one did not ask for.
        if (widens(prev.required, config.required)) {
          const old = parseRequiredState(prev.required, userId);
          for (const [k, v] of await this.readRequired(group, rs)) {
            const [t, sk] = parseStateMapKey(k);
            if (!wantsState(old, t, sk)) state.set(k, v);
          }
        }
        for (const k of state.keys()) {
          const [t, sk] = parseStateMapKey(k);
          if (t === MEMBER) lazyMembers.add(sk);
        }
      }
    }
    if (lazyMembers.size > MAX_LAZY_REMEMBERED) lazyMembers = new Set(lazyUsers);

    // ---- name, avatar, heroes, counts
    const result: Record<string, unknown> = { membership: m.membership };
    let name: string | undefined;
    if (group !== null && (nameChanged || avatarChanged || (joined && memberChanged))) {
      const meta = await this.d.repo.stateOfGroup(group, { keys: [["m.room.name", ""], ["m.room.avatar", ""]] });
      const evs = await this.d.events.loadEvents([...meta.values()]);
      const nameEv = meta.get(stateMapKey("m.room.name", "")) ? evs.get(meta.get(stateMapKey("m.room.name", ""))!) : undefined;
      const avatarEv = meta.get(stateMapKey("m.room.avatar", "")) ? evs.get(meta.get(stateMapKey("m.room.avatar", ""))!) : undefined;
      const n = nameEv?.content["name"];
      name = typeof n === "string" && n !== "" ? n : undefined;
      if (nameChanged) {
        if (name !== undefined) result.name = name;
        else if (!initial) result.name = null;
      }
      if (avatarChanged) {
        const a = avatarEv?.content["url"];
        if (typeof a === "string" && a !== "") result.avatar = a;
        else if (!initial) result.avatar = null;
      }
      if (joined && memberChanged) {
        const counts = await this.d.repo.memberCounts(roomId);
        result.joined_count = counts.joined;
        result.invited_count = counts.invited;
        if (name === undefined) {
          const heroes = await this.heroes(roomId, userId, group);
          if (heroes.length) result.heroes = heroes;
        }
      }
    }
    if (initial) result.initial = true;
    if (expanded) {
      result.unstable_expanded_timeline = true;
      result.expanded_timeline = true;
    }

    // ---- state and timeline events
    const stateRows = state.size ? [...(await this.d.repo.getEvents([...state.values()])).values()] : [];
    if (stateRows.length) result.required_state = await this.format(stateRows, inp, false);
    if (tl) {
      if (rows.length) result.timeline = await this.format(rows, inp, tl.limited);
      result.limited = tl.limited;
      const first = rows[0];
      result.prev_batch = first ? encodeTopoToken({ depth: Number(first.depth), stream: Number(first.stream_ordering) }) : encodeStreamToken(upper, 0);
      let live = 0;
      if (inp.from !== undefined) for (let i = rows.length - 1; i >= 0 && Number(rows[i]!.stream_ordering) > inp.from; i--) live++;
      result.num_live = live;
    }

    // ---- bump stamp, DM flag, lists
    let bump = inp.bumpStamp;
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i]!;
      if (BUMP_EVENT_TYPES.has(r.type) && Number(r.stream_ordering) > 0) {
        bump = Math.max(bump, Number(r.stream_ordering));
        break;
      }
    }
    const bumpChanged = initial || prev?.bumpStamp !== bump;
    if (bumpChanged) result.bump_stamp = bump;
    if (inp.isDm) result.is_dm = true;
    else if (prev?.isDm) result.is_dm = false;
    if (config.lists.length) result.lists = config.lists;

    const membershipChanged = inp.prev !== undefined && inp.prev.membership !== m.membership;
    const substantive =
      initial || expanded || rows.length > 0 || stateRows.length > 0 || membershipChanged || bumpChanged || (prev?.isDm ?? false) !== inp.isDm || "name" in result || "avatar" in result || "joined_count" in result;

    // Config to remember: a smaller timeline_limit over a gapless timeline leaves the client with
    // the larger window, so a later increase needs no expansion.
    const rememberedLimit = prev && limit < prev.timelineLimit && tl && !tl.limited ? prev.timelineLimit : limit;
    return {
      result,
      substantive,
      initial,
      expanded,
      joined,
      timelineEventIds: rows.map((r) => r.event_id),
      sent: {
        ...(inp.prev ?? {}),
        sentUpTo: Math.max(upper, inp.prev?.sentUpTo ?? upper),
        membership: m.membership,
        timelineLimit: rememberedLimit,
        required: config.required,
        requiredSig: config.requiredSig,
        bumpStamp: bump,
        isDm: inp.isDm,
        lazyMembers: rs.lazy ? lazyMembers : undefined,
      },
    };
  }

  /** Whether the user left and joined again after `since` (their member event history). */
  private async rejoinedSince(memberEventId: string, since: number): Promise<boolean> {
    const h = await membershipHistory(this.d.repo, memberEventId, since);
    return h.atSince !== "join" || h.after.some((x) => x !== "join");
  }

  /** The state group after the last timeline event at or before `stream` (null: none). */
  private async groupAt(roomId: string, stream: number): Promise<number | null> {
    const row = await this.d.repo.lastEventAtOrBefore(roomId, stream);
    return row && row.state_group !== null ? Number(row.state_group) : null;
  }

  /** The state entries a config asks for (lazy members aside). */
  private async readRequired(group: number, rs: RequiredState): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (wantsNothing(rs)) return out;
    const plan = readPlan(rs);
    const reads: StateFilter[] = [];
    if (plan.scanAll) reads.push({});
    else {
      if (plan.allExcept) reads.push(plan.allExcept.length ? { notTypes: plan.allExcept } : {});
      if (plan.types.length) reads.push({ types: plan.types });
      if (plan.keys.length) reads.push({ keys: plan.keys });
    }
    for (const f of reads) {
      for (const [k, v] of await this.d.repo.stateOfGroup(group, f)) {
        const [t, sk] = parseStateMapKey(k);
        if (wantsState(rs, t, sk)) out.set(k, v);
      }
    }
    return out;
  }

  /** Heroes (MSC4186 StrippedHero): up to 5 members, with their display names and avatars. */
  private async heroes(roomId: string, userId: string, group: number): Promise<Array<Record<string, string>>> {
    const ids = await this.d.syncRepo.heroes(roomId, userId, MAX_HEROES);
    if (ids.length === 0) return [];
    const members = await this.d.repo.stateOfGroup(group, { keys: ids.map((u) => [MEMBER, u] as [string, string]) });
    const evs = await this.d.events.loadEvents([...members.values()]);
    return ids.map((u) => {
      const id = members.get(memberKey(u));
      const content = id ? evs.get(id)?.content : undefined;
      const hero: Record<string, string> = { user_id: u };
      if (typeof content?.["displayname"] === "string") hero.displayname = content["displayname"] as string;
      if (typeof content?.["avatar_url"] === "string") hero.avatar_url = content["avatar_url"] as string;
      return hero;
    });
  }

  private async format(rows: EventRow[], inp: RoomInput, bundle: boolean): Promise<Array<Record<string, unknown>>> {
    if (!(await this.d.events.roomVersion(inp.roomId))) {
      // A room this server is not in (the user's own membership events from federation): as stored.
      return rows.map((r) => clientFormat(rowToEvent(r), { withRoomId: false }) as unknown as Record<string, unknown>);
    }
    const evs = await toClientEvents(this.d.events, rows, { userId: inp.userId, deviceId: inp.deviceId ?? undefined }, { withRoomId: false, bundle });
    return evs as unknown as Array<Record<string, unknown>>;
  }
}

/** Room type and encryption from an invite's stripped state (rooms this server is not in). */
export function metaFromStripped(stripped: ReadonlyArray<{ type: string; state_key: string; content: JsonObject }>): { type: string | null; encrypted: boolean; known: boolean } {
  let type: string | null = null;
  let encrypted = false;
  let known = false;
  for (const e of stripped) {
    if (e.state_key !== "" || !isObject(e.content)) continue;
    if (e.type === "m.room.create") {
      known = true;
      type = typeof e.content["type"] === "string" ? (e.content["type"] as string) : null;
    }
    if (e.type === "m.room.encryption") encrypted = typeof e.content["algorithm"] === "string";
  }
  return { type, encrypted, known };
}
