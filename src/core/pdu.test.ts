import { describe, expect, test } from "bun:test";
import { decodeBase64 } from "./base64.ts";
import { canonicalJson } from "./canonical-json.ts";
import { computeEventId } from "./event-id.ts";
import { checkContentHash } from "./hashes.ts";
import {
  MAX_PDU_BYTES,
  PduError,
  addContentHash,
  assertValidPdu,
  checkPdu,
  checkPduFormat,
  checkPduSize,
  hashAndSignEvent,
  computeEventSignature,
  hasValidPolicySignature,
  needsPolicySignature,
  policyServerOf,
  POLICY_SERVER_KEY_ID,
  withPolicySignature,
  requiredSignatureServers,
  signEvent,
  signatureKeyRequests,
  verifyEventSignatures,
  verifyEventSignaturesAsync,
} from "./pdu.ts";
import { redactEvent } from "./redaction.ts";
import { ROOM_VERSIONS, getRoomVersion, type RoomVersion } from "./room-versions.ts";
import { signingKeyFromSeed, type SigningKey } from "./signing.ts";
import { EVENT_SIGNING_VECTORS, SIGNING_KEY_SEED_BASE64 } from "./test-vectors.ts";
import { oracleBytes, runOracle } from "./testing/python-oracle.ts";
import { Rng, plant, randomEvent, randomFloat } from "./testing/random-json.ts";

type Ev = Record<string, unknown>;
const appendixKey = signingKeyFromSeed(decodeBase64(SIGNING_KEY_SEED_BASE64), "1");
const keyA = signingKeyFromSeed(new Uint8Array(32).fill(1), "a");
const keyB = signingKeyFromSeed(new Uint8Array(32).fill(2), "b");
const KEYS: Record<string, SigningKey> = { "a.example": keyA, "b.example": keyB, domain: appendixKey };
const lookup = (server: string, keyId: string) => (KEYS[server]?.keyId === keyId ? KEYS[server]!.verifyKey : undefined);
const ALL = [...ROOM_VERSIONS.values()];

const HASH_URL = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg";
const HASH_STD = "CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o";

/** A well-formed, unsigned event for the room version. */
function draft(rv: RoomVersion, over: Ev = {}): Ev {
  const ref = rv.eventIdInEvent ? [["$p:a.example", { sha256: "x" }]] : [rv.eventIdUrlSafe ? "$" + HASH_URL : "$" + HASH_STD];
  return {
    type: "m.room.message",
    room_id: rv.roomIdFromCreateEvent ? "!" + HASH_URL : "!room:a.example",
    sender: "@alice:a.example",
    content: { body: "hello" },
    origin_server_ts: 1_700_000_000_000,
    depth: 5,
    prev_events: ref,
    auth_events: ref,
    ...(rv.eventIdInEvent ? { event_id: "$e1:a.example" } : {}),
    ...over,
  };
}
const signed = (rv: RoomVersion, over: Ev = {}, server = "a.example", key = keyA) => hashAndSignEvent(draft(rv, over), rv, server, key);

describe("hashAndSignEvent: appendix vectors", () => {
  test("minimal event, every room version with the pre-v11 redaction algorithm", () => {
    const [input, expected] = EVENT_SIGNING_VECTORS[0]!;
    for (const rv of ALL.filter((v) => v.redaction !== "v11")) {
      expect({ v: rv.id, out: hashAndSignEvent(JSON.parse(input), rv, "domain", appendixKey) }).toEqual({ v: rv.id, out: JSON.parse(expected) });
    }
  });

  test("event with redactable content and an event_id (room versions 1–2)", () => {
    const [input, expected] = EVENT_SIGNING_VECTORS[1]!;
    for (const v of ["1", "2"]) {
      const out = hashAndSignEvent(JSON.parse(input), getRoomVersion(v), "domain", appendixKey);
      expect(out).toEqual(JSON.parse(expected));
      expect(canonicalJson(out)).toBe(canonicalJson(JSON.parse(expected)));
    }
  });

  test("the vectors verify", () => {
    // The first vector has no event_id: a room version 3–10 event. The second carries one: rooms 1–2.
    const [first, second] = EVENT_SIGNING_VECTORS.map(([, expected]) => JSON.parse(expected!));
    for (const [e, v] of [[first, "4"], [second, "1"]] as const) {
      expect(verifyEventSignatures(e, getRoomVersion(v), lookup)).toMatchObject({ ok: true, contentHashValid: true, requiredServers: ["domain"] });
    }
    // The signatures cover event_id in rooms 1–2: adding one to the first vector breaks them.
    expect(verifyEventSignatures({ ...first, event_id: "$0:domain" }, getRoomVersion("1"), lookup).ok).toBe(false);
  });

  test("does not modify its input; keeps unsigned and other hashes", () => {
    const rv = getRoomVersion("11");
    const input = draft(rv, { unsigned: { age: 1 }, hashes: { sha512: "x" } });
    const before = structuredClone(input);
    const out = hashAndSignEvent(input, rv, "a.example", keyA);
    expect(input).toEqual(before);
    expect(out.unsigned).toEqual({ age: 1 });
    expect(out.hashes).toMatchObject({ sha512: "x" });
    expect(checkContentHash(out, rv)).toBe(true);
  });
});

describe("verifyEventSignatures", () => {
  test("valid events in every room version", () => {
    for (const rv of ALL) {
      const e = signed(rv);
      expect(checkPdu(e, rv)).toEqual([]);
      const r = verifyEventSignatures(e, rv, lookup);
      expect({ v: rv.id, r }).toMatchObject({ v: rv.id, r: { ok: true, contentHashValid: true, requiredServers: ["a.example"] } });
    }
  });

  test("changed non-essential content: signatures hold, the hash fails, the redacted event is used", () => {
    for (const rv of ALL) {
      const e = { ...signed(rv), content: { body: "tampered" } };
      const r = verifyEventSignatures(e, rv, lookup);
      if (!r.ok) throw new Error("expected ok");
      expect(r.contentHashValid).toBe(false);
      expect(r.event).toEqual(redactEvent(e, rv));
      expect(r.event.content).toEqual({});
    }
  });

  test("changed essential fields break the signature", () => {
    for (const rv of ALL) {
      for (const over of [{ depth: 6 }, { sender: "@mallory:a.example" }, { type: "m.room.other" }, { origin_server_ts: 1 }]) {
        const e = { ...signed(rv), ...over };
        expect({ v: rv.id, over, ok: verifyEventSignatures(e, rv, lookup).ok }).toEqual({ v: rv.id, over, ok: false });
      }
    }
  });

  test("a redacted copy still verifies (and is reported as such)", () => {
    const rv = getRoomVersion("11");
    const e = signed(rv);
    const r = verifyEventSignatures(redactEvent(e, rv), rv, lookup);
    expect(r).toMatchObject({ ok: true, contentHashValid: false });
  });

  test("unknown keys fail; the lookup receives origin_server_ts from room version 5", () => {
    for (const rv of ALL) {
      const e = signed(rv);
      const seen: number[] = [];
      const r = verifyEventSignatures(e, rv, (_s, _k, ts) => (seen.push(ts), undefined));
      expect(r.ok).toBe(false);
      expect(seen).toEqual([rv.enforceKeyValidity ? 1_700_000_000_000 : 0]);
      expect(signatureKeyRequests(e, rv)).toEqual([{ serverName: "a.example", keyIds: ["ed25519:a"], minimumValidUntilTs: seen[0]! }]);
    }
  });

  test("signature by the wrong server fails", () => {
    const rv = getRoomVersion("10");
    const e = signed(rv, {}, "b.example", keyB); // sender is on a.example
    const r = verifyEventSignatures(e, rv, lookup);
    expect(r).toMatchObject({ ok: false, failures: [{ server: "a.example" }] });
  });

  test("an event carrying a local event_id in v3+ verifies as its wire form", () => {
    const rv = getRoomVersion("12");
    const e = signed(rv);
    const withId = { ...e, event_id: computeEventId(e, rv) };
    expect(verifyEventSignatures(withId, rv, lookup)).toMatchObject({ ok: true, contentHashValid: true });
    const r = verifyEventSignatures(withId, rv, lookup);
    if (r.ok) expect(r.event.event_id).toBeUndefined();
  });

  test("async lookup", async () => {
    const rv = getRoomVersion("9");
    const e = signed(rv);
    const r = await verifyEventSignaturesAsync(e, rv, async (s, k) => lookup(s, k));
    expect(r).toMatchObject({ ok: true, contentHashValid: true });
    expect((await verifyEventSignaturesAsync(e, rv, async () => undefined)).ok).toBe(false);
  });
});

describe("which servers must sign", () => {
  test("rooms 1–2 also need the event ID's server", () => {
    const rv = getRoomVersion("1");
    const ev = draft(rv, { event_id: "$x:b.example" });
    expect(requiredSignatureServers(ev, rv)).toEqual({ servers: ["a.example", "b.example"], problems: [] });
    const onlyA = hashAndSignEvent(ev, rv, "a.example", keyA);
    expect(verifyEventSignatures(onlyA, rv, lookup)).toMatchObject({ ok: false, failures: [{ server: "b.example" }] });
    const both = signEvent(onlyA, rv, "b.example", keyB);
    expect(verifyEventSignatures(both, rv, lookup)).toMatchObject({ ok: true, contentHashValid: true });
    // Room version 3+ ignores other servers.
    expect(requiredSignatureServers(draft(getRoomVersion("3")), getRoomVersion("3")).servers).toEqual(["a.example"]);
  });

  test("restricted joins (rooms 8+) need the authorising server too", () => {
    const content = { membership: "join", join_authorised_via_users_server: "@bob:b.example" };
    for (const rv of ALL) {
      const ev = draft(rv, { type: "m.room.member", state_key: "@alice:a.example", content });
      const servers = requiredSignatureServers(ev, rv).servers;
      expect({ v: rv.id, servers }).toEqual({ v: rv.id, servers: rv.restrictedJoinAllowed ? ["a.example", "b.example"] : ["a.example"] });
      if (!rv.restrictedJoinAllowed) continue;
      const one = hashAndSignEvent(ev, rv, "a.example", keyA);
      expect(verifyEventSignatures(one, rv, lookup).ok).toBe(false);
      expect(verifyEventSignatures(signEvent(one, rv, "b.example", keyB), rv, lookup).ok).toBe(true);
    }
    const rv = getRoomVersion("10");
    const bad = draft(rv, { type: "m.room.member", state_key: "@alice:a.example", content: { membership: "join", join_authorised_via_users_server: 5 } });
    expect(requiredSignatureServers(bad, rv).problems.length).toBe(1);
    // Not a join: not needed.
    const leave = draft(rv, { type: "m.room.member", state_key: "@alice:a.example", content: { ...content, membership: "leave" } });
    expect(requiredSignatureServers(leave, rv).servers).toEqual(["a.example"]);
  });

  test("invites from third-party invites do not need the sender's server", () => {
    const content = { membership: "invite", third_party_invite: { signed: { mxid: "@c:c.example", token: "t" } } };
    for (const rv of ALL) {
      const ev = draft(rv, { type: "m.room.member", state_key: "@c:c.example", content });
      expect({ v: rv.id, servers: requiredSignatureServers(ev, rv).servers }).toEqual({ v: rv.id, servers: rv.eventIdInEvent ? ["a.example"] : [] });
    }
    // A plain invite needs the sender's server.
    const rv = getRoomVersion("11");
    expect(requiredSignatureServers(draft(rv, { type: "m.room.member", state_key: "@c:c.example", content: { membership: "invite" } }), rv).servers).toEqual(["a.example"]);
  });

  test("a malformed sender is a problem, and fails verification", () => {
    const rv = getRoomVersion("11");
    const e = { ...signed(rv), sender: "nobody" };
    expect(requiredSignatureServers(e, rv).problems).toEqual(["sender is not a valid user ID"]);
    expect(verifyEventSignatures(e, rv, lookup).ok).toBe(false);
  });
});

describe("format checks", () => {
  const fields = (issues: { field: string }[]) => issues.map((i) => i.field);

  test("every room version accepts its own well-formed events", () => {
    for (const rv of ALL) expect({ v: rv.id, issues: checkPduFormat(signed(rv), rv) }).toEqual({ v: rv.id, issues: [] });
  });

  test("event_id: required in rooms 1–2, forbidden from room 3", () => {
    for (const rv of ALL) {
      const e = signed(rv);
      if (rv.eventIdInEvent) {
        const { event_id: _, ...without } = e;
        expect(fields(checkPduFormat(without, rv))).toEqual(["event_id"]);
        expect(fields(checkPduFormat({ ...e, event_id: "$" + HASH_URL }, rv))).toEqual(["event_id"]);
      } else {
        expect(fields(checkPduFormat({ ...e, event_id: "$x" }, rv))).toEqual(["event_id"]);
      }
    }
  });

  test("room_id per version; v12 create events have none", () => {
    const v11 = getRoomVersion("11");
    const v12 = getRoomVersion("12");
    expect(fields(checkPduFormat(signed(v11, { room_id: "!" + HASH_URL }), v11))).toEqual(["room_id"]);
    expect(fields(checkPduFormat(signed(v12, { room_id: "!room:a.example" }), v12))).toEqual(["room_id"]);
    const { room_id: _, ...noRoom } = draft(v12, { type: "m.room.create", state_key: "", content: {} });
    const create = hashAndSignEvent(noRoom, v12, "a.example", keyA);
    expect(checkPduFormat(create, v12)).toEqual([]);
    expect(fields(checkPduFormat({ ...create, room_id: "!" + HASH_URL }, v12))).toEqual(["room_id"]);
    expect(fields(checkPduFormat({ ...create, room_id: undefined }, v11))).toEqual(["room_id"]);
  });

  test("prev_events/auth_events shapes per version", () => {
    const v1 = getRoomVersion("1");
    const v3 = getRoomVersion("3");
    const v4 = getRoomVersion("4");
    expect(fields(checkPduFormat(signed(v1, { prev_events: ["$p:a.example"] }), v1))).toEqual(["prev_events[0]"]);
    expect(fields(checkPduFormat(signed(v1, { auth_events: [["$p:a.example"]] }), v1))).toEqual(["auth_events[0]"]);
    expect(fields(checkPduFormat(signed(v4, { prev_events: [["$p:a.example", {}]] }), v4))).toEqual(["prev_events[0]"]);
    expect(fields(checkPduFormat(signed(v4, { prev_events: ["$" + HASH_URL.replace("-", "+")] }), v4))).toEqual(["prev_events[0]"]);
    expect(fields(checkPduFormat(signed(v3, { prev_events: ["$" + HASH_URL] }), v3))).toEqual(["prev_events[0]"]);
    expect(fields(checkPduFormat(signed(v4, { prev_events: "x" }), v4))).toEqual(["prev_events"]);
  });

  test("required fields and types", () => {
    const rv = getRoomVersion("10");
    const e = signed(rv);
    const cases: [Ev, string][] = [
      [{ type: 5 }, "type"],
      [{ sender: "alice" }, "sender"],
      [{ content: [] }, "content"],
      [{ origin_server_ts: "1" }, "origin_server_ts"],
      [{ depth: -1 }, "depth"],
      [{ state_key: 1 }, "state_key"],
      [{ unsigned: 1 }, "unsigned"],
      [{ hashes: undefined }, "hashes"],
      [{ hashes: { sha256: 1 } }, "hashes.sha256"],
      [{ hashes: { sha256: "!!" } }, "hashes.sha256"],
      [{ signatures: { x: { k: 1 } } }, "signatures.x"],
      [{ redacts: 5 }, "redacts"],
    ];
    for (const [over, field] of cases) expect({ over, f: fields(checkPduFormat({ ...e, ...over }, rv)) }).toEqual({ over, f: [field] });
    expect(fields(checkPduFormat(5, rv))).toEqual([""]);
    const v11 = getRoomVersion("11");
    expect(fields(checkPduFormat(signed(v11, { type: "m.room.redaction", content: { redacts: 1 } }), v11))).toEqual(["content.redacts"]);
  });

  test("strict canonical JSON from room version 6; lenient before", () => {
    for (const rv of ALL) {
      const e = { ...signed(rv), content: { users: { "@bob:a.example": 50.57 } } };
      const issues = checkPduFormat(e, rv);
      expect({ v: rv.id, fields: fields(issues) }).toEqual({ v: rv.id, fields: rv.strictCanonicalJson ? ['content.users["@bob:a.example"]'] : [] });
    }
    const v6 = getRoomVersion("6");
    expect(fields(checkPduFormat({ ...signed(v6), depth: 2 ** 53 }, v6))).toEqual(["depth"]);
    const v1 = getRoomVersion("1");
    expect(fields(checkPduFormat({ ...signed(v1), content: { x: "\ud800" } }, v1))).toEqual(["content.x"]);
  });
});

describe("size limits", () => {
  const rv = getRoomVersion("11");
  test("whole event at most 65536 bytes of canonical JSON", () => {
    const base = signed(rv, { content: { body: "" } });
    const room = MAX_PDU_BYTES - canonicalJson(base).length;
    const exact = { ...base, content: { body: "x".repeat(room) } };
    expect(canonicalJson(exact).length).toBe(MAX_PDU_BYTES);
    expect(checkPduSize(exact, rv)).toEqual([]);
    const over = { ...base, content: { body: "x".repeat(room + 1) } };
    expect(checkPduSize(over, rv)).toMatchObject([{ kind: "size", field: "" }]);
    // Multi-byte characters count as bytes.
    const utf8 = { ...base, content: { body: "é".repeat(Math.ceil(room / 2) + 1) } };
    expect(checkPduSize(utf8, rv)).toMatchObject([{ kind: "size" }]);
  });

  test("type and state_key at most 255 bytes", () => {
    expect(checkPduSize(signed(rv, { type: "t".repeat(255), state_key: "s".repeat(255) }), rv)).toEqual([]);
    expect(checkPduSize(signed(rv, { type: "t".repeat(256) }), rv)).toMatchObject([{ field: "type" }]);
    expect(checkPduSize(signed(rv, { state_key: "é".repeat(128) }), rv)).toMatchObject([{ field: "state_key" }]);
  });

  test("checkPdu / assertValidPdu", () => {
    expect(checkPdu(signed(rv, { type: "t".repeat(300) }), rv)).toMatchObject([{ kind: "size", field: "type" }]);
    expect(() => assertValidPdu({ ...signed(rv), depth: "x" }, rv)).toThrow(PduError);
    expect(() => assertValidPdu(signed(rv), rv)).not.toThrow();
  });
});

describe("addContentHash / signEvent", () => {
  test("co-signing keeps the first signature and the hash", () => {
    const rv = getRoomVersion("9");
    const e = signEvent(signed(rv), rv, "b.example", keyB);
    expect(Object.keys(e.signatures).sort()).toEqual(["a.example", "b.example"]);
    expect(addContentHash(e, rv).hashes).toEqual(e.hashes);
  });
});

describe("hashAndSignEvent: differential against Python (spec example code + signedjson)", () => {
  test("random events in every room version", async () => {
    const rng = new Rng(0x516e);
    const cases = Array.from({ length: 1500 }, () => {
      const rv = rng.pick(ALL);
      let event = randomEvent(rng, rv.eventIdInEvent);
      if (!rv.strictCanonicalJson && rng.bool(0.3)) event = { ...event, content: plant(rng, event.content ?? {}, randomFloat(rng)) };
      return { rv, event, key: signingKeyFromSeed(rng.bytes(32), rng.pick(["1", "a_XyZ0"])) };
    });
    const res = await runOracle(
      cases.map(({ rv, event, key }) => ({
        op: "hash_and_sign",
        event,
        alg: rv.redaction,
        strict: rv.strictCanonicalJson,
        name: "example.org",
        seed: Buffer.from(key.seed).toString("base64"),
        version: key.version,
      })),
    );
    cases.forEach(({ rv, event, key }, i) => {
      const ours = hashAndSignEvent(event, rv, "example.org", key);
      const theirs = Buffer.from(oracleBytes(res[i]!)).toString("utf8");
      expect({ i, v: rv.id, ours: canonicalJson(ours, { lenient: true }) }).toEqual({ i, v: rv.id, ours: theirs });
    });
  });
});

describe("policy server signatures", () => {
  const rv = getRoomVersion("12")!;
  const server = signingKeyFromSeed(new Uint8Array(32).fill(1), "a_1");
  const policyKey = signingKeyFromSeed(new Uint8Array(32).fill(2), "policy_server");
  const event = hashAndSignEvent(
    { type: "m.room.message", room_id: "!r:a.org", sender: "@u:a.org", content: { body: "hi" }, origin_server_ts: 1, depth: 3, prev_events: [], auth_events: [] },
    rv,
    "a.org",
    server,
  );

  test("the m.room.policy content: via and an ed25519 key, else no policy server", () => {
    expect(policyServerOf({ via: "ps.org", public_keys: { ed25519: "abc" } })).toEqual({ via: "ps.org", ed25519: "abc" });
    for (const bad of [undefined, {}, { via: "ps.org" }, { via: 5, public_keys: { ed25519: "x" } }, { via: "", public_keys: { ed25519: "x" } }, { via: "ps.org", public_keys: { curve: "x" } }, { via: "ps.org", public_keys: "x" }]) {
      expect(policyServerOf(bad)).toBeUndefined();
    }
  });

  test("every event but the m.room.policy state event itself needs the signature", () => {
    expect(needsPolicySignature({ type: "m.room.policy", state_key: "" })).toBe(false);
    expect(needsPolicySignature({ type: "m.room.policy", state_key: "x" })).toBe(true);
    expect(needsPolicySignature({ type: "m.room.policy" })).toBe(true);
    expect(needsPolicySignature({ type: "m.room.member", state_key: "@u:a.org" })).toBe(true);
  });

  test("a signature by the room-state key under ed25519:policy_server verifies; others do not", () => {
    const sig = computeEventSignature(event, rv, policyKey);
    const signed = withPolicySignature(event, "ps.org", { [POLICY_SERVER_KEY_ID]: sig });
    // The origin's signature is kept.
    expect(Object.keys(signed.signatures as object).sort()).toEqual(["a.org", "ps.org"]);
    expect(hasValidPolicySignature(signed, rv, "ps.org", policyKey.publicKeyBase64)).toBe(true);
    expect(hasValidPolicySignature(event, rv, "ps.org", policyKey.publicKeyBase64)).toBe(false);
    expect(hasValidPolicySignature(signed, rv, "ps.org", server.publicKeyBase64)).toBe(false);
    expect(hasValidPolicySignature(signed, rv, "other.org", policyKey.publicKeyBase64)).toBe(false);
    // Signed for another event (different content, so different hashes): invalid here.
    const other = hashAndSignEvent({ ...event, content: { body: "changed" }, hashes: undefined, signatures: undefined } as never, rv, "a.org", server);
    const moved = withPolicySignature(other, "ps.org", { [POLICY_SERVER_KEY_ID]: sig });
    expect(hasValidPolicySignature(moved, rv, "ps.org", policyKey.publicKeyBase64)).toBe(false);
  });
});
