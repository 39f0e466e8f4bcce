// End-to-end encryption: the Rust SDK's OlmMachine (@matrix-org/matrix-sdk-crypto-wasm, the crypto
// Element Web runs) driven directly, without matrix-js-sdk (see docs/web-client.md for the figures).
// This module is imported dynamically by client.ts, so it and the WebAssembly are a separate chunk
// loaded after the first paint. The machine keeps its keys in IndexedDB (one store per user and
// device), so a reload keeps the device and its sessions.
//
// What it does for the client: sends the machine's outgoing requests (device and one-time/fallback
// key uploads, key queries and claims, to-device messages), feeds it each /sync's to-device events,
// device list changes and key counts, decrypts room events, and encrypts: before the first message
// of a Megolm session it tracks the room's members, claims Olm sessions with their devices and
// shares the room key to every device of every member (the machine rotates the session when a member
// left or a device disappeared, and after the room's rotation period).
import {
  Attachment,
  BackupDecryptionKey,
  CollectStrategy,
  DecryptionErrorCode,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptedAttachment,
  EncryptionAlgorithm,
  EncryptionSettings,
  EventId,
  HistoryVisibility,
  initAsync,
  KeysBackupRequest,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  MegolmDecryptionError,
  OlmMachine,
  RequestType,
  RoomId,
  RoomMessageRequest,
  RoomSettings,
  Sas,
  SignatureUploadRequest,
  ToDeviceRequest,
  TrustRequirement,
  UserId,
  VerificationRequest,
  VerificationMethod,
  VerificationRequestPhase,
  type RoomKeyInfo,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { arr, num, obj, paths, str, type Api, type JsonObject, type Session } from "./api.ts";
import { Recovery } from "./recovery.ts";

/** The IndexedDB store of one user's device (the machine adds its own suffixes to the name). */
export function storeName(s: { userId: string; deviceId: string }): string {
  return `hs-crypto|${s.userId}|${s.deviceId}`;
}

/** The result of decrypting one room event. */
export type Decryption =
  | { ok: true; type: string; content: JsonObject; senderDevice?: string }
  | { ok: false; waiting: boolean; reason: string; sessionId?: string };

type OutgoingRequest = KeysUploadRequest | KeysQueryRequest | KeysClaimRequest | ToDeviceRequest | SignatureUploadRequest | RoomMessageRequest | KeysBackupRequest;

const enc = encodeURIComponent;

/** Another tab of this browser runs the crypto of the same device. */
export class CryptoBusyError extends Error {
  override name = "CryptoBusyError";
}

/**
 * Holds a Web Lock named after the store while this tab uses it: two OlmMachines on one store would
 * each advance the same Olm sessions and break them. Resolves to the release function, or undefined
 * when another tab holds it.
 */
async function lockStore(name: string): Promise<(() => void) | undefined> {
  if (!navigator.locks) return () => {};
  return new Promise((resolve) => {
    void navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) return resolve(undefined);
      return new Promise<void>((release) => resolve(release)); // held until released or the page goes
    });
  });
}

export class Crypto {
  private release: (() => void) | undefined;
  private outgoingRunning: Promise<void> | undefined;
  private outgoingAgain = false;
  private roomQueues = new Map<string, Promise<unknown>>();
  private keyListeners = new Set<(roomId: string, sessionIds: Set<string>) => void>();
  readonly verificationListeners = new Set<(v: Verification) => void>();

  private constructor(
    readonly machine: OlmMachine,
    private readonly api: Api,
  ) {}

  /** Loads the WebAssembly, opens (or creates) this device's store and uploads its keys. */
  static async start(api: Api, session: Session): Promise<Crypto> {
    const release = await lockStore(storeName(session));
    if (!release) throw new CryptoBusyError("this session's encryption is running in another tab of this browser; use that tab, or close it and reload this one");
    await initAsync(new URL(HS_CRYPTO_WASM_URL, location.origin));
    // (Callbacks given to the machine must return promises.)
    const machine: OlmMachine = await OlmMachine.initialize(new UserId(session.userId), new DeviceId(session.deviceId), storeName(session));
    const c = new Crypto(machine, api);
    c.release = release;
    await machine.registerRoomKeyUpdatedCallback(async (keys: RoomKeyInfo[]) => {
      const byRoom = new Map<string, Set<string>>();
      for (const k of keys) {
        const r = k.roomId.toString();
        let s = byRoom.get(r);
        if (!s) byRoom.set(r, (s = new Set()));
        s.add(k.sessionId);
      }
      for (const [r, s] of byRoom) for (const l of c.keyListeners) l(r, s);
    });
    // A key backup this device had enabled (the machine keeps its key and version, not the switch).
    const backup = (await machine.getBackupKeys()) as { decryptionKey?: BackupDecryptionKey; backupVersion?: string };
    if (backup.decryptionKey && backup.backupVersion) await machine.enableBackupV1(backup.decryptionKey.megolmV1PublicKey.publicKeyBase64, backup.backupVersion);
    await c.processOutgoing();
    return c;
  }

  get deviceId(): string {
    return this.machine.deviceId.toString();
  }

  /** This device's Ed25519 fingerprint, as other clients show it. */
  get fingerprint(): string {
    return this.machine.identityKeys.ed25519.toBase64();
  }

  /** Called with the room and session IDs whenever room keys arrive (to retry decryption). */
  onRoomKeys(fn: (roomId: string, sessionIds: Set<string>) => void): () => void {
    this.keyListeners.add(fn);
    return () => this.keyListeners.delete(fn);
  }

  /** Hands one /sync response's encryption parts to the machine, then sends what it asks for. */
  async receiveSync(r: JsonObject): Promise<void> {
    const toDevice = arr(obj(r.to_device).events);
    const lists = obj(r.device_lists);
    const changed = arr(lists.changed).filter((u): u is string => typeof u === "string").map((u) => new UserId(u));
    const left = arr(lists.left).filter((u): u is string => typeof u === "string").map((u) => new UserId(u));
    const counts = new Map<string, number>();
    for (const [alg, n] of Object.entries(obj(r.device_one_time_keys_count))) if (num(n) !== undefined) counts.set(alg, num(n)!);
    // Absent means the server did not say (older servers); present (even empty) means these are unused.
    const fallback = r.device_unused_fallback_key_types === undefined ? null : new Set(arr(r.device_unused_fallback_key_types).map(String));
    const processed = obj({ events: JSON.parse((await this.machine.receiveSyncChanges(JSON.stringify(toDevice), new DeviceLists(changed, left), counts, fallback)) as string) as unknown });
    await this.processOutgoing();
    // Verification requests from another device (to-device, decrypted or not).
    for (const ev of arr(processed.events)) {
      const e = obj(ev);
      const flow = str(obj(e.content).transaction_id);
      const sender = str(e.sender);
      if (e.type !== "m.key.verification.request" || !flow || !sender) continue;
      const req = this.machine.getVerificationRequest(new UserId(sender), flow);
      if (req) for (const l of this.verificationListeners) l(new Verification(this, req));
    }
  }

  /**
   * Sends every request the machine has queued (one run at a time; a call while one runs waits for
   * a further run, so requests queued before the call are sent when it resolves).
   */
  processOutgoing(): Promise<void> {
    if (this.outgoingRunning) {
      this.outgoingAgain = true; // the running loop makes one more pass before it resolves
      return this.outgoingRunning;
    }
    const run = async () => {
      try {
        do {
          this.outgoingAgain = false;
          const reqs = (await this.machine.outgoingRequests()) as OutgoingRequest[];
          for (const req of reqs) await this.send(req);
          // Room keys not yet in the key backup (when one is enabled), a batch at a time.
          const backup = (await this.machine.backupRoomKeys()) as KeysBackupRequest | undefined;
          if (backup && (await this.send(backup))) this.outgoingAgain = true;
        } while (this.outgoingAgain);
      } finally {
        this.outgoingRunning = undefined;
      }
    };
    this.outgoingRunning = run();
    return this.outgoingRunning;
  }

  /** Sends one of the machine's requests and tells it the answer; false when it failed (asked again later). */
  async send(req: OutgoingRequest): Promise<boolean> {
    let res: JsonObject;
    try {
      res = await this.request(req);
    } catch (e) {
      console.warn("crypto request failed", RequestType[req.type], e);
      return false; // the machine asks again on its next outgoingRequests()
    }
    if (req.id) await this.machine.markRequestAsSent(req.id, req.type, JSON.stringify(res));
    return true;
  }

  /** A user's devices with keys, as this device sees them: verified (cross-signed by a trusted identity, or locally) or not. */
  async deviceTrust(userId: string): Promise<Map<string, boolean>> {
    const devices = (await this.machine.getUserDevices(new UserId(userId), 1)) as { devices(): Array<{ deviceId: DeviceId; isVerified(): boolean }> };
    return new Map(devices.devices().map((d) => [d.deviceId.toString(), d.isVerified()]));
  }

  /** Is the user's cross-signing identity verified (by this device's user, or my own held here)? */
  async userVerified(userId: string): Promise<boolean> {
    return (await this.userTrust(userId)) === "verified";
  }

  /** The identities of several users (a room's members): their keys are queried first when not yet tracked. */
  async trustOf(userIds: string[]): Promise<Map<string, "verified" | "unverified" | "none">> {
    await this.machine.updateTrackedUsers(userIds.map((u) => new UserId(u)));
    await this.processOutgoing();
    const out = new Map<string, "verified" | "unverified" | "none">();
    for (const u of userIds) out.set(u, await this.userTrust(u));
    return out;
  }

  /** A user's identity as this device sees it: verified, not verified, or none known (no cross-signing). */
  async userTrust(userId: string): Promise<"verified" | "unverified" | "none"> {
    const id = (await this.machine.getIdentity(new UserId(userId))) as { isVerified(): boolean; free(): void } | undefined;
    if (!id) return "none";
    const v = id.isVerified();
    id.free();
    return v ? "verified" : "unverified";
  }

  /** Asks another device (mine or someone's) to verify with this one; the flow goes on in the returned object. */
  async requestVerification(userId: string, deviceId: string): Promise<Verification> {
    const device = (await this.machine.getDevice(new UserId(userId), new DeviceId(deviceId))) as { requestVerification(): [VerificationRequest, OutgoingRequest] } | undefined;
    if (!device) throw new Error("That session has no encryption keys.");
    const [req, out] = device.requestVerification();
    const v = new Verification(this, req);
    await this.send(out);
    return v;
  }

  /**
   * An in-room verification event (m.key.verification.*, or the m.room.message request) of a room,
   * in cleartext, that this device did not send itself: goes to the machine; a new request from
   * another user to me is announced to the verification listeners.
   */
  async receiveRoomVerification(roomId: string, ev: JsonObject): Promise<void> {
    await this.machine.receiveVerificationEvent(JSON.stringify(ev), new RoomId(roomId));
    await this.processOutgoing();
    const content = obj(ev.content);
    const sender = str(ev.sender);
    const eventId = str(ev.event_id);
    if (ev.type !== "m.room.message" || content.msgtype !== "m.key.verification.request" || !sender || !eventId) return;
    if (sender === this.machine.userId.toString() || content.to !== this.machine.userId.toString()) return;
    const req = this.machine.getVerificationRequest(new UserId(sender), eventId);
    if (req && !req.isCancelled() && !req.isDone()) for (const l of this.verificationListeners) l(new Verification(this, req));
  }

  /**
   * Asks another user to verify with me, in a direct chat with them (as Element does): their
   * cross-signing identity and mine get signed once the emoji match.
   */
  async requestUserVerification(userId: string, roomId: string, txnId: string): Promise<Verification> {
    const uid = new UserId(userId);
    await this.machine.updateTrackedUsers([uid]);
    await this.processOutgoing();
    const identity = (await this.machine.getIdentity(new UserId(userId))) as
      | { verificationRequestContent?(methods: VerificationMethod[]): string; requestVerification(roomId: RoomId, eventId: EventId, methods: VerificationMethod[]): VerificationRequest }
      | undefined;
    if (!identity?.verificationRequestContent) throw new Error(`${userId} has not set up cross-signing yet, so there is no identity to verify.`);
    const methods = () => [VerificationMethod.SasV1];
    const content = JSON.parse(identity.verificationRequestContent(methods())) as JsonObject;
    const r = await this.api.put(`${paths.room(roomId)}/send/m.room.message/${enc(txnId)}`, content);
    const eventId = str(r.event_id);
    if (!eventId) throw new Error("The server did not return the request's event ID");
    return new Verification(this, identity.requestVerification(new RoomId(roomId), new EventId(eventId), methods()));
  }

  /** Does this device hold my user-signing key (needed to sign someone else's identity)? */
  async canSignOthers(): Promise<boolean> {
    const s = (await this.machine.crossSigningStatus()) as { hasUserSigning: boolean };
    return s.hasUserSigning;
  }

  /** Cross-signing, secret storage and key backup (recovery.ts). */
  recovery(): Recovery {
    return new Recovery(this.machine, this.api, (r) => this.send(r as OutgoingRequest), () => this.processOutgoing());
  }

  private request(req: OutgoingRequest): Promise<JsonObject> {
    const body = (): JsonObject => JSON.parse(req.body) as JsonObject;
    if (req instanceof KeysUploadRequest) return this.api.post("/_matrix/client/v3/keys/upload", body());
    if (req instanceof KeysQueryRequest) return this.api.post("/_matrix/client/v3/keys/query", body());
    if (req instanceof KeysClaimRequest) return this.api.post("/_matrix/client/v3/keys/claim", body());
    if (req instanceof SignatureUploadRequest) return this.api.post("/_matrix/client/v3/keys/signatures/upload", body());
    if (req instanceof ToDeviceRequest) return this.api.put(`/_matrix/client/v3/sendToDevice/${enc(req.event_type)}/${enc(req.txn_id)}`, body());
    if (req instanceof RoomMessageRequest) return this.api.put(`${paths.room(req.room_id)}/send/${enc(req.event_type)}/${enc(req.txn_id)}`, body());
    if (req instanceof KeysBackupRequest) return this.api.put("/_matrix/client/v3/room_keys/keys", body(), { version: req.version });
    throw new Error("unknown crypto request");
  }

  /** Decrypts an m.room.encrypted event; a missing key is "waiting" (it may still come). */
  async decrypt(roomId: string, ev: JsonObject): Promise<Decryption> {
    const sessionId = str(obj(ev.content).session_id);
    try {
      const d = await this.machine.decryptRoomEvent(JSON.stringify(ev), new RoomId(roomId), new DecryptionSettings(TrustRequirement.Untrusted));
      const clear = obj(JSON.parse(d.event));
      const content = obj(clear.content);
      // m.relates_to travels unencrypted beside the ciphertext (edits, reactions, threads).
      const rel = obj(ev.content)["m.relates_to"];
      if (rel && !content["m.relates_to"]) content["m.relates_to"] = rel;
      return { ok: true, type: str(clear.type) ?? "m.room.message", content, senderDevice: d.senderDevice?.toString() };
    } catch (e) {
      if (e instanceof MegolmDecryptionError) {
        const waiting = e.code === DecryptionErrorCode.MissingRoomKey || (e.code === DecryptionErrorCode.UnknownMessageIndex && !e.maybe_withheld);
        const reason = e.maybe_withheld
          ? `the sender's device withheld the key (${e.maybe_withheld})`
          : e.code === DecryptionErrorCode.MissingRoomKey
            ? "the key for this message has not arrived"
            : e.code === DecryptionErrorCode.UnknownMessageIndex
              ? "the key this device has starts after this message"
              : e.description;
        return { ok: false, waiting, reason, sessionId };
      }
      return { ok: false, waiting: false, reason: e instanceof Error ? e.message : String(e), sessionId };
    }
  }

  /** Runs fn after everything queued for the room (key sharing must not interleave). */
  private inRoom<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.roomQueues.get(roomId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.roomQueues.set(roomId, next.catch(() => {}));
    return next;
  }

  /**
   * Encrypts an event for a room whose members (joined and invited) are `members`: shares the room
   * key with all their devices first when needed. Returns the m.room.encrypted content.
   */
  encrypt(roomId: string, members: string[], historyVisibility: string, type: string, content: JsonObject): Promise<JsonObject> {
    return this.inRoom(roomId, async () => {
      const rid = new RoomId(roomId);
      // A fresh list each call: wasm-bindgen moves the UserId objects of a Vec argument into Rust.
      const users = () => members.map((u) => new UserId(u));
      const settings = new RoomSettings();
      settings.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
      settings.onlyAllowTrustedDevices = false;
      await this.machine.setRoomSettings(rid, settings);
      // New members' devices are queried (the machine marks newly tracked users as dirty).
      await this.machine.updateTrackedUsers(users());
      await this.processOutgoing();
      const claim = (await this.machine.getMissingSessions(users())) as KeysClaimRequest | undefined;
      if (claim) await this.send(claim);
      const es = new EncryptionSettings();
      es.historyVisibility = visibility(historyVisibility);
      es.sharingStrategy = CollectStrategy.deviceBasedStrategy(false, false);
      const shares = (await this.machine.shareRoomKey(rid, users(), es)) as ToDeviceRequest[];
      for (const r of shares) await this.send(r);
      const out = await this.machine.encryptRoomEvent(rid, type, JSON.stringify(content));
      return obj(JSON.parse(out as string));
    });
  }

  /** Starts a new Megolm session for the room's next message (e.g. after someone left). */
  async rotate(roomId: string): Promise<void> {
    await this.inRoom(roomId, () => this.machine.invalidateGroupSession(new RoomId(roomId)));
  }

  /** Encrypts a file for an encrypted room: the ciphertext to upload and the `file` object (without `url`). */
  encryptAttachment(data: Uint8Array): { data: Uint8Array; file: JsonObject } {
    const a = Attachment.encrypt(data);
    const info = obj(JSON.parse(a.mediaEncryptionInfo ?? "{}"));
    return { data: a.encryptedData, file: info };
  }

  /** Decrypts downloaded attachment bytes with the event's `file` object (checks its SHA-256 too). */
  decryptAttachment(data: Uint8Array, file: JsonObject): Uint8Array {
    const { url: _url, mimetype: _m, ...info } = file;
    return Attachment.decrypt(new EncryptedAttachment(data, JSON.stringify(info)));
  }

  close(): void {
    this.machine.close();
    this.release?.();
  }
}

function visibility(v: string): HistoryVisibility {
  return v === "invited" ? HistoryVisibility.Invited : v === "joined" ? HistoryVisibility.Joined : v === "world_readable" ? HistoryVisibility.WorldReadable : HistoryVisibility.Shared;
}

/** Deletes a device's crypto store (after signing out: the server deleted the device and its keys). */
export async function deleteStore(s: { userId: string; deviceId: string }): Promise<void> {
  const name = storeName(s);
  const dbs = (await indexedDB.databases?.()) ?? [];
  const names = dbs.map((d) => d.name).filter((n): n is string => !!n && n.startsWith(name));
  if (names.length === 0) names.push(`${name}::matrix-sdk-crypto`, `${name}::matrix-sdk-crypto-meta`);
  await Promise.all(
    names.map(
      (n) =>
        new Promise<void>((resolve) => {
          const r = indexedDB.deleteDatabase(n);
          r.onsuccess = r.onerror = r.onblocked = () => resolve();
        }),
    ),
  );
}

/** The emoji of a SAS verification, as both sides show them. */
export interface SasEmoji {
  symbol: string;
  description: string;
}

/**
 * An interactive verification with another device (SAS, emoji): requested by the other side,
 * accepted here, started by either, compared by the person, confirmed.
 */
export class Verification {
  state: "requested" | "ready" | "emoji" | "confirmed" | "done" | "cancelled" = "requested";
  emoji: SasEmoji[] = [];
  reason = "";
  private sas: Sas | undefined;
  private starting = false;
  private listeners = new Set<() => void>();

  constructor(
    private readonly crypto: Crypto,
    private readonly req: VerificationRequest,
  ) {
    req.registerChangesCallback(async () => this.update());
  }

  get otherUser(): string {
    return this.req.otherUserId.toString();
  }

  /** This side asked (and starts the emoji comparison once the other side accepts). */
  get weStarted(): boolean {
    return this.req.weStarted();
  }

  get otherDevice(): string {
    return this.req.otherDeviceId?.toString() ?? "";
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  private async sendAll(r: unknown): Promise<void> {
    for (const x of Array.isArray(r) ? r : r ? [r] : []) await this.crypto.send(x as OutgoingRequest);
  }

  private async update(): Promise<void> {
    if (this.req.isCancelled()) {
      this.state = "cancelled";
      this.reason = this.req.cancelInfo?.reason() ?? "";
    } else if (this.req.isDone()) {
      this.state = "done";
    } else if (this.req.phase() === VerificationRequestPhase.Transitioned && !this.sas) {
      const v = this.req.getVerification();
      if (v instanceof Sas) {
        this.sas = v;
        v.registerChangesCallback(async () => this.updateSas());
        if (!v.weStarted()) await this.sendAll(v.accept());
        await this.updateSas();
        return;
      }
    } else if (this.req.isReady() && this.state === "requested") {
      this.state = "ready";
      if (this.req.weStarted() && !this.starting) {
        // The other side accepted our request: start SAS (emoji).
        this.starting = true;
        const r = (await this.req.startSas()) as [Sas, OutgoingRequest] | undefined;
        if (r) {
          this.sas = r[0];
          this.sas.registerChangesCallback(async () => this.updateSas());
          await this.crypto.send(r[1]);
          await this.updateSas();
          return;
        }
      }
    }
    this.changed();
  }

  private async updateSas(): Promise<void> {
    const sas = this.sas!;
    if (sas.isCancelled()) {
      this.state = "cancelled";
      this.reason = sas.cancelInfo()?.reason() ?? "";
    } else if (sas.isDone()) this.state = "done";
    else if (sas.canBePresented() && this.state !== "confirmed") {
      this.emoji = (sas.emoji() ?? []).map((e) => ({ symbol: e.symbol, description: e.description }));
      this.state = "emoji";
    }
    this.changed();
  }

  async accept(): Promise<void> {
    await this.sendAll(this.req.accept());
    await this.update();
  }

  /** The person saw the same emoji on both devices. */
  async confirm(): Promise<void> {
    this.state = "confirmed";
    this.changed();
    await this.sendAll(await this.sas!.confirm());
    await this.updateSas();
  }

  async cancel(): Promise<void> {
    await this.sendAll(this.sas ? this.sas.cancel() : this.req.cancel());
    this.state = "cancelled";
    this.changed();
  }
}
