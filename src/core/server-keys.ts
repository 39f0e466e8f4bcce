// Server key responses (GET /_matrix/key/v2/server, and the entries of notary answers): building ours
// and checking others'. Spec: server-server-api.md "Retrieving server keys", definitions/keys.yaml.
//
// A response is accepted when it names the expected server, has an integer valid_until_ts, and carries
// at least one signature by that server with a key listed in its own verify_keys, every such signature
// verifying (old_verify_keys are only valid for events, not for signing the key response). Notary
// answers must also be signed by the notary (checkNotarySignature).
import type { JsonRecord } from "../protocol/events.ts";
import { signJson, checkEntitySignature, signedContent, verifyKeyFromBase64, ED25519, KEY_VERSION_RE, type SigningKey, type VerifyKey, type SignatureCheck, type VerifyKeyLookup } from "./signing.ts";

/** Keys used past this long after fetching are invalid whatever valid_until_ts says (keys.yaml). */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600_000;

export class ServerKeysError extends Error {
  override name = "ServerKeysError";
}

export interface OldVerifyKey {
  key: VerifyKey;
  expiredTs: number;
}

export interface ParsedServerKeys {
  serverName: string;
  validUntilTs: number;
  verifyKeys: Map<string, VerifyKey>;
  oldVerifyKeys: Map<string, OldVerifyKey>;
  /** The response as received. */
  json: Record<string, unknown>;
}


function isRecord(v: unknown): v is JsonRecord {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isKeyId(id: string): boolean {
  return id.startsWith(ED25519 + ":") && KEY_VERSION_RE.test(id.slice(ED25519.length + 1));
}

function parseKey(v: unknown, where: string): VerifyKey {
  if (!isRecord(v) || typeof v.key !== "string") throw new ServerKeysError(`${where}: no key`);
  try {
    return verifyKeyFromBase64(v.key);
  } catch {
    throw new ServerKeysError(`${where}: malformed key`);
  }
}

/**
 * Checks a key response for `expectedServer` (self-signature included) and returns its keys.
 * Keys of other algorithms are ignored. Throws ServerKeysError.
 */
export function parseServerKeys(json: unknown, expectedServer: string): ParsedServerKeys {
  if (!isRecord(json)) throw new ServerKeysError("key response is not a JSON object");
  if (json.server_name !== expectedServer) {
    throw new ServerKeysError(`key response is for ${JSON.stringify(json.server_name)}, not ${expectedServer}`);
  }
  const validUntilTs = json.valid_until_ts;
  if (typeof validUntilTs !== "number" || !Number.isSafeInteger(validUntilTs) || validUntilTs < 0) {
    throw new ServerKeysError("key response has no integer valid_until_ts");
  }
  if (!isRecord(json.verify_keys)) throw new ServerKeysError("key response has no verify_keys");
  const verifyKeys = new Map<string, VerifyKey>();
  for (const [id, v] of Object.entries(json.verify_keys)) {
    if (!isKeyId(id)) continue;
    verifyKeys.set(id, parseKey(v, `verify_keys.${id}`));
  }
  const oldVerifyKeys = new Map<string, OldVerifyKey>();
  if (json.old_verify_keys !== undefined) {
    if (!isRecord(json.old_verify_keys)) throw new ServerKeysError("old_verify_keys is not an object");
    for (const [id, v] of Object.entries(json.old_verify_keys)) {
      if (!isKeyId(id) || verifyKeys.has(id)) continue;
      const expiredTs = isRecord(v) ? v.expired_ts : undefined;
      if (typeof expiredTs !== "number" || !Number.isSafeInteger(expiredTs)) throw new ServerKeysError(`old_verify_keys.${id}: no integer expired_ts`);
      oldVerifyKeys.set(id, { key: parseKey(v, `old_verify_keys.${id}`), expiredTs });
    }
  }
  let content: string;
  try {
    content = signedContent(json, { lenient: true });
  } catch (e) {
    throw new ServerKeysError(`key response is not canonicalisable: ${(e as Error).message}`);
  }
  const check = checkEntitySignature(json, content, expectedServer, (_s, keyId) => verifyKeys.get(keyId));
  if (!check.ok) throw new ServerKeysError(`key response of ${expectedServer} is not self-signed: ${check.reason}`);
  return { serverName: expectedServer, validUntilTs, verifyKeys, oldVerifyKeys, json };
}

/** Checks the notary's signature on one entry of a notary answer. */
export function checkNotarySignature(json: JsonRecord, notary: string, lookup: VerifyKeyLookup, minimumValidUntilTs = 0): SignatureCheck {
  let content: string;
  try {
    content = signedContent(json, { lenient: true });
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return checkEntitySignature(json, content, notary, lookup, minimumValidUntilTs);
}

/** The key IDs a server's signatures on `json` use (any algorithm). */
export function signatureKeyIdsOf(json: JsonRecord, server: string): string[] {
  const sigs = json.signatures;
  if (!isRecord(sigs) || !isRecord(sigs[server])) return [];
  return Object.keys(sigs[server] as JsonRecord).filter(isKeyId);
}

export interface OwnKeyResponseInput {
  serverName: string;
  signingKey: SigningKey;
  oldVerifyKeys: ReadonlyArray<{ keyId: string; key: VerifyKey; expiredTs: number }>;
  validUntilTs: number;
}

/** Our GET /_matrix/key/v2/server response, signed with our key. */
export function buildServerKeys(input: OwnKeyResponseInput): JsonRecord & { signatures: Record<string, Record<string, string>> } {
  const old: Record<string, { key: string; expired_ts: number }> = {};
  for (const k of input.oldVerifyKeys) {
    if (k.keyId !== input.signingKey.keyId) old[k.keyId] = { key: k.key.base64, expired_ts: k.expiredTs };
  }
  return signJson(
    {
      server_name: input.serverName,
      valid_until_ts: input.validUntilTs,
      verify_keys: { [input.signingKey.keyId]: { key: input.signingKey.publicKeyBase64 } },
      old_verify_keys: old,
    },
    input.serverName,
    input.signingKey,
  );
}
