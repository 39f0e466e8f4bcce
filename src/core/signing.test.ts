import { describe, expect, test } from "bun:test";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { canonicalJson } from "./canonical-json.ts";
import {
  SigningKeyError,
  checkEntitySignature,
  checkJsonSignature,
  formatSigningKeyFile,
  generateSigningKey,
  hasSmallOrder,
  isCanonicalPointEncoding,
  parseKeyId,
  parseSigningKeyFile,
  signJson,
  signatureKeyIds,
  signedContent,
  signingKeyFromSeed,
  verifyJsonSignature,
  verifyKeyFromBase64,
  verifyKeyFromBytes,
  type SigningKey,
} from "./signing.ts";
import { JSON_SIGNING_VECTORS, SIGNING_KEY_ID, SIGNING_KEY_SEED_BASE64, SIGNING_SERVER_NAME } from "./test-vectors.ts";
import { oracleBytes, runOracle, type OracleRequest } from "./testing/python-oracle.ts";
import { Rng, randomObject } from "./testing/random-json.ts";

const appendixKey = signingKeyFromSeed(decodeBase64(SIGNING_KEY_SEED_BASE64), "1");

describe("signing keys", () => {
  test("appendix key", () => {
    expect(appendixKey.keyId).toBe(SIGNING_KEY_ID);
    expect(appendixKey.version).toBe("1");
    expect(appendixKey.seed).toEqual(decodeBase64(SIGNING_KEY_SEED_BASE64));
    expect(appendixKey.verifyKey.bytes.length).toBe(32);
  });

  test("generated keys have a Synapse-style version and sign/verify", () => {
    const k = generateSigningKey();
    expect(k.version).toMatch(/^a_[A-Za-z0-9]{4}$/);
    const sig = k.sign("hello");
    expect(sig.length).toBe(64);
    expect(k.verifyKey.verify("hello", sig)).toBe(true);
    expect(k.verifyKey.verify("hellO", sig)).toBe(false);
    expect(generateSigningKey("abc_1").keyId).toBe("ed25519:abc_1");
  });

  test("invalid seeds and versions", () => {
    expect(() => signingKeyFromSeed(new Uint8Array(31), "1")).toThrow(SigningKeyError);
    expect(() => signingKeyFromSeed(new Uint8Array(32), "a:b")).toThrow(SigningKeyError);
    expect(() => signingKeyFromSeed(new Uint8Array(32), "")).toThrow(SigningKeyError);
    expect(() => verifyKeyFromBytes(new Uint8Array(33))).toThrow(SigningKeyError);
    expect(() => verifyKeyFromBase64("not base64!")).toThrow(SigningKeyError);
  });

  test("verify keys are cached by value", () => {
    const b64 = appendixKey.publicKeyBase64;
    expect(verifyKeyFromBase64(b64)).toBe(verifyKeyFromBase64(b64));
    expect(verifyKeyFromBytes(appendixKey.verifyKey.bytes)).toBe(verifyKeyFromBase64(b64));
  });

  test("parseKeyId", () => {
    expect(parseKeyId("ed25519:a_b:c")).toEqual({ algorithm: "ed25519", version: "a_b:c" });
    expect(parseKeyId("nocolon")).toBeNull();
  });
});

describe("Synapse signing-key file", () => {
  test("round trip", () => {
    const text = `ed25519 a_AbCd ${SIGNING_KEY_SEED_BASE64}\n`;
    const [k, ...rest] = parseSigningKeyFile(text);
    expect(rest).toEqual([]);
    expect(k!.keyId).toBe("ed25519:a_AbCd");
    expect(k!.seed).toEqual(decodeBase64(SIGNING_KEY_SEED_BASE64));
    // The spec's seed has non-zero unused trailing bits ("…XA1"); the canonical encoding ends "…XA0".
    expect(formatSigningKeyFile(k!)).toBe(text.replace("XA1", "XA0"));
    const two = [generateSigningKey("a_1"), generateSigningKey("a_2")];
    const parsed = parseSigningKeyFile(formatSigningKeyFile(two));
    expect(parsed.map((p) => p.publicKeyBase64)).toEqual(two.map((p) => p.publicKeyBase64));
  });

  test("tolerates blank lines, CRLF and padding", () => {
    const keys = parseSigningKeyFile(`\n  ed25519 x ${SIGNING_KEY_SEED_BASE64}=  \r\n\n`);
    expect(keys.length).toBe(1);
    expect(keys[0]!.publicKeyBase64).toBe(appendixKey.publicKeyBase64);
  });

  test("errors name the line", () => {
    expect(() => parseSigningKeyFile("ed25519 a_1")).toThrow(/line 1/);
    expect(() => parseSigningKeyFile(`\nrsa a_1 ${SIGNING_KEY_SEED_BASE64}`)).toThrow(/line 2: unsupported algorithm/);
    expect(() => parseSigningKeyFile("ed25519 a_1 !!!!")).toThrow(/base64/);
    expect(() => parseSigningKeyFile("ed25519 a_1 AAAA")).toThrow(/32 bytes/);
  });
});

describe("signing JSON: appendix vectors", () => {
  for (const [input, expected] of JSON_SIGNING_VECTORS) {
    test(input.replace(/\s+/g, ""), () => {
      const signed = signJson(JSON.parse(input), SIGNING_SERVER_NAME, appendixKey);
      expect(signed).toEqual(JSON.parse(expected));
      expect(canonicalJson(signed)).toBe(canonicalJson(JSON.parse(expected)));
      expect(verifyJsonSignature(JSON.parse(expected), SIGNING_SERVER_NAME, SIGNING_KEY_ID, appendixKey.verifyKey)).toBe(true);
    });
  }

  test("the appendix's key-server example is shaped correctly (its signature belongs to another key)", () => {
    const obj = {
      name: "example.org",
      signing_keys: { "ed25519:1": "XSl0kuyvrXNj6A+7/tkrB9sxSbRi08Of5uRhxOqZtEQ" },
      unsigned: { age_ts: 922834800000 },
      signatures: {
        "example.org": {
          "ed25519:1": "s76RUgajp8w172am0zQb/iPTHsRnb4SkrzGoeCOSFfcBY2V/1c8QfrmdXHpvnc2jK5BD1WiJIxiMW95fMjK7Bw",
        },
      },
    };
    expect(signatureKeyIds(obj, "example.org")).toEqual(["ed25519:1"]);
    expect(signedContent(obj)).toBe('{"name":"example.org","signing_keys":{"ed25519:1":"XSl0kuyvrXNj6A+7/tkrB9sxSbRi08Of5uRhxOqZtEQ"}}');
  });
});

describe("signing JSON: semantics", () => {
  test("keeps other signatures and unsigned, which are not covered; input untouched", () => {
    const input = { a: 1, unsigned: { age: 5 }, signatures: { "other.org": { "ed25519:k": "xyz" } } };
    const frozen = structuredClone(input);
    const signed = signJson(input, "me.org", appendixKey);
    expect(input).toEqual(frozen);
    expect(signed.signatures["other.org"]).toEqual({ "ed25519:k": "xyz" });
    expect(signed.unsigned).toEqual({ age: 5 });
    const changed = { ...signed, unsigned: { age: 999 }, signatures: { ...signed.signatures, "x.org": { "ed25519:1": "zz" } } };
    expect(verifyJsonSignature(changed, "me.org", "ed25519:1", appendixKey.verifyKey)).toBe(true);
    expect(verifyJsonSignature({ ...signed, a: 2 }, "me.org", "ed25519:1", appendixKey.verifyKey)).toBe(false);
  });

  test("failure reasons", () => {
    const signed = signJson({ a: 1 }, "me.org", appendixKey);
    const vk = appendixKey.verifyKey;
    expect(checkJsonSignature({ a: 1 }, "me.org", "ed25519:1", vk)).toEqual({ ok: false, reason: "no signatures from me.org" });
    expect(checkJsonSignature(signed, "me.org", "ed25519:2", vk).ok).toBe(false);
    const badB64 = { ...signed, signatures: { "me.org": { "ed25519:1": "!!" } } };
    expect(checkJsonSignature(badB64, "me.org", "ed25519:1", vk)).toMatchObject({ ok: false, reason: expect.stringContaining("base64") });
    expect(checkJsonSignature(signed, "me.org", "ed25519:1", generateSigningKey().verifyKey)).toMatchObject({ ok: false });
    expect(checkJsonSignature(signed, "me.org", "ed25519:1", vk.base64)).toEqual({ ok: true });
    expect(checkJsonSignature(signed, "me.org", "ed25519:1", vk.bytes)).toEqual({ ok: true });
  });

  test("checkEntitySignature: unknown algorithms and keys are skipped, known keys must all verify", () => {
    const k2 = signingKeyFromSeed(new Uint8Array(32).fill(7), "2");
    let obj = signJson({ a: 1 }, "s.org", appendixKey);
    obj = signJson(obj, "s.org", k2);
    obj = { ...obj, signatures: { "s.org": { ...obj.signatures["s.org"], "curve:9": "abc" } } };
    const content = signedContent(obj);
    const keys: Record<string, SigningKey> = { "ed25519:1": appendixKey, "ed25519:2": k2 };
    const all = (_: string, id: string) => keys[id]?.verifyKey;
    expect(checkEntitySignature(obj, content, "s.org", all)).toEqual({ ok: true, verifiedKeyIds: ["ed25519:1", "ed25519:2"] });
    // Only one key known: fine.
    expect(checkEntitySignature(obj, content, "s.org", (_, id) => (id === "ed25519:2" ? k2.verifyKey : undefined)).ok).toBe(true);
    // No key known: fails.
    expect(checkEntitySignature(obj, content, "s.org", () => undefined).ok).toBe(false);
    // A known key whose signature is wrong: fails even though another verifies.
    const wrong = { ...obj, signatures: { "s.org": { ...obj.signatures["s.org"], "ed25519:2": obj.signatures["s.org"]!["ed25519:1"]! } } };
    expect(checkEntitySignature(wrong, content, "s.org", all).ok).toBe(false);
    // No entry at all.
    expect(checkEntitySignature(obj, content, "t.org", all).ok).toBe(false);
    // The lookup receives the minimum validity.
    let seen = -1;
    checkEntitySignature(obj, content, "s.org", (_s, _k, ts) => ((seen = ts), undefined), 1234);
    expect(seen).toBe(1234);
  });
});

describe("signing JSON: differential against Python signedjson", () => {
  test("signatures and signed objects match byte for byte; each side verifies the other", async () => {
    const rng = new Rng(0x5eed);
    const cases: { seed: Uint8Array; version: string; name: string; value: Record<string, unknown> }[] = [];
    for (let i = 0; i < 1000; i++) {
      const value = randomObject(rng, 4);
      delete value.signatures;
      delete value.unsigned;
      if (rng.bool(0.3)) value.signatures = { "other.example": { "ed25519:zz": "c2ln" } };
      if (rng.bool(0.3)) value.unsigned = { age: rng.int(0, 1000), x: "\u{1f600}" };
      cases.push({ seed: rng.bytes(32), version: rng.pick(["1", "a_AbCd", "key_2"]), name: rng.pick(["example.org", "[::1]:8448", "1.2.3.4"]), value });
    }
    const reqs: OracleRequest[] = [];
    const ours = cases.map((c) => {
      const key = signingKeyFromSeed(c.seed, c.version);
      const signed = signJson(c.value, c.name, key);
      const tampered = { ...signed, tampered: true };
      const common = { seed: encodeBase64(c.seed), version: c.version, name: c.name };
      reqs.push(
        { op: "sign", value: c.value, ...common },
        { op: "verify", value: signed, public: key.publicKeyBase64, ...common },
        { op: "verify", value: tampered, public: key.publicKeyBase64, ...common },
        { op: "public_key", ...common },
      );
      return { key, signed, tampered };
    });
    const res = await runOracle(reqs);
    ours.forEach(({ key, signed, tampered }, i) => {
      const [sign, verifyOk, verifyTampered, pub] = res.slice(4 * i, 4 * i + 4) as [typeof res[0], typeof res[0], typeof res[0], typeof res[0]];
      const theirs = Buffer.from(oracleBytes(sign)).toString("utf8");
      expect({ i, signed: canonicalJson(signed) }).toEqual({ i, signed: theirs });
      expect(verifyJsonSignature(JSON.parse(theirs), cases[i]!.name, key.keyId, key.verifyKey)).toBe(true);
      expect({ i, python: verifyOk.ok }).toEqual({ i, python: true });
      expect({ i, python: verifyTampered.ok }).toEqual({ i, python: false });
      expect(verifyJsonSignature(tampered, cases[i]!.name, key.keyId, key.verifyKey)).toBe(false);
      expect(pub.ok).toBe(key.publicKeyBase64);
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// Verification policy (see the header of signing.ts), checked against PyNaCl (libsodium).

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const toLe32 = (n: bigint) => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};
const sha512 = (...parts: Uint8Array[]) => new Uint8Array(createHash("sha512").update(Buffer.concat(parts)).digest());
/** The raw BoringSSL verdict, without our extra checks. */
const boringVerify = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array) =>
  nodeVerify(null, msg, createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), pub]), format: "der", type: "spki" }), sig);

describe("verification policy: adversarial vectors agree with libsodium", () => {
  test("small-order encodings", () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expect(hasSmallOrder(identity)).toBe(true);
    expect(hasSmallOrder(appendixKey.verifyKey.bytes)).toBe(false);
    const nonCanonical = new Uint8Array(32).fill(0xff);
    nonCanonical[31] = 0x7f;
    expect(isCanonicalPointEncoding(nonCanonical)).toBe(false);
    expect(isCanonicalPointEncoding(appendixKey.verifyKey.bytes)).toBe(true);
    expect(verifyKeyFromBytes(identity).weak).toBe(true);
    expect(verifyKeyFromBytes(nonCanonical).weak).toBe(true);
    expect(appendixKey.verifyKey.weak).toBe(false);
  });

  test("vectors", async () => {
    const msg = new TextEncoder().encode('{"a":1}');
    const A = appendixKey.verifyKey.bytes;
    const good = appendixKey.sign(msg);

    // 1. A = identity, R = identity, S = 0: BoringSSL alone accepts it for any message.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged.set(identity, 0);
    // 2. S + L: the same signature with a non-canonical S.
    const sPlusL = new Uint8Array(good);
    sPlusL.set(toLe32(le(good.subarray(32)) + L), 32);
    // 3. A real key, R = identity, S = k·a: satisfies the verification equation, but R has small order.
    const h = sha512(appendixKey.seed);
    h[0]! &= 248;
    h[31]! &= 127;
    h[31]! |= 64;
    const a = le(h.subarray(0, 32));
    const k = le(sha512(identity, A, msg)) % L;
    const smallR = new Uint8Array(64);
    smallR.set(identity, 0);
    smallR.set(toLe32((k * a) % L), 32);
    // 4. Other malformations.
    const flipped = new Uint8Array(good);
    flipped[10]! ^= 1;

    const vectors: { name: string; pub: Uint8Array; sig: Uint8Array; boring: boolean; expected: boolean }[] = [
      { name: "valid", pub: A, sig: good, boring: true, expected: true },
      { name: "identity key, identity R, S=0", pub: identity, sig: forged, boring: true, expected: false },
      { name: "non-canonical S", pub: A, sig: sPlusL, boring: false, expected: false },
      { name: "small-order R", pub: A, sig: smallR, boring: true, expected: false },
      { name: "bit flip", pub: A, sig: flipped, boring: false, expected: false },
    ];
    const res = await runOracle(
      vectors.map((v) => ({ op: "raw_verify", public: encodeBase64(v.pub), message: encodeBase64(msg), sig: encodeBase64(v.sig) })),
    );
    vectors.forEach((v, i) => {
      expect({ name: v.name, boring: boringVerify(v.pub, msg, v.sig) }).toEqual({ name: v.name, boring: v.boring });
      expect({ name: v.name, ours: verifyKeyFromBytes(v.pub).verify(msg, v.sig) }).toEqual({ name: v.name, ours: v.expected });
      expect({ name: v.name, libsodium: res[i]!.ok }).toEqual({ name: v.name, libsodium: v.expected });
    });
  });

  test("wrong-length signatures are invalid, not exceptions", () => {
    const vk = appendixKey.verifyKey;
    for (const n of [0, 1, 63, 65, 128]) expect(vk.verify("x", new Uint8Array(n))).toBe(false);
  });
});
