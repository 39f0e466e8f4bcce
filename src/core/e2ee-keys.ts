// End-to-end encryption key objects: validation of what clients upload and of signatures on it.
// Spec: client-server-api modules/end_to_end_encryption.md ("Key algorithms", "Device keys",
// "One-time and fallback keys", "Uploading keys", "Cross-signing", "Server-side key backups"),
// data/api/client-server/definitions/{device_keys,one_time_keys,cross_signing_key,key_backup_data}.yaml.
//
// Pure: no I/O. Each check returns a KeyProblem (errcode + message, ready for a MatrixError) or
// undefined when the object is acceptable. Signatures follow appendices "Signing JSON": the signed
// content is the canonical JSON of the object without `signatures` and `unsigned`.
import { isJsonRecord, type JsonRecord } from "../protocol/events.ts";
import { canonicalJson } from "./canonical-json.ts";
import { checkJsonSignature, signedContent } from "./signing.ts";

export { isJsonRecord, type JsonRecord };

export interface KeyProblem {
  errcode: "M_BAD_JSON" | "M_INVALID_PARAM" | "M_INVALID_SIGNATURE" | "M_MISSING_PARAM" | "M_FORBIDDEN";
  error: string;
}

export const CROSS_SIGNING_USAGES = ["master", "self_signing", "user_signing"] as const;
export type CrossSigningUsage = (typeof CROSS_SIGNING_USAGES)[number];

/** Longest `<algorithm>:<key_id>` accepted for one-time and fallback keys. */
export const MAX_KEY_NAME_LENGTH = 255;

const bad = (error: string): KeyProblem => ({ errcode: "M_BAD_JSON", error });

/** Splits `signed_curve25519:AAAAHg` at its first colon; null when there is none or a part is empty. */
export function parseAlgorithmKeyId(name: string): { algorithm: string; keyId: string } | null {
  const i = name.indexOf(":");
  if (i <= 0 || i === name.length - 1) return null;
  return { algorithm: name.slice(0, i), keyId: name.slice(i + 1) };
}

/** The canonical JSON a signature on `obj` covers; undefined when it cannot be encoded. */
export function signedJsonOf(obj: JsonRecord): string | undefined {
  try {
    return signedContent(obj);
  } catch {
    return undefined;
  }
}

/** Whether `signatures[signer][keyId]` on `obj` is a valid signature by the Ed25519 `publicKey`. */
export function hasValidSignature(obj: JsonRecord, signer: string, keyId: string, publicKey: string): boolean {
  try {
    return checkJsonSignature(obj, signer, keyId, publicKey).ok;
  } catch {
    return false;
  }
}

function checkSignaturesShape(v: unknown, where: string): KeyProblem | undefined {
  if (!isJsonRecord(v)) return bad(`'${where}.signatures' must be an object`);
  for (const [user, byKey] of Object.entries(v)) {
    if (!isJsonRecord(byKey)) return bad(`'${where}.signatures.${user}' must be an object`);
    for (const [k, s] of Object.entries(byKey)) if (typeof s !== "string") return bad(`'${where}.signatures.${user}.${k}' must be a string`);
  }
  return undefined;
}

/**
 * Device identity keys uploaded by `userId`'s device `deviceId`: the DeviceKeys shape, IDs that
 * match the uploader.
 *
 * The self-signature is NOT verified. The spec ("Uploading keys") requires the *client* to sign the
 * object; it states no duty for the server to refuse a badly signed one (keys.yaml lists no 400 for
 * /keys/upload), and every receiving client verifies the signature itself before trusting a device
 * (a server could forge keys anyway, so a server-side check protects no one). Synapse accepts them
 * too, and SyTest uploads keys with placeholder signatures. What protects users stays: the user and
 * device IDs must be the uploader's own (M_INVALID_PARAM), and the shape must be a DeviceKeys object.
 * For the same reason an `ed25519:<deviceId>` key is not required (the spec's "should" for key
 * names); without one, signed one-time keys of the device are only checked for their shape.
 */
export function checkDeviceKeys(v: unknown, userId: string, deviceId: string): KeyProblem | undefined {
  if (!isJsonRecord(v)) return bad("'device_keys' must be an object");
  if (typeof v.user_id !== "string") return bad("'device_keys.user_id' must be a string");
  if (typeof v.device_id !== "string") return bad("'device_keys.device_id' must be a string");
  if (v.user_id !== userId) return { errcode: "M_INVALID_PARAM", error: "'device_keys.user_id' does not match the user making the request" };
  if (v.device_id !== deviceId) return { errcode: "M_INVALID_PARAM", error: "'device_keys.device_id' does not match the device making the request" };
  if (!Array.isArray(v.algorithms) || v.algorithms.some((a) => typeof a !== "string")) return bad("'device_keys.algorithms' must be an array of strings");
  if (!isJsonRecord(v.keys)) return bad("'device_keys.keys' must be an object");
  for (const [k, key] of Object.entries(v.keys)) {
    if (typeof key !== "string") return bad(`'device_keys.keys.${k}' must be a string`);
    if (!parseAlgorithmKeyId(k)) return bad(`'device_keys.keys' names must be <algorithm>:<device_id>, not ${JSON.stringify(k)}`);
  }
  const sigProblem = checkSignaturesShape(v.signatures, "device_keys");
  if (sigProblem) return sigProblem;
  if (v.unsigned !== undefined && !isJsonRecord(v.unsigned)) return bad("'device_keys.unsigned' must be an object");
  if (signedJsonOf(v) === undefined) return bad("'device_keys' cannot be encoded as canonical JSON");
  return undefined;
}

/** The device's Ed25519 public key (`keys["ed25519:<deviceId>"]`), if any. */
export function deviceEd25519Key(deviceKeys: JsonRecord, deviceId: string): string | undefined {
  const keys = deviceKeys.keys;
  if (!isJsonRecord(keys)) return undefined;
  const k = keys[`ed25519:${deviceId}`];
  return typeof k === "string" ? k : undefined;
}

/**
 * A map of one-time or fallback keys (`<algorithm>:<key_id>` → unpadded base64 string or signed
 * KeyObject). Signed key objects are checked against the device's Ed25519 key when it is known.
 * `what` names the field in errors.
 */
export function checkOneTimeKeys(v: unknown, what: "one_time_keys" | "fallback_keys", signer?: { userId: string; deviceId: string; ed25519: string }): KeyProblem | undefined {
  if (!isJsonRecord(v)) return bad(`'${what}' must be an object`);
  const algorithms = new Set<string>();
  for (const [name, key] of Object.entries(v)) {
    const parsed = parseAlgorithmKeyId(name);
    if (!parsed || name.length > MAX_KEY_NAME_LENGTH) return bad(`'${what}' names must be <algorithm>:<key_id>, not ${JSON.stringify(name.slice(0, 80))}`);
    if (what === "fallback_keys") {
      if (algorithms.has(parsed.algorithm)) return { errcode: "M_INVALID_PARAM", error: `At most one fallback key per algorithm (${parsed.algorithm})` };
      algorithms.add(parsed.algorithm);
    }
    if (typeof key === "string") continue;
    if (!isJsonRecord(key)) return bad(`'${what}.${name}' must be a string or a key object`);
    if (typeof key.key !== "string") return bad(`'${what}.${name}.key' must be a string`);
    const sigProblem = checkSignaturesShape(key.signatures, `${what}.${name}`);
    if (sigProblem) return sigProblem;
    if (key.fallback !== undefined && typeof key.fallback !== "boolean") return bad(`'${what}.${name}.fallback' must be a boolean`);
    if (signedJsonOf(key) === undefined) return bad(`'${what}.${name}' cannot be encoded as canonical JSON`);
    if (signer && !hasValidSignature(key, signer.userId, `ed25519:${signer.deviceId}`, signer.ed25519)) {
      return { errcode: "M_INVALID_SIGNATURE", error: `'${what}.${name}' is not correctly signed by the device's ed25519 key` };
    }
  }
  return undefined;
}

/** A cross-signing key and its one public key (the `keys` entry `ed25519:<pub>` → `<pub>`). */
export interface CrossSigningKeyInfo {
  usage: CrossSigningUsage;
  publicKey: string;
  keyId: string;
}

/**
 * A cross-signing key of `userId` with the given usage: the CrossSigningKey shape, exactly one
 * ed25519 key whose name carries its own public key. Signatures are checked separately.
 */
export function checkCrossSigningKey(v: unknown, userId: string, usage: CrossSigningUsage, field: string): KeyProblem | CrossSigningKeyInfo {
  if (!isJsonRecord(v)) return bad(`'${field}' must be an object`);
  if (typeof v.user_id !== "string") return bad(`'${field}.user_id' must be a string`);
  if (v.user_id !== userId) return { errcode: "M_INVALID_PARAM", error: `'${field}.user_id' does not match the user making the request` };
  if (!Array.isArray(v.usage) || v.usage.some((u) => typeof u !== "string")) return bad(`'${field}.usage' must be an array of strings`);
  if (!v.usage.includes(usage)) return { errcode: "M_INVALID_PARAM", error: `'${field}.usage' must include ${JSON.stringify(usage)}` };
  if (!isJsonRecord(v.keys)) return bad(`'${field}.keys' must be an object`);
  const entries = Object.entries(v.keys);
  if (entries.length !== 1) return { errcode: "M_INVALID_PARAM", error: `'${field}.keys' must hold exactly one key` };
  const [name, pub] = entries[0]!;
  if (typeof pub !== "string") return bad(`'${field}.keys.${name}' must be a string`);
  if (name !== `ed25519:${pub}`) return { errcode: "M_INVALID_PARAM", error: `'${field}.keys' must be {"ed25519:<public key>": "<public key>"}` };
  if (v.signatures !== undefined) {
    const sigProblem = checkSignaturesShape(v.signatures, field);
    if (sigProblem) return sigProblem;
  }
  if (signedJsonOf(v) === undefined) return bad(`'${field}' cannot be encoded as canonical JSON`);
  return { usage, publicKey: pub, keyId: name };
}

export const isKeyProblem = (v: KeyProblem | CrossSigningKeyInfo): v is KeyProblem => "errcode" in v;

/** The public key of a stored cross-signing key object (its one `keys` value). */
export function crossSigningPublicKey(key: JsonRecord): string | undefined {
  if (!isJsonRecord(key.keys)) return undefined;
  const values = Object.values(key.keys);
  return values.length === 1 && typeof values[0] === "string" ? values[0] : undefined;
}

/** Whether two key objects are the same apart from `signatures` and `unsigned`. */
export function sameSignedContent(a: JsonRecord, b: JsonRecord): boolean {
  const x = signedJsonOf(a);
  return x !== undefined && x === signedJsonOf(b);
}

/** Whether two JSON values are equal (canonical JSON). */
export function sameJson(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}

/** `obj` with the extra signatures merged into its `signatures` (a new object; `obj` is not modified). */
export function withSignatures(obj: JsonRecord, extra: ReadonlyArray<{ signer: string; keyId: string; signature: string }>): JsonRecord {
  if (extra.length === 0) return obj;
  const sigs: Record<string, Record<string, unknown>> = {};
  if (isJsonRecord(obj.signatures)) for (const [u, byKey] of Object.entries(obj.signatures)) if (isJsonRecord(byKey)) sigs[u] = { ...byKey };
  for (const s of extra) (sigs[s.signer] ??= {})[s.keyId] = s.signature;
  return { ...obj, signatures: sigs };
}

// ---- key backup

/** One session's backed-up key (KeyBackupData). */
export interface BackupKeyData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  /** An object for m.megolm_backup.v1.curve25519-aes-sha2; any JSON for other algorithms. */
  session_data: unknown;
}

/**
 * Checks a KeyBackupData object; returns the problem or the typed data. `session_data` is
 * "algorithm-dependent": an object unless `opaqueSessionData` (a backup algorithm the spec does
 * not define), where any JSON value but null is kept as given.
 */
export function checkBackupKeyData(v: unknown, where: string, opaqueSessionData = false): KeyProblem | BackupKeyData {
  if (!isJsonRecord(v)) return bad(`'${where}' must be an object`);
  for (const f of ["first_message_index", "forwarded_count"] as const) {
    const n = v[f];
    if (n === undefined) return { errcode: "M_MISSING_PARAM", error: `Missing '${where}.${f}'` };
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) return bad(`'${where}.${f}' must be a non-negative integer`);
  }
  if (v.is_verified === undefined) return { errcode: "M_MISSING_PARAM", error: `Missing '${where}.is_verified'` };
  if (typeof v.is_verified !== "boolean") return bad(`'${where}.is_verified' must be a boolean`);
  if (v.session_data === undefined || v.session_data === null) return { errcode: "M_MISSING_PARAM", error: `Missing '${where}.session_data'` };
  if (!opaqueSessionData && !isJsonRecord(v.session_data)) return bad(`'${where}.session_data' must be an object`);
  return {
    first_message_index: v.first_message_index as number,
    forwarded_count: v.forwarded_count as number,
    is_verified: v.is_verified,
    session_data: v.session_data,
  };
}

export const isBackupProblem = (v: KeyProblem | BackupKeyData): v is KeyProblem => "errcode" in v;

/**
 * Whether an uploaded backup key replaces the stored one ("Server-side key backups"): a verified
 * key beats an unverified one; then the lower first_message_index wins; then the lower
 * forwarded_count. A key equal in all three keeps the stored one.
 */
export function backupKeyReplaces(stored: Omit<BackupKeyData, "session_data">, candidate: Omit<BackupKeyData, "session_data">): boolean {
  if (stored.is_verified !== candidate.is_verified) return candidate.is_verified;
  if (stored.first_message_index !== candidate.first_message_index) return candidate.first_message_index < stored.first_message_index;
  return candidate.forwarded_count < stored.forwarded_count;
}
