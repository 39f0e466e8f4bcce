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
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import type { AppservicesRepo } from "../../storage/appservices.ts";
import type { EventRow } from "../../storage/rooms-repo.ts";
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

export interface SenderDeps {
  repo: AppservicesRepo;
  streams: StreamAllocator;
  events: RoomEvents;
  interest: Interest;
  http: AppserviceHttp;
  /** First retry delay after a failed transaction; doubles per failure, up to 5 minutes. */
  minBackoffMs: number;
}

export class AppserviceSender {
  private position = 0;
  private persistedPosition = 0;
  private running = false;
  private again = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 0;
  private closed = false;
  private readonly ephemeral: JsonObject[] = [];
  /** Resolvers waiting for the queue to drain (tests, shutdown). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly as: ApplicationService,
    private readonly d: SenderDeps,
  ) {}

  async start(): Promise<void> {
    const state = await this.d.repo.state(this.as.id, this.d.streams.current());
    this.position = this.persistedPosition = state.stream_ordering;
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
      const upTo = this.d.streams.current();
      const rows = upTo > this.position ? await this.d.repo.eventsAfter(this.position, upTo, MAX_EVENTS_PER_TXN) : [];
      const full = rows.length === MAX_EVENTS_PER_TXN;
      const newPosition = full ? Number(rows.at(-1)!.stream_ordering) : Math.max(upTo, this.position);
      const interesting: EventRow[] = [];
      for (const row of rows) {
        const ev = JSON.parse(row.json) as RoomEvent;
        ev.event_id = row.event_id;
        if (await this.d.interest.eventInterests(this.as, ev, row.room_id)) interesting.push(row);
      }
      const eph = this.ephemeral.splice(0, MAX_EPHEMERAL_PER_TXN);
      if (interesting.length === 0 && eph.length === 0) {
        this.position = newPosition;
        if (this.position - this.persistedPosition >= POSITION_WRITE_EVERY) await this.persistPosition();
        return full;
      }
      const events = await toClientEvents(this.d.events, interesting, undefined, { withRoomId: true, bundle: false });
      const body: JsonObject = { events: events as unknown as JsonObject[] };
      if (eph.length) {
        body.ephemeral = eph;
        // MSC2409's unstable name, which older bridges read.
        body["de.sorunome.msc2409.ephemeral"] = eph;
      }
      txn = await this.d.repo.insertTxn(this.as.id, () => JSON.stringify(body), newPosition);
      this.position = this.persistedPosition = newPosition;
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
