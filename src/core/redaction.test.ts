import { describe, expect, test } from "bun:test";
import { canonicalJson } from "./canonical-json.ts";
import { redactEvent, redactEventWithAlgorithm } from "./redaction.ts";
import { ROOM_VERSIONS, getRoomVersion, type RedactionAlgorithm } from "./room-versions.ts";
import { oracleBytes, runOracle } from "./testing/python-oracle.ts";
import { Rng, randomEvent } from "./testing/random-json.ts";

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const base = {
  event_id: "$e:x",
  room_id: "!r:x",
  sender: "@s:x",
  state_key: "",
  hashes: { sha256: "h" },
  signatures: { x: { "ed25519:1": "s" } },
  depth: 4,
  prev_events: [],
  auth_events: [],
  origin_server_ts: 1,
  origin: "x",
  membership: "join",
  prev_state: [],
  unsigned: { age: 1 },
  redacts: "$r",
  extra: "gone",
};
const TOP_V11 = ["auth_events", "content", "depth", "event_id", "hashes", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"];
const TOP_OLD = [...TOP_V11, "membership", "origin", "prev_state"].sort();

function ev(type: string, content: Record<string, unknown>) {
  return deepFreeze({ ...base, type, content });
}

describe("redaction: room versions map to the spec's algorithms", () => {
  test("table", () => {
    const expected: Record<string, RedactionAlgorithm> = {
      "1": "v1", "2": "v1", "3": "v1", "4": "v1", "5": "v1", "6": "v6", "7": "v6",
      "8": "v8", "9": "v9", "10": "v9", "11": "v11", "12": "v11",
    };
    for (const [id, alg] of Object.entries(expected)) expect(getRoomVersion(id).redaction).toBe(alg);
    expect(ROOM_VERSIONS.size).toBe(12);
  });
});

describe("redaction: top-level keys", () => {
  test("before v11: origin, membership, prev_state are kept; unsigned, redacts and unknown keys go", () => {
    for (const alg of ["v1", "v6", "v8", "v9"] as const) {
      const r = redactEventWithAlgorithm(ev("m.room.message", { body: "x" }), alg);
      expect(Object.keys(r).sort()).toEqual(TOP_OLD);
      expect(r.content).toEqual({});
    }
  });
  test("v11: only the essential keys", () => {
    const r = redactEventWithAlgorithm(ev("m.room.message", { body: "x" }), "v11");
    expect(Object.keys(r).sort()).toEqual(TOP_V11);
  });
  test("absent keys stay absent; missing or non-object content becomes {}", () => {
    expect(redactEvent({ type: "m.room.message", sender: "@a:b" }, getRoomVersion("11"))).toEqual({ type: "m.room.message", sender: "@a:b", content: {} });
    expect(redactEvent({ type: "m.room.create", content: [1] }, getRoomVersion("11"))).toEqual({ type: "m.room.create", content: {} });
  });
});

describe("redaction: content by event type", () => {
  const cases: [string, Record<string, unknown>, Record<RedactionAlgorithm, Record<string, unknown>>][] = [
    [
      "m.room.member",
      { membership: "join", join_authorised_via_users_server: "@a:b", displayname: "x", third_party_invite: { signed: { mxid: "@m:x" }, display_name: "d" } },
      {
        v1: { membership: "join" },
        v6: { membership: "join" },
        v8: { membership: "join" },
        v9: { membership: "join", join_authorised_via_users_server: "@a:b" },
        v11: { membership: "join", join_authorised_via_users_server: "@a:b", third_party_invite: { signed: { mxid: "@m:x" } } },
      },
    ],
    [
      "m.room.create",
      { creator: "@c:x", room_version: "1", "m.federate": false },
      {
        v1: { creator: "@c:x" },
        v6: { creator: "@c:x" },
        v8: { creator: "@c:x" },
        v9: { creator: "@c:x" },
        v11: { creator: "@c:x", room_version: "1", "m.federate": false },
      },
    ],
    [
      "m.room.join_rules",
      { join_rule: "restricted", allow: [{ type: "m.room_membership" }], other: 1 },
      {
        v1: { join_rule: "restricted" },
        v6: { join_rule: "restricted" },
        v8: { join_rule: "restricted", allow: [{ type: "m.room_membership" }] },
        v9: { join_rule: "restricted", allow: [{ type: "m.room_membership" }] },
        v11: { join_rule: "restricted", allow: [{ type: "m.room_membership" }] },
      },
    ],
    [
      "m.room.power_levels",
      { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7, invite: 8, notifications: { room: 9 } },
      {
        v1: { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7 },
        v6: { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7 },
        v8: { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7 },
        v9: { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7 },
        v11: { ban: 1, events: { a: 1 }, events_default: 2, kick: 3, redact: 4, state_default: 5, users: { "@u:x": 6 }, users_default: 7, invite: 8 },
      },
    ],
    ["m.room.aliases", { aliases: ["#a:x"] }, { v1: { aliases: ["#a:x"] }, v6: {}, v8: {}, v9: {}, v11: {} }],
    [
      "m.room.history_visibility",
      { history_visibility: "shared", x: 1 },
      { v1: { history_visibility: "shared" }, v6: { history_visibility: "shared" }, v8: { history_visibility: "shared" }, v9: { history_visibility: "shared" }, v11: { history_visibility: "shared" } },
    ],
    ["m.room.redaction", { redacts: "$x", reason: "r" }, { v1: {}, v6: {}, v8: {}, v9: {}, v11: { redacts: "$x" } }],
    ["m.room.message", { body: "b" }, { v1: {}, v6: {}, v8: {}, v9: {}, v11: {} }],
  ];
  for (const [type, content, byAlg] of cases) {
    test(type, () => {
      for (const [alg, expected] of Object.entries(byAlg)) {
        expect({ alg, content: redactEventWithAlgorithm(ev(type, content), alg as RedactionAlgorithm).content }).toEqual({ alg, content: expected });
      }
    });
  }

  test("v11 third_party_invite: object without signed becomes {}, non-objects are dropped", () => {
    const r = (tpi: unknown) => redactEventWithAlgorithm(ev("m.room.member", { membership: "invite", third_party_invite: tpi }), "v11").content;
    expect(r({ display_name: "x" })).toEqual({ membership: "invite", third_party_invite: {} });
    expect(r("str")).toEqual({ membership: "invite" });
    expect(r({ signed: 5 })).toEqual({ membership: "invite", third_party_invite: { signed: 5 } });
  });

  test("v12 redacts exactly like v11", () => {
    const e = ev("m.room.create", { creator: "@c:x", additional_creators: ["@d:x"] });
    expect(redactEvent(e, getRoomVersion("12"))).toEqual(redactEvent(e, getRoomVersion("11")));
  });

  test("the input is never mutated and the result has fresh top-level and content objects", () => {
    const e = ev("m.room.create", { creator: "@c:x" }); // deep-frozen: any mutation would throw
    const r = redactEvent(e, getRoomVersion("11"));
    expect(r).not.toBe(e);
    expect(r.content).not.toBe(e.content);
    (r.content as Record<string, unknown>).added = 1;
    r.added = 1;
    expect(e.content).toEqual({ creator: "@c:x" });
  });
});

describe("redaction: differential against an independent Python implementation", () => {
  test("random events under every algorithm", async () => {
    const rng = new Rng(0x7ed);
    const algs: RedactionAlgorithm[] = ["v1", "v6", "v8", "v9", "v11"];
    const cases = Array.from({ length: 2500 }, () => ({ event: randomEvent(rng, rng.bool()), alg: rng.pick(algs) }));
    const res = await runOracle(cases.map((c) => ({ op: "redact", event: c.event, alg: c.alg, strict: false })));
    cases.forEach((c, i) => {
      const ours = canonicalJson(redactEventWithAlgorithm(c.event, c.alg), { lenient: true });
      expect({ i, alg: c.alg, ours }).toEqual({ i, alg: c.alg, ours: Buffer.from(oracleBytes(res[i]!)).toString("utf8") });
    });
  });
});
