// Test helpers for end-to-end encryption: devices with real Ed25519 keys that sign their device keys,
// one-time and fallback keys, and cross-signing keys, the way clients do (appendices "Signing JSON").
import { encodeBase64 } from "../../src/core/base64.ts";
import { generateSigningKey, signedContent, type SigningKey } from "../../src/core/signing.ts";
import type { TestClient } from "../helpers/client.ts";
import { eventually as poll } from "../helpers/wait.ts";

export type Json = Record<string, any>;

/** `obj` with a signature by `key` under signatures[signer][keyId]. */
export function signAs(obj: Json, signer: string, keyId: string, key: SigningKey): Json {
  const { signatures, unsigned, ...rest } = obj;
  const sig = encodeBase64(key.sign(signedContent(rest)));
  const sigs = { ...(signatures ?? {}) };
  sigs[signer] = { ...(sigs[signer] ?? {}), [keyId]: sig };
  const out: Json = { ...rest, signatures: sigs };
  if (unsigned !== undefined) out.unsigned = unsigned;
  return out;
}

/** A random 32-byte "curve25519" public key (the server never looks inside). */
export function randomKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
}

export class TestDevice {
  readonly ed: SigningKey = generateSigningKey();
  readonly curve = randomKey();
  private otkCounter = 0;

  constructor(readonly client: TestClient) {}

  get userId(): string {
    return this.client.userId!;
  }
  get deviceId(): string {
    return this.client.deviceId!;
  }

  deviceKeys(): Json {
    return signAs(
      {
        user_id: this.userId,
        device_id: this.deviceId,
        algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        keys: { [`curve25519:${this.deviceId}`]: this.curve, [`ed25519:${this.deviceId}`]: this.ed.publicKeyBase64 },
      },
      this.userId,
      `ed25519:${this.deviceId}`,
      this.ed,
    );
  }

  /** `n` signed_curve25519 one-time keys with fresh IDs. */
  oneTimeKeys(n: number): Json {
    const out: Json = {};
    for (let i = 0; i < n; i++) {
      const id = `AAAA${String(++this.otkCounter).padStart(4, "0")}`;
      out[`signed_curve25519:${id}`] = this.signKey({ key: randomKey() });
    }
    return out;
  }

  fallbackKey(id = "FB1"): Json {
    return { [`signed_curve25519:${id}`]: this.signKey({ key: randomKey(), fallback: true }) };
  }

  signKey(obj: Json): Json {
    return signAs(obj, this.userId, `ed25519:${this.deviceId}`, this.ed);
  }

  /** Uploads device keys, `otks` one-time keys and a fallback key. */
  async upload(otks = 5, fallback = true): Promise<Json> {
    const body: Json = { device_keys: this.deviceKeys(), one_time_keys: this.oneTimeKeys(otks) };
    if (fallback) body.fallback_keys = this.fallbackKey();
    return this.client.ok("POST", "/_matrix/client/v3/keys/upload", body);
  }
}

/** A user's three cross-signing keys and the upload body for them. */
export class CrossSigning {
  readonly master = generateSigningKey();
  readonly selfSigning = generateSigningKey();
  readonly userSigning = generateSigningKey();

  constructor(readonly userId: string) {}

  key(k: SigningKey, usage: string): Json {
    return { user_id: this.userId, usage: [usage], keys: { [`ed25519:${k.publicKeyBase64}`]: k.publicKeyBase64 } };
  }
  get masterId(): string {
    return `ed25519:${this.master.publicKeyBase64}`;
  }
  masterKey(): Json {
    return this.key(this.master, "master");
  }
  selfSigningKey(): Json {
    return signAs(this.key(this.selfSigning, "self_signing"), this.userId, this.masterId, this.master);
  }
  userSigningKey(): Json {
    return signAs(this.key(this.userSigning, "user_signing"), this.userId, this.masterId, this.master);
  }
  body(): Json {
    return { master_key: this.masterKey(), self_signing_key: this.selfSigningKey(), user_signing_key: this.userSigningKey() };
  }
}

/** Polls `fn` until it returns a value other than undefined (no fixed sleeps). */
export function eventually<T>(fn: () => Promise<T | undefined>, what = "condition", timeoutMs = 15000): Promise<T> {
  return poll(fn, timeoutMs, what, 25);
}

/**
 * Long-polls /sync from `since` until a response satisfies `pred` (other news, e.g. presence, may
 * end a poll first); returns that response.
 */
export async function syncUntil(c: TestClient, since: string, pred: (body: any) => boolean, what = "sync condition", timeoutMs = 15000): Promise<any> {
  const { sync } = await import("../helpers/sync.ts");
  const started = Date.now();
  let from = since;
  for (;;) {
    const left = timeoutMs - (Date.now() - started);
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    const body = await sync(c, { since: from, timeout: Math.min(left, 5000) });
    if (pred(body)) return body;
    from = body.next_batch;
  }
}
