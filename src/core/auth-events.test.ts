import { describe, expect, test } from "bun:test";
import { authTypesForEvent, selectAuthEvents } from "./auth-events.ts";
import { getRoomVersion } from "./room-versions.ts";
import { CREATE_KEY, JOIN_RULES_KEY, POWER_LEVELS_KEY, memberKey, thirdPartyInviteKey, type StateMap } from "./state-map.ts";

const A = "@alice:example.com";
const B = "@bob:example.com";
const C = "@carol:example.com";
const v6 = getRoomVersion("6");
const v7 = getRoomVersion("7");
const v8 = getRoomVersion("8");
const v11 = getRoomVersion("11");
const v12 = getRoomVersion("12");

const state: StateMap<string> = new Map([
  [CREATE_KEY, "$create"],
  [POWER_LEVELS_KEY, "$pl"],
  [JOIN_RULES_KEY, "$jr"],
  [memberKey(A), "$ma"],
  [memberKey(B), "$mb"],
  [memberKey(C), "$mc"],
  [thirdPartyInviteKey("tok"), "$tpi"],
  ["m.room.topic\u0000", "$topic"],
]);

describe("auth events selection", () => {
  test("the create event has no auth events", () => {
    expect(authTypesForEvent({ type: "m.room.create", state_key: "", sender: A, content: {} }, v11)).toEqual([]);
  });

  test("a message: create, power levels, sender's membership", () => {
    const e = { type: "m.room.message", sender: A, content: {} };
    expect(selectAuthEvents(e, state, v11)).toEqual(["$create", "$pl", "$ma"]);
  });

  test("v12 does not select the create event", () => {
    const e = { type: "m.room.message", sender: A, content: {} };
    expect(selectAuthEvents(e, state, v12)).toEqual(["$pl", "$ma"]);
    expect(authTypesForEvent(e, v12, { includeCreate: true })).toContain(CREATE_KEY);
  });

  test("memberships: target, join rules for join/invite/knock", () => {
    const m = (membership: string, sender = A, target = B) => ({ type: "m.room.member", sender, state_key: target, content: { membership } });
    expect(selectAuthEvents(m("invite"), state, v11)).toEqual(["$create", "$pl", "$ma", "$mb", "$jr"]);
    expect(selectAuthEvents(m("ban"), state, v11)).toEqual(["$create", "$pl", "$ma", "$mb"]);
    expect(selectAuthEvents(m("leave"), state, v11)).toEqual(["$create", "$pl", "$ma", "$mb"]);
    expect(selectAuthEvents(m("join", B, B), state, v11)).toEqual(["$create", "$pl", "$mb", "$jr"]);
    expect(selectAuthEvents(m("knock", C, C), state, v7)).toEqual(["$create", "$pl", "$mc", "$jr"]);
  });

  test("third-party invites select the m.room.third_party_invite by token", () => {
    const e = { type: "m.room.member", sender: A, state_key: C, content: { membership: "invite", third_party_invite: { signed: { token: "tok", mxid: C } } } };
    expect(selectAuthEvents(e, state, v11)).toEqual(["$create", "$pl", "$ma", "$mc", "$jr", "$tpi"]);
    const bad = { ...e, content: { membership: "invite", third_party_invite: { signed: "x" } } };
    expect(selectAuthEvents(bad, state, v11)).toEqual(["$create", "$pl", "$ma", "$mc", "$jr"]);
  });

  test("restricted joins select the authorising user's membership from v8", () => {
    const e = { type: "m.room.member", sender: C, state_key: C, content: { membership: "join", join_authorised_via_users_server: A } };
    expect(selectAuthEvents(e, state, v8)).toEqual(["$create", "$pl", "$mc", "$jr", "$ma"]);
    expect(selectAuthEvents(e, state, v6)).toEqual(["$create", "$pl", "$mc", "$jr"]);
    const leave = { ...e, content: { membership: "leave", join_authorised_via_users_server: A } };
    expect(selectAuthEvents(leave, state, v8)).toEqual(["$create", "$pl", "$mc"]);
  });

  test("absent state is skipped", () => {
    const e = { type: "m.room.member", sender: "@new:example.com", state_key: "@new:example.com", content: { membership: "join" } };
    expect(selectAuthEvents(e, new Map([[CREATE_KEY, "$create"]]), v11)).toEqual(["$create"]);
  });
});
