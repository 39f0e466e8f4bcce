// Recovery: cross-signing, secret storage (SSSS) and server-side key backup, as Element sets them up,
// so that another device of the user (or this browser after signing out) can get the cross-signing
// keys and the message history back with a recovery key. Part of the crypto chunk (crypto.ts).
//
// - The recovery key is 32 random bytes written as the spec's "cryptographic key representation"
//   (0x8B 0x01 prefix, parity byte, base58 in groups of four).
// - Secret storage is m.secret_storage.v1.aes-hmac-sha2: per secret, HKDF-SHA-256 (zero salt, the
//   secret's name as info) gives an AES-CTR-256 key and an HMAC-SHA-256 key; the key's description
//   holds the encryption of 32 zero bytes under the name "" to check a recovery key.
// - Key backup is m.megolm_backup.v1.curve25519-aes-sha2 (the OlmMachine encrypts and uploads room
//   keys once enabled; its private key is the secret m.megolm_backup.v1).
import { BackupDecryptionKey, RoomId, UserId, type CrossSigningKeyExport, type OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";
import { obj, paths, str, type Api, type JsonObject } from "./api.ts";

const PREFIX = [0x8b, 0x01];
const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
export const SSSS_ALGORITHM = "m.secret_storage.v1.aes-hmac-sha2";
const BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";
const CROSS_SIGNING = ["m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing"] as const;
const BACKUP_SECRET = "m.megolm_backup.v1";

function base58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

function unbase58(s: string): Uint8Array {
  let n = 0n;
  for (const c of s) {
    const i = ALPHABET.indexOf(c);
    if (i < 0) throw new Error("A recovery key has only letters and digits (no 0, O, I or l).");
    n = n * 58n + BigInt(i);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n % 256n));
    n /= 256n;
  }
  for (const c of s) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

export function encodeRecoveryKey(key: Uint8Array): string {
  const buf = new Uint8Array(PREFIX.length + key.length + 1);
  buf.set(PREFIX, 0);
  buf.set(key, PREFIX.length);
  let parity = 0;
  for (let i = 0; i < buf.length - 1; i++) parity ^= buf[i]!;
  buf[buf.length - 1] = parity;
  return base58(buf).match(/.{1,4}/g)!.join(" ");
}

export function decodeRecoveryKey(text: string): Uint8Array {
  const buf = unbase58(text.replace(/\s+/g, ""));
  let parity = 0;
  for (const b of buf) parity ^= b;
  if (parity !== 0 || buf[0] !== PREFIX[0] || buf[1] !== PREFIX[1] || buf.length !== PREFIX.length + 32 + 1) {
    throw new Error("That is not a recovery key: check it for typing mistakes.");
  }
  return buf.slice(PREFIX.length, PREFIX.length + 32);
}

const b64 = (b: ArrayBuffer | Uint8Array): string => {
  const u = b instanceof Uint8Array ? b : new Uint8Array(b);
  let s = "";
  for (const x of u) s += String.fromCharCode(x);
  return btoa(s);
};
const unb64 = (s: string): Uint8Array => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=")), (c) => c.charCodeAt(0));

async function deriveKeys(key: Uint8Array, name: string): Promise<{ aes: CryptoKey; hmac: CryptoKey }> {
  const base = await crypto.subtle.importKey("raw", key as BufferSource, "HKDF", false, ["deriveBits"]);
  const bits = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: new TextEncoder().encode(name) }, base, 512));
  const aes = await crypto.subtle.importKey("raw", bits.slice(0, 32), "AES-CTR", false, ["encrypt", "decrypt"]);
  const hmac = await crypto.subtle.importKey("raw", bits.slice(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return { aes, hmac };
}

export interface EncryptedSecret {
  iv: string;
  ciphertext: string;
  mac: string;
}

export async function encryptSecret(key: Uint8Array, name: string, secret: string, ivIn?: Uint8Array): Promise<EncryptedSecret> {
  const { aes, hmac } = await deriveKeys(key, name);
  const iv = ivIn ?? crypto.getRandomValues(new Uint8Array(16));
  iv[8]! &= 0x7f; // bit 63 cleared (some implementations overflow the counter otherwise)
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-CTR", counter: iv as BufferSource, length: 64 }, aes, new TextEncoder().encode(secret));
  const mac = await crypto.subtle.sign("HMAC", hmac, ciphertext);
  return { iv: b64(iv), ciphertext: b64(ciphertext), mac: b64(mac) };
}

export async function decryptSecret(key: Uint8Array, name: string, e: EncryptedSecret): Promise<string> {
  const { aes, hmac } = await deriveKeys(key, name);
  const ciphertext = unb64(e.ciphertext);
  if (!(await crypto.subtle.verify("HMAC", hmac, unb64(e.mac) as BufferSource, ciphertext as BufferSource))) throw new Error(`${name}: wrong key or damaged secret`);
  const plain = await crypto.subtle.decrypt({ name: "AES-CTR", counter: unb64(e.iv) as BufferSource, length: 64 }, aes, ciphertext as BufferSource);
  return new TextDecoder().decode(plain);
}

/** Does the recovery key open the secret storage key with this description? */
export async function checkKey(key: Uint8Array, desc: JsonObject): Promise<boolean> {
  const iv = str(desc.iv);
  const mac = str(desc.mac);
  if (!iv || !mac) return true; // an old key without a check: the secrets' MACs will tell
  const zero = String.fromCharCode(...new Uint8Array(32));
  const e = await encryptSecret(key, "", zero, unb64(iv));
  return e.mac.replace(/=+$/, "") === mac.replace(/=+$/, "");
}

/** The m.pbkdf2 passphrase parameters written for a new key (Element's defaults). */
const PBKDF2_ITERATIONS = 500_000;

/** A secret storage key from a passphrase, as the spec's m.pbkdf2 (PBKDF2-SHA-512). */
export async function keyFromPassphrase(passphrase: string, salt: string, iterations: number, bits = 256): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-512", salt: new TextEncoder().encode(salt), iterations }, base, bits));
}

/** Does the text look like a recovery key (rather than a passphrase)? */
function isRecoveryKey(text: string): boolean {
  try {
    decodeRecoveryKey(text);
    return true;
  } catch {
    return false;
  }
}

type AccountData = { get(type: string): JsonObject | undefined };

/** What the account has: a default secret storage key, a server-side backup, a cross-signing identity. */
export interface RecoveryStatus {
  secretStorage: boolean;
  backupVersion?: string;
  crossSigning: boolean;
  /** This device has the private cross-signing keys (so it is signed and can sign). */
  deviceCrossSigned: boolean;
}

export class Recovery {
  constructor(
    private readonly machine: OlmMachine,
    private readonly api: Api,
    private readonly send: (req: unknown) => Promise<boolean>,
    private readonly processOutgoing: () => Promise<void>,
  ) {}

  private get userId(): string {
    return this.machine.userId.toString();
  }

  private async putAccountData(type: string, content: JsonObject): Promise<void> {
    await this.api.put(`/_matrix/client/v3/user/${paths.enc(this.userId)}/account_data/${paths.enc(type)}`, content);
  }

  async status(accountData: AccountData): Promise<RecoveryStatus> {
    const def = str(accountData.get("m.secret_storage.default_key")?.key);
    let backupVersion: string | undefined;
    try {
      backupVersion = str((await this.api.get("/_matrix/client/v3/room_keys/version")).version);
    } catch {
      /* no backup */
    }
    const q = await this.api.post("/_matrix/client/v3/keys/query", { device_keys: { [this.userId]: [] } });
    const cs = (await this.machine.crossSigningStatus()) as { hasMaster: boolean; hasSelfSigning: boolean };
    return { secretStorage: !!def, backupVersion, crossSigning: !!obj(q.master_keys)[this.userId], deviceCrossSigned: cs.hasMaster && cs.hasSelfSigning };
  }

  /**
   * Sets up everything at once, as Element's "set up secure backup": cross-signing (the password
   * answers the server's user-interactive auth), a new secret storage key (returned as the recovery
   * key), the private cross-signing keys and a new backup key stored in it, and a key backup.
   */
  async setUp(password: string, passphrase?: string): Promise<string> {
    // Cross-signing: a new identity unless this device already holds its keys.
    const cs = (await this.machine.crossSigningStatus()) as { hasMaster: boolean; hasSelfSigning: boolean; hasUserSigning: boolean };
    if (!(cs.hasMaster && cs.hasSelfSigning && cs.hasUserSigning)) {
      const reqs = (await this.machine.bootstrapCrossSigning(true)) as { uploadKeysRequest?: unknown; uploadSigningKeysRequest: { body: string }; uploadSignaturesRequest: unknown };
      if (reqs.uploadKeysRequest) await this.send(reqs.uploadKeysRequest);
      await this.api.withPassword("POST", "/_matrix/client/v3/keys/device_signing/upload", JSON.parse(reqs.uploadSigningKeysRequest.body) as JsonObject, password);
      await this.send(reqs.uploadSignaturesRequest);
    }
    // Secret storage with a new key.
    // With a passphrase, the key is derived from it (m.pbkdf2); the recovery key is its other form.
    const salt = b64(crypto.getRandomValues(new Uint8Array(24))).replace(/[^A-Za-z0-9]/g, "");
    const key = passphrase ? await keyFromPassphrase(passphrase, salt, PBKDF2_ITERATIONS) : crypto.getRandomValues(new Uint8Array(32));
    const keyId = b64(crypto.getRandomValues(new Uint8Array(24))).replace(/[^A-Za-z0-9]/g, "").slice(0, 32);
    const check = await encryptSecret(key, "", String.fromCharCode(...new Uint8Array(32)));
    const desc: JsonObject = { algorithm: SSSS_ALGORITHM, iv: check.iv, mac: check.mac };
    if (passphrase) desc.passphrase = { algorithm: "m.pbkdf2", salt, iterations: PBKDF2_ITERATIONS, bits: 256 };
    await this.putAccountData(`m.secret_storage.key.${keyId}`, desc);
    await this.putAccountData("m.secret_storage.default_key", { key: keyId });
    const exported = (await this.machine.exportCrossSigningKeys()) as CrossSigningKeyExport | undefined;
    const seeds = [exported?.masterKey, exported?.self_signing_key, exported?.userSigningKey];
    for (let i = 0; i < CROSS_SIGNING.length; i++) {
      const seed = seeds[i];
      if (seed) await this.putAccountData(CROSS_SIGNING[i]!, { encrypted: { [keyId]: await encryptSecret(key, CROSS_SIGNING[i]!, seed) } as unknown as JsonObject });
    }
    // Key backup, its auth data signed by this device and the master key.
    const backupKey = BackupDecryptionKey.createRandomKey();
    const publicKey = backupKey.megolmV1PublicKey.publicKeyBase64;
    const authData: JsonObject = { public_key: publicKey };
    const signatures = await this.machine.sign(JSON.stringify(authData));
    authData.signatures = JSON.parse((signatures as { asJSON(): string }).asJSON()) as JsonObject;
    const v = await this.api.post("/_matrix/client/v3/room_keys/version", { algorithm: BACKUP_ALGORITHM, auth_data: authData });
    const version = str(v.version)!;
    await this.putAccountData(BACKUP_SECRET, { encrypted: { [keyId]: await encryptSecret(key, BACKUP_SECRET, backupKey.toBase64()) } as unknown as JsonObject });
    await this.machine.saveBackupDecryptionKey(backupKey, version);
    await this.machine.enableBackupV1(publicKey, version);
    await this.processOutgoing(); // uploads the room keys this device has
    return encodeRecoveryKey(key);
  }

  /**
   * With the recovery key: takes the cross-signing keys from secret storage (and signs this device
   * with them), and restores the room keys from the key backup. Returns how many keys were imported.
   */
  async restore(recoveryKey: string, accountData: AccountData): Promise<number> {
    const keyId = str(accountData.get("m.secret_storage.default_key")?.key);
    if (!keyId) throw new Error("This account has no secret storage: set up recovery on a device that has the keys.");
    const desc = accountData.get(`m.secret_storage.key.${keyId}`) ?? {};
    const pp = obj(desc.passphrase);
    let key: Uint8Array;
    if (pp.algorithm === "m.pbkdf2" && str(pp.salt) && !isRecoveryKey(recoveryKey)) {
      key = await keyFromPassphrase(recoveryKey, str(pp.salt)!, Number(pp.iterations) || PBKDF2_ITERATIONS, Number(pp.bits) || 256);
      if (!(await checkKey(key, desc))) throw new Error("That passphrase does not match this account's (or use the recovery key).");
    } else {
      key = decodeRecoveryKey(recoveryKey);
      if (!(await checkKey(key, desc))) throw new Error("That recovery key does not match this account's.");
    }
    const secret = async (name: string): Promise<string | undefined> => {
      const e = obj(obj(accountData.get(name)?.encrypted)[keyId]);
      return e.ciphertext ? decryptSecret(key, name, e as unknown as EncryptedSecret) : undefined;
    };
    // Cross-signing: our identity must be known first (the import checks the keys against it).
    await this.machine.updateTrackedUsers([new UserId(this.userId)]);
    await this.processOutgoing();
    const [master, self, user] = await Promise.all(CROSS_SIGNING.map(secret));
    if (master || self || user) {
      await this.machine.importCrossSigningKeys(master ?? null, self ?? null, user ?? null);
      const device = (await this.machine.getDevice(new UserId(this.userId), this.machine.deviceId)) as { verify(): Promise<unknown> } | undefined;
      if (device) await this.send(await device.verify());
    }
    // Key backup.
    const backup = await secret(BACKUP_SECRET);
    if (!backup) return 0;
    const backupKey = BackupDecryptionKey.fromBase64(backup);
    const info = await this.api.get("/_matrix/client/v3/room_keys/version");
    const version = str(info.version)!;
    if (str(obj(info.auth_data).public_key) !== backupKey.megolmV1PublicKey.publicKeyBase64) throw new Error("The key backup on the server was made with another key.");
    await this.machine.saveBackupDecryptionKey(backupKey, version);
    await this.machine.enableBackupV1(backupKey.megolmV1PublicKey.publicKeyBase64, version);
    const all = await this.api.get("/_matrix/client/v3/room_keys/keys", { version });
    const byRoom = new Map<RoomId, Map<string, JsonObject>>();
    let total = 0;
    for (const [roomId, room] of Object.entries(obj(all.rooms))) {
      const sessions = new Map<string, JsonObject>();
      for (const [sessionId, s] of Object.entries(obj(obj(room).sessions))) {
        const d = obj(obj(s).session_data);
        try {
          const plain = obj(JSON.parse(backupKey.decryptV1(str(d.ephemeral)!, str(d.mac)!, str(d.ciphertext)!)));
          sessions.set(sessionId, { ...plain, room_id: roomId, session_id: sessionId });
          total++;
        } catch {
          /* a session this key cannot open: skipped */
        }
      }
      if (sessions.size) byRoom.set(new RoomId(roomId), sessions);
    }
    if (total) await this.machine.importBackedUpRoomKeys(byRoom, null, version);
    return total;
  }
}
