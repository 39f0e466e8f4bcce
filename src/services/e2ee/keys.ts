// Key distribution and cross-signing (spec: client-server-api end_to_end_encryption.md "Key
// Distribution", "Cross-signing"; keys.yaml, cross_signing.yaml; server-server-api.md "End-to-End
// Encryption", user_keys.yaml, user_devices.yaml).
//
//   upload      POST /keys/upload: device keys (self-signature checked), one-time keys (signed ones
//               checked against the device key), at most one fallback key per algorithm.
//   query       POST /keys/query: local users from the database, remote users from the device list
//               cache when it is kept up to date, otherwise from their server (POST /user/keys/query),
//               unreachable servers in `failures`. Cross-signing keys with the signatures the
//               requester may see; user-signing keys only to their owner.
//   claim       POST /keys/claim: the oldest one-time key, else the fallback key (marked used).
//   device_signing/upload and signatures/upload: cross-signing keys and signatures.
// Local changes are announced through DeviceLists (sync device_lists, federation EDUs).
import {
  checkCrossSigningKey,
  checkDeviceKeys,
  checkOneTimeKeys,
  crossSigningPublicKey,
  deviceEd25519Key,
  hasValidSignature,
  isJsonRecord,
  isKeyProblem,
  parseAlgorithmKeyId,
  sameJson,
  sameSignedContent,
  withSignatures,
  type CrossSigningUsage,
  type JsonRecord,
  type KeyProblem,
} from "../../core/e2ee-keys.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { findServerNameOf, isValidUserId } from "../../protocol/ids.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import type { CrossSigningKeyRow, E2eeRepo, SignatureRow } from "../../storage/repos/e2ee.ts";
import { FederationError } from "../federation/client.ts";
import type { FederationRequester } from "../federation/ports.ts";
import { remoteCrossSigningKeys, type DeviceLists } from "./device-lists.ts";
import { TurnBatch } from "../../util/turn-batch.ts";

export const DEFAULT_REMOTE_TIMEOUT_MS = 10_000;
const MAX_REMOTE_TIMEOUT_MS = 60_000;
/** The algorithm whose count /keys/upload and /sync always report (as Synapse does: old clients expect it). */
const ALWAYS_COUNTED = "signed_curve25519";

export interface E2eeKeysDeps {
  transaction: Transaction;
  repo: E2eeRepo;
  serverName: string;
  deviceLists: DeviceLists;
  fed: FederationRequester;
  /** A local user's device IDs (cross-signing public keys must not collide with them). */
  deviceIds: (userId: string) => Promise<string[]>;
  /** [federation] allow_device_name_lookup_over_federation. */
  shareDisplayNames: boolean;
  now?: () => number;
}

export interface KeysQueryResponse {
  device_keys: Record<string, Record<string, JsonRecord>>;
  master_keys: Record<string, JsonRecord>;
  self_signing_keys: Record<string, JsonRecord>;
  user_signing_keys?: Record<string, JsonRecord>;
  failures?: Record<string, JsonRecord>;
}

type KeyFailure = { errcode: string; error: string };
type Failures = Record<string, Record<string, KeyFailure>>;

const problem = (p: KeyProblem) => new MatrixError(p.errcode, p.error);

function parseJson(s: string): JsonRecord {
  return JSON.parse(s) as JsonRecord;
}

/** The `timeout` of a query or claim body: milliseconds, 10 s by default, at most a minute. */
function remoteTimeout(v: unknown): number {
  if (v === undefined || v === null) return DEFAULT_REMOTE_TIMEOUT_MS;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new MatrixError("M_BAD_JSON", "'timeout' must be a non-negative integer");
  return Math.min(v, MAX_REMOTE_TIMEOUT_MS);
}

/** What a failed request to a server looks like in `failures` (as Synapse reports it). */
function failureOf(e: unknown): JsonRecord {
  if (e instanceof FederationError) {
    return { status: e.kind === "http" && e.status !== undefined ? e.status : 503, message: e.message };
  }
  return { status: 503, message: (e as Error)?.message ?? "unreachable" };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export class E2eeKeys {
  private readonly now: () => number;
  /**
   * Called when a local device's one-time or fallback keys may have changed (uploaded or claimed):
   * application services get the new counts in transactions (MSC3202).
   */
  readonly onOneTimeKeysChanged: Array<(userId: string, deviceId: string) => void> = [];

  constructor(private readonly d: E2eeKeysDeps) {
    this.now = d.now ?? Date.now;
  }

  private isLocal(userId: string): boolean {
    return findServerNameOf(userId) === this.d.serverName;
  }

  // ------------------------------------------------------------------ upload

  /** POST /keys/upload. */
  async upload(userId: string, deviceId: string | null, body: JsonRecord): Promise<{ one_time_key_counts: Record<string, number> }> {
    if (deviceId === null) throw new MatrixError("M_FORBIDDEN", "Uploading keys needs an access token bound to a device");
    const deviceKeys = body.device_keys ?? undefined;
    if (deviceKeys !== undefined && deviceKeys !== null) {
      const p = checkDeviceKeys(deviceKeys, userId, deviceId);
      if (p) throw problem(p);
    }
    const otks = body.one_time_keys ?? undefined;
    const fallbacks = body.fallback_keys ?? body["org.matrix.msc2732.fallback_keys"] ?? undefined;
    // Signed one-time and fallback keys must be signed by this device's key (the new one, or the stored one).
    let ed25519 = isJsonRecord(deviceKeys) ? deviceEd25519Key(deviceKeys, deviceId) : undefined;
    if (ed25519 === undefined && (otks !== undefined || fallbacks !== undefined)) {
      const stored = await this.d.repo.findDeviceKeys(userId, deviceId);
      if (stored) ed25519 = deviceEd25519Key(parseJson(stored), deviceId);
    }
    const signer = ed25519 ? { userId, deviceId, ed25519 } : undefined;
    if (otks !== undefined && otks !== null) {
      const p = checkOneTimeKeys(otks, "one_time_keys", signer);
      if (p) throw problem(p);
    }
    if (fallbacks !== undefined && fallbacks !== null) {
      const p = checkOneTimeKeys(fallbacks, "fallback_keys", signer);
      if (p) throw problem(p);
    }

    const deviceChanged = await this.d.transaction(async (tx) => {
      let changed = false;
      if (isJsonRecord(deviceKeys)) {
        const { unsigned: _u, ...keys } = deviceKeys;
        const stored = await this.d.repo.findDeviceKeys(userId, deviceId, tx);
        if (!stored || !sameJson(parseJson(stored), keys)) {
          await this.d.repo.upsertDeviceKeys(tx, userId, deviceId, JSON.stringify(keys), this.now());
          changed = true;
        }
      }
      if (isJsonRecord(otks)) {
        const names = Object.keys(otks).map((n) => parseAlgorithmKeyId(n)!);
        const existing = await this.d.repo.findOneTimeKeysNamed(tx, userId, deviceId, names);
        const fresh: Array<{ algorithm: string; keyId: string; json: string }> = [];
        for (const [name, key] of Object.entries(otks)) {
          const old = existing.get(name);
          if (old !== undefined) {
            if (sameJson(JSON.parse(old), key)) continue;
            throw new MatrixError("M_INVALID_PARAM", `One-time key ${name} already exists with different content`);
          }
          const { algorithm, keyId } = parseAlgorithmKeyId(name)!;
          fresh.push({ algorithm, keyId, json: JSON.stringify(key) });
        }
        await this.d.repo.insertOneTimeKeys(tx, userId, deviceId, fresh);
      }
      if (isJsonRecord(fallbacks)) {
        for (const [name, key] of Object.entries(fallbacks)) {
          const { algorithm, keyId } = parseAlgorithmKeyId(name)!;
          const old = await this.d.repo.findFallbackKey(tx, userId, deviceId, algorithm);
          // Re-uploading the same key keeps its used flag; a new key replaces it, unused.
          if (old && old.key_id === keyId && sameJson(JSON.parse(old.key_json), key)) continue;
          await this.d.repo.upsertFallbackKey(tx, userId, deviceId, algorithm, keyId, JSON.stringify(key));
        }
      }
      return changed;
    });
    if (deviceChanged) await this.d.deviceLists.localDevicesChanged(userId, [deviceId]);
    if (isJsonRecord(otks) || isJsonRecord(fallbacks)) this.oneTimeKeysChanged(userId, deviceId);
    return { one_time_key_counts: await this.oneTimeKeyCounts(userId, deviceId) };
  }

  /** Unclaimed one-time keys of a device per algorithm (signed_curve25519 always listed). */
  async oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>> {
    return { [ALWAYS_COUNTED]: 0, ...(await this.d.repo.countOneTimeKeys(userId, deviceId)) };
  }

  unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    return this.d.repo.unusedFallbackKeyTypes(userId, deviceId);
  }

  /** Both of the above for the devices asked in the same turn of the event loop, read together. */
  private readonly countsBatch = new TurnBatch<string, { counts: Record<string, number>; fallback: string[] } | undefined>(async (keys) => {
    const users = [...new Set(keys.map((k) => k.slice(0, k.indexOf("\u0000"))))];
    return this.d.repo.keyCountsOf(users);
  });

  /** oneTimeKeyCounts and unusedFallbackKeyTypes of a device, batched with other devices (/sync fan-out). */
  async keyCountsBatched(userId: string, deviceId: string): Promise<{ counts: Record<string, number>; fallback: string[] }> {
    const v = await this.countsBatch.get(`${userId}\u0000${deviceId}`);
    return { counts: { [ALWAYS_COUNTED]: 0, ...(v?.counts ?? {}) }, fallback: v?.fallback ?? [] };
  }

  // ------------------------------------------------------------------ query

  /** POST /keys/query for a local user. */
  async query(requester: string, body: JsonRecord): Promise<KeysQueryResponse> {
    const wanted = parseDeviceKeysRequest(body.device_keys);
    const timeoutMs = remoteTimeout(body.timeout);
    const out: KeysQueryResponse = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} };

    const local = new Map<string, string[]>();
    const remote = new Map<string, Map<string, string[]>>();
    for (const [userId, devices] of wanted) {
      if (this.isLocal(userId)) local.set(userId, devices);
      else {
        const server = findServerNameOf(userId)!;
        let m = remote.get(server);
        if (!m) remote.set(server, (m = new Map()));
        m.set(userId, devices);
      }
    }
    if (local.size) mergeQuery(out, await this.localKeys(local, requester, true));

    // Remote users: from the cache when it is kept up to date, else from their server.
    const viewerSignatures = (users: string[]) => this.d.repo.signaturesOn(users, requester);
    await Promise.all(
      [...remote].map(async ([server, users]) => {
        const ask = new Map<string, string[]>();
        const cached: string[] = [];
        await Promise.all(
          [...users].map(async ([u, devices]) => {
            // Not cached but sharing a room (never fetched, or the last fetch failed): fetch the whole
            // list now and keep it up to date from then on (Synapse does the same, and SyTest expects it).
            if ((await this.d.deviceLists.cacheUsable(u)) || (devices.length === 0 && (await this.d.deviceLists.trackNow(u)))) cached.push(u);
            else ask.set(u, devices);
          }),
        );
        if (cached.length) mergeQuery(out, await this.cachedRemoteKeys(new Map(cached.map((u) => [u, users.get(u)!])), requester));
        if (ask.size === 0) return;
        try {
          const res = await withTimeout(
            this.d.fed.request<unknown>({
              destination: server,
              method: "POST",
              path: "/_matrix/federation/v1/user/keys/query",
              body: { device_keys: Object.fromEntries(ask) },
              timeoutMs,
            }),
            timeoutMs + 1000,
            `key query to ${server}`,
          );
          const answer = filterRemoteQuery(res, server, ask);
          // The requester's own signatures on their master keys (made with their user-signing key).
          const sigs = await viewerSignatures([...ask.keys()]);
          for (const [u, mk] of Object.entries(answer.master_keys)) answer.master_keys[u] = withSignatures(mk, viewerSigsOn(sigs, u, crossSigningPublicKey(mk), requester));
          mergeQuery(out, answer);
          for (const u of ask.keys()) this.d.deviceLists.maybeStartTracking(u);
        } catch (e) {
          out.failures![server] = failureOf(e);
        }
      }),
    );
    return out;
  }

  /** POST /_matrix/federation/v1/user/keys/query: local users only, as any other server may see them. */
  async federationQuery(body: JsonRecord): Promise<KeysQueryResponse> {
    const wanted = parseDeviceKeysRequest(body.device_keys);
    const local = new Map([...wanted].filter(([u]) => this.isLocal(u)));
    const out = await this.localKeys(local, undefined, this.d.shareDisplayNames);
    delete out.user_signing_keys;
    delete out.failures;
    return out;
  }

  /**
   * Keys of local users: device keys (with unsigned.device_display_name when `names`), master and
   * self-signing keys, and the user-signing key of `viewer` when they asked for themself.
   */
  private async localKeys(users: ReadonlyMap<string, readonly string[]>, viewer: string | undefined, names: boolean): Promise<KeysQueryResponse> {
    const out: KeysQueryResponse = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
    const ids = [...users.keys()];
    for (const u of ids) out.device_keys[u] = {};
    const sigs = await this.d.repo.signaturesOn(ids, viewer);
    for (const row of await this.d.repo.listDeviceKeys(users)) {
      let keys = withSignatures(parseJson(row.key_json), viewerSigsOn(sigs, row.user_id, row.device_id, viewer));
      // `unsigned` is always present (empty without a shareable name), as Synapse answers and SyTest expects.
      keys = { ...keys, unsigned: names && row.display_name !== null ? { device_display_name: row.display_name } : {} };
      out.device_keys[row.user_id]![row.device_id] = keys;
    }
    this.addCrossSigning(out, await this.d.repo.crossSigningKeys(ids), sigs, viewer);
    return out;
  }

  /** Keys of remote users from the device list cache. */
  private async cachedRemoteKeys(users: ReadonlyMap<string, readonly string[]>, viewer: string): Promise<KeysQueryResponse> {
    const out: KeysQueryResponse = { device_keys: {}, master_keys: {}, self_signing_keys: {} };
    const ids = [...users.keys()];
    for (const u of ids) out.device_keys[u] = {};
    for (const row of await this.d.repo.remoteDevices(ids)) {
      const want = users.get(row.user_id)!;
      if (row.keys_json === null || (want.length > 0 && !want.includes(row.device_id))) continue;
      let keys = parseJson(row.keys_json);
      if (row.display_name !== null) keys = { ...keys, unsigned: { device_display_name: row.display_name } };
      out.device_keys[row.user_id]![row.device_id] = keys;
    }
    const sigs = await this.d.repo.signaturesOn(ids, viewer);
    this.addCrossSigning(out, await this.d.repo.crossSigningKeys(ids), sigs, viewer);
    return out;
  }

  private addCrossSigning(out: KeysQueryResponse, rows: CrossSigningKeyRow[], sigs: SignatureRow[], viewer: string | undefined): void {
    for (const r of rows) {
      const key = parseJson(r.key_json);
      if (r.key_type === "master") out.master_keys[r.user_id] = withSignatures(key, viewerSigsOn(sigs, r.user_id, r.public_key, viewer));
      else if (r.key_type === "self_signing") out.self_signing_keys[r.user_id] = key;
      else if (r.key_type === "user_signing" && viewer === r.user_id && out.user_signing_keys) out.user_signing_keys[r.user_id] = key;
    }
  }

  // ------------------------------------------------------------------ claim

  /** POST /keys/claim. */
  async claim(body: JsonRecord): Promise<{ one_time_keys: Record<string, Record<string, JsonRecord>>; failures: Record<string, JsonRecord> }> {
    const wanted = parseClaimRequest(body.one_time_keys);
    const timeoutMs = remoteTimeout(body.timeout);
    const out = { one_time_keys: {} as Record<string, Record<string, JsonRecord>>, failures: {} as Record<string, JsonRecord> };
    const remote = new Map<string, Map<string, Record<string, string>>>();
    const local = new Map<string, Record<string, string>>();
    for (const [u, devices] of wanted) {
      if (this.isLocal(u)) local.set(u, devices);
      else {
        const server = findServerNameOf(u)!;
        let m = remote.get(server);
        if (!m) remote.set(server, (m = new Map()));
        m.set(u, devices);
      }
    }
    Object.assign(out.one_time_keys, await this.claimLocal(local));
    await Promise.all(
      [...remote].map(async ([server, users]) => {
        try {
          const res = await withTimeout(
            this.d.fed.request<unknown>({
              destination: server,
              method: "POST",
              path: "/_matrix/federation/v1/user/keys/claim",
              body: { one_time_keys: Object.fromEntries(users) },
              timeoutMs,
            }),
            timeoutMs + 1000,
            `key claim from ${server}`,
          );
          const otks = isJsonRecord(res) && isJsonRecord(res.one_time_keys) ? res.one_time_keys : {};
          for (const [u, devices] of Object.entries(otks)) {
            if (!users.has(u) || !isJsonRecord(devices)) continue;
            const mine: Record<string, JsonRecord> = {};
            for (const [dev, keys] of Object.entries(devices)) {
              if (users.get(u)![dev] !== undefined && isJsonRecord(keys)) mine[dev] = keys;
            }
            out.one_time_keys[u] = mine;
          }
        } catch (e) {
          out.failures[server] = failureOf(e);
        }
      }),
    );
    return out;
  }

  /** POST /_matrix/federation/v1/user/keys/claim: local users only. */
  async federationClaim(body: JsonRecord): Promise<{ one_time_keys: Record<string, Record<string, JsonRecord>> }> {
    const wanted = parseClaimRequest(body.one_time_keys);
    return { one_time_keys: await this.claimLocal(new Map([...wanted].filter(([u]) => this.isLocal(u)))) };
  }

  private async claimLocal(users: ReadonlyMap<string, Record<string, string>>): Promise<Record<string, Record<string, JsonRecord>>> {
    const out: Record<string, Record<string, JsonRecord>> = {};
    for (const [userId, devices] of users) {
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        const key = (await this.d.repo.claimOneTimeKey(userId, deviceId, algorithm)) ?? (await this.d.repo.claimFallbackKey(userId, deviceId, algorithm));
        if (!key) continue;
        ((out[userId] ??= {})[deviceId] ??= {})[`${key.algorithm}:${key.key_id}`] = JSON.parse(key.key_json);
        this.oneTimeKeysChanged(userId, deviceId);
      }
    }
    return out;
  }

  private oneTimeKeysChanged(userId: string, deviceId: string): void {
    for (const h of this.onOneTimeKeysChanged) h(userId, deviceId);
  }

  // ------------------------------------------------------------------ federation device list

  /** GET /_matrix/federation/v1/user/devices/{userId}. */
  async federationUserDevices(userId: string): Promise<JsonRecord> {
    if (!this.isLocal(userId)) throw new MatrixError("M_FORBIDDEN", "Not a user of this server");
    const streamId = await this.d.deviceLists.outboundStreamId(userId);
    const sigs = await this.d.repo.signaturesOn([userId], undefined);
    const devices: JsonRecord[] = [];
    for (const row of await this.d.repo.devicesWithKeys(userId)) {
      if (row.key_json === null) continue;
      const dev: JsonRecord = { device_id: row.device_id, keys: withSignatures(parseJson(row.key_json), viewerSigsOn(sigs, userId, row.device_id, undefined)) };
      if (this.d.shareDisplayNames && row.display_name !== null) dev.device_display_name = row.display_name;
      devices.push(dev);
    }
    const out: JsonRecord = { user_id: userId, stream_id: streamId, devices };
    Object.assign(out, await this.localCrossSigningForFederation(userId));
    return out;
  }

  /** A local device as other servers see it (for m.device_list_update). */
  async localDeviceForFederation(userId: string, deviceId: string): Promise<{ keys?: JsonRecord; displayName?: string } | undefined> {
    const row = (await this.d.repo.devicesWithKeys(userId)).find((r) => r.device_id === deviceId);
    if (!row) return undefined;
    const out: { keys?: JsonRecord; displayName?: string } = {};
    if (row.key_json !== null) {
      const sigs = await this.d.repo.signaturesOn([userId], undefined);
      out.keys = withSignatures(parseJson(row.key_json), viewerSigsOn(sigs, userId, deviceId, undefined));
    }
    if (row.display_name !== null) out.displayName = row.display_name;
    return out;
  }

  /** A local user's master and self-signing keys as other servers see them. */
  async localCrossSigningForFederation(userId: string): Promise<{ master_key?: JsonRecord; self_signing_key?: JsonRecord }> {
    const out: { master_key?: JsonRecord; self_signing_key?: JsonRecord } = {};
    const sigs = await this.d.repo.signaturesOn([userId], undefined);
    for (const r of await this.d.repo.crossSigningKeys([userId])) {
      if (r.key_type === "master") out.master_key = withSignatures(parseJson(r.key_json), viewerSigsOn(sigs, userId, r.public_key, undefined));
      else if (r.key_type === "self_signing") out.self_signing_key = parseJson(r.key_json);
    }
    return out;
  }

  // ------------------------------------------------------------------ cross-signing

  /**
   * Whether POST /keys/device_signing/upload needs user-interactive auth: only when the user already
   * has a master key and the request brings a key that differs from the stored one.
   */
  async crossSigningUploadNeedsAuth(userId: string, body: JsonRecord): Promise<boolean> {
    const stored = new Map((await this.d.repo.crossSigningKeys([userId])).map((r) => [r.key_type, r]));
    if (!stored.has("master")) return false;
    for (const [field, type] of FIELDS) {
      const v = body[field];
      if (v === undefined || v === null) continue;
      const s = stored.get(type);
      if (!s || !sameJson(parseJson(s.key_json), v)) return true;
    }
    return false;
  }

  /** POST /keys/device_signing/upload (after user-interactive auth when needed). */
  async uploadCrossSigningKeys(userId: string, body: JsonRecord): Promise<void> {
    const stored = new Map((await this.d.repo.crossSigningKeys([userId])).map((r) => [r.key_type, r]));
    const given = new Map<CrossSigningUsage, { json: JsonRecord; publicKey: string }>();
    for (const [field, type] of FIELDS) {
      const v = body[field];
      if (v === undefined || v === null) continue;
      const info = checkCrossSigningKey(v, userId, type, field);
      if (isKeyProblem(info)) throw problem(info);
      given.set(type, { json: v as JsonRecord, publicKey: info.publicKey });
    }
    if (given.size === 0) return;
    const masterPub = given.get("master")?.publicKey ?? stored.get("master")?.public_key;
    for (const type of ["self_signing", "user_signing"] as const) {
      const k = given.get(type);
      if (!k) continue;
      if (masterPub === undefined) throw new MatrixError("M_MISSING_PARAM", "No master key available to verify the signing keys");
      if (!hasValidSignature(k.json, userId, `ed25519:${masterPub}`, masterPub)) {
        throw new MatrixError("M_INVALID_SIGNATURE", `The ${type.replace("_", "-")} key is not signed by the master key`);
      }
    }
    // Device IDs and cross-signing public keys share one namespace (spec "Cross-signing").
    const devices = new Set(await this.d.deviceIds(userId));
    for (const k of given.values()) if (devices.has(k.publicKey)) throw new MatrixError("M_FORBIDDEN", "Key ID in use: a device has this ID");

    const changed: CrossSigningUsage[] = [];
    await this.d.transaction(async (tx) => {
      for (const [type, k] of given) {
        const s = stored.get(type);
        if (s && sameJson(parseJson(s.key_json), k.json)) continue;
        await this.d.repo.upsertCrossSigningKey(tx, userId, type, k.publicKey, JSON.stringify(k.json));
        changed.push(type);
      }
    });
    if (changed.length) await this.d.deviceLists.localCrossSigningChanged(userId, changed.some((t) => t !== "user_signing"));
  }

  /** POST /keys/signatures/upload. */
  async uploadSignatures(userId: string, body: JsonRecord): Promise<{ failures: Failures }> {
    const failures: Failures = {};
    const fail = (u: string, k: string, errcode: string, error: string) => ((failures[u] ??= {})[k] = { errcode, error });
    const stored = new Map((await this.d.repo.crossSigningKeys([userId])).map((r) => [r.key_type, r]));
    const changedDevices: string[] = [];
    let masterSigned = false;
    let othersSigned = false;

    for (const [target, keys] of Object.entries(body)) {
      if (!isValidUserId(target)) {
        fail(target, "*", "M_INVALID_PARAM", "Invalid user ID");
        continue;
      }
      if (!isJsonRecord(keys)) {
        fail(target, "*", "M_BAD_JSON", "Expected a map of key IDs to signed objects");
        continue;
      }
      for (const [keyId, obj] of Object.entries(keys)) {
        if (!isJsonRecord(obj) || !isJsonRecord(obj.signatures) || !isJsonRecord(obj.signatures[userId])) {
          fail(target, keyId, "M_BAD_JSON", "Expected a signed object carrying the uploader's signatures");
          continue;
        }
        const mySigs = obj.signatures[userId] as JsonRecord;
        try {
          if (target === userId) {
            const r = await this.signOwnKey(userId, keyId, obj, mySigs, stored);
            if (r === "device") changedDevices.push(keyId);
            else masterSigned = true;
          } else {
            await this.signOtherUser(userId, target, keyId, obj, mySigs, stored);
            othersSigned = true;
          }
        } catch (e) {
          if (!(e instanceof MatrixError)) throw e;
          fail(target, keyId, e.errcode, e.message);
        }
      }
    }
    if (changedDevices.length) await this.d.deviceLists.localDevicesChanged(userId, changedDevices);
    if (masterSigned) await this.d.deviceLists.localCrossSigningChanged(userId, true);
    else if (othersSigned && !changedDevices.length) await this.d.deviceLists.recordChange([userId]);
    return { failures };
  }

  /** A signature on one of the user's own devices (by their self-signing key) or on their master key (by a device). */
  private async signOwnKey(userId: string, keyId: string, obj: JsonRecord, mySigs: JsonRecord, stored: Map<string, CrossSigningKeyRow>): Promise<"device" | "master"> {
    const master = stored.get("master");
    if (master && keyId === master.public_key) {
      const mk = parseJson(master.key_json);
      if (!sameSignedContent(mk, obj)) throw new MatrixError("M_INVALID_PARAM", "The signed object does not match the stored master key");
      const deviceRows = await this.d.repo.listDeviceKeys(new Map([[userId, []]]));
      const rows: SignatureRow[] = [];
      for (const [sigKeyId, sig] of Object.entries(mySigs)) {
        if (typeof sig !== "string" || !sigKeyId.startsWith("ed25519:")) continue;
        const dev = deviceRows.find((r) => `ed25519:${r.device_id}` === sigKeyId);
        if (!dev) continue;
        const ed = deviceEd25519Key(parseJson(dev.key_json), dev.device_id);
        if (!ed || !hasValidSignature(obj, userId, sigKeyId, ed)) throw new MatrixError("M_INVALID_SIGNATURE", `Invalid signature by ${sigKeyId}`);
        rows.push({ target_user_id: userId, target_key_id: keyId, signer_user_id: userId, signer_key_id: sigKeyId, signature: sig });
      }
      if (rows.length === 0) throw new MatrixError("M_INVALID_SIGNATURE", "No signature by one of the user's devices");
      await this.d.transaction(async (tx) => {
        for (const r of rows) await this.d.repo.insertSignature(tx, r);
      });
      return "master";
    }
    const deviceJson = await this.d.repo.findDeviceKeys(userId, keyId);
    if (!deviceJson) throw new MatrixError("M_NOT_FOUND", "Unknown key");
    if (!sameSignedContent(parseJson(deviceJson), obj)) throw new MatrixError("M_INVALID_PARAM", "The signed object does not match the stored device keys");
    const ssk = stored.get("self_signing");
    if (!ssk) throw new MatrixError("M_MISSING_PARAM", "No self-signing key uploaded");
    const sskKeyId = `ed25519:${ssk.public_key}`;
    const sig = mySigs[sskKeyId];
    if (typeof sig !== "string" || !hasValidSignature(obj, userId, sskKeyId, ssk.public_key)) {
      throw new MatrixError("M_INVALID_SIGNATURE", "Missing or invalid signature by the self-signing key");
    }
    await this.d.transaction((tx) => this.d.repo.insertSignature(tx, { target_user_id: userId, target_key_id: keyId, signer_user_id: userId, signer_key_id: sskKeyId, signature: sig }));
    return "device";
  }

  /** A signature on another user's master key by the uploader's user-signing key. */
  private async signOtherUser(userId: string, target: string, keyId: string, obj: JsonRecord, mySigs: JsonRecord, stored: Map<string, CrossSigningKeyRow>): Promise<void> {
    const usk = stored.get("user_signing");
    if (!usk) throw new MatrixError("M_MISSING_PARAM", "No user-signing key uploaded");
    const targetMaster = await this.masterKeyOf(target);
    if (!targetMaster) throw new MatrixError("M_NOT_FOUND", "The user has no master key");
    if (keyId !== crossSigningPublicKey(targetMaster)) throw new MatrixError("M_NOT_FOUND", "Only a user's master key can be signed");
    if (!sameSignedContent(targetMaster, obj)) throw new MatrixError("M_INVALID_PARAM", "The signed object does not match the user's master key");
    const uskKeyId = `ed25519:${usk.public_key}`;
    const sig = mySigs[uskKeyId];
    if (typeof sig !== "string" || !hasValidSignature(obj, userId, uskKeyId, usk.public_key)) {
      throw new MatrixError("M_INVALID_SIGNATURE", "Missing or invalid signature by the user-signing key");
    }
    await this.d.transaction((tx) => this.d.repo.insertSignature(tx, { target_user_id: target, target_key_id: keyId, signer_user_id: userId, signer_key_id: uskKeyId, signature: sig }));
  }

  /** Another user's master key: stored (local users, cached remote users) or fetched from their server. */
  private async masterKeyOf(userId: string): Promise<JsonRecord | undefined> {
    const row = (await this.d.repo.crossSigningKeys([userId])).find((r) => r.key_type === "master");
    if (row) return parseJson(row.key_json);
    if (this.isLocal(userId)) return undefined;
    try {
      const res = await this.d.fed.request<unknown>({
        destination: findServerNameOf(userId)!,
        method: "POST",
        path: "/_matrix/federation/v1/user/keys/query",
        body: { device_keys: { [userId]: [] } },
        timeoutMs: DEFAULT_REMOTE_TIMEOUT_MS,
      });
      const keys = remoteCrossSigningKeys(userId, { master_key: isJsonRecord(res) && isJsonRecord(res.master_keys) ? res.master_keys[userId] : undefined });
      return keys[0] ? parseJson(keys[0].json) : undefined;
    } catch {
      throw new MatrixError("M_NOT_FOUND", "Could not fetch the user's master key from their server");
    }
  }

  // ------------------------------------------------------------------ lifecycle

  /** Devices were deleted: their keys, one-time keys, inbox and signatures go; other users learn it. */
  async devicesDeleted(userId: string, deviceIds: string[]): Promise<void> {
    await this.d.transaction((tx) => this.d.repo.deleteDeviceData(tx, userId, deviceIds));
    await this.d.deviceLists.localDevicesChanged(userId, deviceIds, true);
  }

  /**
   * A new device was logged in: it is a change of the user's device list (server-server-api
   * "Device Management": "new or deleted devices"), so co-members, the user's other devices and
   * other servers learn it even before it uploads keys.
   */
  async deviceCreated(userId: string, deviceId: string): Promise<void> {
    await this.d.deviceLists.localDevicesChanged(userId, [deviceId]);
  }

  /** A device was renamed: other users see the new name in /keys/query. */
  async deviceRenamed(userId: string, deviceId: string): Promise<void> {
    await this.d.deviceLists.localDevicesChanged(userId, [deviceId]);
  }

  /** An account was deactivated: its cross-signing keys, signatures and key backups go. */
  async deactivated(userId: string): Promise<void> {
    await this.d.transaction(async (tx) => {
      await this.d.repo.deleteCrossSigning(tx, userId);
      await this.d.repo.deleteAllBackups(tx, userId);
    });
    await this.d.deviceLists.localCrossSigningChanged(userId, true);
  }
}

const FIELDS = [
  ["master_key", "master"],
  ["self_signing_key", "self_signing"],
  ["user_signing_key", "user_signing"],
] as const;

/** Stored signatures on (user, key) that `viewer` may see: the owner's own, and the viewer's. */
function viewerSigsOn(sigs: readonly SignatureRow[], userId: string, keyId: string | undefined, viewer: string | undefined) {
  return sigs
    .filter((s) => s.target_user_id === userId && s.target_key_id === keyId && (s.signer_user_id === userId || s.signer_user_id === viewer))
    .map((s) => ({ signer: s.signer_user_id, keyId: s.signer_key_id, signature: s.signature }));
}

/** The `device_keys` of a query: user ID → device IDs (empty: all devices). */
function parseDeviceKeysRequest(v: unknown): Map<string, string[]> {
  if (v === undefined || v === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'device_keys'");
  if (!isJsonRecord(v)) throw new MatrixError("M_BAD_JSON", "'device_keys' must be an object");
  const out = new Map<string, string[]>();
  for (const [userId, devices] of Object.entries(v)) {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", `Invalid user ID ${JSON.stringify(userId.slice(0, 100))}`);
    if (devices === null) {
      out.set(userId, []);
      continue;
    }
    if (!Array.isArray(devices) || devices.some((d) => typeof d !== "string")) throw new MatrixError("M_BAD_JSON", `'device_keys.${userId}' must be an array of device IDs`);
    out.set(userId, devices as string[]);
  }
  return out;
}

/** The `one_time_keys` of a claim: user ID → device ID → algorithm. */
function parseClaimRequest(v: unknown): Map<string, Record<string, string>> {
  if (v === undefined || v === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'one_time_keys'");
  if (!isJsonRecord(v)) throw new MatrixError("M_BAD_JSON", "'one_time_keys' must be an object");
  const out = new Map<string, Record<string, string>>();
  for (const [userId, devices] of Object.entries(v)) {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", `Invalid user ID ${JSON.stringify(userId.slice(0, 100))}`);
    if (!isJsonRecord(devices) || Object.values(devices).some((a) => typeof a !== "string")) {
      throw new MatrixError("M_BAD_JSON", `'one_time_keys.${userId}' must map device IDs to algorithms`);
    }
    out.set(userId, devices as Record<string, string>);
  }
  return out;
}

/** What a remote server answered to /user/keys/query, keeping only what it may speak for. */
function filterRemoteQuery(res: unknown, server: string, asked: ReadonlyMap<string, readonly string[]>): KeysQueryResponse {
  const out: KeysQueryResponse = { device_keys: {}, master_keys: {}, self_signing_keys: {} };
  if (!isJsonRecord(res)) return out;
  const dk = isJsonRecord(res.device_keys) ? res.device_keys : {};
  for (const userId of asked.keys()) {
    if (findServerNameOf(userId) !== server) continue;
    const want = asked.get(userId)!;
    const devices = dk[userId];
    const mine: Record<string, JsonRecord> = {};
    if (isJsonRecord(devices)) {
      for (const [deviceId, keys] of Object.entries(devices)) {
        if (!isJsonRecord(keys) || keys.user_id !== userId || keys.device_id !== deviceId) continue;
        if (want.length > 0 && !want.includes(deviceId)) continue;
        mine[deviceId] = keys;
      }
    }
    out.device_keys[userId] = mine;
    const cs = remoteCrossSigningKeys(userId, {
      master_key: isJsonRecord(res.master_keys) ? res.master_keys[userId] : undefined,
      self_signing_key: isJsonRecord(res.self_signing_keys) ? res.self_signing_keys[userId] : undefined,
    });
    for (const k of cs) {
      if (k.type === "master") out.master_keys[userId] = parseJson(k.json);
      else out.self_signing_keys[userId] = parseJson(k.json);
    }
  }
  return out;
}

function mergeQuery(into: KeysQueryResponse, from: KeysQueryResponse): void {
  Object.assign(into.device_keys, from.device_keys);
  Object.assign(into.master_keys, from.master_keys);
  Object.assign(into.self_signing_keys, from.self_signing_keys);
  if (from.user_signing_keys && into.user_signing_keys) Object.assign(into.user_signing_keys, from.user_signing_keys);
}
