// The client: the session, the /sync loop feeding the rooms, and every action the UI takes
// (sending with local echo and retry, pagination, receipts, typing, membership, profile).
// End-to-end encryption (crypto.ts, with the Rust crypto's WebAssembly) is imported dynamically once
// the first sync is on screen; until it is loaded, the sync loop waits before acknowledging to-device
// messages (they are the room keys), and encrypted events show as "decrypting".
import { Api, arr, MatrixApiError, num, obj, paths, str, type Json, type JsonObject, type Session } from "./api.ts";
import type { Crypto, Verification } from "./crypto.ts";
import { isRedacted, Room, type MEvent, type Membership, type PendingEvent } from "./room.ts";

const SESSION_KEY = "hs.session";

export function loadSession(): Session | undefined {
  try {
    const s = obj(JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null"));
    if (typeof s.userId === "string" && typeof s.accessToken === "string" && typeof s.deviceId === "string") {
      return { userId: s.userId, accessToken: s.accessToken, deviceId: s.deviceId };
    }
  } catch {
    /* no session */
  }
  return undefined;
}

export function saveSession(s: Session | undefined): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
}

const DEVICES_KEY = "hs.devices";

/** The device this browser had for a user (its keys are in IndexedDB), to sign in to it again. */
function storedDevices(): Record<string, unknown> {
  try {
    return obj(JSON.parse(localStorage.getItem(DEVICES_KEY) ?? "{}"));
  } catch {
    return {};
  }
}

export function knownDevice(user: string): string | undefined {
  const devices = storedDevices();
  const hit = Object.entries(devices).find(([id]) => id === user || id.slice(1, id.indexOf(":")) === user.replace(/^@/, ""));
  return hit ? str(hit[1]) : undefined;
}

function rememberDevice(userId: string, deviceId: string | undefined): void {
  const devices = storedDevices();
  if (deviceId) devices[userId] = deviceId;
  else delete devices[userId];
  localStorage.setItem(DEVICES_KEY, JSON.stringify(devices));
}

/** Resolves after the browser painted what is rendered now (at once in a hidden tab, which does not paint). */
function afterPaint(): Promise<void> {
  return new Promise((resolve) => {
    if (document.visibilityState === "hidden") return void setTimeout(resolve, 0);
    const fallback = setTimeout(resolve, 1000);
    requestAnimationFrame(() =>
      setTimeout(() => {
        clearTimeout(fallback);
        resolve();
      }, 0),
    );
  });
}

/** An in-room key verification event (a request is an m.room.message; the rest have their own types). */
export function isVerificationEvent(ev: { type: string; content: JsonObject }): boolean {
  return ev.type.startsWith("m.key.verification.") || (ev.type === "m.room.message" && ev.content.msgtype === "m.key.verification.request");
}

export type SyncState = "starting" | "ok" | "error";
export type CryptoState = "loading" | "ready" | "unavailable";

const SYNC_FILTER = {
  room: {
    // Per-thread counts (unread_thread_notifications): unread_notifications is then the main timeline's.
    timeline: { limit: 40, unread_thread_notifications: true },
    state: { lazy_load_members: false },
  },
  presence: { not_types: ["*"] },
};

let txnCounter = 0;
const newTxnId = () => `web${Date.now().toString(36)}${(txnCounter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export class Client {
  readonly rooms = new Map<string, Room>();
  readonly accountData = new Map<string, JsonObject>();
  syncState: SyncState = "starting";
  syncError = "";
  /** First sync done: the room list is complete. */
  ready = false;
  profile: { displayname?: string; avatar_url?: string } = {};
  isAdmin = false;
  private since: string | undefined;
  private stopped = false;
  private abort: AbortController | undefined;
  private listeners = new Set<() => void>();
  private scheduled = false;
  private typingSent = new Map<string, number>();
  /** End-to-end encryption, once loaded. */
  crypto: Crypto | undefined;
  cryptoState: CryptoState = "loading";
  cryptoError = "";
  private cryptoLoad: Promise<Crypto | undefined> | undefined;
  /** An interactive verification another device asked for (shown as a dialog). */
  verification: Verification | undefined;
  /** Encrypted events waiting for the crypto to load or for the sync's keys to be processed. */
  private toDecrypt: Array<[Room, MEvent]> = [];
  /** Live in-room verification events (in cleartext) for the crypto, and encrypted live events that may be some. */
  private verificationEvents: Array<[Room, MEvent]> = [];
  private liveEncrypted = new Set<string>();

  constructor(
    readonly api: Api,
    readonly session: Session,
  ) {
    api.session = session;
  }

  get userId(): string {
    return this.session.userId;
  }

  // ---- change notification (batched per animation frame)

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const l of this.listeners) l();
    });
  }

  // ---- lifecycle

  start(): void {
    void this.loadProfile();
    void this.checkAdmin();
    void this.syncLoop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  async logout(): Promise<void> {
    this.stop();
    try {
      await this.api.post("/_matrix/client/v3/logout");
    } catch {
      /* the token may already be gone */
    }
    await this.discardCrypto();
  }

  /** The server deleted this device and its keys (signed out): so goes this browser's copy. */
  async discardCrypto(): Promise<void> {
    rememberDevice(this.userId, undefined);
    this.crypto?.close();
    this.crypto = undefined;
    try {
      await (await import("./crypto.ts")).deleteStore(this.session);
    } catch {
      /* no store */
    }
  }

  // ---- end-to-end encryption

  /** Loads the crypto chunk and opens this device's store (once). */
  loadCrypto(): Promise<Crypto | undefined> {
    this.cryptoLoad ??= (async () => {
      try {
        await afterPaint(); // the rooms on screen first, then the 1.4 MB of WebAssembly
        const { Crypto } = await import("./crypto.ts");
        const c = await Crypto.start(this.api, this.session);
        if (this.stopped) {
          c.close();
          return undefined;
        }
        this.crypto = c;
        this.cryptoState = "ready";
        performance.mark("hs:crypto-ready"); // the device's machine is open: encrypted rooms can be read
        rememberDevice(this.userId, this.session.deviceId);
        c.verificationListeners.add((v) => {
          this.verification = v;
          v.onChange(() => this.emit());
          this.emit();
        });
        c.onRoomKeys((roomId, sessions) => {
          const room = this.rooms.get(roomId);
          if (!room) return;
          for (const ev of room.timeline) if (ev.e2e && ev.e2e.state !== "ok" && ev.e2e.sessionId && sessions.has(ev.e2e.sessionId)) void this.decryptOne(room, ev);
        });
        return c;
      } catch (e) {
        if (e instanceof Error && e.name === "CryptoBusyError") console.warn(e.message); // a second tab: said on screen
        else console.error("end-to-end encryption unavailable", e);
        this.cryptoState = "unavailable";
        this.cryptoError = e instanceof Error ? e.message : String(e);
        return undefined;
      } finally {
        this.emit();
      }
    })();
    return this.cryptoLoad;
  }

  /** After a sync response was shown: its to-device messages and key counts go to the crypto. */
  private async cryptoSync(r: JsonObject): Promise<void> {
    const c = await this.loadCrypto();
    if (c) {
      try {
        await c.receiveSync(r);
      } catch (e) {
        console.warn("crypto sync failed", e);
      }
    }
    await this.decryptQueued();
    await this.feedVerificationEvents();
  }

  /** Hands the queued in-room verification events to the crypto (in order). */
  private async feedVerificationEvents(): Promise<void> {
    const c = this.crypto;
    if (!c) return;
    for (const [room, ev] of this.verificationEvents.splice(0)) {
      try {
        await c.receiveRoomVerification(room.id, { event_id: ev.event_id, type: ev.type, sender: ev.sender, content: ev.content, origin_server_ts: ev.origin_server_ts });
      } catch (e) {
        console.warn("verification event refused", e);
      }
    }
  }

  private queueDecryption(room: Room, ev: MEvent): void {
    if (ev.type !== "m.room.encrypted" || isRedacted(ev) || ev.e2e?.state === "ok") return;
    if (!ev.e2e) ev.e2e = { state: "decrypting", sessionId: str(ev.content.session_id) };
    this.toDecrypt.push([room, ev]);
  }

  private async decryptQueued(): Promise<void> {
    if (this.cryptoState === "loading") return; // decrypted once loaded (the sync loop waits for it)
    const batch = this.toDecrypt.splice(0);
    for (const [room, ev] of batch) await this.decryptOne(room, ev, false);
    if (batch.length) this.emit(); // one render for the batch
  }

  private async decryptOne(room: Room, ev: MEvent, emit = true): Promise<void> {
    const wire = ev.e2e?.wire ?? { type: ev.type, content: ev.content };
    if (!this.crypto) {
      ev.e2e = { state: "failed", reason: `encryption is not available here (${this.cryptoError})`, wire };
    } else {
      const d = await this.crypto.decrypt(room.id, { event_id: ev.event_id, sender: ev.sender, origin_server_ts: ev.origin_server_ts, type: wire.type, content: wire.content, unsigned: ev.unsigned ?? {}, room_id: room.id });
      if (d.ok) {
        ev.e2e = { state: "ok", wire };
        ev.type = d.type;
        ev.content = d.content;
        if (this.liveEncrypted.delete(ev.event_id) && isVerificationEvent(ev)) {
          this.verificationEvents.push([room, ev]);
          void this.feedVerificationEvents();
        }
      } else {
        ev.e2e = { state: d.waiting ? "waiting" : "failed", reason: d.reason, sessionId: d.sessionId, wire };
      }
    }
    room.touch();
    if (emit) this.emit();
  }

  /**
   * Asks another user to verify each other with emoji, in the direct chat with them (`roomId`, or the
   * one in m.direct, or a new one). Needs this device to hold my cross-signing keys (recovery).
   */
  async verifyUser(userId: string, roomId?: string): Promise<void> {
    const c = await this.loadCrypto();
    if (!c) throw new Error(`Encryption is not available here: ${this.cryptoError}`);
    if (!(await c.canSignOthers())) throw new Error("Set up recovery (Settings → Encryption) or restore it on this device first: verifying someone signs their identity with your cross-signing keys.");
    let room = roomId;
    if (!room) {
      for (const [r, u] of this.directRooms()) if (u === userId && this.rooms.get(r)?.membership === "join") room = r;
    }
    room ??= await this.createRoom({ name: "", topic: "", isPublic: false, encrypted: true, invite: [userId], direct: true });
    const v = await c.requestUserVerification(userId, room, newTxnId());
    this.verification = v;
    v.onChange(() => this.emit());
    this.emit();
  }

  /** Starts verifying another session (the dialog follows client.verification). */
  async verifyDevice(userId: string, deviceId: string): Promise<void> {
    const c = await this.loadCrypto();
    if (!c) throw new Error(`Encryption is not available here: ${this.cryptoError}`);
    const v = await c.requestVerification(userId, deviceId);
    this.verification = v;
    v.onChange(() => this.emit());
    this.emit();
  }

  private async recoveryApi() {
    const c = await this.loadCrypto();
    if (!c) throw new Error(`Encryption is not available here: ${this.cryptoError}`);
    return c.recovery();
  }

  /** What this account and device have of cross-signing, secret storage and key backup. */
  async recoveryStatus() {
    return (await this.recoveryApi()).status(this.accountData);
  }

  /** Sets up cross-signing, secret storage and key backup; returns the recovery key to show once. */
  async setUpRecovery(password: string, passphrase?: string): Promise<string> {
    const key = await (await this.recoveryApi()).setUp(password, passphrase);
    await this.refreshAccountData();
    return key;
  }

  /** Restores the cross-signing keys and the message keys with the recovery key; undecrypted events are tried again. */
  async restoreFromRecovery(recoveryKey: string): Promise<number> {
    await this.refreshAccountData();
    const n = await (await this.recoveryApi()).restore(recoveryKey, this.accountData);
    for (const room of this.rooms.values()) await this.retryDecryption(room);
    return n;
  }

  /** The account data recovery needs, read from the server (sync may not have brought it yet). */
  private async refreshAccountData(): Promise<void> {
    const def = await this.api.get(`/_matrix/client/v3/user/${paths.enc(this.userId)}/account_data/m.secret_storage.default_key`).catch(() => undefined);
    const keyId = str(def?.key);
    if (!def || !keyId) return;
    this.accountData.set("m.secret_storage.default_key", def);
    for (const type of [`m.secret_storage.key.${keyId}`, "m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing", "m.megolm_backup.v1"]) {
      const c = await this.api.get(`/_matrix/client/v3/user/${paths.enc(this.userId)}/account_data/${paths.enc(type)}`).catch(() => undefined);
      if (c) this.accountData.set(type, c);
    }
  }

  /** Tries again to decrypt the room's undecrypted events (the keys may have come another way). */
  async retryDecryption(room: Room): Promise<void> {
    await this.crypto?.processOutgoing();
    for (const ev of room.timeline) if (ev.e2e && ev.e2e.state !== "ok") await this.decryptOne(room, ev);
  }

  private decryptedMedia = new Map<string, Promise<string>>();

  /** An object URL for an encrypted attachment (the `file` of an event in an encrypted room). */
  encryptedMediaUrl(file: JsonObject): Promise<string> {
    const url = str(file.url) ?? "";
    let p = this.decryptedMedia.get(url);
    if (!p) {
      p = this.decryptMedia(file).then((b) => URL.createObjectURL(b));
      p.catch(() => this.decryptedMedia.delete(url));
      this.decryptedMedia.set(url, p);
    }
    return p;
  }

  /** Downloads and decrypts an encrypted attachment. */
  async decryptMedia(file: JsonObject): Promise<Blob> {
    const url = str(file.url);
    if (!url) throw new MatrixApiError(400, "M_INVALID_PARAM", "The attachment has no URL");
    const c = await this.loadCrypto();
    if (!c) throw new Error(`Encryption is not available in this browser: ${this.cryptoError}`);
    const data = new Uint8Array(await (await this.api.fetchMedia(url)).arrayBuffer());
    return new Blob([c.decryptAttachment(data, file) as BlobPart], { type: str(file.mimetype) ?? "application/octet-stream" });
  }

  /**
   * The users whose devices get the room key: joined members (me included, for my other devices),
   * and invited ones unless the room's history is visible only from joining.
   */
  private recipients(room: Room, historyVisibility: string): string[] {
    const ok = historyVisibility === "joined" ? ["join"] : ["join", "invite"];
    return room
      .stateOfType("m.room.member")
      .filter((m) => ok.includes(str(m.content.membership) ?? ""))
      .map((m) => m.state_key!);
  }

  async loadProfile(): Promise<void> {
    try {
      const p = await this.api.get(paths.profile(this.userId));
      this.profile = { displayname: str(p.displayname), avatar_url: str(p.avatar_url) };
      this.emit();
    } catch {
      /* no profile yet */
    }
  }

  /** Server admins see the admin console (probed through the admin API itself). */
  async checkAdmin(): Promise<void> {
    try {
      const r = await this.api.get(`/_synapse/admin/v1/users/${paths.enc(this.userId)}/admin`);
      this.isAdmin = r.admin === true;
    } catch (e) {
      if (e instanceof MatrixApiError && e.unsupported) {
        try {
          await this.api.get("/_synapse/admin/v1/registration_tokens");
          this.isAdmin = true;
        } catch {
          this.isAdmin = false;
        }
      }
    }
    this.emit();
  }

  private async syncLoop(): Promise<void> {
    let backoff = 1000;
    let filterId: string | undefined;
    try {
      const f = await this.api.post(`/_matrix/client/v3/user/${paths.enc(this.userId)}/filter`, SYNC_FILTER);
      filterId = str(f.filter_id);
    } catch {
      /* inline filter below */
    }
    const filter = filterId ?? JSON.stringify(SYNC_FILTER);
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const r = await this.api.get(
          "/_matrix/client/v3/sync",
          { filter, since: this.since, timeout: this.since ? 30000 : 0, set_presence: "online" },
          this.abort.signal,
        );
        this.processSync(r);
        if (this.syncState !== "ok" || !this.ready) {
          // Timings anyone can read (performance.getEntriesByType("mark")): the rooms are known.
          if (!this.ready) performance.mark("hs:first-sync");
          this.syncState = "ok";
          this.ready = true;
        }
        backoff = 1000;
        this.emit();
        // Not before the crypto has the to-device messages: the next request acknowledges them.
        await this.cryptoSync(r);
        this.since = str(r.next_batch);
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof MatrixApiError && e.errcode === "M_UNKNOWN_TOKEN") return;
        this.syncState = "error";
        this.syncError = e instanceof Error ? e.message : String(e);
        this.emit();
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30000);
      }
    }
  }

  room(roomId: string): Room {
    let r = this.rooms.get(roomId);
    if (!r) this.rooms.set(roomId, (r = new Room(roomId, this.userId)));
    return r;
  }

  private processSync(r: JsonObject): void {
    for (const ev of arr(obj(r.account_data).events)) {
      const e = obj(ev);
      const type = str(e.type);
      if (type) this.accountData.set(type, obj(e.content));
    }
    const rooms = obj(r.rooms);
    for (const [roomId, data] of Object.entries(obj(rooms.join))) this.processJoined(roomId, obj(data));
    for (const [roomId, data] of Object.entries(obj(rooms.invite))) {
      const room = this.room(roomId);
      room.membership = "invite";
      room.inviteState = arr(obj(obj(data).invite_state).events).map((e) => obj(e) as unknown as MEvent);
      room.touch();
    }
    for (const [roomId, data] of Object.entries(obj(rooms.leave))) {
      const room = this.rooms.get(roomId);
      if (!room) continue;
      const d = obj(data);
      for (const ev of arr(obj(d.state).events)) room.setState(obj(ev) as unknown as MEvent);
      for (const ev of arr(obj(d.timeline).events)) this.addTimelineEvent(room, obj(ev) as unknown as MEvent);
      const mine = room.membershipOf(this.userId);
      room.membership = mine === "ban" ? "ban" : "leave";
      room.touch();
    }
  }

  private processJoined(roomId: string, d: JsonObject): void {
    const room = this.room(roomId);
    room.membership = "join";
    room.inviteState = [];
    const summary = obj(d.summary);
    if (summary["m.heroes"]) room.heroes = arr(summary["m.heroes"]).map(String);
    if (summary["m.joined_member_count"] !== undefined) room.joinedCount = num(summary["m.joined_member_count"]) ?? 0;
    if (summary["m.invited_member_count"] !== undefined) room.invitedCount = num(summary["m.invited_member_count"]) ?? 0;
    for (const ev of arr(obj(d.state).events)) room.setState(obj(ev) as unknown as MEvent);
    const tl = obj(d.timeline);
    const events = arr(tl.events).map((e) => obj(e) as unknown as MEvent);
    if (tl.limited === true) {
      // A gap: start over from this batch (older history is paginated again on demand).
      room.timeline = [];
      room.prevBatch = str(tl.prev_batch) ?? null;
    } else if (room.timeline.length === 0 && room.prevBatch === null) {
      room.prevBatch = str(tl.prev_batch) ?? null;
    }
    for (const ev of events) this.addTimelineEvent(room, ev);
    for (const ev of arr(obj(d.ephemeral).events)) {
      const e = obj(ev);
      if (e.type === "m.typing") room.typing = arr(obj(e.content).user_ids).map(String).filter((u) => u !== this.userId);
      if (e.type === "m.receipt") {
        for (const [eventId, byType] of Object.entries(obj(e.content))) {
          for (const rtype of ["m.read", "m.read.private"]) {
            for (const [user, info] of Object.entries(obj(obj(byType)[rtype]))) {
              const ts = num(obj(info).ts) ?? 0;
              const prev = room.receipts.get(user);
              if (!prev || this.isAfter(room, eventId, prev.eventId)) room.receipts.set(user, { eventId, ts });
            }
          }
        }
      }
    }
    for (const ev of arr(obj(d.account_data).events)) {
      const e = obj(ev);
      if (e.type === "m.tag") room.tags = obj(obj(e.content).tags);
    }
    const counts = obj(d.unread_notifications);
    const before = room.totalUnread().notifications;
    if (counts.notification_count !== undefined) {
      room.unread = num(counts.notification_count) ?? 0;
      // Threads without notifications are left out of the object (or the whole object is).
      room.threadUnread = new Map(
        Object.entries(obj(d.unread_thread_notifications)).map(([root, c]) => [root, { notifications: num(obj(c).notification_count) ?? 0, highlights: num(obj(c).highlight_count) ?? 0 }]),
      );
    }
    if (counts.highlight_count !== undefined) room.highlights = num(counts.highlight_count) ?? 0;
    // The server's push rules said "notify": tell the user when they are looking elsewhere.
    if (this.ready && room.totalUnread().notifications > before) this.notify(room, events);
    room.touch();
  }

  /** A desktop notification (when enabled in settings and the page is hidden). */
  private notify(room: Room, events: MEvent[]): void {
    if (typeof Notification === "undefined" || Notification.permission !== "granted" || localStorage.getItem("hs.notify") !== "on") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return;
    const ev = [...events].reverse().find((e) => e.sender !== this.userId && (e.type === "m.room.message" || e.type === "m.room.encrypted"));
    if (!ev) return;
    const body = ev.type === "m.room.encrypted" ? "Encrypted message" : ev.content.msgtype === "m.image" ? "sent an image" : (str(ev.content.body) ?? "");
    const sender = room.displayName(ev.sender);
    const n = new Notification(room.name === sender ? sender : `${sender} in ${room.name}`, { body: body.slice(0, 200), tag: room.id });
    n.onclick = () => {
      window.focus();
      history.pushState(null, "", `/room/${encodeURIComponent(room.id)}`);
      dispatchEvent(new PopStateEvent("popstate"));
      n.close();
    };
  }

  /** Is event a later in the loaded timeline than event b (unknown events count as later)? */
  private isAfter(room: Room, a: string, b: string): boolean {
    const ia = room.timeline.findIndex((e) => e.event_id === a);
    const ib = room.timeline.findIndex((e) => e.event_id === b);
    if (ia < 0) return true;
    if (ib < 0) return true;
    return ia >= ib;
  }

  private addTimelineEvent(room: Room, ev: MEvent): void {
    if (room.timeline.some((e) => e.event_id === ev.event_id)) return;
    if (ev.state_key !== undefined) room.setState(ev);
    room.timeline.push(ev);
    const txn = str(ev.unsigned?.transaction_id);
    // In-room verification (not my own echo): to the crypto once this sync is processed.
    if (!txn && ev.state_key === undefined) {
      if (isVerificationEvent(ev)) this.verificationEvents.push([room, ev]);
      else if (ev.type === "m.room.encrypted") {
        this.liveEncrypted.add(ev.event_id);
        if (this.liveEncrypted.size > 2000) this.liveEncrypted.delete(this.liveEncrypted.values().next().value!);
      }
    }
    if (ev.type === "m.room.encrypted") {
      // My own message: I know what I encrypted.
      const mine = txn ? room.pending.find((p) => p.txnId === txn && p.type !== "m.room.encrypted") : undefined;
      if (mine) {
        ev.e2e = { state: "ok", wire: { type: ev.type, content: ev.content } };
        ev.type = mine.type;
        ev.content = mine.content;
      } else this.queueDecryption(room, ev);
    }
    // Someone left: the next message starts a new Megolm session they do not get.
    if (this.ready && room.encrypted && ev.type === "m.room.member" && ["leave", "ban"].includes(str(ev.content.membership) ?? "")) void this.crypto?.rotate(room.id);
    // The server's copy of a local echo replaces it.
    room.pending = room.pending.filter((p) => {
      const same = (txn && p.txnId === txn) || (p.eventId && p.eventId === ev.event_id);
      if (same && p.previewUrl) setTimeout(() => URL.revokeObjectURL(p.previewUrl!), 60000);
      return !same;
    });
    // A sender has read up to their own message.
    const prev = room.receipts.get(ev.sender);
    if (!prev || this.isAfter(room, ev.event_id, prev.eventId)) room.receipts.set(ev.sender, { eventId: ev.event_id, ts: ev.origin_server_ts });
    if (ev.type === "m.room.member" && ev.state_key === this.userId) {
      const m = str(ev.content.membership);
      if (m === "leave" || m === "ban") room.membership = m as Membership;
    }
  }

  // ---- reading

  /** The thread panel: a room's thread list (no root) or one thread. */
  threadView: { roomId: string; rootId?: string } | undefined;

  openThread(roomId: string, rootId?: string): void {
    this.threadView = { roomId, rootId };
    this.emit();
  }

  closeThread(): void {
    this.threadView = undefined;
    this.emit();
  }

  /** Events fetched outside the timeline (a thread's replies, the thread list), decrypted when encrypted. */
  async adopt(room: Room, events: MEvent[]): Promise<MEvent[]> {
    if (events.some((e) => e.type === "m.room.encrypted")) await this.loadCrypto();
    for (const ev of events) if (ev.type === "m.room.encrypted" && !isRedacted(ev)) await this.decryptOne(room, ev, false);
    return events;
  }

  // ---- URL previews

  private previews = new Map<string, Promise<JsonObject | null>>();
  /** The server answered that it does not preview URLs: asked no more. */
  previewsOff = false;

  /** Link previews are on unless turned off in settings; never in encrypted rooms (the server would see the link). */
  previewsWanted(room: Room): boolean {
    return !this.previewsOff && !room.encrypted && localStorage.getItem("hs.urlPreviews") !== "off";
  }

  /** The server's OpenGraph preview of a URL (cached per URL; null when there is none). */
  urlPreview(url: string, ts: number): Promise<JsonObject | null> {
    let p = this.previews.get(url);
    if (!p) {
      p = this.api.get("/_matrix/client/v1/media/preview_url", { url, ts }).then(
        (r) => (Object.keys(r).length ? r : null),
        (e: unknown) => {
          if (e instanceof MatrixApiError && e.errcode === "M_UNRECOGNIZED") this.previewsOff = true;
          return null;
        },
      );
      if (this.previews.size > 500) this.previews.delete(this.previews.keys().next().value!);
      this.previews.set(url, p);
    }
    return p;
  }

  /** An event to scroll to and highlight when its room is shown (a search result). */
  jumpTarget: { roomId: string; eventId: string } | undefined;

  /**
   * Server-side message search (`POST /search`, room events, newest first), in one room or all of
   * mine. Encrypted rooms' messages are not found: the server cannot read them.
   */
  async search(term: string, roomId?: string, nextBatch?: string): Promise<{ results: Array<{ roomId: string; event: MEvent }>; count: number; nextBatch?: string; highlights: string[] }> {
    const r = await this.api.post(
      "/_matrix/client/v3/search",
      { search_categories: { room_events: { search_term: term, order_by: "recent", keys: ["content.body"], ...(roomId ? { filter: { rooms: [roomId] } } : {}) } } },
      nextBatch ? { next_batch: nextBatch } : undefined,
    );
    const re = obj(obj(r.search_categories).room_events);
    const results = arr(re.results)
      .map((x) => obj(obj(x).result) as unknown as MEvent & { room_id?: string })
      .filter((e) => typeof e.event_id === "string")
      .map((e) => ({ roomId: str(e.room_id) ?? roomId ?? "", event: e as MEvent }));
    return { results, count: num(re.count) ?? results.length, nextBatch: str(re.next_batch), highlights: arr(re.highlights).map(String) };
  }

  /** Loads older history until the event is in the room's timeline (at most `pages` pages); true when found. */
  async loadUntil(room: Room, eventId: string, pages = 20): Promise<boolean> {
    for (let i = 0; i < pages; i++) {
      if (room.timeline.some((e) => e.event_id === eventId)) return true;
      if (room.prevBatch === null) return false;
      while (room.loadingHistory) await new Promise((r) => setTimeout(r, 50));
      await this.paginate(room, 100);
    }
    return room.timeline.some((e) => e.event_id === eventId);
  }

  /** Loads older events into the room's timeline; false when there is nothing more. */
  async paginate(room: Room, limit = 30): Promise<boolean> {
    if (room.loadingHistory || room.prevBatch === null) return false;
    room.loadingHistory = true;
    this.emit();
    try {
      const r = await this.api.get(`${paths.room(room.id)}/messages`, { dir: "b", from: room.prevBatch, limit });
      const chunk = arr(r.chunk).map((e) => obj(e) as unknown as MEvent);
      const known = new Set(room.timeline.map((e) => e.event_id));
      const older = chunk.filter((e) => !known.has(e.event_id)).reverse();
      room.timeline = [...older, ...room.timeline];
      for (const ev of older) this.queueDecryption(room, ev);
      void this.decryptQueued();
      room.prevBatch = chunk.length === 0 ? null : (str(r.end) ?? null);
      return chunk.length > 0;
    } finally {
      room.loadingHistory = false;
      room.touch();
      this.emit();
    }
  }

  /**
   * Sends a read receipt for the main timeline (threaded, `thread_id: "main"`, so the room's threads
   * stay unread until opened) and moves the fully-read marker, to the latest event of the room that
   * is not in a thread.
   */
  async markRead(room: Room): Promise<void> {
    const last = [...room.timeline].reverse().find((e) => !e.event_id.startsWith("~") && room.inMainTimeline(e));
    if (!last || room.sentReceipt === last.event_id) return;
    room.sentReceipt = last.event_id;
    if (room.unread || room.highlights) {
      room.unread = 0;
      room.highlights = 0;
      room.touch();
      this.emit();
    }
    // No unthreaded fallback: it would mark every thread read too (servers without threaded
    // receipts ignore thread_id).
    try {
      await Promise.all([
        this.api.post(`${paths.room(room.id)}/read_markers`, { "m.fully_read": last.event_id }),
        this.api.post(`${paths.room(room.id)}/receipt/m.read/${paths.enc(last.event_id)}`, { thread_id: "main" }),
      ]);
    } catch {
      room.sentReceipt = undefined;
    }
  }

  /** Sends a threaded read receipt (`thread_id` the root) for the latest event of a thread on screen. */
  async markThreadRead(room: Room, rootId: string, eventId: string): Promise<void> {
    if (eventId.startsWith("~") || room.threadReceipts.get(rootId) === eventId) return;
    room.threadReceipts.set(rootId, eventId);
    if (room.threadUnread.delete(rootId)) {
      room.touch();
      this.emit();
    }
    try {
      await this.api.post(`${paths.room(room.id)}/receipt/m.read/${paths.enc(eventId)}`, { thread_id: rootId });
    } catch {
      room.threadReceipts.delete(rootId);
    }
  }

  // ---- sending

  sendMessage(room: Room, content: JsonObject, type = "m.room.message"): void {
    const p: PendingEvent = { txnId: newTxnId(), type, content, status: "sending", ts: Date.now() };
    room.pending.push(p);
    room.touch();
    this.emit();
    void this.transmit(room, p);
  }

  sendFile(room: Room, file: File, dims?: { w: number; h: number }): void {
    const isImage = file.type.startsWith("image/");
    const content: JsonObject = {
      msgtype: isImage ? "m.image" : file.type.startsWith("video/") ? "m.video" : file.type.startsWith("audio/") ? "m.audio" : "m.file",
      body: file.name,
      info: { mimetype: file.type || "application/octet-stream", size: file.size, ...(dims ? { w: dims.w, h: dims.h } : {}) },
    };
    const p: PendingEvent = {
      txnId: newTxnId(),
      type: "m.room.message",
      content,
      status: "sending",
      ts: Date.now(),
      file,
      previewUrl: isImage ? URL.createObjectURL(file) : undefined,
    };
    room.pending.push(p);
    room.touch();
    this.emit();
    void this.transmit(room, p);
  }

  retry(room: Room, p: PendingEvent): void {
    p.status = "sending";
    p.error = undefined;
    room.touch();
    this.emit();
    void this.transmit(room, p);
  }

  cancelPending(room: Room, p: PendingEvent): void {
    room.pending = room.pending.filter((x) => x !== p);
    if (p.previewUrl) URL.revokeObjectURL(p.previewUrl);
    room.touch();
    this.emit();
  }

  private async transmit(room: Room, p: PendingEvent): Promise<void> {
    try {
      if (p.file && room.encrypted) {
        // Encrypted attachment: the server gets ciphertext; the key travels in the encrypted event.
        const c = await this.loadCrypto();
        if (!c) throw new Error(`Encryption is not available in this browser: ${this.cryptoError}`);
        const e = c.encryptAttachment(new Uint8Array(await p.file.arrayBuffer()));
        const uri = await this.api.upload(new Blob([e.data as BlobPart], { type: "application/octet-stream" }), p.file.name);
        p.content = { ...p.content, file: { ...e.file, url: uri, mimetype: p.file.type || "application/octet-stream" } };
        p.file = undefined;
      }
      if (p.file) {
        const uri = await this.api.upload(p.file, p.file.name);
        p.content = { ...p.content, url: uri };
        p.file = undefined;
      }
      let type = p.type;
      let content = p.content;
      if (room.encrypted) {
        const c = await this.loadCrypto();
        if (!c) throw new Error(`Encryption is not available in this browser: ${this.cryptoError}`);
        const hv = str(room.getState("m.room.history_visibility")?.content.history_visibility) ?? "shared";
        content = await c.encrypt(room.id, this.recipients(room, hv), hv, p.type, p.content);
        type = "m.room.encrypted";
      }
      const r = await this.api.put(`${paths.room(room.id)}/send/${paths.enc(type)}/${paths.enc(p.txnId)}`, content);
      p.eventId = str(r.event_id);
      // The event may already have come down /sync.
      if (p.eventId && room.timeline.some((e) => e.event_id === p.eventId)) room.pending = room.pending.filter((x) => x !== p);
    } catch (e) {
      // Rate limited: send again once the server says so (same transaction ID, so never twice).
      const wait = e instanceof MatrixApiError && e.errcode === "M_LIMIT_EXCEEDED" ? Number(e.data.retry_after_ms ?? 1000) : NaN;
      if (wait >= 0 && wait <= 120_000 && !this.stopped) {
        setTimeout(() => void this.transmit(room, p), wait + 50);
        return;
      }
      p.status = "failed";
      p.error = e instanceof MatrixApiError && e.errcode === "M_UNRECOGNIZED" && p.file ? "File uploads are not available on this server yet" : e instanceof Error ? e.message : String(e);
    }
    room.touch();
    this.emit();
  }

  async redact(room: Room, eventId: string, reason?: string): Promise<void> {
    await this.api.put(`${paths.room(room.id)}/redact/${paths.enc(eventId)}/${newTxnId()}`, reason ? { reason } : {});
  }

  react(room: Room, eventId: string, key: string): void {
    this.sendMessage(room, { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } }, "m.reaction");
  }

  /** Tells the room I am typing (at most every 20 s) or stopped. */
  typing(room: Room, typing: boolean): void {
    const last = this.typingSent.get(room.id) ?? 0;
    const now = Date.now();
    if (typing && now - last < 20000) return;
    if (!typing && last === 0) return;
    this.typingSent.set(room.id, typing ? now : 0);
    void this.api
      .put(`${paths.room(room.id)}/typing/${paths.enc(this.userId)}`, typing ? { typing: true, timeout: 30000 } : { typing: false })
      .catch(() => {});
  }

  // ---- rooms and membership

  async createRoom(opts: { name: string; topic: string; isPublic: boolean; encrypted: boolean; invite: string[]; direct?: boolean; alias?: string }): Promise<string> {
    const initial_state: Json[] = [];
    if (opts.encrypted) initial_state.push({ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } });
    const body: JsonObject = {
      preset: opts.direct ? "trusted_private_chat" : opts.isPublic ? "public_chat" : "private_chat",
      visibility: opts.isPublic ? "public" : "private",
      invite: opts.invite,
      initial_state,
    };
    if (opts.name) body.name = opts.name;
    if (opts.topic) body.topic = opts.topic;
    if (opts.direct) body.is_direct = true;
    if (opts.alias) body.room_alias_name = opts.alias;
    const r = await this.api.post("/_matrix/client/v3/createRoom", body);
    const roomId = str(r.room_id)!;
    if (opts.direct && opts.invite[0]) await this.markDirect(roomId, opts.invite[0]);
    return roomId;
  }

  /**
   * New direct chats are end-to-end encrypted, as in Element, when the other person has a device
   * with keys (so that they can read it); someone with no such device would see nothing.
   */
  async canEncryptTo(userId: string): Promise<boolean> {
    if (this.cryptoState === "unavailable") return false;
    try {
      const r = await this.api.post("/_matrix/client/v3/keys/query", { device_keys: { [userId]: [] } });
      return Object.keys(obj(obj(r.device_keys)[userId])).length > 0;
    } catch {
      return false;
    }
  }

  /** Records a room as a direct chat with someone in m.direct account data. */
  async markDirect(roomId: string, userId: string): Promise<void> {
    const direct = obj(this.accountData.get("m.direct"));
    const list = arr(direct[userId]).map(String);
    if (list.includes(roomId)) return;
    const next = { ...direct, [userId]: [...list, roomId] };
    this.accountData.set("m.direct", next);
    await this.api.put(`/_matrix/client/v3/user/${paths.enc(this.userId)}/account_data/m.direct`, next);
  }

  /** Room ID → the other user, for rooms in m.direct. */
  directRooms(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [user, rooms] of Object.entries(obj(this.accountData.get("m.direct")))) {
      for (const r of arr(rooms)) if (typeof r === "string") out.set(r, user);
    }
    return out;
  }

  async join(roomIdOrAlias: string, via: string[] = []): Promise<string> {
    const query = via.length ? { server_name: via[0] } : undefined;
    const r = await this.api.post(`/_matrix/client/v3/join/${paths.enc(roomIdOrAlias)}`, {}, query);
    const roomId = str(r.room_id)!;
    const room = this.rooms.get(roomId);
    if (room?.membership === "invite" && room.invitedAsDirect && room.inviter) void this.markDirect(roomId, room.inviter).catch(() => {});
    return roomId;
  }

  async leave(roomId: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/leave`, {});
    const room = this.rooms.get(roomId);
    if (room) {
      room.membership = "leave";
      room.touch();
      this.emit();
    }
  }

  async forget(roomId: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/forget`, {}).catch(() => {});
    this.rooms.delete(roomId);
    this.emit();
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/invite`, { user_id: userId });
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/kick`, { user_id: userId, ...(reason ? { reason } : {}) });
  }

  async ban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/ban`, { user_id: userId, ...(reason ? { reason } : {}) });
  }

  async unban(roomId: string, userId: string): Promise<void> {
    await this.api.post(`${paths.room(roomId)}/unban`, { user_id: userId });
  }

  // ---- per-room notifications (push rules, as Element sets them)

  /**
   * A room's notification mode from my push rules: "mute" (an override rule for the room with no
   * actions), "mentions" (a room rule without notify: only mentions and keywords, which come first
   * among the rules, notify) or "all" (neither).
   */
  roomNotifyMode(roomId: string): "all" | "mentions" | "mute" {
    const global = obj(obj(this.accountData.get("m.push_rules")).global);
    const on = (r: JsonObject) => r.rule_id === roomId && r.enabled !== false;
    if (arr(global.override).map(obj).some((r) => on(r) && !arr(r.actions).includes("notify"))) return "mute";
    const room = arr(global.room).map(obj).find(on);
    if (room && !arr(room.actions).includes("notify")) return "mentions";
    return "all";
  }

  async setRoomNotifyMode(roomId: string, mode: "all" | "mentions" | "mute"): Promise<void> {
    const base = "/_matrix/client/v3/pushrules/global";
    for (const kind of ["override", "room"]) {
      try {
        await this.api.request("DELETE", `${base}/${kind}/${paths.enc(roomId)}`);
      } catch (e) {
        if (!(e instanceof MatrixApiError && e.errcode === "M_NOT_FOUND")) throw e;
      }
    }
    if (mode === "mute") await this.api.put(`${base}/override/${paths.enc(roomId)}`, { conditions: [{ kind: "event_match", key: "room_id", pattern: roomId }], actions: [] });
    if (mode === "mentions") await this.api.put(`${base}/room/${paths.enc(roomId)}`, { actions: [] });
    this.accountData.set("m.push_rules", await this.api.get("/_matrix/client/v3/pushrules/"));
    this.emit();
  }

  // ---- room addresses

  /** The room's local addresses (aliases on this server) and whether it is in the public directory. */
  async roomAddresses(roomId: string): Promise<{ aliases: string[]; published: boolean }> {
    const [a, d] = await Promise.all([
      this.api.get(`${paths.room(roomId)}/aliases`).catch(() => ({ aliases: [] })),
      this.api.get(`/_matrix/client/v3/directory/list/room/${paths.enc(roomId)}`).catch(() => ({ visibility: "private" })),
    ]);
    return { aliases: arr(obj(a).aliases).map(String), published: obj(d).visibility === "public" };
  }

  async addAlias(roomId: string, alias: string): Promise<void> {
    await this.api.put(`/_matrix/client/v3/directory/room/${paths.enc(alias)}`, { room_id: roomId });
  }

  async removeAlias(alias: string): Promise<void> {
    await this.api.request("DELETE", `/_matrix/client/v3/directory/room/${paths.enc(alias)}`);
  }

  async publishRoom(roomId: string, on: boolean): Promise<void> {
    await this.api.put(`/_matrix/client/v3/directory/list/room/${paths.enc(roomId)}`, { visibility: on ? "public" : "private" });
  }

  /** This server's name (from my user ID), for address and user ID hints. */
  get serverName(): string {
    return this.userId.slice(this.userId.indexOf(":") + 1);
  }

  async setState(roomId: string, type: string, content: JsonObject, stateKey = ""): Promise<void> {
    await this.api.put(`${paths.room(roomId)}/state/${paths.enc(type)}/${paths.enc(stateKey)}`, content);
  }

  async setDisplayName(name: string): Promise<void> {
    await this.api.put(`${paths.profile(this.userId)}/displayname`, { displayname: name });
    this.profile = { ...this.profile, displayname: name };
    this.emit();
  }

  async setAvatar(file: File): Promise<void> {
    const uri = await this.api.upload(file, file.name);
    await this.api.put(`${paths.profile(this.userId)}/avatar_url`, { avatar_url: uri });
    this.profile = { ...this.profile, avatar_url: uri };
    this.emit();
  }

  /** A user's profile (for room invites and DMs). */
  async lookupProfile(userId: string): Promise<{ displayname?: string; avatar_url?: string } | undefined> {
    try {
      const p = await this.api.get(paths.profile(userId));
      return { displayname: str(p.displayname), avatar_url: str(p.avatar_url) };
    } catch {
      return undefined;
    }
  }

  /** Rooms sorted for the list: invites first, then by latest activity. */
  sortedRooms(): Room[] {
    return [...this.rooms.values()]
      .filter((r) => r.membership === "join" || r.membership === "invite")
      .sort((a, b) => (a.membership === "invite" ? 0 : 1) - (b.membership === "invite" ? 0 : 1) || b.lastActivity - a.lastActivity);
  }
}
