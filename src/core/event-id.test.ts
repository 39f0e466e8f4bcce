import { describe, expect, test } from "bun:test";
import { isValidEventId, isValidRoomId } from "../protocol/ids.ts";
import { decodeBase64, encodeBase64, encodeBase64Url } from "./base64.ts";
import { EventIdError, computeEventId, createEventIdOfRoom, roomIdFromCreateEvent, withEventId } from "./event-id.ts";
import { computeReferenceHash } from "./hashes.ts";
import { hashAndSignEvent } from "./pdu.ts";
import { getRoomVersion } from "./room-versions.ts";
import { signingKeyFromSeed } from "./signing.ts";
import { SIGNING_KEY_SEED_BASE64 } from "./test-vectors.ts";
import { runOracle } from "./testing/python-oracle.ts";
import { Rng, randomEvent } from "./testing/random-json.ts";

const key = signingKeyFromSeed(decodeBase64(SIGNING_KEY_SEED_BASE64), "1");

function event(depth: number) {
  return {
    type: "m.room.message",
    room_id: "!r:example.org",
    sender: "@a:example.org",
    content: { body: "hi" },
    origin_server_ts: 1_700_000_000_000,
    depth,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: "x" },
    signatures: {},
  };
}

describe("event IDs", () => {
  test("rooms 1–2 carry their event ID", () => {
    for (const v of ["1", "2"]) {
      expect(computeEventId({ ...event(1), event_id: "$abc:example.org" }, getRoomVersion(v))).toBe("$abc:example.org");
      expect(() => computeEventId(event(1), getRoomVersion(v))).toThrow(EventIdError);
    }
  });

  test("room 3 uses standard Base64, rooms 4+ URL-safe Base64, of the reference hash", () => {
    let sawDifference = false;
    for (let d = 1; d < 200; d++) {
      const e = event(d);
      const hash = computeReferenceHash(e, getRoomVersion("3"));
      const v3 = computeEventId(e, getRoomVersion("3"));
      expect(v3).toBe("$" + encodeBase64(hash));
      expect(isValidEventId(v3, "base64")).toBe(true);
      for (const v of ["4", "5", "6", "7", "8", "9", "10"]) {
        expect(computeEventId(e, getRoomVersion(v))).toBe("$" + encodeBase64Url(hash));
      }
      const v4 = computeEventId(e, getRoomVersion("4"));
      expect(isValidEventId(v4, "base64url")).toBe(true);
      expect(v4.length).toBe(44);
      if (v3 !== v4) sawDifference = true;
    }
    expect(sawDifference).toBe(true);
  });

  test("a v3+ event ID does not depend on a carried event_id, unsigned or signatures", () => {
    const rv = getRoomVersion("11");
    const e = event(5);
    const id = computeEventId(e, rv);
    expect(computeEventId({ ...e, event_id: "$whatever" }, rv)).toBe(id);
    expect(computeEventId({ ...e, unsigned: { age: 5 }, signatures: { x: { "ed25519:1": "y" } } }, rv)).toBe(id);
    expect(computeEventId({ ...e, content: {} }, rv)).toBe(id); // redaction keeps the ID
    expect(computeEventId({ ...e, depth: 6 }, rv)).not.toBe(id);
    expect(withEventId(e, rv)).toEqual({ ...e, event_id: id });
  });
});

describe("room version 12 room IDs", () => {
  const v12 = getRoomVersion("12");
  const create = hashAndSignEvent(
    {
      type: "m.room.create",
      state_key: "",
      sender: "@creator:example.org",
      content: { room_version: "12" },
      origin_server_ts: 1_700_000_000_000,
      depth: 1,
      prev_events: [],
      auth_events: [],
    },
    v12,
    "example.org",
    key,
  );

  test("the room ID is the create event's ID with sigil !", () => {
    const roomId = roomIdFromCreateEvent(create, v12);
    const eventId = computeEventId(create, v12);
    expect(roomId).toBe("!" + eventId.slice(1));
    expect(isValidRoomId(roomId, "hash")).toBe(true);
    expect(isValidRoomId(roomId, "domain")).toBe(false);
    expect(createEventIdOfRoom(roomId, v12)).toBe(eventId);
  });

  test("older room versions do not derive room IDs", () => {
    expect(() => roomIdFromCreateEvent(create, getRoomVersion("11"))).toThrow(EventIdError);
    expect(() => createEventIdOfRoom("!abc:x", getRoomVersion("11"))).toThrow(EventIdError);
    expect(() => createEventIdOfRoom("$abc", v12)).toThrow(EventIdError);
  });
});

describe("event IDs: differential against Python reference hashes", () => {
  test("random events", async () => {
    const rng = new Rng(0xe1d);
    const versions = ["3", "4", "6", "9", "11", "12"].map(getRoomVersion);
    const cases = Array.from({ length: 500 }, () => ({ rv: rng.pick(versions), event: randomEvent(rng, false) }));
    const res = await runOracle(cases.map(({ rv, event }) => ({ op: "reference_hash", event, alg: rv.redaction, strict: true })));
    cases.forEach(({ rv, event }, i) => {
      const std = res[i]!.ok as string;
      const expected = "$" + (rv.eventIdUrlSafe ? std.replaceAll("+", "-").replaceAll("/", "_") : std);
      expect({ i, id: computeEventId(event, rv) }).toEqual({ i, id: expected });
    });
  });
});
