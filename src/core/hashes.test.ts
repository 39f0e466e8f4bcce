import { describe, expect, test } from "bun:test";
import { encodeBase64 } from "./base64.ts";
import { CanonicalJsonError } from "./canonical-json.ts";
import {
  checkContentHash,
  computeContentHash,
  computeContentHashBase64,
  computeReferenceHash,
  contentHashInput,
  referenceHashInput,
  sha256,
  sha256Base64,
} from "./hashes.ts";
import { getRoomVersion } from "./room-versions.ts";
import { EVENT_SIGNING_VECTORS } from "./test-vectors.ts";
import { runOracle, type OracleRequest } from "./testing/python-oracle.ts";
import { Rng, plant, randomEvent, randomFloat } from "./testing/random-json.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("sha256", () => {
  test("known answers", () => {
    expect(hex(sha256(""))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(sha256("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex(sha256(new TextEncoder().encode("abc")))).toBe(hex(sha256("abc")));
    expect(hex(sha256("日本"))).toBe(hex(sha256(new TextEncoder().encode("日本"))));
    expect(sha256Base64("")).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  });
});

describe("content hash", () => {
  test("appendix event signing vectors", () => {
    const v1 = getRoomVersion("1");
    for (const [input, expected] of EVENT_SIGNING_VECTORS) {
      const e = JSON.parse(input);
      const want = JSON.parse(expected).hashes.sha256;
      expect(computeContentHashBase64(e, v1)).toBe(want);
      expect(checkContentHash({ ...e, hashes: { sha256: want } }, v1)).toBe(true);
    }
  });

  test("ignores unsigned, signatures and hashes; covers everything else", () => {
    const rv = getRoomVersion("11");
    const e = { type: "m.room.message", content: { body: "x" }, sender: "@a:b" };
    const h = computeContentHashBase64(e, rv);
    expect(computeContentHashBase64({ ...e, unsigned: { age: 1 }, signatures: { a: {} }, hashes: { sha256: "x" } }, rv)).toBe(h);
    expect(computeContentHashBase64({ ...e, content: { body: "y" } }, rv)).not.toBe(h);
    expect(contentHashInput(e, rv)).toBe('{"content":{"body":"x"},"sender":"@a:b","type":"m.room.message"}');
  });

  test("event_id is part of v1/v2 events and ignored (local metadata) in v3+", () => {
    const e = { type: "t", content: {}, sender: "@a:b" };
    expect(computeContentHashBase64({ ...e, event_id: "$x" }, getRoomVersion("4"))).toBe(computeContentHashBase64(e, getRoomVersion("4")));
    expect(computeContentHashBase64({ ...e, event_id: "$x:b" }, getRoomVersion("1"))).not.toBe(computeContentHashBase64(e, getRoomVersion("1")));
  });

  test("checkContentHash: missing, malformed or wrong hashes are false; URL-safe and padded forms accepted", () => {
    const rv = getRoomVersion("10");
    const e = { type: "t", content: { a: "\u{1f600}" }, sender: "@a:b" };
    const bytes = computeContentHash(e, rv);
    expect(checkContentHash(e, rv)).toBe(false);
    expect(checkContentHash({ ...e, hashes: "x" }, rv)).toBe(false);
    expect(checkContentHash({ ...e, hashes: { sha256: 5 } }, rv)).toBe(false);
    expect(checkContentHash({ ...e, hashes: { sha256: "!!" } }, rv)).toBe(false);
    expect(checkContentHash({ ...e, hashes: { sha256: encodeBase64(bytes.subarray(1)) } }, rv)).toBe(false);
    expect(checkContentHash({ ...e, hashes: { sha256: Buffer.from(bytes).toString("base64") } }, rv)).toBe(true);
    expect(checkContentHash({ ...e, hashes: { sha256: Buffer.from(bytes).toString("base64url") } }, rv)).toBe(true);
  });

  test("strict room versions refuse floats; v1–v5 hash them like Python", () => {
    const e = { type: "m.room.power_levels", content: { users: { "@bob:localhost": 50.57 } }, sender: "@a:b" };
    expect(() => computeContentHash(e, getRoomVersion("6"))).toThrow(CanonicalJsonError);
    expect(contentHashInput(e, getRoomVersion("5"))).toBe('{"content":{"users":{"@bob:localhost":50.57}},"sender":"@a:b","type":"m.room.power_levels"}');
  });
});

describe("reference hash", () => {
  test("is the hash of the redacted event without signatures and unsigned", () => {
    const rv = getRoomVersion("11");
    const e = { type: "m.room.message", content: { body: "x" }, sender: "@a:b", signatures: { s: {} }, unsigned: { a: 1 }, hashes: { sha256: "h" }, depth: 1 };
    expect(referenceHashInput(e, rv)).toBe('{"content":{},"depth":1,"hashes":{"sha256":"h"},"sender":"@a:b","type":"m.room.message"}');
    expect(hex(computeReferenceHash(e, rv))).toBe(hex(sha256(referenceHashInput(e, rv))));
    // Redacting an event does not change its reference hash.
    expect(hex(computeReferenceHash({ ...e, content: {} }, rv))).toBe(hex(computeReferenceHash(e, rv)));
  });
});

describe("hashes: differential against Python (canonicaljson + hashlib)", () => {
  test("content and reference hashes of random events in every room version", async () => {
    const rng = new Rng(0x4a54);
    const versions = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"].map(getRoomVersion);
    const cases = Array.from({ length: 2500 }, () => {
      const rv = rng.pick(versions);
      let event = randomEvent(rng, rv.eventIdInEvent);
      // Old room versions must cope with floats (e.g. "floaty" power levels).
      if (!rv.strictCanonicalJson && rng.bool(0.3)) event = { ...event, content: plant(rng, event.content ?? {}, randomFloat(rng)) };
      return { rv, event };
    });
    const reqs: OracleRequest[] = cases.flatMap(({ rv, event }) => [
      { op: "content_hash", event, strict: rv.strictCanonicalJson },
      { op: "reference_hash", event, alg: rv.redaction, strict: rv.strictCanonicalJson },
    ]);
    const res = await runOracle(reqs);
    cases.forEach(({ rv, event }, i) => {
      expect({ i, v: rv.id, content: computeContentHashBase64(event, rv) }).toEqual({ i, v: rv.id, content: res[2 * i]!.ok as string });
      expect({ i, v: rv.id, reference: encodeBase64(computeReferenceHash(event, rv)) }).toEqual({ i, v: rv.id, reference: res[2 * i + 1]!.ok as string });
    });
  });
});
