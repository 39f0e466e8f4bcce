import { describe, expect, test } from "bun:test";
import type { JsonObject, RoomEvent } from "../protocol/events.ts";
import {
  checkAuth,
  checkAuthEvents,
  checkCreateEvent,
  checkEventAgainstAuthEvents,
  joinRuleOf,
  membershipOf,
  type AuthCheckOptions,
  type AuthResult,
} from "./auth-rules.ts";
import { getRoomVersion, type RoomVersion } from "./room-versions.ts";
import { CREATE_KEY, stateMapOfEvents } from "./state-map.ts";
import {
  ALICE,
  BOB,
  CHARLIE,
  EVELYN,
  TestRoom,
  ZARA,
  createContent,
  ev,
  eventIdOf,
  joinRules,
  member,
  powerLevels,
  topic,
  type EventSpec,
} from "./testing/room-dag.ts";

const ALL = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];

/** Power levels content for a version: v12 creators (Alice) may not be listed. */
function plContent(rv: RoomVersion, content: JsonObject): JsonObject {
  const users = { ...((content["users"] as JsonObject | undefined) ?? { [ALICE]: 100 }) };
  if (rv.privilegedCreators) delete users[ALICE];
  return { ...content, users };
}

interface RoomSetup {
  joinRule?: string;
  joinRuleExtra?: JsonObject;
  pl?: JsonObject;
  members?: string[];
  authOptions?: AuthCheckOptions;
  createExtra?: JsonObject;
}

/** Alice's room: create, Alice joins, power levels, public join rules, members join, then the join rule. */
async function makeRoom(version: string, setup: RoomSetup = {}): Promise<TestRoom> {
  const rv = getRoomVersion(version);
  const room = new TestRoom(rv, setup.authOptions ?? {});
  const specs: EventSpec[] = [
    ev("CREATE", ALICE, "m.room.create", "", createContent(rv, setup.createExtra ?? {})),
    member("IMA", ALICE, ALICE, "join"),
    powerLevels("IPOWER", ALICE, plContent(rv, setup.pl ?? {})),
    joinRules("IJR", ALICE, "public"),
    ...(setup.members ?? []).map((u, i) => member(`IM${i}`, u, u, "join")),
  ];
  if (setup.joinRule && setup.joinRule !== "public") specs.push(joinRules("JR2", ALICE, setup.joinRule, setup.joinRuleExtra ?? {}));
  const results = await room.chain(specs);
  for (const [i, r] of results.entries()) if (!r.allowed) throw new Error(`setup event ${specs[i]!.id} rejected: ${r.reason}`);
  return room;
}

async function send(room: TestRoom, spec: EventSpec): Promise<AuthResult> {
  const [r] = await room.chain([spec]);
  return r!;
}

function allowed(r: AuthResult): boolean {
  return r.allowed;
}

function reason(r: AuthResult): string {
  return r.allowed ? "(allowed)" : r.reason;
}

// ---------------------------------------------------------------------------------------------

describe("m.room.create (rule 1)", () => {
  const base = { origin_server_ts: 0, depth: 1, auth_events: [], hashes: { sha256: "" }, signatures: {} };
  const create = (rv: RoomVersion, over: Partial<RoomEvent> & { content?: JsonObject }): RoomEvent => ({
    ...base,
    event_id: "$create:example.com",
    ...(rv.roomIdFromCreateEvent ? {} : { room_id: "!r:example.com" }),
    sender: ALICE,
    type: "m.room.create",
    state_key: "",
    prev_events: [],
    content: createContent(rv),
    ...over,
  });

  test.each(ALL)("v%s: a plain create event is allowed; prev_events are not", (v) => {
    const rv = getRoomVersion(v);
    expect(checkCreateEvent(create(rv, {}), rv).allowed).toBe(true);
    expect(reason(checkCreateEvent(create(rv, { prev_events: ["$x:example.com"] }), rv))).toMatch(/prev_events/);
  });

  test.each(ALL)("v%s: unknown room_version is rejected", (v) => {
    const rv = getRoomVersion(v);
    expect(checkCreateEvent(create(rv, { content: createContent(rv, { room_version: "999" }) }), rv).allowed).toBe(false);
  });

  test.each(["1", "6", "10", "11"])("v%s: the room_id domain must be the sender's", (v) => {
    const rv = getRoomVersion(v);
    expect(checkCreateEvent(create(rv, { room_id: "!r:evil.org" }), rv).allowed).toBe(false);
  });

  test("v12: a create event with a room_id is rejected", () => {
    const rv = getRoomVersion("12");
    expect(reason(checkCreateEvent(create(rv, { room_id: "!r:example.com" }), rv))).toMatch(/room_id/);
  });

  test.each(["1", "9", "10"])("v%s: creator is required", (v) => {
    const rv = getRoomVersion(v);
    expect(reason(checkCreateEvent(create(rv, { content: { room_version: v } }), rv))).toMatch(/creator/);
  });

  test.each(["11", "12"])("v%s: creator is not required (the sender is the creator)", (v) => {
    const rv = getRoomVersion(v);
    expect(checkCreateEvent(create(rv, { content: { room_version: v } }), rv).allowed).toBe(true);
  });

  test.each(ALL)("v%s: rule 1 applies to every m.room.create, whatever its state key", async (v) => {
    const room = await makeRoom(v);
    expect(reason(await send(room, ev("C2", ALICE, "m.room.create", "x", createContent(getRoomVersion(v)))))).toMatch(/prev_events/);
  });

  test("v12: additional_creators must be an array of valid user IDs", () => {
    const rv = getRoomVersion("12");
    const c = (extra: JsonObject) => checkCreateEvent(create(rv, { content: { room_version: "12", ...extra } }), rv).allowed;
    expect(c({ additional_creators: [BOB, CHARLIE] })).toBe(true);
    expect(c({ additional_creators: [] })).toBe(true);
    expect(c({ additional_creators: BOB })).toBe(false);
    expect(c({ additional_creators: ["bob"] })).toBe(false);
    expect(c({ additional_creators: [42] })).toBe(false);
    expect(c({ additional_creators: ["@bob:bad server"] })).toBe(false);
    // Before v12 the property means nothing to the auth rules.
    const v11 = getRoomVersion("11");
    expect(checkCreateEvent(create(v11, { content: { additional_creators: 42 } }), v11).allowed).toBe(true);
  });
});

describe("auth events list (v1–v11 rule 2, v12 rule 3)", () => {
  test.each(["1", "6", "10", "11", "12"])("v%s: duplicates, unexpected keys, rejected and foreign auth events", async (v) => {
    const room = await makeRoom(v, { members: [BOB] });
    const rv = room.rv;
    await room.chain([topic("T1", ALICE)]);
    const all = new Map(room.events);
    const base = room.node("IM0");
    const withAuth = (auth: string[], over: Partial<RoomEvent> = {}): RoomEvent => ({
      ...base,
      event_id: "$probe:example.com",
      type: "m.room.message",
      sender: BOB,
      state_key: undefined,
      content: { body: "x" },
      auth_events: auth.map(eventIdOf),
      ...over,
    });
    const selectable = rv.roomIdFromCreateEvent ? ["IPOWER", "IM0"] : ["CREATE", "IPOWER", "IM0"];
    expect(checkAuthEvents(withAuth(selectable), all, rv).allowed).toBe(true);
    // Two power levels events.
    await room.chain([powerLevels("P2", ALICE, plContent(rv, { users: { [ALICE]: 100 } }))]);
    const all2 = new Map(room.events);
    expect(reason(checkAuthEvents(withAuth([...selectable, "P2"]), all2, rv))).toMatch(/duplicate/);
    // A topic is never an auth event.
    expect(reason(checkAuthEvents(withAuth([...selectable, "T1"]), all2, rv))).toMatch(/selection/);
    // Someone else's membership is not selected for a message.
    expect(reason(checkAuthEvents(withAuth([...selectable, "IMA"]), all2, rv))).toMatch(/selection/);
    // Rejected auth event.
    expect(reason(checkAuthEvents(withAuth(selectable), all2, rv, { isRejected: (id) => id === eventIdOf("IPOWER") }))).toMatch(/rejected/);
    // Unknown auth event.
    expect(reason(checkAuthEvents(withAuth([...selectable, "NOPE"]), all2, rv))).toMatch(/unknown/);
    // Another room.
    expect(reason(checkAuthEvents(withAuth(selectable, { room_id: "!other:example.com" }), all2, rv))).toMatch(/another room/);
    if (rv.roomIdFromCreateEvent) {
      // v12: the create event must not be selected.
      expect(reason(checkAuthEvents(withAuth(["CREATE", ...selectable]), all2, rv))).toMatch(/selection/);
    } else {
      expect(reason(checkAuthEvents(withAuth(["IPOWER", "IM0"]), all2, rv))).toMatch(/no m.room.create/);
    }
  });

  test("checkEventAgainstAuthEvents: v12 takes the create event separately", async () => {
    const room = await makeRoom("12", { members: [BOB] });
    const rv = room.rv;
    const probe: RoomEvent = { ...room.node("IM0"), event_id: "$p:example.com", type: "m.room.message", state_key: undefined, content: {}, auth_events: [eventIdOf("IPOWER"), eventIdOf("IM0")] };
    const all = new Map(room.events);
    expect(checkEventAgainstAuthEvents(probe, all, rv).allowed).toBe(false); // no create event
    expect(checkEventAgainstAuthEvents(probe, all, rv, { createEvent: room.node("CREATE") }).allowed).toBe(true);
  });
});

describe("v12: room ID and the create event (rule 2)", () => {
  test("the room ID must be the create event's ID; an expected create event ID is enforced", async () => {
    const room = await makeRoom("12", { members: [BOB] });
    const rv = room.rv;
    const state = stateMapOfEvents([...room.stateAt("IM0").values()].map((id) => room.events.get(id)!));
    const msg: RoomEvent = { ...room.node("IM0"), event_id: "$m:example.com", type: "m.room.message", state_key: undefined, content: {} };
    expect(checkAuth(msg, state, rv).allowed).toBe(true);
    expect(checkAuth(msg, state, rv, { expectedCreateEventId: eventIdOf("CREATE") }).allowed).toBe(true);
    expect(reason(checkAuth(msg, state, rv, { expectedCreateEventId: "$other" }))).toMatch(/create event/);
    expect(reason(checkAuth({ ...msg, room_id: "!elsewhere" }, state, rv))).toMatch(/room_id/);
    const noCreate = new Map(state);
    noCreate.delete(CREATE_KEY);
    expect(reason(checkAuth(msg, noCreate, rv))).toMatch(/no m.room.create/);
  });
});

describe("m.federate (v1–v11 rule 3, v12 rule 4)", () => {
  test.each(["1", "10", "12"])("v%s: a non-federated room rejects remote senders", async (v) => {
    const room = await makeRoom(v, { createExtra: { "m.federate": false } });
    expect(reason(await send(room, member("RJ", "@rem:remote.org", "@rem:remote.org", "join")))).toMatch(/federated/);
    expect(allowed(await send(room, member("LJ", BOB, BOB, "join"), ))).toBe(true);
  });
});

describe("m.room.aliases (v1–v5 rule 4)", () => {
  test.each(["1", "3", "5"])("v%s: any server may set its own aliases, even without membership", async (v) => {
    const room = await makeRoom(v);
    expect(allowed(await send(room, ev("A1", "@x:remote.org", "m.room.aliases", "remote.org", { aliases: ["#a:remote.org"] })))).toBe(true);
    expect(reason(await send(room, ev("A2", "@x:remote.org", "m.room.aliases", "example.com", { aliases: [] })))).toMatch(/aliases/);
  });
  test.each(["6", "10", "12"])("v%s: aliases events are ordinary state events", async (v) => {
    const room = await makeRoom(v);
    expect(allowed(await send(room, ev("A1", "@x:remote.org", "m.room.aliases", "remote.org", { aliases: [] })))).toBe(false);
    expect(allowed(await send(room, ev("A2", ALICE, "m.room.aliases", "example.com", { aliases: [] })))).toBe(true);
  });
});

describe.each(ALL)("membership, room version %s", (v) => {
  const rv = getRoomVersion(v);

  test("the creator's first join after the create event", async () => {
    const room = new TestRoom(rv);
    await room.chain([ev("CREATE", ALICE, "m.room.create", "", createContent(rv))]);
    expect(allowed(await send(room, member("IMA", ALICE, ALICE, "join")))).toBe(true);
  });

  test("nobody else may join first", async () => {
    const room = new TestRoom(rv);
    await room.chain([ev("CREATE", ALICE, "m.room.create", "", createContent(rv))]);
    expect(allowed(await send(room, member("IMB", BOB, BOB, "join")))).toBe(false);
  });

  test("join: only for oneself, not when banned, public rooms", async () => {
    const room = await makeRoom(v, { members: [BOB] });
    expect(reason(await send(room, member("J1", BOB, CHARLIE, "join")))).toMatch(/another user/);
    expect(allowed(await send(room, member("J2", CHARLIE, CHARLIE, "join")))).toBe(true);
    expect(allowed(await send(room, member("B1", ALICE, EVELYN, "ban")))).toBe(true);
    expect(reason(await send(room, member("J3", EVELYN, EVELYN, "join")))).toMatch(/banned/);
    // Joining again while joined is allowed (profile changes).
    expect(allowed(await send(room, member("J4", CHARLIE, CHARLIE, "join", { displayname: "C" })))).toBe(true);
  });

  test("join: invite-only rooms need an invite", async () => {
    const room = await makeRoom(v, { joinRule: "invite", members: [BOB] });
    expect(reason(await send(room, member("J1", CHARLIE, CHARLIE, "join")))).toMatch(/not invited/);
    expect(allowed(await send(room, member("I1", BOB, CHARLIE, "invite")))).toBe(true);
    expect(allowed(await send(room, member("J2", CHARLIE, CHARLIE, "join")))).toBe(true);
  });

  test("join: a missing join rules event means invite-only", async () => {
    const room = new TestRoom(rv);
    await room.chain([ev("CREATE", ALICE, "m.room.create", "", createContent(rv)), member("IMA", ALICE, ALICE, "join")]);
    expect(allowed(await send(room, member("J1", BOB, BOB, "join")))).toBe(false);
    expect(joinRuleOf(new Map())).toBe("invite");
  });

  test("join: private and unknown join rules reject", async () => {
    const room = await makeRoom(v, { joinRule: "private" });
    expect(allowed(await send(room, member("J1", BOB, BOB, "join")))).toBe(false);
  });

  test("join rule knock", async () => {
    const room = await makeRoom(v, { joinRule: "knock", members: [BOB] });
    const k = await send(room, member("K1", CHARLIE, CHARLIE, "knock"));
    expect(allowed(await send(room, member("J1", EVELYN, EVELYN, "join")))).toBe(false);
    if (rv.knockAllowed) {
      expect(allowed(k)).toBe(true);
      // A knocking user can be invited, then join; or withdraw the knock.
      expect(allowed(await send(room, member("I1", BOB, CHARLIE, "invite")))).toBe(true);
      expect(allowed(await send(room, member("J2", CHARLIE, CHARLIE, "join")))).toBe(true);
      expect(allowed(await send(room, member("K2", EVELYN, EVELYN, "knock")))).toBe(true);
      expect(allowed(await send(room, member("L2", EVELYN, EVELYN, "leave")))).toBe(true);
    } else {
      expect(reason(k)).toMatch(/unknown membership/);
    }
  });

  test("knock: rules", async () => {
    if (!rv.knockAllowed) return;
    const room = await makeRoom(v, { joinRule: "knock", members: [BOB] });
    expect(reason(await send(room, member("K1", BOB, CHARLIE, "knock")))).toMatch(/behalf/);
    expect(reason(await send(room, member("K2", BOB, BOB, "knock")))).toMatch(/cannot knock/); // joined
    expect(allowed(await send(room, member("I1", BOB, EVELYN, "invite")))).toBe(true);
    expect(reason(await send(room, member("K3", EVELYN, EVELYN, "knock")))).toMatch(/cannot knock/); // invited
    expect(allowed(await send(room, member("B1", ALICE, ZARA, "ban")))).toBe(true);
    expect(reason(await send(room, member("K4", ZARA, ZARA, "knock")))).toMatch(/cannot knock/); // banned
    const pub = await makeRoom(v);
    expect(reason(await send(pub, member("K5", CHARLIE, CHARLIE, "knock")))).toMatch(/does not allow knocking/);
  });

  test("restricted joins and join_authorised_via_users_server", async () => {
    const allow = { allow: [{ type: "m.room_membership", room_id: "!space:example.com" }] };
    const room = await makeRoom(v, { joinRule: "restricted", joinRuleExtra: allow, members: [BOB], pl: { users: { [ALICE]: 100 }, invite: 50 } });
    const ok = await send(room, member("J1", CHARLIE, CHARLIE, "join", { join_authorised_via_users_server: ALICE }));
    if (!rv.restrictedJoinAllowed) {
      expect(allowed(ok)).toBe(false);
      return;
    }
    expect(allowed(ok)).toBe(true);
    // Bob has power 0 < invite 50: his authorisation is not enough.
    expect(reason(await send(room, member("J2", EVELYN, EVELYN, "join", { join_authorised_via_users_server: BOB })))).toMatch(/power to invite/);
    // The authoriser must be joined.
    expect(reason(await send(room, member("J3", EVELYN, EVELYN, "join", { join_authorised_via_users_server: ZARA })))).toMatch(/not joined/);
    // No authoriser at all.
    expect(reason(await send(room, member("J4", EVELYN, EVELYN, "join")))).toMatch(/no join_authorised_via_users_server/);
    // Invited users need no authoriser.
    expect(allowed(await send(room, member("I1", ALICE, EVELYN, "invite")))).toBe(true);
    expect(allowed(await send(room, member("J5", EVELYN, EVELYN, "join")))).toBe(true);
    // The event must be signed by the authoriser's server.
    const remote = "@ra:remote.org";
    const r2 = await makeRoom(v, { joinRule: "restricted", joinRuleExtra: allow, members: [remote], pl: { users: { [ALICE]: 100, [remote]: 50 }, invite: 50 } });
    const unsigned: EventSpec = { ...member("J6", ZARA, ZARA, "join", { join_authorised_via_users_server: remote }), signatures: { "example.com": { "ed25519:a": "x" } } };
    expect(reason(await send(r2, unsigned))).toMatch(/not signed by remote.org/);
    expect(allowed(await send(r2, member("J7", ZARA, ZARA, "join", { join_authorised_via_users_server: remote })))).toBe(true);
  });

  test("knock_restricted", async () => {
    const room = await makeRoom(v, { joinRule: "knock_restricted", joinRuleExtra: { allow: [] }, members: [BOB] });
    const joined = await send(room, member("J1", CHARLIE, CHARLIE, "join", { join_authorised_via_users_server: ALICE }));
    const knocked = await send(room, member("K1", EVELYN, EVELYN, "knock"));
    expect(allowed(joined)).toBe(rv.knockRestrictedAllowed);
    expect(allowed(knocked)).toBe(rv.knockRestrictedAllowed);
  });

  test("invite: rules", async () => {
    const room = await makeRoom(v, { members: [BOB, CHARLIE], pl: { users: { [ALICE]: 100, [BOB]: 50 }, invite: 50 } });
    expect(reason(await send(room, member("I1", CHARLIE, EVELYN, "invite")))).toMatch(/invite level/);
    expect(reason(await send(room, member("I2", ZARA, EVELYN, "invite")))).toMatch(/not joined/);
    expect(reason(await send(room, member("I3", BOB, CHARLIE, "invite")))).toMatch(/already joined/);
    expect(allowed(await send(room, member("B1", ALICE, ZARA, "ban")))).toBe(true);
    expect(reason(await send(room, member("I4", BOB, ZARA, "invite")))).toMatch(/banned/);
    expect(allowed(await send(room, member("I5", BOB, EVELYN, "invite")))).toBe(true);
    // Re-inviting an invited user is fine.
    expect(allowed(await send(room, member("I6", BOB, EVELYN, "invite")))).toBe(true);
  });

  test("leave: own leave, rejecting invites, kicks and unbans", async () => {
    const room = await makeRoom(v, { members: [BOB, CHARLIE, ZARA], pl: { users: { [ALICE]: 100, [BOB]: 50, [ZARA]: 50 } } });
    expect(allowed(await send(room, member("L1", CHARLIE, CHARLIE, "leave")))).toBe(true);
    expect(reason(await send(room, member("L2", CHARLIE, CHARLIE, "leave")))).toMatch(/cannot leave/);
    expect(allowed(await send(room, member("I1", BOB, EVELYN, "invite")))).toBe(true);
    expect(allowed(await send(room, member("L3", EVELYN, EVELYN, "leave")))).toBe(true); // rejects the invite
    // Kicks: need kick level (50) and more power than the target.
    expect(reason(await send(room, member("K1", BOB, ZARA, "leave")))).toMatch(/not above/);
    expect(reason(await send(room, member("K2", BOB, ALICE, "leave")))).toMatch(/not above/);
    expect(allowed(await send(room, member("J1", CHARLIE, CHARLIE, "join")))).toBe(true);
    expect(reason(await send(room, member("K3", CHARLIE, BOB, "leave")))).toMatch(/kick level/);
    expect(allowed(await send(room, member("K4", BOB, CHARLIE, "leave")))).toBe(true);
    // A non-member cannot kick.
    expect(reason(await send(room, member("K5", CHARLIE, ZARA, "leave")))).toMatch(/not joined/);
    // Unban needs the ban level.
    expect(allowed(await send(room, member("B1", ALICE, EVELYN, "ban")))).toBe(true);
    expect(allowed(await send(room, member("U1", BOB, EVELYN, "leave")))).toBe(true); // Bob has 50 = ban 50
    expect(allowed(await send(room, member("B2", ALICE, EVELYN, "ban")))).toBe(true);
    expect(allowed(await send(room, powerLevels("P2", ALICE, plContent(rv, { users: { [ALICE]: 100, [BOB]: 50, [ZARA]: 50 }, ban: 60 }))))).toBe(true);
    expect(reason(await send(room, member("U2", BOB, EVELYN, "leave")))).toMatch(/ban level/);
    // A banned user cannot leave (unban) themselves.
    expect(allowed(await send(room, member("U3", EVELYN, EVELYN, "leave")))).toBe(false);
  });

  test("ban: rules", async () => {
    const room = await makeRoom(v, { members: [BOB, CHARLIE, ZARA], pl: { users: { [ALICE]: 100, [BOB]: 50, [ZARA]: 50 } } });
    expect(reason(await send(room, member("B1", CHARLIE, ZARA, "ban")))).toMatch(/ban level/);
    expect(reason(await send(room, member("B2", BOB, ZARA, "ban")))).toMatch(/not above/);
    expect(allowed(await send(room, member("B3", BOB, CHARLIE, "ban")))).toBe(true);
    expect(reason(await send(room, member("B4", CHARLIE, BOB, "ban")))).toMatch(/not joined/);
    // Banning someone who never joined is allowed.
    expect(allowed(await send(room, member("B5", BOB, EVELYN, "ban")))).toBe(true);
  });

  test("unknown membership and malformed member events", async () => {
    const room = await makeRoom(v, { members: [BOB] });
    expect(reason(await send(room, member("X1", BOB, BOB, "dance")))).toMatch(/unknown membership/);
    expect(reason(await send(room, ev("X2", BOB, "m.room.member", BOB, {})))).toMatch(/no membership/);
  });

  test("third-party invites", async () => {
    const verify = (signed: JsonObject, key: string) => key === "GOODKEY" && (signed["signatures"] as JsonObject | undefined)?.["id.example"] !== undefined;
    const room = await makeRoom(v, { members: [BOB], authOptions: { verifyThirdPartyInviteSignature: verify } });
    expect(allowed(await send(room, ev("TPI", BOB, "m.room.third_party_invite", "tok", { display_name: "e…", public_key: "OTHER", public_keys: [{ public_key: "GOODKEY" }] })))).toBe(true);
    const signed = (over: JsonObject = {}): JsonObject => ({ third_party_invite: { display_name: "e", signed: { mxid: EVELYN, token: "tok", signatures: { "id.example": { "ed25519:0": "sig" } }, ...over } } });
    expect(allowed(await send(room, member("I1", BOB, EVELYN, "invite", signed())))).toBe(true);
    expect(reason(await send(room, member("I2", BOB, ZARA, "invite", signed())))).toMatch(/mxid/);
    expect(reason(await send(room, member("I3", ALICE, EVELYN, "invite", signed())))).toMatch(/sender/);
    expect(reason(await send(room, member("I4", BOB, EVELYN, "invite", signed({ token: "nope" }))))).toMatch(/no m.room.third_party_invite/);
    expect(reason(await send(room, member("I5", BOB, EVELYN, "invite", signed({ signatures: {} }))))).toMatch(/no signature/);
    expect(reason(await send(room, member("I6", BOB, EVELYN, "invite", { third_party_invite: {} })))).toMatch(/signed/);
    expect(reason(await send(room, member("I7", BOB, EVELYN, "invite", signed({ mxid: undefined as unknown as string }))))).toMatch(/mxid or token/);
    // Without a verifier nothing can be verified.
    const room2 = await makeRoom(v, { members: [BOB] });
    await send(room2, ev("TPI", BOB, "m.room.third_party_invite", "tok", { public_key: "GOODKEY" }));
    expect(reason(await send(room2, member("I8", BOB, EVELYN, "invite", signed())))).toMatch(/cannot be verified/);
    // A banned target cannot be invited this way either.
    await send(room, member("B1", ALICE, ZARA, "ban"));
    const zaraSigned: JsonObject = { third_party_invite: { signed: { mxid: ZARA, token: "tok", signatures: { "id.example": {} } } } };
    expect(reason(await send(room, member("I9", BOB, ZARA, "invite", zaraSigned)))).toMatch(/banned/);
  });

  test("m.room.third_party_invite needs the invite level", async () => {
    const room = await makeRoom(v, { members: [BOB], pl: { users: { [ALICE]: 100 }, invite: 50 } });
    expect(reason(await send(room, ev("T1", BOB, "m.room.third_party_invite", "t", { public_key: "k" })))).toMatch(/invite level/);
    expect(allowed(await send(room, ev("T2", ALICE, "m.room.third_party_invite", "t", { public_key: "k" })))).toBe(true);
  });
});

describe.each(ALL)("other events, room version %s", (v) => {
  const rv = getRoomVersion(v);

  test("the sender must be joined", async () => {
    const room = await makeRoom(v, { members: [BOB] });
    expect(reason(await send(room, ev("M1", CHARLIE, "m.room.message", undefined, {})))).toMatch(/not joined/);
    expect(allowed(await send(room, ev("M2", BOB, "m.room.message", undefined, {})))).toBe(true);
    expect(allowed(await send(room, member("L1", BOB, BOB, "leave")))).toBe(true);
    expect(reason(await send(room, ev("M3", BOB, "m.room.message", undefined, {})))).toMatch(/not joined/);
  });

  test("required power levels: events, state_default, events_default", async () => {
    const room = await makeRoom(v, { members: [BOB], pl: { users: { [ALICE]: 100, [BOB]: 10 }, events: { "m.room.name": 5, "m.custom": 20 }, events_default: 10, state_default: 30 } });
    expect(allowed(await send(room, ev("N1", BOB, "m.room.name", "", { name: "n" })))).toBe(true);
    expect(reason(await send(room, topic("T1", BOB)))).toMatch(/below the 30/);
    expect(allowed(await send(room, ev("M1", BOB, "m.room.message", undefined, {})))).toBe(true);
    expect(reason(await send(room, ev("C1", BOB, "m.custom", undefined, {})))).toMatch(/below the 20/);
  });

  test("state keys starting with @ belong to that user", async () => {
    const room = await makeRoom(v, { members: [BOB], pl: { users: { [ALICE]: 100, [BOB]: 50 } } });
    expect(allowed(await send(room, ev("S1", BOB, "m.custom.state", BOB, {})))).toBe(true);
    expect(reason(await send(room, ev("S2", BOB, "m.custom.state", CHARLIE, {})))).toMatch(/starts with @/);
    expect(allowed(await send(room, ev("S3", BOB, "m.custom.state", "x@y", {})))).toBe(true);
  });

  test("without a power levels event the creator has 100, others 0", async () => {
    const room = new TestRoom(rv);
    await room.chain([ev("CREATE", ALICE, "m.room.create", "", createContent(rv)), member("IMA", ALICE, ALICE, "join"), joinRules("IJR", ALICE, "public"), member("IMB", BOB, BOB, "join")]);
    expect(allowed(await send(room, topic("T1", ALICE)))).toBe(true);
    expect(reason(await send(room, topic("T2", BOB)))).toMatch(/below the 50/);
    expect(allowed(await send(room, ev("M1", BOB, "m.room.message", undefined, {})))).toBe(true);
  });

  test("redactions", async () => {
    const room = await makeRoom(v, { members: [BOB] });
    const redacts = "$someone:remote.org";
    const spec = (id: string, sender: string, target: string): EventSpec =>
      rv.redactsInContent ? ev(id, sender, "m.room.redaction", undefined, { redacts: target }) : { ...ev(id, sender, "m.room.redaction", undefined, {}), extra: { redacts: target } };
    const remote = await send(room, spec("R1", BOB, redacts));
    const local = await send(room, spec("R2", BOB, "$mine:example.com"));
    const admin = await send(room, spec("R3", ALICE, redacts));
    expect(allowed(admin)).toBe(true);
    expect(allowed(local)).toBe(true);
    // v1–v2: redacting another server's event needs the redact level; later versions leave it
    // to redaction handling.
    expect(allowed(remote)).toBe(rv.authRules !== "v1");
  });
});

describe.each(ALL)("m.room.power_levels changes, room version %s", (v) => {
  const rv = getRoomVersion(v);
  const PL = { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50, [ZARA]: 0 }, kick: 75, events: { "m.room.name": 60 }, notifications: { room: 70 } };
  const pl = (over: JsonObject): JsonObject => plContent(rv, { ...PL, ...over, users: { ...PL.users, ...((over["users"] as JsonObject) ?? {}) } });
  const bob = async () => makeRoom(v, { members: [BOB, CHARLIE, ZARA], pl: PL });

  test("escalation beyond one's own level is rejected", async () => {
    const room = await bob();
    expect(reason(await send(room, powerLevels("P1", BOB, pl({ users: { [BOB]: 100 } }))))).toMatch(/cannot give/);
    expect(reason(await send(room, powerLevels("P2", BOB, pl({ users: { [ZARA]: 60 } }))))).toMatch(/cannot give/);
    expect(reason(await send(room, powerLevels("P3", BOB, pl({ users: { [EVELYN]: 51 } }))))).toMatch(/cannot give/);
  });

  test("granting up to one's own level is allowed", async () => {
    const room = await bob();
    expect(allowed(await send(room, powerLevels("P1", BOB, pl({ users: { [ZARA]: 50 } }))))).toBe(true);
  });

  test("users at one's own level or above cannot be changed; oneself can be demoted", async () => {
    const room = await bob();
    expect(reason(await send(room, powerLevels("P1", BOB, pl({ users: { [CHARLIE]: 10 } }))))).toMatch(/not below/);
    const removed = plContent(rv, { ...PL, users: { [ALICE]: 100, [BOB]: 50, [ZARA]: 0 } });
    expect(reason(await send(room, powerLevels("P2", BOB, removed)))).toMatch(/not below/);
    expect(allowed(await send(room, powerLevels("P3", BOB, pl({ users: { [BOB]: 20 } }))))).toBe(true);
  });

  test("named levels: changes from or to above one's own level are rejected", async () => {
    const room = await bob();
    expect(reason(await send(room, powerLevels("P1", BOB, pl({ kick: 40 }))))).toMatch(/kick from 75/);
    expect(reason(await send(room, powerLevels("P2", BOB, pl({ ban: 51 }))))).toMatch(/ban to 51/);
    expect(allowed(await send(room, powerLevels("P3", BOB, pl({ ban: 40, state_default: 50 }))))).toBe(true);
    expect(reason(await send(room, powerLevels("P4", BOB, plContent(rv, { ...PL, kick: undefined as unknown as number }))))).toMatch(/kick/);
  });

  test("events levels: changes from or to above one's own level are rejected", async () => {
    const room = await bob();
    expect(reason(await send(room, powerLevels("P1", BOB, pl({ events: {} }))))).toMatch(/events.m.room.name/);
    expect(reason(await send(room, powerLevels("P2", BOB, pl({ events: { "m.room.name": 60, "m.room.topic": 70 } }))))).toMatch(/events.m.room.topic/);
    expect(allowed(await send(room, powerLevels("P3", BOB, pl({ events: { "m.room.name": 60, "m.room.topic": 30 } }))))).toBe(true);
  });

  test("notifications levels are protected from v6", async () => {
    const room = await bob();
    const r = await send(room, powerLevels("P1", BOB, pl({ notifications: { room: 20 } })));
    expect(allowed(r)).toBe(!rv.limitNotificationsPowerLevels);
  });

  test("users must be valid user IDs with integer levels", async () => {
    const room = await bob();
    expect(reason(await send(room, powerLevels("P1", ALICE, pl({ users: { "not-a-user": 10 } }))))).toMatch(/not a valid user ID/);
    expect(reason(await send(room, powerLevels("P2", ALICE, pl({ users: { [EVELYN]: "ten" } }))))).toMatch(/not an integer/);
    expect(reason(await send(room, powerLevels("P3", ALICE, { ...pl({}), users: [] })))).toMatch(/not an object/);
  });

  test("stringy power levels: accepted before v10, rejected from v10", async () => {
    const room = await bob();
    const stringy = plContent(rv, { ...PL, ban: "50", users: { ...PL.users, [EVELYN]: " +20 " }, events: { "m.room.name": "060" } });
    const r = await send(room, powerLevels("P1", ALICE, stringy));
    expect(allowed(r)).toBe(!rv.integerPowerLevels);
    if (!rv.integerPowerLevels) {
      // The stringy values are effective: "060" is not a change from 60, so Bob may still edit other keys.
      expect(allowed(await send(room, powerLevels("P2", BOB, { ...stringy, state_default: 45 })))).toBe(true);
    }
  });

  test("float power levels: truncated in v1–v5 (no canonical JSON), not integers from v6", async () => {
    const room = await bob();
    const r = await send(room, powerLevels("P1", ALICE, pl({ users: { [EVELYN]: 50.57 } })));
    expect(allowed(r)).toBe(!rv.strictCanonicalJson);
    // Float values outside `users` are only validated from v10.
    const r2 = await send(room, powerLevels("P2", ALICE, pl({ events: { "m.room.name": 60, "m.x": 1.5 } })));
    expect(allowed(r2)).toBe(!rv.integerPowerLevels);
    // Out of the double range: rejected everywhere.
    const r3 = await send(room, powerLevels("P3", ALICE, pl({ users: { [EVELYN]: Number.POSITIVE_INFINITY } })));
    expect(allowed(r3)).toBe(false);
  });

  test("the first power levels event is allowed as long as it is well formed", async () => {
    const room = new TestRoom(rv);
    await room.chain([ev("CREATE", ALICE, "m.room.create", "", createContent(rv)), member("IMA", ALICE, ALICE, "join")]);
    expect(allowed(await send(room, powerLevels("P1", ALICE, plContent(rv, { users: { [ALICE]: 100, [BOB]: 1000 } }))))).toBe(true);
  });

  test("power levels events with another state key are validated but not compared", async () => {
    const room = await bob();
    expect(reason(await send(room, ev("PX1", ALICE, "m.room.power_levels", "x", { users: { nope: 1 } })))).toMatch(/user ID/);
    expect(allowed(await send(room, ev("PX2", BOB, "m.room.power_levels", "x", { users: { [EVELYN]: 10 } })))).toBe(true);
  });

  test("v12: creators may not appear in users and outrank everybody", async () => {
    if (!rv.privilegedCreators) return;
    const room = await makeRoom(v, { members: [BOB, CHARLIE], createExtra: { additional_creators: [CHARLIE] }, pl: { users: { [BOB]: 100 } } });
    expect(reason(await send(room, powerLevels("P1", ALICE, { users: { [ALICE]: 100 } })))).toMatch(/creator/);
    expect(reason(await send(room, powerLevels("P2", BOB, { users: { [BOB]: 100, [CHARLIE]: 50 } })))).toMatch(/creator/);
    // Bob (100) cannot touch Charlie (a creator) ...
    expect(reason(await send(room, member("K1", BOB, CHARLIE, "leave")))).toMatch(/not above/);
    // ... while Charlie can demote and then kick Bob.
    expect(allowed(await send(room, powerLevels("P3", CHARLIE, { users: { [BOB]: 10 } })))).toBe(true);
    expect(allowed(await send(room, member("K2", CHARLIE, BOB, "leave")))).toBe(true);
  });
});

describe("v11: the creator is the create event's sender", () => {
  test("content.creator is ignored from v11 and used before", async () => {
    for (const v of ["10", "11"]) {
      const rv = getRoomVersion(v);
      const room = new TestRoom(rv);
      // Create content names Bob as creator; Alice sends it.
      await room.chain([ev("CREATE", ALICE, "m.room.create", "", { room_version: v, creator: BOB })]);
      const aliceFirst = await room.add(member("IMA", ALICE, ALICE, "join"), ["CREATE"]);
      const bobFirst = await room.add(member("IMB", BOB, BOB, "join"), ["CREATE"]);
      expect(aliceFirst.allowed).toBe(rv.implicitRoomCreator);
      expect(bobFirst.allowed).toBe(!rv.implicitRoomCreator);
    }
  });
});

describe("helpers", () => {
  test("membershipOf", () => {
    expect(membershipOf(undefined)).toBeUndefined();
    expect(membershipOf({ content: { membership: "join" } })).toBe("join");
    expect(membershipOf({ content: { membership: 1 } })).toBeUndefined();
  });
});
