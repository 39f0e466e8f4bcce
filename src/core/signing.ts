// Ed25519 signing keys and signed JSON. Spec: content/appendices.md "Signing JSON" ("Signing Details",
// "Checking for a Signature"), server-server-api.md "Retrieving server keys" (key IDs), and the
// "Cryptographic Test Vectors" appendix.
//
// Crypto goes through Bun's native node:crypto (BoringSSL): signing is ~19× and verification ~10×
// faster than @noble/curves (docs TOOLCHAIN.md §6). Raw 32-byte keys become KeyObjects through fixed
// DER prefixes; KeyObjects for public keys are cached, since the same few server keys verify most events.
//
// VERIFICATION POLICY — RFC 8032 cofactorless verification, with the same extra rules as libsodium
// (which the reference implementation, Synapse via PyNaCl, uses), so that both accept the same set:
//   - BoringSSL's ED25519_verify (through node:crypto) requires S < L (no malleable signatures) and
//     compares R byte-for-byte with the encoding of [S]B − [k]A (a non-canonical R never verifies);
//   - we reject, before calling it, what libsodium also rejects: public keys A of small order or with a
//     non-canonical encoding (y ≥ p), and signatures whose R has small order (the 7 blocklisted
//     encodings, sign bit ignored). BoringSSL alone accepts e.g. A = R = identity, S = 0 for every
//     message;
//   - the signature must be exactly 64 bytes; anything malformed is "invalid", never an exception.
// @noble/curves' default (ZIP-215) accepts more; do not mix it into verification paths. The adversarial
// vectors in signing.test.ts are checked against PyNaCl.

import type { JsonRecord } from "../protocol/events.ts";
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { Base64Error, decodeBase64, encodeBase64 } from "./base64.ts";
import { canonicalJson, type CanonicalJsonOptions } from "./canonical-json.ts";

export const ED25519 = "ed25519";
/** Key versions: "The version must have characters matching the regular expression [a-zA-Z0-9_]". */
export const KEY_VERSION_RE = /^[a-zA-Z0-9_]+$/;

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Raised for malformed keys, key files and key IDs. */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

// Encodings of the points of small order (orders 1, 2, 4, 8), including the non-canonical encodings
// of y = 0 and y = 1, as in libsodium's ge25519_has_small_order. The sign bit (bit 255) is ignored.
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  "0000000000000000000000000000000000000000000000000000000000000000", // y = 0 (order 4)
  "0100000000000000000000000000000000000000000000000000000000000000", // y = 1, the identity
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p − 1 (order 2)
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p, non-canonical 0
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1, non-canonical 1
].map((h) => new Uint8Array(Buffer.from(h, "hex")));

/** Whether the 32-byte point encoding at the start of `p` is one of the small-order encodings. */
export function hasSmallOrder(p: Uint8Array): boolean {
  outer: for (const bad of SMALL_ORDER_ENCODINGS) {
    for (let i = 0; i < 31; i++) if (p[i] !== bad[i]) continue outer;
    if ((p[31]! & 0x7f) === bad[31]) return true;
  }
  return false;
}

/** False when the encoded y coordinate is ≥ p = 2^255 − 19 (libsodium's ge25519_is_canonical). */
export function isCanonicalPointEncoding(p: Uint8Array): boolean {
  if ((p[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (p[i] !== 0xff) return true;
  return p[0]! < 0xed;
}

function toBytes(message: string | Uint8Array): Uint8Array {
  return typeof message === "string" ? Buffer.from(message, "utf8") : message;
}

/** A public Ed25519 key, ready to verify (holds a cached KeyObject). */
export class VerifyKey {
  readonly algorithm = ED25519;
  /** Unpadded standard Base64 of the 32-byte key, as published in `verify_keys`. */
  readonly base64: string;
  readonly #bytes: Uint8Array;
  readonly #keyObject: KeyObject;
  readonly #weak: boolean;

  /** Use verifyKeyFromBytes / verifyKeyFromBase64, which cache. */
  constructor(bytes: Uint8Array) {
    if (bytes.length !== 32) throw new SigningKeyError(`ed25519 public key must be 32 bytes, got ${bytes.length}`);
    this.#bytes = new Uint8Array(bytes);
    this.base64 = encodeBase64(this.#bytes);
    this.#weak = hasSmallOrder(this.#bytes) || !isCanonicalPointEncoding(this.#bytes);
    this.#keyObject = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, this.#bytes]),
      format: "der",
      type: "spki",
    });
  }

  get bytes(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }

  /**
   * True for keys that can never verify anything under our policy: small-order points and
   * non-canonical encodings (see VERIFICATION POLICY).
   */
  get weak(): boolean {
    return this.#weak;
  }

  /** Verifies a detached signature. Never throws for bad signatures; see VERIFICATION POLICY. */
  verify(message: string | Uint8Array, signature: Uint8Array): boolean {
    if (this.#weak || signature.length !== 64 || hasSmallOrder(signature)) return false;
    try {
      return nodeVerify(null, toBytes(message), this.#keyObject, signature);
    } catch {
      return false;
    }
  }
}

// Cache of VerifyKeys by Base64. Bounded; the oldest entry goes first when full.
const VERIFY_KEY_CACHE_MAX = 4096;
const verifyKeyCache = new Map<string, VerifyKey>();

function cacheKey(b64: string, make: () => VerifyKey): VerifyKey {
  const hit = verifyKeyCache.get(b64);
  if (hit) return hit;
  const key = make();
  if (verifyKeyCache.size >= VERIFY_KEY_CACHE_MAX) {
    const oldest = verifyKeyCache.keys().next().value;
    if (oldest !== undefined) verifyKeyCache.delete(oldest);
  }
  verifyKeyCache.set(b64, key);
  return key;
}

/** A VerifyKey from the raw 32 bytes (cached). */
export function verifyKeyFromBytes(bytes: Uint8Array): VerifyKey {
  return cacheKey(encodeBase64(bytes), () => new VerifyKey(bytes));
}

/** A VerifyKey from its unpadded Base64 (as in `verify_keys.*.key`; cached). Throws SigningKeyError. */
export function verifyKeyFromBase64(b64: string): VerifyKey {
  const hit = verifyKeyCache.get(b64);
  if (hit) return hit;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(b64, "any");
  } catch (e) {
    if (e instanceof Base64Error) throw new SigningKeyError(`public key is not valid base64`);
    throw e;
  }
  return cacheKey(b64, () => new VerifyKey(bytes));
}

/** Anything that names a public key: a VerifyKey, its 32 raw bytes or its Base64. */
export type VerifyKeyInput = VerifyKey | Uint8Array | string;

export function toVerifyKey(key: VerifyKeyInput): VerifyKey {
  if (key instanceof VerifyKey) return key;
  return typeof key === "string" ? verifyKeyFromBase64(key) : verifyKeyFromBytes(key);
}

/** An Ed25519 signing key with its version (the part after `ed25519:` in the key ID). */
export class SigningKey {
  readonly algorithm = ED25519;
  readonly version: string;
  /** `ed25519:<version>` */
  readonly keyId: string;
  readonly verifyKey: VerifyKey;
  readonly #seed: Uint8Array;
  readonly #privateKey: KeyObject;

  /** Use signingKeyFromSeed / generateSigningKey. */
  constructor(seed: Uint8Array, version: string) {
    if (seed.length !== 32) throw new SigningKeyError(`ed25519 seed must be 32 bytes, got ${seed.length}`);
    if (!KEY_VERSION_RE.test(version)) throw new SigningKeyError(`invalid key version ${JSON.stringify(version)}`);
    this.#seed = new Uint8Array(seed);
    this.version = version;
    this.keyId = `${ED25519}:${version}`;
    this.#privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, this.#seed]),
      format: "der",
      type: "pkcs8",
    });
    const spki = createPublicKey(this.#privateKey).export({ format: "der", type: "spki" });
    this.verifyKey = verifyKeyFromBytes(new Uint8Array(spki.subarray(spki.length - 32)));
  }

  /** The 32-byte private seed (a copy). */
  get seed(): Uint8Array {
    return new Uint8Array(this.#seed);
  }

  /** Unpadded Base64 of the public key, as published in `verify_keys`. */
  get publicKeyBase64(): string {
    return this.verifyKey.base64;
  }

  /** Detached 64-byte signature of `message` (strings are signed as UTF-8). */
  sign(message: string | Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, toBytes(message), this.#privateKey));
  }
}

export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  return new SigningKey(seed, version);
}

/** A new random key. The default version follows Synapse: `a_` and four random alphanumerics. */
export function generateSigningKey(version?: string): SigningKey {
  return new SigningKey(new Uint8Array(randomBytes(32)), version ?? randomKeyVersion());
}

function randomKeyVersion(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let v = "a_";
  for (const b of randomBytes(4)) v += alphabet[b % alphabet.length];
  return v;
}

/**
 * Parses a Synapse signing-key file: one key per line, `ed25519 <version> <unpadded base64 seed>`.
 * Blank lines are ignored. Throws SigningKeyError naming the offending line.
 */
export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) throw new SigningKeyError(`signing key file line ${i + 1}: expected "ed25519 <version> <seed>"`);
    const [alg, version, b64] = parts as [string, string, string];
    if (alg !== ED25519) throw new SigningKeyError(`signing key file line ${i + 1}: unsupported algorithm ${JSON.stringify(alg)}`);
    let seed: Uint8Array;
    try {
      seed = decodeBase64(b64, "any");
    } catch {
      throw new SigningKeyError(`signing key file line ${i + 1}: seed is not valid base64`);
    }
    try {
      keys.push(new SigningKey(seed, version));
    } catch (e) {
      throw new SigningKeyError(`signing key file line ${i + 1}: ${(e as Error).message}`);
    }
  }
  return keys;
}

/** Formats keys in the Synapse signing-key file format (one line each, trailing newline). */
export function formatSigningKeyFile(keys: SigningKey | readonly SigningKey[]): string {
  const list = Array.isArray(keys) ? keys : [keys as SigningKey];
  return list.map((k) => `${k.algorithm} ${k.version} ${encodeBase64(k.seed)}\n`).join("");
}

/** Splits `ed25519:abc` into algorithm and version; null if there is no colon. */
export function parseKeyId(keyId: string): { algorithm: string; version: string } | null {
  const i = keyId.indexOf(":");
  if (i < 0) return null;
  return { algorithm: keyId.slice(0, i), version: keyId.slice(i + 1) };
}

// ---------------------------------------------------------------------------------------------------
// Signing JSON

export type Signatures = Record<string, Record<string, string>>;

/**
 * The canonical JSON that a signature on `obj` covers: `obj` without `signatures` and `unsigned`.
 * Throws CanonicalJsonError.
 */
export function signedContent(obj: Readonly<JsonRecord>, options?: CanonicalJsonOptions): string {
  const rest: JsonRecord = {};
  for (const k in obj) {
    if (k !== "signatures" && k !== "unsigned" && Object.hasOwn(obj, k)) rest[k] = obj[k];
  }
  return canonicalJson(rest, options);
}

/** A copy of `signatures` (two levels deep) with `sig` added under `name` / `keyId`. */
export function addSignature(signatures: unknown, name: string, keyId: string, sig: string): Signatures {
  const out: Signatures = {};
  if (typeof signatures === "object" && signatures !== null) {
    for (const [server, byKey] of Object.entries(signatures as JsonRecord)) {
      if (typeof byKey === "object" && byKey !== null) out[server] = { ...(byKey as Record<string, string>) };
    }
  }
  (out[name] ??= {})[keyId] = sig;
  return out;
}

/**
 * Signs `obj` as `signingName` (appendix "Signing Details"): a new object equal to `obj` with the
 * signature added under `signatures[signingName][key.keyId]`. Existing signatures (other servers',
 * other keys') and `unsigned` are kept and not covered. The input is not modified.
 */
export function signJson<T extends JsonRecord>(
  obj: T,
  signingName: string,
  key: SigningKey,
  options?: CanonicalJsonOptions,
): T & { signatures: Signatures } {
  const sig = encodeBase64(key.sign(signedContent(obj, options)));
  return { ...obj, signatures: addSignature(obj.signatures, signingName, key.keyId, sig) };
}

/** Key IDs of `signingName`'s signatures on `obj` whose algorithm we support (ed25519). */
export function signatureKeyIds(obj: Readonly<JsonRecord>, signingName: string): string[] {
  const byKey = signaturesOf(obj, signingName);
  return byKey ? Object.keys(byKey).filter((id) => id.startsWith(ED25519 + ":")) : [];
}

function signaturesOf(obj: Readonly<JsonRecord>, name: string): JsonRecord | undefined {
  const sigs = obj.signatures;
  if (typeof sigs !== "object" || sigs === null || Array.isArray(sigs)) return undefined;
  const byKey = Object.hasOwn(sigs, name) ? (sigs as JsonRecord)[name] : undefined;
  return typeof byKey === "object" && byKey !== null && !Array.isArray(byKey) ? (byKey as JsonRecord) : undefined;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Checks the one signature `signatures[signingName][keyId]` on `obj` against `key`. */
export function checkJsonSignature(
  obj: Readonly<JsonRecord>,
  signingName: string,
  keyId: string,
  key: VerifyKeyInput,
  options?: CanonicalJsonOptions,
): SignatureCheck {
  return checkSignatureOnContent(obj, signedContent(obj, options), signingName, keyId, key);
}

/** Boolean form of checkJsonSignature. */
export function verifyJsonSignature(
  obj: Readonly<JsonRecord>,
  signingName: string,
  keyId: string,
  key: VerifyKeyInput,
  options?: CanonicalJsonOptions,
): boolean {
  return checkJsonSignature(obj, signingName, keyId, key, options).ok;
}

/**
 * Checks one signature found in `obj.signatures` against an already computed signed content
 * (see signedContent). For callers that check several signatures on the same object.
 */
export function checkSignatureOnContent(
  obj: Readonly<JsonRecord>,
  content: string | Uint8Array,
  signingName: string,
  keyId: string,
  key: VerifyKeyInput,
): SignatureCheck {
  const byKey = signaturesOf(obj, signingName);
  if (!byKey) return { ok: false, reason: `no signatures from ${signingName}` };
  const b64 = Object.hasOwn(byKey, keyId) ? byKey[keyId] : undefined;
  if (typeof b64 !== "string") return { ok: false, reason: `no signature from ${signingName} with key ${keyId}` };
  let sig: Uint8Array;
  try {
    sig = decodeBase64(b64, "any");
  } catch {
    return { ok: false, reason: `signature from ${signingName} with key ${keyId} is not valid base64` };
  }
  let vk: VerifyKey;
  try {
    vk = toVerifyKey(key);
  } catch (e) {
    return { ok: false, reason: `verify key ${keyId} of ${signingName} is malformed: ${(e as Error).message}` };
  }
  if (!vk.verify(content, sig)) return { ok: false, reason: `bad signature from ${signingName} with key ${keyId}` };
  return { ok: true };
}

/**
 * Looks up a public key of `serverName` by key ID. Return undefined when the key is unknown — or
 * known to have expired before `minimumValidUntilTs` (0 means "any validity"). Synchronous on purpose:
 * fetch keys first (see pdu.ts `signatureKeyRequests`), then verify without awaiting.
 */
export type VerifyKeyLookup = (serverName: string, keyId: string, minimumValidUntilTs: number) => VerifyKeyInput | undefined | null;

/**
 * The appendix "Checking for a Signature" for one entity: its entry must exist; key IDs of unknown
 * algorithms are ignored; unknown (or expired) keys are skipped; at least one signature must be from a
 * known key, and every signature from a known key must verify (as Synapse's Keyring does).
 */
export function checkEntitySignature(
  obj: Readonly<JsonRecord>,
  content: string | Uint8Array,
  entity: string,
  lookup: VerifyKeyLookup,
  minimumValidUntilTs = 0,
): SignatureCheck & { verifiedKeyIds: string[] } {
  const keyIds = signatureKeyIds(obj, entity);
  if (keyIds.length === 0) return { ok: false, reason: `no ed25519 signatures from ${entity}`, verifiedKeyIds: [] };
  const verified: string[] = [];
  const bytes = toBytes(content);
  for (const keyId of keyIds) {
    const key = lookup(entity, keyId, minimumValidUntilTs);
    if (key === undefined || key === null) continue;
    const r = checkSignatureOnContent(obj, bytes, entity, keyId, key);
    if (!r.ok) return { ...r, verifiedKeyIds: verified };
    verified.push(keyId);
  }
  if (verified.length === 0) {
    return { ok: false, reason: `no known key of ${entity} among ${keyIds.join(", ")}`, verifiedKeyIds: [] };
  }
  return { ok: true, verifiedKeyIds: verified };
}
