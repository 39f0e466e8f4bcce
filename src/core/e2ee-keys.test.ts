import { describe, expect, test } from "bun:test";
import { encodeBase64 } from "./base64.ts";
import {
  backupKeyReplaces,
  checkBackupKeyData,
  checkCrossSigningKey,
  checkDeviceKeys,
  checkOneTimeKeys,
  crossSigningPublicKey,
  hasValidSignature,
  isBackupProblem,
  isKeyProblem,
  parseAlgorithmKeyId,
  sameSignedContent,
  withSignatures,
  type JsonRecord,
} from "./e2ee-keys.ts";
import { generateSigningKey, signedContent, type SigningKey } from "./signing.ts";

const USER = "@alice:example.org";
const DEVICE = "JLAFKJWSCS";

/** Signs `obj` as `signer` with key ID `keyId` (device and cross-signing key IDs are not key versions). */
function sign(obj: JsonRecord, signer: string, keyId: string, key: SigningKey): JsonRecord {
  const sig = encodeBase64(key.sign(signedContent(obj)));
  const sigs = { ...((obj.signatures as Record<string, Record<string, string>>) ?? {}) };
  sigs[signer] = { ...(sigs[signer] ?? {}), [keyId]: sig };
  return { ...obj, signatures: sigs };
}

function deviceKeys(key: SigningKey, extra: JsonRecord = {}): JsonRecord {
  return sign(
    {
      user_id: USER,
      device_id: DEVICE,
      algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
      keys: { [`curve25519:${DEVICE}`]: "3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI", [`ed25519:${DEVICE}`]: key.publicKeyBase64 },
      ...extra,
    },
    USER,
    `ed25519:${DEVICE}`,
    key,
  );
}

describe("device keys", () => {
  const key = generateSigningKey();

  test("a correctly self-signed object passes; unsigned is not covered", () => {
    const dk = deviceKeys(key);
    expect(checkDeviceKeys(dk, USER, DEVICE)).toBeUndefined();
    expect(checkDeviceKeys({ ...dk, unsigned: { device_display_name: "phone" } }, USER, DEVICE)).toBeUndefined();
  });

  test("the self-signature is not verified (clients verify it; the spec gives the server no duty to refuse)", () => {
    const dk = deviceKeys(key);
    expect(checkDeviceKeys({ ...dk, algorithms: ["m.megolm.v1.aes-sha2"] }, USER, DEVICE)).toBeUndefined();
    const other = generateSigningKey();
    const signedByOther = sign({ ...dk, signatures: {} }, USER, `ed25519:${DEVICE}`, other);
    expect(checkDeviceKeys(signedByOther, USER, DEVICE)).toBeUndefined();
    expect(checkDeviceKeys({ ...dk, signatures: {} }, USER, DEVICE)).toBeUndefined();
    // As SyTest uploads them: placeholder keys and signature.
    const placeholder = { user_id: USER, device_id: DEVICE, algorithms: ["m.olm.curve25519-aes-sha256"], keys: { [`curve25519:${DEVICE}`]: "curve25519+key", [`ed25519:${DEVICE}`]: "ed25519+key" }, signatures: { [USER]: { [`ed25519:${DEVICE}`]: "self+signature" } } };
    expect(checkDeviceKeys(placeholder, USER, DEVICE)).toBeUndefined();
  });

  test("IDs must match the uploader; shapes are checked", () => {
    const dk = deviceKeys(key);
    expect(checkDeviceKeys(dk, "@bob:example.org", DEVICE)?.errcode).toBe("M_INVALID_PARAM");
    expect(checkDeviceKeys(dk, USER, "OTHER")?.errcode).toBe("M_INVALID_PARAM");
    expect(checkDeviceKeys("x", USER, DEVICE)?.errcode).toBe("M_BAD_JSON");
    expect(checkDeviceKeys({ ...dk, algorithms: "x" }, USER, DEVICE)?.errcode).toBe("M_BAD_JSON");
    expect(checkDeviceKeys({ ...dk, keys: { [`ed25519:${DEVICE}`]: 5 } }, USER, DEVICE)?.errcode).toBe("M_BAD_JSON");
    expect(checkDeviceKeys({ ...dk, signatures: { [USER]: "x" } }, USER, DEVICE)?.errcode).toBe("M_BAD_JSON");
    // No ed25519:<device> key: accepted (clients judge the keys), as SyTest uploads `ed25519:test`.
    const noEd = deviceKeys(key, { keys: { "ed25519:test": "abc" } });
    expect(checkDeviceKeys(noEd, USER, DEVICE)).toBeUndefined();
    expect(checkDeviceKeys({ ...dk, n: 1.5 }, USER, DEVICE)?.errcode).toBe("M_BAD_JSON");
  });
});

describe("one-time and fallback keys", () => {
  const key = generateSigningKey();
  const signer = { userId: USER, deviceId: DEVICE, ed25519: key.publicKeyBase64 };

  test("signed key objects are verified when the device key is known", () => {
    const good = sign({ key: "zKbLg+NrIjpnagy+pIY6uPL4ZwEG2v+8F9lmgsnlZzs" }, USER, `ed25519:${DEVICE}`, key);
    expect(checkOneTimeKeys({ "signed_curve25519:AAAAHg": good, "curve25519:AAAAHQ": "j3fR3HemM16M7CWhoI4Sk5ZsdmdfQHsKL1xuSft6MSw" }, "one_time_keys", signer)).toBeUndefined();
    expect(checkOneTimeKeys({ "signed_curve25519:AAAAHg": { ...good, key: "other" } }, "one_time_keys", signer)?.errcode).toBe("M_INVALID_SIGNATURE");
    // Without a known device key only the shape is checked.
    expect(checkOneTimeKeys({ "signed_curve25519:AAAAHg": { ...good, key: "other" } }, "one_time_keys")).toBeUndefined();
  });

  test("names and shapes", () => {
    expect(checkOneTimeKeys({ nocolon: "x" }, "one_time_keys")?.errcode).toBe("M_BAD_JSON");
    expect(checkOneTimeKeys({ "a:": "x" }, "one_time_keys")?.errcode).toBe("M_BAD_JSON");
    expect(checkOneTimeKeys({ "a:b": 3 }, "one_time_keys")?.errcode).toBe("M_BAD_JSON");
    expect(checkOneTimeKeys({ "a:b": { key: "k" } }, "one_time_keys")?.errcode).toBe("M_BAD_JSON");
    expect(checkOneTimeKeys({ "a:b": { key: "k", signatures: {}, fallback: "yes" } }, "fallback_keys")?.errcode).toBe("M_BAD_JSON");
    expect(checkOneTimeKeys([], "one_time_keys")?.errcode).toBe("M_BAD_JSON");
  });

  test("at most one fallback key per algorithm", () => {
    const k = (id: string) => sign({ key: id, fallback: true }, USER, `ed25519:${DEVICE}`, key);
    expect(checkOneTimeKeys({ "signed_curve25519:A": k("a") }, "fallback_keys", signer)).toBeUndefined();
    expect(checkOneTimeKeys({ "signed_curve25519:A": k("a"), "signed_curve25519:B": k("b") }, "fallback_keys", signer)?.errcode).toBe("M_INVALID_PARAM");
  });

  test("parseAlgorithmKeyId", () => {
    expect(parseAlgorithmKeyId("signed_curve25519:AAAAHg")).toEqual({ algorithm: "signed_curve25519", keyId: "AAAAHg" });
    expect(parseAlgorithmKeyId("a:b:c")).toEqual({ algorithm: "a", keyId: "b:c" });
    expect(parseAlgorithmKeyId(":b")).toBeNull();
    expect(parseAlgorithmKeyId("b")).toBeNull();
  });
});

describe("cross-signing keys", () => {
  const master = generateSigningKey();
  const ssk = generateSigningKey();
  const mk = { user_id: USER, usage: ["master"], keys: { [`ed25519:${master.publicKeyBase64}`]: master.publicKeyBase64 } };

  test("shape: exactly one ed25519 key named after itself, the right usage and user", () => {
    const info = checkCrossSigningKey(mk, USER, "master", "master_key");
    expect(isKeyProblem(info)).toBe(false);
    expect(info).toEqual({ usage: "master", publicKey: master.publicKeyBase64, keyId: `ed25519:${master.publicKeyBase64}` });
    const problem = (v: unknown, usage: "master" | "self_signing" = "master") => {
      const r = checkCrossSigningKey(v, USER, usage, "k");
      return isKeyProblem(r) ? r.errcode : undefined;
    };
    expect(problem(mk, "self_signing")).toBe("M_INVALID_PARAM");
    expect(problem({ ...mk, user_id: "@bob:example.org" })).toBe("M_INVALID_PARAM");
    expect(problem({ ...mk, keys: { "ed25519:abc": "def" } })).toBe("M_INVALID_PARAM");
    expect(problem({ ...mk, keys: { ...mk.keys, "ed25519:x": "x" } })).toBe("M_INVALID_PARAM");
    expect(problem({ ...mk, keys: {} })).toBe("M_INVALID_PARAM");
    expect(problem({ ...mk, usage: "master" })).toBe("M_BAD_JSON");
    expect(problem("x")).toBe("M_BAD_JSON");
    expect(crossSigningPublicKey(mk)).toBe(master.publicKeyBase64);
  });

  test("a self-signing key signed by the master key verifies; tampering does not", () => {
    const sk = sign({ user_id: USER, usage: ["self_signing"], keys: { [`ed25519:${ssk.publicKeyBase64}`]: ssk.publicKeyBase64 } }, USER, `ed25519:${master.publicKeyBase64}`, master);
    expect(hasValidSignature(sk, USER, `ed25519:${master.publicKeyBase64}`, master.publicKeyBase64)).toBe(true);
    expect(hasValidSignature({ ...sk, usage: ["user_signing"] }, USER, `ed25519:${master.publicKeyBase64}`, master.publicKeyBase64)).toBe(false);
    expect(hasValidSignature(sk, USER, `ed25519:${master.publicKeyBase64}`, "not base64!")).toBe(false);
    expect(hasValidSignature(sk, "@bob:example.org", `ed25519:${master.publicKeyBase64}`, master.publicKeyBase64)).toBe(false);
  });

  test("sameSignedContent ignores signatures and unsigned; withSignatures merges", () => {
    const signed = sign(mk, USER, "ed25519:DEV", ssk);
    expect(sameSignedContent(mk, { ...signed, unsigned: { x: 1 } })).toBe(true);
    expect(sameSignedContent(mk, { ...mk, usage: ["master", "x"] })).toBe(false);
    const merged = withSignatures(signed, [{ signer: "@bob:example.org", keyId: "ed25519:B", signature: "sig" }]);
    expect(merged.signatures).toEqual({ [USER]: (signed.signatures as JsonRecord)[USER], "@bob:example.org": { "ed25519:B": "sig" } } as never);
    expect(withSignatures(mk, [])).toBe(mk);
  });
});

describe("key backup data", () => {
  const base = { first_message_index: 5, forwarded_count: 1, is_verified: false, session_data: { ciphertext: "x" } };

  test("validation", () => {
    expect(isBackupProblem(checkBackupKeyData(base, "k"))).toBe(false);
    const errcode = (v: unknown) => {
      const r = checkBackupKeyData(v, "k");
      return isBackupProblem(r) ? r.errcode : undefined;
    };
    expect(errcode({ ...base, first_message_index: -1 })).toBe("M_BAD_JSON");
    expect(errcode({ ...base, forwarded_count: 1.5 })).toBe("M_BAD_JSON");
    expect(errcode({ ...base, is_verified: "yes" })).toBe("M_BAD_JSON");
    expect(errcode({ ...base, session_data: "x" })).toBe("M_BAD_JSON");
    // Another algorithm's session_data is opaque: any JSON value but null.
    expect(isBackupProblem(checkBackupKeyData({ ...base, session_data: "x" }, "k", true))).toBe(false);
    expect((checkBackupKeyData({ ...base, session_data: null }, "k", true) as { errcode: string }).errcode).toBe("M_MISSING_PARAM");
    const { session_data: _s, ...noData } = base;
    expect(errcode(noData)).toBe("M_MISSING_PARAM");
  });

  test("the spec's replacement order: verified, then lower first_message_index, then lower forwarded_count", () => {
    const k = (v: boolean, i: number, f: number) => ({ is_verified: v, first_message_index: i, forwarded_count: f });
    expect(backupKeyReplaces(k(false, 0, 0), k(true, 9, 9))).toBe(true);
    expect(backupKeyReplaces(k(true, 9, 9), k(false, 0, 0))).toBe(false);
    expect(backupKeyReplaces(k(true, 5, 0), k(true, 4, 9))).toBe(true);
    expect(backupKeyReplaces(k(true, 4, 0), k(true, 5, 0))).toBe(false);
    expect(backupKeyReplaces(k(true, 4, 3), k(true, 4, 2))).toBe(true);
    expect(backupKeyReplaces(k(true, 4, 2), k(true, 4, 2))).toBe(false);
  });
});
