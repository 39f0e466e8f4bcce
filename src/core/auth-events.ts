// Which state an event is authorised against: the (type, state_key) pairs of its auth events.
// Spec: server-server-api "Auth events selection"; rooms v12 note (the create event is not
// selected in room version 12+, the room ID implies it).

import type { JsonObject, Pdu } from "../protocol/events.ts";
import type { RoomVersion } from "./room-versions.ts";
import {
  CREATE_KEY,
  JOIN_RULES_KEY,
  POWER_LEVELS_KEY,
  memberKey,
  thirdPartyInviteKey,
  type ReadonlyStateMap,
} from "./state-map.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

/** The fields of an event (built or received) that auth event selection looks at. */
export type AuthSelectable = Pick<Pdu, "type" | "sender" | "state_key" | "content">;


/**
 * The state map keys an event's auth events may have, in selection order.
 * `includeCreate` defaults to "as the room version selects it" (not in v12+); state resolution and
 * auth checking pass `true` because the create event is always part of the auth state.
 * The create event (any event of that type: rule 1 applies to them all) has no auth events.
 */
export function authTypesForEvent(
  ev: AuthSelectable,
  rv: RoomVersion,
  opts: { includeCreate?: boolean } = {},
): string[] {
  if (ev.type === "m.room.create") return [];
  const includeCreate = opts.includeCreate ?? !rv.roomIdFromCreateEvent;
  const keys: string[] = [];
  if (includeCreate) keys.push(CREATE_KEY);
  keys.push(POWER_LEVELS_KEY, memberKey(ev.sender));
  if (ev.type === "m.room.member" && typeof ev.state_key === "string") {
    const target = memberKey(ev.state_key);
    if (target !== keys[keys.length - 1]) keys.push(target);
    const membership = ev.content["membership"];
    if (membership === "join" || membership === "invite" || membership === "knock") keys.push(JOIN_RULES_KEY);
    if (membership === "invite") {
      const tpi = ev.content["third_party_invite"];
      const signed = isObject(tpi) ? tpi["signed"] : undefined;
      const token = isObject(signed) ? signed["token"] : undefined;
      if (typeof token === "string") keys.push(thirdPartyInviteKey(token));
    }
    if (membership === "join" && rv.restrictedJoinAllowed) {
      const via = ev.content["join_authorised_via_users_server"];
      if (typeof via === "string") {
        const k = memberKey(via);
        if (!keys.includes(k)) keys.push(k);
      }
    }
  }
  return keys;
}

/**
 * The `auth_events` of a new event given the current room state (a state map of event IDs):
 * the IDs of the current state events at the keys `authTypesForEvent` names, where present.
 */
export function selectAuthEvents(ev: AuthSelectable, currentState: ReadonlyStateMap<string>, rv: RoomVersion): string[] {
  const out: string[] = [];
  for (const k of authTypesForEvent(ev, rv)) {
    const id = currentState.get(k);
    if (id !== undefined && !out.includes(id)) out.push(id);
  }
  return out;
}
