// Our own signing keys as other servers see them: the signed GET /_matrix/key/v2/server response
// (current key in verify_keys, configured old keys in old_verify_keys with their expired_ts,
// valid_until_ts = now + key_validity_period), and local answers for the KeyRing.
import { buildServerKeys } from "../../core/server-keys.ts";
import { verifyKeyFromBase64, type SigningKey, type VerifyKey } from "../../core/signing.ts";

export interface ConfiguredOldKey {
  keyId: string;
  key: VerifyKey;
  expiredTs: number;
}

/** Parses `old_verify_keys` entries: "ed25519:<version> <base64 public key> <expired_ts>". */
export function parseOldVerifyKeys(entries: readonly string[]): ConfiguredOldKey[] {
  return entries.map((e) => {
    const [keyId, b64, ts] = e.trim().split(/\s+/) as [string, string, string];
    return { keyId, key: verifyKeyFromBase64(b64), expiredTs: Number(ts) };
  });
}

export interface LocalKey {
  key: VerifyKey;
  /** Infinity for the current key (we hold it), expired_ts for old keys. */
  validUntilTs: number;
  expiredTs: number | null;
}

export class OwnKeys {
  readonly serverName: string;
  readonly signingKey: SigningKey;
  readonly oldKeys: readonly ConfiguredOldKey[];
  readonly validityMs: number;
  readonly #now: () => number;
  #cached: { json: Record<string, unknown>; validUntilTs: number; madeAt: number } | undefined;

  constructor(opts: { serverName: string; signingKey: SigningKey; oldKeys?: readonly ConfiguredOldKey[]; validityMs: number; now?: () => number }) {
    this.serverName = opts.serverName;
    this.signingKey = opts.signingKey;
    this.oldKeys = opts.oldKeys ?? [];
    this.validityMs = opts.validityMs;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The signed key response. Re-signed once half of its validity has passed, so that a response
   * handed out always has at least half the configured validity left.
   */
  response(): Record<string, unknown> {
    const now = this.#now();
    const c = this.#cached;
    if (c && now < c.madeAt + this.validityMs / 2) return c.json;
    const validUntilTs = now + this.validityMs;
    const json = buildServerKeys({ serverName: this.serverName, signingKey: this.signingKey, oldVerifyKeys: this.oldKeys, validUntilTs });
    this.#cached = { json, validUntilTs, madeAt: now };
    return json;
  }

  /** One of our keys by ID. */
  lookup(keyId: string): LocalKey | undefined {
    if (keyId === this.signingKey.keyId) return { key: this.signingKey.verifyKey, validUntilTs: Infinity, expiredTs: null };
    const old = this.oldKeys.find((k) => k.keyId === keyId);
    return old ? { key: old.key, validUntilTs: old.expiredTs, expiredTs: old.expiredTs } : undefined;
  }
}
