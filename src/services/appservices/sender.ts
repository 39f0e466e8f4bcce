// Pushing events to application services (spec: application-service-api.md "Pushing events",
// "Pushing ephemeral data"; transactions.yaml).
//
// Each service has a position in the global event stream and a queue of transactions in the
// database. When the stream advances, the events after the position that interest the service (by
// its namespaces and by the rooms its users are joined to) are written as one transaction — the
// position moving past them in the same database transaction — and sent. A transaction stays
// stored, unchanged and with its ID, until the service answers 200; failures are retried with
// exponential back-off (a successful ping retries at once). So a service that is down for a while
// gets everything it missed, in order, once it is back, and a restart loses nothing.
// Ephemeral data (typing, receipts: receive_ephemeral) is kept in memory until it is put in a
// transaction.
//
// End-to-end encryption for bridges that do not /sync (Synapse's unstable field names):
//  - MSC2409 to-device messages (receive_ephemeral): messages for a local user the service is
//    interested in, `*` expanded to the user's devices, go in `de.sorunome.msc2409.to_device` as
//    {type, sender, content, to_user_id, to_device_id}. They are read from device_inbox by stream
//    position, in the same range (position, newPosition] as the events, so the position that moves
//    with the stored transaction covers them too: a message acknowledged to its sender is either
//    still in device_inbox or in a stored transaction, and a restart loses none. Which users have
//    messages waiting is tracked in memory (ToDevice.onStored, before the position becomes visible;
//    a scan of the inbox at start-up), so building a transaction reads the inbox only by user.
//    For MSC3202 services, the messages of users in their exclusive namespaces (and the sender)
//    move out of device_inbox into the transaction (nobody /syncs those devices; otherwise they
//    would pile up forever); other services' messages stay in the inbox for /sync as well.
//  - MSC3202 (org.matrix.msc3202): `org.matrix.msc3202.device_lists` {changed, left} for the same
//    range, `org.matrix.msc3202.device_one_time_keys_count` {user: {device: {algorithm: count}}}
//    (also under Synapse's older name device_one_time_key_counts) and
//    `org.matrix.msc3202.device_unused_fallback_key_types` {user: {device: [algorithm]}}, for the
//    devices of its users whose keys were uploaded or claimed since the last transaction, and the
//    devices to-device messages in the transaction are for. changed (Synapse's rule): users whose
//    device list changed in the range who are the service's users or are joined to a room that
//    interests the service; left: users whose leave or ban is in the transaction and who are in no
//    such room any more.
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import type { AppservicesRepo, InboxKey, InboxRow, StoredTxn } from "../../storage/repos/appservices.ts";
import type { EventRow } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { Lru } from "../../util/lru.ts";
import type { RoomEvents } from "../rooms/events.ts";
import { toClientEvents } from "../rooms/format.ts";
import type { StreamAllocator } from "../streams.ts";
import { describeResult, type AppserviceHttp } from "./http.ts";
import type { ApplicationService } from "./registration.ts";

const log = logger("appservices");

/** Events and ephemeral items per transaction (as Synapse). */
const MAX_EVENTS_PER_TXN = 100;
const MAX_EPHEMERAL_PER_TXN = 100;
/** To-device messages per transaction (more when one message goes to more devices). */
const MAX_TO_DEVICE_PER_TXN = 100;
/** Ephemeral items kept for a service that is down; older ones are dropped. */
const MAX_EPHEMERAL_QUEUED = 1000;
const TXN_TIMEOUT_MS = 60_000;
const MAX_BACKOFF_MS = 5 * 60_000;
/** The position of a service is written at least every this many events it did not care about. */
const POSITION_WRITE_EVERY = 500;

const ALIAS_CACHE_MS = 60_000;

/** Which rooms and events interest which services; caches room members and aliases. */
export class Interest {
  private readonly members = new Lru<string, string[]>(5000, "appservice_room_members");
  /** Aliases change without events (PUT /directory/room): cached for a minute. */
  private readonly aliases = new Lru<string, { at: number; list: string[] }>(5000, "appservice_room_aliases");

  constructor(
    private readonly repo: AppservicesRepo,
    private readonly serverName: string,
  ) {}

  isLocal(userId: string): boolean {
    return userId.endsWith(`:${this.serverName}`);
  }

  /** Drops cached members/aliases of a room (membership or alias changes). */
  forgetRoom(roomId: string): void {
    this.members.delete(roomId);
    this.aliases.delete(roomId);
  }

  private async roomMembers(roomId: string): Promise<string[]> {
    let m = this.members.get(roomId);
    if (!m) {
      m = await this.repo.localJoinedMembers(roomId);
      this.members.set(roomId, m);
    }
    return m;
  }

  private async roomAliases(roomId: string): Promise<string[]> {
    const now = Date.now();
    let a = this.aliases.get(roomId);
    if (!a || now - a.at > ALIAS_CACHE_MS) {
      a = { at: now, list: await this.repo.aliasesOf(roomId) };
      this.aliases.set(roomId, a);
    }
    return a.list;
  }

  /** The room matches the service's rooms or aliases namespace, or one of its users is joined. */
  async roomInterests(as: ApplicationService, roomId: string, canonicalAliases: readonly string[] = []): Promise<boolean> {
    if (as.isRoomInNamespace(roomId)) return true;
    if (as.namespaces.aliases.length > 0) {
      for (const a of [...canonicalAliases, ...(await this.roomAliases(roomId))]) if (as.isAliasInNamespace(a)) return true;
    }
    for (const u of await this.roomMembers(roomId)) if (as.isInterestedInUser(u)) return true;
    return false;
  }

  /**
   * Whether the service cares about a user's devices (MSC3202 device_lists, as Synapse): one of its
   * users, or joined to a room that interests it. `joinedRooms`: the user's joined rooms.
   */
  async deviceListInterests(as: ApplicationService, userId: string, joinedRooms: (userId: string) => Promise<string[]>): Promise<boolean> {
    if (as.isInterestedInUser(userId)) return true;
    for (const roomId of await joinedRooms(userId)) if (await this.roomInterests(as, roomId)) return true;
    return false;
  }

  /** Whether an event goes to the service (spec: registration "namespaces"). */
  async eventInterests(as: ApplicationService, ev: RoomEvent, roomId: string): Promise<boolean> {
    if (this.isLocal(ev.sender) && as.isInterestedInUser(ev.sender)) return true;
    if (ev.type === "m.room.member" && typeof ev.state_key === "string" && this.isLocal(ev.state_key) && as.isInterestedInUser(ev.state_key)) return true;
    const canonical: string[] = [];
    if (ev.type === "m.room.canonical_alias" && ev.state_key === "") {
      if (typeof ev.content["alias"] === "string") canonical.push(ev.content["alias"] as string);
      if (Array.isArray(ev.content["alt_aliases"])) for (const a of ev.content["alt_aliases"]) if (typeof a === "string") canonical.push(a);
    }
    return this.roomInterests(as, roomId, canonical);
  }
}

/** What MSC3202 needs of the end-to-end encryption services. */
export interface SenderE2ee {
  /** Users whose device list changed at a stream position in (fromExclusive, toInclusive]. */
  usersWithDeviceListChanges(fromExclusive: number, toInclusive: number): Promise<string[]>;
  /** The rooms a (local or remote) user is joined to. */
  joinedRooms(userId: string): Promise<string[]>;
  oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>>;
  unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]>;
}

export interface SenderDeps {
  repo: AppservicesRepo;
  streams: StreamAllocator;
  events: RoomEvents;
  interest: Interest;
  http: AppserviceHttp;
  /** First retry delay after a failed transaction; doubles per failure, up to 5 minutes. */
  minBackoffMs: number;
  /** Needed for MSC3202 (services without it get no device data). */
  e2ee?: SenderE2ee;
}

/** user ID → device ID → value. */
type PerDevice<T> = Record<string, Record<string, T>>;

export class AppserviceSender {
  private position = 0;
  private persistedPosition = 0;
  private running = false;
  private again = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 0;
  private closed = false;
  private readonly ephemeral: JsonObject[] = [];
  /**
   * Users of the service with to-device messages in device_inbox that may not be in a transaction
   * yet → the highest stream position stored for them (receive_ephemeral only).
   */
  private readonly toDeviceUsers = new Map<string, number>();
  /** Devices of the service's users whose one-time or fallback keys changed (MSC3202). */
  private keyDevices = new Map<string, Set<string>>();
  /** Resolvers waiting for the queue to drain (tests, shutdown). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly as: ApplicationService,
    private readonly d: SenderDeps,
  ) {}

  async start(): Promise<void> {
    const state = await this.d.repo.state(this.as.id, this.d.streams.current());
    this.position = this.persistedPosition = state.stream_ordering;
    // Messages stored before a restart that no transaction carried yet (later ones come through toDeviceStored).
    await this.rescanInbox();
    this.kick();
  }

  /**
   * Finds the service's users with to-device messages no transaction carried yet, from the
   * database: at start-up, and every few seconds when other processes store messages (their
   * toDeviceStored hooks run in those processes; docs/SCALING.md).
   */
  async rescanInbox(): Promise<void> {
    if (!this.pushesToDevice || this.closed) return;
    const upTo = this.d.streams.current();
    for (const u of await this.d.repo.inboxUsersAfter(this.position)) {
      if (this.as.isInterestedInUser(u)) this.toDeviceUsers.set(u, Math.max(upTo, this.toDeviceUsers.get(u) ?? 0));
    }
  }

  private get pushesToDevice(): boolean {
    return this.as.url !== null && this.as.receiveEphemeral;
  }

  private get pushesKeys(): boolean {
    return this.as.url !== null && this.as.msc3202 && this.d.e2ee !== undefined;
  }

  /**
   * To-device messages were stored at `pos` for these local users. Called after they are committed
   * and before `pos` becomes visible, so a transaction built up to a visible position never misses
   * them (the stream advancing then starts the work).
   */
  toDeviceStored(pos: number, userIds: readonly string[]): void {
    if (!this.pushesToDevice) return;
    for (const u of userIds) {
      if (this.as.isInterestedInUser(u)) this.toDeviceUsers.set(u, Math.max(pos, this.toDeviceUsers.get(u) ?? 0));
    }
  }

  /** A local device's one-time or fallback keys changed (uploaded or claimed). */
  keysChanged(userId: string, deviceId: string): void {
    if (!this.pushesKeys || !this.as.isInterestedInUser(userId)) return;
    let s = this.keyDevices.get(userId);
    if (!s) this.keyDevices.set(userId, (s = new Set()));
    s.add(deviceId);
    this.kick();
  }

  /** Whether the service is failing (transactions waiting for a retry). */
  get backingOff(): boolean {
    return this.retryTimer !== undefined;
  }

  /** Queues ephemeral data (typing, receipts) for the next transaction. */
  addEphemeral(item: JsonObject): void {
    if (this.as.url === null || !this.as.receiveEphemeral) return;
    this.ephemeral.push(item);
    if (this.ephemeral.length > MAX_EPHEMERAL_QUEUED) this.ephemeral.splice(0, this.ephemeral.length - MAX_EPHEMERAL_QUEUED);
    this.kick();
  }

  /** Something new may be there: work unless backing off (`force`: retry now even then). */
  kick(force = false): void {
    if (this.closed || this.as.url === null) return;
    if (this.retryTimer !== undefined) {
      if (!force) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        const more = await this.step();
        if (more) this.again = true;
      } while (this.again && !this.closed && this.retryTimer === undefined);
    } catch (e) {
      log.error("appservice sender failed", { appservice: this.as.id, error: (e as Error).message });
      this.scheduleRetry();
    } finally {
      this.running = false;
      if (this.retryTimer === undefined) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** One transaction (stored or new). Returns true when there may be more to do. */
  private async step(): Promise<boolean> {
    let txn = await this.d.repo.oldestTxn(this.as.id);
    if (!txn) {
      // Taken now; put back if building fails (changes arriving meanwhile go to the next one).
      const keyDevices = this.keyDevices;
      this.keyDevices = new Map();
      let built: { txn?: StoredTxn; more: boolean };
      try {
        built = await this.build(keyDevices);
      } catch (e) {
        for (const [u, devs] of keyDevices) for (const dev of devs) this.keysChanged(u, dev);
        throw e;
      }
      if (built.txn === undefined) return built.more;
      txn = built.txn;
    }
    const res = await this.d.http.request(this.as, {
      method: "PUT",
      path: `/transactions/${txn.txn_id}`,
      legacyPath: `/transactions/${txn.txn_id}`,
      body: JSON.parse(txn.body),
      timeoutMs: TXN_TIMEOUT_MS,
    });
    if (res.kind !== "ok") {
      log.warn("appservice transaction failed", { appservice: this.as.id, txn_id: txn.txn_id, error: describeResult(res) });
      this.scheduleRetry();
      return false;
    }
    await this.d.repo.deleteTxn(this.as.id, txn.txn_id);
    this.backoffMs = 0;
    return true;
  }

  /**
   * Builds and stores the next transaction from what happened after the position (events,
   * to-device messages, device list changes in one stream range) and what is queued in memory.
   * Without anything for the service, only the position moves. `more`: the range was cut short.
   */
  private async build(keyDevices: Map<string, Set<string>>): Promise<{ txn?: StoredTxn; more: boolean }> {
    const from = this.position;
    const upTo = this.d.streams.current();
    let rows = upTo > from ? await this.d.repo.eventsAfter(from, upTo, MAX_EVENTS_PER_TXN) : [];
    let to = rows.length === MAX_EVENTS_PER_TXN ? Number(rows.at(-1)!.stream_ordering) : Math.max(upTo, from);

    let toDevice: InboxRow[] = [];
    if (this.pushesToDevice && this.toDeviceUsers.size > 0 && to > from) {
      ({ rows: toDevice, to } = await this.toDeviceBetween(from, to));
      rows = rows.filter((r) => Number(r.stream_ordering) <= to);
    }

    const interesting: EventRow[] = [];
    const parsed: RoomEvent[] = [];
    for (const row of rows) {
      const ev = JSON.parse(row.json) as RoomEvent;
      ev.event_id = row.event_id;
      if (await this.d.interest.eventInterests(this.as, ev, row.room_id)) {
        interesting.push(row);
        parsed.push(ev);
      }
    }
    const eph = this.ephemeral.splice(0, MAX_EPHEMERAL_PER_TXN);

    let deviceLists: { changed: string[]; left: string[] } | undefined;
    let otkCounts: PerDevice<Record<string, number>> | undefined;
    let fallbackTypes: PerDevice<string[]> | undefined;
    if (this.pushesKeys) {
      const e2ee = this.d.e2ee!;
      if (to > from) deviceLists = await this.deviceListChanges(e2ee, from, to, parsed);
      // The devices whose keys changed, and those the to-device messages are for (a new Olm session
      // has just used one of their one-time keys).
      for (const r of toDevice) {
        let s = keyDevices.get(r.user_id);
        if (!s) keyDevices.set(r.user_id, (s = new Set()));
        s.add(r.device_id);
      }
      if (keyDevices.size > 0) {
        otkCounts = {};
        fallbackTypes = {};
        for (const [userId, devices] of keyDevices) {
          for (const deviceId of devices) {
            (otkCounts[userId] ??= {})[deviceId] = await e2ee.oneTimeKeyCounts(userId, deviceId);
            (fallbackTypes[userId] ??= {})[deviceId] = await e2ee.unusedFallbackKeyTypes(userId, deviceId);
          }
        }
      }
    }

    const finish = () => {
      for (const [u, pos] of this.toDeviceUsers) if (pos <= to) this.toDeviceUsers.delete(u);
    };
    const hasLists = deviceLists !== undefined && (deviceLists.changed.length > 0 || deviceLists.left.length > 0);
    if (interesting.length === 0 && eph.length === 0 && toDevice.length === 0 && !hasLists && otkCounts === undefined) {
      this.position = to;
      finish();
      if (this.position - this.persistedPosition >= POSITION_WRITE_EVERY) await this.persistPosition();
      return { more: to < upTo };
    }

    const events = await toClientEvents(this.d.events, interesting, undefined, { withRoomId: true, bundle: false });
    const body: JsonObject = { events: events as unknown as JsonObject[] };
    if (eph.length) {
      body.ephemeral = eph;
      // MSC2409's unstable name, which older bridges read.
      body["de.sorunome.msc2409.ephemeral"] = eph;
    }
    if (toDevice.length) {
      // No stable name yet (MSC4203); Synapse sends only this one.
      body["de.sorunome.msc2409.to_device"] = toDevice.map((r) => ({
        type: r.type,
        sender: r.sender,
        content: JSON.parse(r.content) as JsonObject,
        to_user_id: r.user_id,
        to_device_id: r.device_id,
      }));
    }
    if (hasLists) body["org.matrix.msc3202.device_lists"] = deviceLists!;
    if (otkCounts !== undefined) {
      body["org.matrix.msc3202.device_one_time_keys_count"] = otkCounts;
      // The name Synapse used before 1.73, still sent by it for older bridges.
      body["org.matrix.msc3202.device_one_time_key_counts"] = otkCounts;
      body["org.matrix.msc3202.device_unused_fallback_key_types"] = fallbackTypes!;
    }
    // Nobody /syncs the devices of an MSC3202 service's exclusive users: their messages move into the transaction.
    const moved: InboxKey[] = this.as.msc3202
      ? toDevice.filter((r) => r.delivered_at === null && this.as.isExclusiveUser(r.user_id)).map((r) => ({ user_id: r.user_id, device_id: r.device_id, stream_id: r.stream_id }))
      : [];
    const txn = await this.d.repo.insertTxn(this.as.id, () => JSON.stringify(body), to, moved);
    this.position = this.persistedPosition = to;
    finish();
    return { txn, more: true };
  }

  /**
   * The to-device messages of the service's users in (from, to], at most MAX_TO_DEVICE_PER_TXN
   * unless one stream position holds more; `to` is lowered when they do not all fit.
   */
  private async toDeviceBetween(from: number, to: number): Promise<{ rows: InboxRow[]; to: number }> {
    const users = [...this.toDeviceUsers.keys()];
    const rows = await this.d.repo.inboxOf(users, from, to, MAX_TO_DEVICE_PER_TXN + 1);
    if (rows.length <= MAX_TO_DEVICE_PER_TXN) return { rows, to };
    const boundary = rows[MAX_TO_DEVICE_PER_TXN]!.stream_id;
    const before = rows.filter((r) => r.stream_id < boundary);
    if (before.length > 0) return { rows: before, to: boundary - 1 };
    // One message to more devices than fit: all of it in one transaction.
    return { rows: await this.d.repo.inboxOf(users, boundary - 1, boundary), to: boundary };
  }

  /** org.matrix.msc3202.device_lists for (from, to]; `events`: the transaction's events. */
  private async deviceListChanges(e2ee: SenderE2ee, from: number, to: number, events: readonly RoomEvent[]): Promise<{ changed: string[]; left: string[] }> {
    const changed = new Set<string>();
    for (const u of await e2ee.usersWithDeviceListChanges(from, to)) {
      if (await this.d.interest.deviceListInterests(this.as, u, (x) => e2ee.joinedRooms(x))) changed.add(u);
    }
    const left = new Set<string>();
    for (const ev of events) {
      if (ev.type !== "m.room.member" || typeof ev.state_key !== "string") continue;
      const membership = ev.content["membership"];
      if (membership !== "leave" && membership !== "ban") continue;
      if (this.as.isInterestedInUser(ev.state_key) || left.has(ev.state_key)) continue;
      if (!(await this.d.interest.deviceListInterests(this.as, ev.state_key, (x) => e2ee.joinedRooms(x)))) left.add(ev.state_key);
    }
    for (const u of left) changed.delete(u);
    return { changed: [...changed].sort(), left: [...left].sort() };
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    this.backoffMs = this.backoffMs === 0 ? this.d.minBackoffMs : Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.backoffMs);
    (this.retryTimer as { unref?: () => void }).unref?.();
  }

  private async persistPosition(): Promise<void> {
    if (this.position === this.persistedPosition) return;
    const pos = this.position;
    await this.d.repo.setPosition(this.as.id, pos);
    this.persistedPosition = pos;
  }

  /** Resolves once nothing is being sent (or the service is backing off). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.idle();
    try {
      await this.persistPosition();
    } catch {
      // the database may be going away; the position is re-read from the last transaction
    }
  }
}
