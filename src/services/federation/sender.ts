// Sending PDUs and EDUs to other servers: one persistent queue per destination (federation_outbox),
// drained by one worker per destination in transactions of up to 50 PDUs and 100 EDUs
// (server-server-api.md "Transactions"). A failed destination is retried with exponential
// back-off (kept in federation_destinations, so it survives restarts); when the destination
// contacts us again, its back-off is cleared and its queue resumes at once.
//
// Several processes on one database (docs/SCALING.md): any process queues; a destination's queue
// is sent by the one process holding its lease ("federation_sender:<destination>", services/
// workers.ts), taken when it starts sending and given up when the queue is empty, so the process
// that queues usually sends itself. Processes with the federation_sender role poll for queues
// nobody holds (queued while the holder was finishing, or whose holder died and let the lease
// lapse). Each transaction is recorded before it is sent (federation_inflight_txns): a retry,
// a restart or another process taking over sends the same items under the same transaction ID.
import type { FederationOutboxRepo, OutboxRow } from "../../storage/repos/federation-outbox.ts";
import { logger } from "../../util/log.ts";
import { randomString } from "../../util/random.ts";
import type { BusChannel } from "../cluster/bus.ts";
import type { ProcessLeases } from "../workers.ts";
import type { FederationRequester } from "./ports.ts";

const log = logger("federation");

const MAX_PDUS = 50;
const MAX_EDUS = 100;

export interface SenderOptions {
  serverName: string;
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Whether federation is on at all. */
  enabled: boolean;
  /** Whether this process sends ([worker] roles has federation_sender); false: it only queues. */
  sends?: boolean;
  /** Leases of destinations' queues (several processes on one database). */
  leases?: ProcessLeases;
  /** How often a sending process looks for queues nobody holds (shared database only). */
  pollMs?: number;
  /**
   * Tells the sending processes that a process without the federation_sender role queued for
   * these destinations (they would otherwise find it at their next poll).
   */
  queued?: BusChannel<{ destinations: string[] }>;
}

export const DESTINATION_LEASE_PREFIX = "federation_sender:";
const leaseOf = (destination: string) => `${DESTINATION_LEASE_PREFIX}${destination}`;

export class FederationSender {
  private nextId = 1;
  private readonly active = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pendingWake = new Set<string>();
  /** Destinations backed off (failures > 0 in federation_destinations; markUp runs on every inbound request). */
  private readonly backedOff = new Set<string>();
  private stopped = false;
  private readonly minBackoff: number;
  private readonly maxBackoff: number;
  private readonly sends: boolean;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;

  constructor(
    private readonly outbox: FederationOutboxRepo,
    private readonly fed: FederationRequester,
    private readonly opts: SenderOptions,
  ) {
    this.minBackoff = opts.minBackoffMs ?? 5_000;
    this.maxBackoff = opts.maxBackoffMs ?? 3_600_000;
    this.sends = opts.sends ?? true;
  }

  private get shared(): boolean {
    return this.opts.leases?.shared === true;
  }

  /** Loads the queue position and resumes destinations with pending items. */
  async start(): Promise<void> {
    if (this.shared) await this.outbox.syncIdCounter();
    else this.nextId = (await this.outbox.maxId()) + 1;
    for (const destination of await this.outbox.backedOffDestinations()) this.backedOff.add(destination);
    if (!this.opts.enabled) return;
    // Every process refreshes which destinations are backed off (markUp clears a back-off when the
    // destination contacts any process); senders also look for queues nobody holds.
    if (this.shared) {
      this.pollTimer = setInterval(() => void this.poll(), this.opts.pollMs ?? 2000);
      (this.pollTimer as { unref?: () => void }).unref?.();
    }
    if (!this.sends) return;
    for (const destination of await this.outbox.destinationsWithItems()) this.wake(destination);
    this.opts.queued?.subscribe((msg, origin) => {
      if (origin === "remote" && Array.isArray(msg?.destinations)) for (const d of msg.destinations) if (typeof d === "string") this.wake(d);
    });
  }

  /** Wakes the queues no live process holds (and refreshes which destinations are backed off). */
  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const backedOff = await this.outbox.backedOffDestinations();
      this.backedOff.clear();
      for (const d of backedOff) this.backedOff.add(d);
      if (!this.sends) return;
      // A back-off another process ended (the destination contacted it): retry now, not at our timer.
      for (const [d, t] of [...this.timers]) {
        if (this.backedOff.has(d)) continue;
        clearTimeout(t);
        this.timers.delete(d);
        this.wake(d);
      }
      const holders = await this.opts.leases!.liveHolders(DESTINATION_LEASE_PREFIX);
      const me = this.opts.leases!.instanceId;
      for (const d of await this.outbox.destinationsWithItems()) {
        const holder = holders.get(leaseOf(d));
        // (A lease of ours with nobody draining is served too: it cannot stay stuck until it lapses.)
        if ((holder !== undefined && holder !== me) || this.timers.has(d) || this.active.has(d)) continue;
        this.wake(d);
      }
    } catch (e) {
      if (!this.stopped) log.warn("federation sender: polling the queues failed", { error: (e as Error).message });
    } finally {
      this.polling = false;
    }
  }

  /**
   * Stops sending. Deliveries in flight get a moment to finish; one hanging on a dead server is
   * abandoned (its items stay queued on disk and go out after the next start), so shutdown never
   * waits for another server.
   */
  async stop(graceMs = 1000): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.race([Promise.allSettled([...this.active.values()]), Bun.sleep(graceMs)]);
  }

  /** Queues an event for each destination (never ourselves). */
  async sendPdu(pdu: Record<string, unknown>, destinations: Iterable<string>): Promise<void> {
    await this.enqueue([...destinations], "pdu", JSON.stringify(pdu));
  }

  /** Queues an EDU for each destination. */
  async sendEdu(eduType: string, content: unknown, destinations: Iterable<string>): Promise<void> {
    await this.enqueue([...destinations], "edu", JSON.stringify({ edu_type: eduType, content }));
  }

  private async enqueue(destinations: string[], kind: "pdu" | "edu", json: string): Promise<void> {
    if (!this.opts.enabled) return;
    const dests = [...new Set(destinations)].filter((d) => d !== this.opts.serverName);
    if (dests.length === 0) return;
    const now = Date.now();
    let id = this.shared ? await this.outbox.reserveIds(dests.length) : this.nextId;
    if (!this.shared) this.nextId += dests.length;
    await this.outbox.transaction(async (tx) => {
      for (const d of dests) await this.outbox.insert(tx, id++, d, kind, json, now);
    });
    if (this.sends) for (const d of dests) this.wake(d);
    else if (this.shared && this.opts.queued) {
      // A process without the federation_sender role tells those with it (NOTIFY payloads are small: in chunks).
      for (let i = 0; i < dests.length; i += 100) this.opts.queued.publish({ destinations: dests.slice(i, i + 100) });
    }
  }

  /** The destination is reachable again (it sent us something): clear back-off and resume. */
  async markUp(destination: string): Promise<void> {
    if (!this.backedOff.delete(destination)) return;
    await this.clearBackoff(destination);
  }

  /**
   * Ends a destination's back-off now and retries what is queued (the admin API's
   * reset_connection); false when it was not backed off.
   */
  async resetConnection(destination: string): Promise<boolean> {
    this.backedOff.delete(destination);
    return this.clearBackoff(destination);
  }

  private async clearBackoff(destination: string): Promise<boolean> {
    const had = await this.outbox.clearBackoff(destination);
    if (had) {
      const t = this.timers.get(destination);
      if (t) clearTimeout(t);
      this.timers.delete(destination);
      this.wake(destination);
    }
    return had;
  }

  /** Starts (or re-runs after the current batch) the worker of a destination. */
  private wake(destination: string): void {
    if (this.stopped || !this.sends || !this.opts.enabled || this.timers.has(destination)) return;
    if (this.active.has(destination)) {
      this.pendingWake.add(destination);
      return;
    }
    const run = this.drain(destination)
      .catch((e) => {
        // After stop() the database may be closed under a delivery that outlived the grace period.
        if (!this.stopped) log.warn("federation sender failed", { destination, error: (e as Error).message });
      })
      .finally(() => {
        this.active.delete(destination);
        if (this.pendingWake.delete(destination)) this.wake(destination);
      });
    this.active.set(destination, run);
  }

  private async drain(destination: string): Promise<void> {
    const backoff = await this.outbox.findBackoff(destination);
    if (backoff && Number(backoff.retry_after_ts) > Date.now()) {
      this.schedule(destination, Number(backoff.retry_after_ts) - Date.now());
      return;
    }
    const leases = this.opts.leases;
    const lease = leaseOf(destination);
    // Another live process holds the queue: it sends what was just queued (it looks again before it lets go).
    if (leases && !(await leases.acquire(lease))) return;
    let sent = false;
    try {
      sent = await this.sendQueued(destination, Number(backoff?.failures ?? 0), lease);
    } finally {
      if (leases?.shared && leases.holds(lease)) {
        await leases.release(lease);
        // Queued by another process between our last look and the release: it could not take the lease.
        if (sent && !this.stopped && (await this.outbox.pendingCount(destination)) > 0) this.pendingWake.add(destination);
      }
    }
  }

  /** Sends transactions while anything is queued; false when it stopped on a failure (backing off). */
  private async sendQueued(destination: string, failuresSoFar: number, lease: string): Promise<boolean> {
    while (!this.stopped) {
      if (this.opts.leases && !this.opts.leases.holds(lease)) return false;
      const inflight = await this.outbox.findInflight(destination);
      let pdus: OutboxRow[];
      let edus: OutboxRow[];
      let txnId: string;
      if (inflight) {
        // Built before a failure, a restart or by a process that died: the same items, the same ID.
        const items = await this.outbox.listByIds(destination, inflight.ids);
        if (items.length === 0) {
          await this.outbox.deleteInflight(destination);
          continue;
        }
        pdus = items.filter((r) => r.kind === "pdu");
        edus = items.filter((r) => r.kind === "edu");
        txnId = inflight.txnId;
      } else {
        pdus = await this.outbox.list(destination, "pdu", MAX_PDUS);
        edus = await this.outbox.list(destination, "edu", MAX_EDUS);
        if (pdus.length === 0 && edus.length === 0) return true;
        txnId = `${Date.now()}_${randomString(8)}`;
        await this.outbox.setInflight(destination, txnId, [...pdus, ...edus].map((r) => Number(r.id)));
      }
      try {
        const res = await this.fed.request<{ pdus?: Record<string, { error?: string }> }>({
          destination,
          method: "PUT",
          path: `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`,
          body: {
            origin: this.opts.serverName,
            origin_server_ts: Date.now(),
            pdus: pdus.map((r) => JSON.parse(r.json)),
            edus: edus.map((r) => JSON.parse(r.json)),
          },
          timeoutMs: 60_000,
        });
        for (const [id, r] of Object.entries(res?.pdus ?? {})) {
          if (r?.error) log.info("remote server did not accept an event", { destination, event_id: id, error: r.error });
        }
      } catch (e) {
        const failures = failuresSoFar + 1;
        const delay = Math.min(this.maxBackoff, this.minBackoff * 2 ** Math.min(failures - 1, 20));
        const now = Date.now();
        await this.outbox.recordFailure(destination, failures, now + delay, now);
        this.backedOff.add(destination);
        log.info("federation send failed; backing off", { destination, failures, retry_in_ms: delay, error: (e as Error).message });
        this.schedule(destination, delay);
        return false;
      }
      const ids = [...pdus, ...edus].map((r) => Number(r.id));
      await this.outbox.recordDelivered(destination, ids, Date.now());
      this.backedOff.delete(destination);
      failuresSoFar = 0;
    }
    return false;
  }

  private schedule(destination: string, delayMs: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(destination);
      this.wake(destination);
    }, Math.max(0, delayMs));
    // Queued work must not keep a stopping process alive.
    (t as { unref?: () => void }).unref?.();
    this.timers.set(destination, t);
  }

  /** Pending items per destination (for admin/metrics and tests). */
  async pending(destination: string): Promise<number> {
    return this.outbox.pendingCount(destination);
  }
}
