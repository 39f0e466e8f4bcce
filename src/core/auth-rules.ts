// The authorization rules of room versions 1–12.
// Spec: content/rooms/fragments/v1-auth-rules.md (v1–v2), v3-auth-rules.md (v3–v5, no redaction
// rule), rooms/v6.md (aliases rule removed, notifications levels), v7.md (knock), v8-auth-rules.md
// (restricted joins), v10.md (integer power levels, knock_restricted), v11.md (creator = sender),
// v12.md (room ID from the create event, privileged creators). Version differences are read from
// the room-version table's flags.
//
// Two entry points:
// - `checkAuth(event, authState, rv)`: every rule that depends on room state, against a state
//   map of events (the event's auth events, the state before the event, or the current state).
// - `checkAuthEvents(event, authEvents, rv)`: the rule about the `auth_events` list itself
//   (v1–v11 rule 2, v12 rule 3), which only makes sense for a received event's own auth events.
// `checkEventAgainstAuthEvents` runs both, as "Checks performed on receipt of a PDU" step 4 needs.

import { refIds, type JsonObject, type Pdu, type RoomEvent } from "../protocol/events.ts";
import { isValidUserId } from "../protocol/ids.ts";
import { authTypesForEvent } from "./auth-events.ts";
import {
  NAMED_LEVELS,
  domainOf,
  effectivePowerLevels,
  eventLevel,
  isValidUserIdForAuth,
  parsePowerLevelValue,
  roomCreators,
  userLevel,
  validatePowerLevelsContent,
  type PowerLevels,
} from "./power-levels.ts";
import { findRoomVersion, type RoomVersion } from "./room-versions.ts";
import {
  CREATE_KEY,
  JOIN_RULES_KEY,
  POWER_LEVELS_KEY,
  eventStateMapKey,
  memberKey,
  thirdPartyInviteKey,
  type ReadonlyStateMap,
  type StateMap,
} from "./state-map.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

export type AuthResult = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

export const ALLOWED: AuthResult = Object.freeze({ allowed: true as const });

function deny(reason: string): AuthResult {
  return { allowed: false, reason };
}

export interface AuthCheckOptions {
  /**
   * v12+: the ID of the room's accepted create event (`$` + the room ID without its `!`). When
   * given, the create event in the auth state must be this event.
   */
  readonly expectedCreateEventId?: string;
  /**
   * Verifies that `signed` (from `content.third_party_invite.signed`) carries a valid ed25519
   * signature by `publicKey` (unpadded base64, as in m.room.third_party_invite). Without it,
   * invites via third-party invites are rejected (they cannot be verified).
   */
  readonly verifyThirdPartyInviteSignature?: (signed: JsonObject, publicKey: string) => boolean;
  /**
   * v8+: whether `event` is validly signed by `serverName` (the server of
   * `join_authorised_via_users_server`). Without it, only the presence of a signature from that
   * server is checked (signatures are verified on receipt, before the auth rules run).
   */
  readonly verifyServerSignature?: (event: Pdu, serverName: string) => boolean;
}

/** The event types whose state affects authorization. */
export const AUTH_STATE_TYPES: ReadonlySet<string> = new Set([
  "m.room.create",
  "m.room.member",
  "m.room.join_rules",
  "m.room.power_levels",
  "m.room.third_party_invite",
]);


/** The `membership` of a member event, if it has a string one. */
export function membershipOf(ev: Pick<Pdu, "content"> | undefined): string | undefined {
  const m = ev?.content["membership"];
  return typeof m === "string" ? m : undefined;
}

/** The join rule in a state (defaults to `invite` when there is no join rules event). */
export function joinRuleOf(state: ReadonlyStateMap<Pick<Pdu, "content">>): string {
  const jr = state.get(JOIN_RULES_KEY)?.content["join_rule"];
  return typeof jr === "string" ? jr : "invite";
}

/** The event ID a redaction redacts, wherever the room version puts it. */
export function redactsOf(ev: Pdu, rv: RoomVersion): string | undefined {
  const r = rv.redactsInContent ? ev.content["redacts"] : ev.redacts;
  return typeof r === "string" ? r : undefined;
}

/** The primary creator: `content.creator` before v11, the create event's sender from v11. */
function primaryCreator(create: Pdu, rv: RoomVersion): string | undefined {
  if (rv.implicitRoomCreator) return create.sender;
  const c = create.content["creator"];
  return typeof c === "string" ? c : undefined;
}

/** Rule 1: the m.room.create event. */
export function checkCreateEvent(event: Pdu, rv: RoomVersion): AuthResult {
  if (refIds(event.prev_events ?? []).length > 0) return deny("m.room.create: has prev_events");
  if (rv.roomIdFromCreateEvent) {
    if (event.room_id !== undefined) return deny("m.room.create: has a room_id");
  } else {
    if (typeof event.room_id !== "string") return deny("m.room.create: has no room_id");
    if (domainOf(event.room_id) !== domainOf(event.sender)) {
      return deny("m.room.create: room_id domain does not match the sender's domain");
    }
  }
  const version = event.content["room_version"];
  if (version !== undefined && (typeof version !== "string" || !findRoomVersion(version))) {
    return deny(`m.room.create: unknown room_version ${JSON.stringify(version)}`);
  }
  if (!rv.implicitRoomCreator && !("creator" in event.content)) return deny("m.room.create: no creator in content");
  if (rv.privilegedCreators && "additional_creators" in event.content) {
    const extra = event.content["additional_creators"];
    if (!Array.isArray(extra) || !extra.every((u) => typeof u === "string" && isValidUserId(u))) {
      return deny("m.room.create: additional_creators is not an array of valid user IDs");
    }
  }
  return ALLOWED;
}

/**
 * Checks the `auth_events` list of a received event (v1–v11 rule 2, v12 rule 3): no duplicate
 * (type, state_key), only keys the auth events selection allows (never the create event in v12),
 * none rejected, an m.room.create among them (v1–v11), all in the event's room.
 * `authEvents` maps each referenced ID to its event; a missing one fails the check.
 */
export function checkAuthEvents(
  event: Pdu,
  authEvents: ReadonlyMap<string, RoomEvent>,
  rv: RoomVersion,
  opts: { readonly isRejected?: (eventId: string) => boolean } = {},
): AuthResult {
  if (event.type === "m.room.create") return ALLOWED;
  const allowedKeys = new Set(authTypesForEvent(event, rv));
  const seen = new Set<string>();
  let haveCreate = false;
  for (const id of refIds(event.auth_events ?? [])) {
    const ae = authEvents.get(id);
    if (!ae) return deny(`auth event ${id} is unknown`);
    const k = eventStateMapKey(ae);
    if (k === undefined) return deny(`auth event ${id} is not a state event`);
    if (seen.has(k)) return deny(`duplicate auth events for (${ae.type}, ${JSON.stringify(ae.state_key)})`);
    seen.add(k);
    if (!allowedKeys.has(k)) return deny(`auth event ${id} (${ae.type}, ${JSON.stringify(ae.state_key)}) is not one the auth events selection allows`);
    if (opts.isRejected?.(id)) return deny(`auth event ${id} was rejected`);
    if (k === CREATE_KEY) haveCreate = true;
    // In v12 every auth event carries the room's ID; the create event (not selectable) has none.
    if (ae.room_id !== event.room_id) return deny(`auth event ${id} is in another room`);
  }
  if (!rv.roomIdFromCreateEvent && !haveCreate) return deny("no m.room.create event among the auth events");
  return ALLOWED;
}

/**
 * The auth state of an event from its auth events, plus (v12+, where the create event is not an
 * auth event) the room's create event.
 */
export function authStateFromAuthEvents(
  event: Pdu,
  authEvents: ReadonlyMap<string, RoomEvent>,
  createEvent?: RoomEvent,
): StateMap<RoomEvent> {
  const state: StateMap<RoomEvent> = new Map();
  if (createEvent) state.set(CREATE_KEY, createEvent);
  for (const id of refIds(event.auth_events ?? [])) {
    const ae = authEvents.get(id);
    const k = ae && eventStateMapKey(ae);
    if (ae && k !== undefined) state.set(k, ae);
  }
  return state;
}

/**
 * "Passes authorisation rules based on the event's auth events": `checkAuthEvents` followed by
 * `checkAuth` against the auth events. In v12+ pass the room's create event as `createEvent`.
 */
export function checkEventAgainstAuthEvents(
  event: Pdu,
  authEvents: ReadonlyMap<string, RoomEvent>,
  rv: RoomVersion,
  opts: AuthCheckOptions & { readonly isRejected?: (eventId: string) => boolean; readonly createEvent?: RoomEvent } = {},
): AuthResult {
  if (event.type === "m.room.create") return checkCreateEvent(event, rv);
  const listed = checkAuthEvents(event, authEvents, rv, opts);
  if (!listed.allowed) return listed;
  return checkAuth(event, authStateFromAuthEvents(event, authEvents, opts.createEvent), rv, opts);
}

/**
 * Checks `event` against the authorization rules using `authState`: a state map of events that
 * holds (at least) the state at the keys `authTypesForEvent(event, rv, {includeCreate: true})`
 * names — the event's auth events, the state before the event, or the current state. The create
 * event must be in `authState`, including in v12+ where it is not among the auth events.
 */
export function checkAuth(
  event: Pdu,
  authState: ReadonlyStateMap<RoomEvent>,
  rv: RoomVersion,
  opts: AuthCheckOptions = {},
): AuthResult {
  // Rule 1.
  if (event.type === "m.room.create") return checkCreateEvent(event, rv);

  const create = authState.get(CREATE_KEY);
  if (!create) return deny("no m.room.create event in the auth state");
  if (rv.roomIdFromCreateEvent) {
    // v12 rule 2: the room ID is the create event's ID with `!` instead of `$`.
    if (opts.expectedCreateEventId !== undefined && create.event_id !== opts.expectedCreateEventId) {
      return deny(`the create event ${create.event_id} is not the room's create event ${opts.expectedCreateEventId}`);
    }
    if (typeof event.room_id !== "string" || event.room_id !== "!" + create.event_id.slice(1)) {
      return deny("room_id does not match the create event's ID");
    }
  } else if (create.room_id !== event.room_id) {
    return deny("the create event is in another room");
  }

  // v1–v11 rule 3 / v12 rule 4: m.federate.
  if (create.content["m.federate"] === false && domainOf(event.sender) !== domainOf(create.sender)) {
    return deny("the room is not federated and the sender is on another server");
  }

  // v1–v5 rule 4: m.room.aliases.
  if (rv.specialCaseAliasesAuth && event.type === "m.room.aliases") {
    if (typeof event.state_key !== "string") return deny("m.room.aliases: no state_key");
    if (domainOf(event.sender) !== event.state_key) return deny("m.room.aliases: state_key is not the sender's domain");
    return ALLOWED;
  }

  const pl = effectivePowerLevels(authState.get(POWER_LEVELS_KEY)?.content, create, rv);

  if (event.type === "m.room.member") return checkMember(event, authState, create, pl, rv, opts);

  const senderMembership = membershipOf(authState.get(memberKey(event.sender)));
  if (senderMembership !== "join") return deny(`${event.sender} is not joined to the room`);

  const senderLevel = userLevel(pl, event.sender);

  if (event.type === "m.room.third_party_invite") {
    if (senderLevel >= pl.invite) return ALLOWED;
    return deny(`power level ${senderLevel} of ${event.sender} is below the invite level ${pl.invite}`);
  }

  const isState = typeof event.state_key === "string";
  const required = eventLevel(pl, event.type, isState);
  if (required > senderLevel) {
    return deny(`power level ${senderLevel} of ${event.sender} is below the ${required} required to send ${event.type}`);
  }

  if (isState && event.state_key!.startsWith("@") && event.state_key !== event.sender) {
    return deny("state_key starts with @ and is not the sender");
  }

  if (event.type === "m.room.power_levels") {
    return checkPowerLevels(event, authState, create, senderLevel, rv);
  }

  // v1–v2 rule 11: redactions need the redact level or an event from the same server.
  if (rv.authRules === "v1" && event.type === "m.room.redaction") {
    if (senderLevel >= pl.redact) return ALLOWED;
    const redacts = redactsOf(event, rv);
    if (redacts !== undefined && typeof event.event_id === "string" && domainOf(redacts) === domainOf(event.event_id)) {
      return ALLOWED;
    }
    return deny(`power level ${senderLevel} of ${event.sender} is below the redact level ${pl.redact}`);
  }

  return ALLOWED;
}

function checkMember(
  event: Pdu,
  state: ReadonlyStateMap<RoomEvent>,
  create: RoomEvent,
  pl: PowerLevels,
  rv: RoomVersion,
  opts: AuthCheckOptions,
): AuthResult {
  const target = event.state_key;
  if (typeof target !== "string") return deny("m.room.member: no state_key");
  const membership = event.content["membership"];
  if (typeof membership !== "string") return deny("m.room.member: no membership in content");
  const sender = event.sender;

  const via = event.content["join_authorised_via_users_server"];
  if (rv.restrictedJoinAllowed && via !== undefined) {
    if (!isValidUserIdForAuth(via)) return deny("join_authorised_via_users_server is not a user ID");
    const server = domainOf(via);
    const signed = opts.verifyServerSignature
      ? opts.verifyServerSignature(event, server)
      : isObject(event.signatures) && isObject(event.signatures[server]);
    if (!signed) return deny(`the event is not signed by ${server}, the server of join_authorised_via_users_server`);
  }

  const senderMembership = membershipOf(state.get(memberKey(sender)));
  const targetMembership = target === sender ? senderMembership : membershipOf(state.get(memberKey(target)));

  switch (membership) {
    case "join": {
      const prevs = refIds(event.prev_events ?? []);
      if (prevs.length === 1 && prevs[0] === create.event_id && target === primaryCreator(create, rv)) return ALLOWED;
      if (sender !== target) return deny("cannot join on behalf of another user");
      if (senderMembership === "ban") return deny(`${sender} is banned from the room`);
      const joinRule = joinRuleOf(state);
      if (joinRule === "invite" || (rv.knockAllowed && joinRule === "knock")) {
        if (senderMembership === "invite" || senderMembership === "join") return ALLOWED;
        return deny(`join rule is ${joinRule} and ${sender} is not invited`);
      }
      if (
        (rv.restrictedJoinAllowed && joinRule === "restricted") ||
        (rv.knockRestrictedAllowed && joinRule === "knock_restricted")
      ) {
        if (senderMembership === "invite" || senderMembership === "join") return ALLOWED;
        if (typeof via !== "string") return deny(`join rule is ${joinRule} and no join_authorised_via_users_server is given`);
        if (membershipOf(state.get(memberKey(via))) !== "join") {
          return deny(`join_authorised_via_users_server ${via} is not joined to the room`);
        }
        if (userLevel(pl, via) < pl.invite) {
          return deny(`join_authorised_via_users_server ${via} does not have the power to invite`);
        }
        return ALLOWED;
      }
      if (joinRule === "public") return ALLOWED;
      return deny(`join rule ${JSON.stringify(joinRule)} does not allow ${sender} to join`);
    }

    case "invite": {
      if ("third_party_invite" in event.content) return checkThirdPartyInvite(event, target, targetMembership, state, opts);
      if (senderMembership !== "join") return deny(`${sender} is not joined to the room`);
      if (targetMembership === "join") return deny(`${target} is already joined`);
      if (targetMembership === "ban") return deny(`${target} is banned`);
      const level = userLevel(pl, sender);
      if (level >= pl.invite) return ALLOWED;
      return deny(`power level ${level} of ${sender} is below the invite level ${pl.invite}`);
    }

    case "leave": {
      if (sender === target) {
        if (
          senderMembership === "invite" ||
          senderMembership === "join" ||
          (rv.knockAllowed && senderMembership === "knock")
        ) {
          return ALLOWED;
        }
        return deny(`${sender} cannot leave with membership ${senderMembership ?? "none"}`);
      }
      if (senderMembership !== "join") return deny(`${sender} is not joined to the room`);
      const senderLevel = userLevel(pl, sender);
      if (targetMembership === "ban" && senderLevel < pl.ban) {
        return deny(`power level ${senderLevel} of ${sender} is below the ban level ${pl.ban} needed to unban`);
      }
      const targetLevel = userLevel(pl, target);
      if (senderLevel >= pl.kick && targetLevel < senderLevel) return ALLOWED;
      if (senderLevel < pl.kick) return deny(`power level ${senderLevel} of ${sender} is below the kick level ${pl.kick}`);
      return deny(`power level ${senderLevel} of ${sender} is not above ${target}'s ${targetLevel}`);
    }

    case "ban": {
      if (senderMembership !== "join") return deny(`${sender} is not joined to the room`);
      const senderLevel = userLevel(pl, sender);
      const targetLevel = userLevel(pl, target);
      if (senderLevel >= pl.ban && targetLevel < senderLevel) return ALLOWED;
      if (senderLevel < pl.ban) return deny(`power level ${senderLevel} of ${sender} is below the ban level ${pl.ban}`);
      return deny(`power level ${senderLevel} of ${sender} is not above ${target}'s ${targetLevel}`);
    }

    case "knock": {
      if (!rv.knockAllowed) break;
      const joinRule = joinRuleOf(state);
      if (joinRule !== "knock" && !(rv.knockRestrictedAllowed && joinRule === "knock_restricted")) {
        return deny(`join rule ${JSON.stringify(joinRule)} does not allow knocking`);
      }
      if (sender !== target) return deny("cannot knock on behalf of another user");
      if (senderMembership !== "ban" && senderMembership !== "invite" && senderMembership !== "join") return ALLOWED;
      return deny(`${sender} cannot knock with membership ${senderMembership}`);
    }
  }
  return deny(`unknown membership ${JSON.stringify(membership)}`);
}

function checkThirdPartyInvite(
  event: Pdu,
  target: string,
  targetMembership: string | undefined,
  state: ReadonlyStateMap<RoomEvent>,
  opts: AuthCheckOptions,
): AuthResult {
  if (targetMembership === "ban") return deny(`${target} is banned`);
  const tpi = event.content["third_party_invite"];
  const signed = isObject(tpi) ? tpi["signed"] : undefined;
  if (!isObject(signed)) return deny("third_party_invite has no signed object");
  const mxid = signed["mxid"];
  const token = signed["token"];
  if (typeof mxid !== "string" || typeof token !== "string") return deny("third_party_invite.signed lacks mxid or token");
  if (mxid !== target) return deny("third_party_invite.signed.mxid does not match state_key");
  const invite = state.get(thirdPartyInviteKey(token));
  if (!invite) return deny(`no m.room.third_party_invite with token ${JSON.stringify(token)}`);
  if (invite.sender !== event.sender) return deny("sender does not match the sender of the m.room.third_party_invite");
  const keys: string[] = [];
  const pk = invite.content["public_key"];
  if (typeof pk === "string") keys.push(pk);
  const pks = invite.content["public_keys"];
  if (Array.isArray(pks)) {
    for (const o of pks) {
      const k = isObject(o) ? o["public_key"] : undefined;
      if (typeof k === "string") keys.push(k);
    }
  }
  const verify = opts.verifyThirdPartyInviteSignature;
  if (!verify) return deny("third-party invite signatures cannot be verified here");
  for (const k of keys) if (verify(signed, k)) return ALLOWED;
  return deny("no signature in third_party_invite.signed matches a public key of the m.room.third_party_invite");
}

/** v1–v9 rule 10 / v10–v11 rule 9 / v12 rule 10: changes to m.room.power_levels. */
function checkPowerLevels(
  event: Pdu,
  state: ReadonlyStateMap<RoomEvent>,
  create: RoomEvent,
  senderLevel: number,
  rv: RoomVersion,
): AuthResult {
  const next = event.content;
  const invalid = validatePowerLevelsContent(next, rv);
  if (invalid) return deny(invalid);
  if (rv.privilegedCreators && isObject(next["users"])) {
    for (const c of roomCreators(create, rv)) {
      if (Object.hasOwn(next["users"], c)) return deny(`power levels: room creator ${c} may not be listed in users`);
    }
  }
  // The previous event at the same key (only the "" key is ever part of the auth state).
  const prevEvent = event.state_key === "" ? state.get(POWER_LEVELS_KEY) : undefined;
  if (!prevEvent) return ALLOWED;
  const prev = prevEvent.content;
  const parse = (o: JsonObject | undefined, k: string): number | undefined =>
    o !== undefined && Object.hasOwn(o, k) ? parsePowerLevelValue(o[k], rv) : undefined;

  for (const name of NAMED_LEVELS) {
    const before = parse(prev, name);
    const after = parse(next, name);
    if (before === after) continue;
    if (before !== undefined && before > senderLevel) {
      return deny(`power levels: cannot change ${name} from ${before}, above the sender's ${senderLevel}`);
    }
    if (after !== undefined && after > senderLevel) {
      return deny(`power levels: cannot set ${name} to ${after}, above the sender's ${senderLevel}`);
    }
  }

  const dicts = rv.limitNotificationsPowerLevels ? (["events", "notifications"] as const) : (["events"] as const);
  for (const dict of dicts) {
    const a = isObject(prev[dict]) ? (prev[dict] as JsonObject) : undefined;
    const b = isObject(next[dict]) ? (next[dict] as JsonObject) : undefined;
    for (const k of unionKeys(a, b)) {
      const before = parse(a, k);
      const after = parse(b, k);
      if (before === after) continue;
      if (before !== undefined && before > senderLevel) {
        return deny(`power levels: cannot change ${dict}.${k} from ${before}, above the sender's ${senderLevel}`);
      }
      if (after !== undefined && after > senderLevel) {
        return deny(`power levels: cannot set ${dict}.${k} to ${after}, above the sender's ${senderLevel}`);
      }
    }
  }

  const a = isObject(prev["users"]) ? (prev["users"] as JsonObject) : undefined;
  const b = isObject(next["users"]) ? (next["users"] as JsonObject) : undefined;
  for (const u of unionKeys(a, b)) {
    const before = parse(a, u);
    const after = parse(b, u);
    if (before === after) continue;
    if (before !== undefined && u !== event.sender && before >= senderLevel) {
      return deny(`power levels: cannot change the level of ${u} (${before}), not below the sender's ${senderLevel}`);
    }
    if (after !== undefined && after > senderLevel) {
      return deny(`power levels: cannot give ${u} level ${after}, above the sender's ${senderLevel}`);
    }
  }
  return ALLOWED;
}

function unionKeys(a: JsonObject | undefined, b: JsonObject | undefined): Set<string> {
  const s = new Set<string>(a ? Object.keys(a) : []);
  if (b) for (const k of Object.keys(b)) s.add(k);
  return s;
}
