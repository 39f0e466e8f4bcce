// Answering other servers about rooms: /send transactions (idempotent per origin and txnId),
// /backfill, /get_missing_events, /state, /state_ids, /event, /event_auth, /timestamp_to_event.
// History visibility for servers: an event is shared in full with a server that had a user
// allowed to see it; otherwise (shared history) with servers in the room, else redacted.
import { redactEvent } from "../../core/redaction.ts";
import { stateMapKey } from "../../core/state-map.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { refIds, type RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf } from "../../protocol/ids.ts";
import type { FederationReceivedTxnsRepo } from "../../storage/repos/federation-received-txns.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import { logger } from "../../util/log.ts";
import { KeyedMutex, Semaphore } from "../../util/mutex.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { FederationMembership } from "./membership.ts";
import type { FederationReceiver, PduOutcome } from "./receiver.ts";

import { EduTable } from "../edus.ts";

const log = logger("federation");

export interface ServeDeps {
  receivedTxns: FederationReceivedTxnsRepo;
  repo: RoomsRepo;
  events: RoomEvents;
  receiver: FederationReceiver;
  membership: FederationMembership;
  serverName: string;
  /** [federation] max_concurrent_inbound_transactions (default 8). */
  maxConcurrentTransactions?: number;
}

const MAX_PDUS = 50;
const MAX_EDUS = 100;
/** An inbound transaction being processed renews its claim this often... */
const CLAIM_HEARTBEAT_MS = 5_000;
/** ...and a claim not renewed for this long (its process died) is taken over. */
const CLAIM_STALE_MS = 20_000;
/** How often a duplicate looks whether the process holding the claim has answered. */
const CLAIM_POLL_MS = 100;

export class FederationServe {
  /** Who handles each EDU type (services/edus.ts). */
  readonly edus = new EduTable();
  private readonly txnLocks = new KeyedMutex();
  /** Transactions being processed at once, all origins together. */
  readonly inbound: Semaphore;

  private readonly receivedTxns: FederationReceivedTxnsRepo;

  constructor(private readonly d: ServeDeps) {
    this.receivedTxns = d.receivedTxns;
    this.inbound = new Semaphore(d.maxConcurrentTransactions ?? 8);
  }

  /**
   * At start-up of the only process (SQLite): claims left by a crash are dropped, so the sender's
   * retry is processed at once instead of after CLAIM_STALE_MS.
   */
  async init(onlyProcess: boolean): Promise<void> {
    if (onlyProcess) await this.receivedTxns.abandonAll();
  }

  /** PUT /send/{txnId}: PDUs in order (per room), then EDUs. A repeated transaction gets the same answer. */
  async receiveTransaction(origin: string, txnId: string, body: Record<string, unknown>): Promise<{ pdus: Record<string, { error?: string }> }> {
    const pdus = Array.isArray(body.pdus) ? body.pdus : [];
    const edus = Array.isArray(body.edus) ? body.edus : [];
    if (pdus.length > MAX_PDUS || edus.length > MAX_EDUS) throw new MatrixError("M_BAD_JSON", `At most ${MAX_PDUS} PDUs and ${MAX_EDUS} EDUs per transaction`);
    if (body.origin !== undefined && body.origin !== origin) throw new MatrixError("M_FORBIDDEN", "Transaction origin does not match the request's origin");
    // One transaction at a time per origin (as Synapse): a busy server cannot crowd out the others;
    // and a bounded number at once in all.
    return this.txnLocks.run(origin, () => this.inbound.run(async () => {
      // Claimed atomically in the database: the same transaction reaching two processes at once is processed once.
      const done = await this.claimTransaction(origin, txnId);
      if (done !== undefined) return JSON.parse(done);
      const beat = setInterval(() => void this.receivedTxns.heartbeat(origin, txnId, Date.now()).catch(() => undefined), CLAIM_HEARTBEAT_MS);
      (beat as { unref?: () => void }).unref?.();
      try {
        const response = await this.processTransaction(origin, pdus, edus);
        await this.receivedTxns.complete(origin, txnId, JSON.stringify(response), Date.now());
        return response;
      } catch (e) {
        await this.receivedTxns.abandon(origin, txnId).catch(() => undefined);
        throw e;
      } finally {
        clearInterval(beat);
      }
    }));
  }

  /**
   * Claims a transaction for this process: undefined when it is ours to process, else the
   * response recorded by whoever processed it (waiting while another process is at it; a claim
   * whose heartbeat stopped for CLAIM_STALE_MS is taken over).
   */
  private async claimTransaction(origin: string, txnId: string): Promise<string | undefined> {
    for (;;) {
      const c = await this.receivedTxns.claim(origin, txnId, Date.now());
      if (c.state === "claimed") return undefined;
      if (c.state === "done") return c.response;
      if (Date.now() - c.heartbeatTs > CLAIM_STALE_MS && (await this.receivedTxns.takeOver(origin, txnId, c.heartbeatTs, Date.now()))) {
        log.info("took over an inbound transaction whose process stopped", { origin, txn_id: txnId });
        return undefined;
      }
      await Bun.sleep(CLAIM_POLL_MS);
    }
  }

  private async processTransaction(origin: string, pdus: unknown[], edus: unknown[]): Promise<{ pdus: Record<string, { error?: string }> }> {
    const results: Record<string, { error?: string }> = {};
    // Rooms are independent: process each room's PDUs in order, rooms in parallel.
    const byRoom = new Map<string, unknown[]>();
    for (const p of pdus) {
      const room = typeof (p as { room_id?: unknown })?.room_id === "string" ? (p as { room_id: string }).room_id : "";
      let list = byRoom.get(room);
      if (!list) byRoom.set(room, (list = []));
      list.push(p);
    }
    await Promise.all(
      [...byRoom.values()].map(async (list) => {
        for (const p of list) {
          const r: PduOutcome = await this.d.receiver.receivePdu(origin, p);
          results[r.eventId] = r.error ? { error: r.error } : {};
        }
      }),
    );
    for (const e of edus) {
      const edu = e as { edu_type?: unknown; content?: unknown };
      const handler = typeof edu.edu_type === "string" ? this.edus.handler(edu.edu_type) : undefined;
      if (!handler || typeof edu.content !== "object" || edu.content === null) continue;
      try {
        await handler(origin, edu.content as Record<string, unknown>);
      } catch (err) {
        log.info("failed to handle EDU", { origin, edu_type: edu.edu_type, error: (err as Error).message });
      }
    }
    return { pdus: results };
  }

  // ------------------------------------------------------------------ visibility for servers

  /** Throws 403 unless `origin` has a user in the room (or is allowed by world_readable history). */
  async requireServerInRoom(origin: string, roomId: string): Promise<void> {
    if (!(await this.d.events.roomVersion(roomId))) throw new MatrixError("M_NOT_FOUND", "Unknown room");
    if (await this.d.membership.serverInRoom(origin, roomId)) return;
    const hv = await this.d.events.currentStateEvent(roomId, "m.room.history_visibility", "");
    if (hv?.content["history_visibility"] === "world_readable") return;
    throw new MatrixError("M_FORBIDDEN", "Your server is not in this room");
  }

  /** The event as `origin` may see it: whole, or redacted when none of its users could see it. */
  private async forServer(origin: string, row: EventRow, ev: RoomEvent): Promise<RoomEvent> {
    if (row.state_group === null) return ev;
    const group = Number(row.state_group);
    const hvId = (await this.d.repo.stateOfGroup(group, { keys: [["m.room.history_visibility", ""]] })).get(stateMapKey("m.room.history_visibility", ""));
    const hv = hvId ? (await this.d.events.loadEvent(hvId))?.content["history_visibility"] : "shared";
    if (hv === "world_readable" || hv === "shared" || hv === undefined) return ev;
    const members = await this.d.repo.stateOfGroup(group, { types: ["m.room.member"] });
    const ids = [...members.entries()].filter(([k]) => k.endsWith(`:${origin}`)).map(([, id]) => id);
    const evs = await this.d.events.loadEvents(ids);
    for (const m of evs.values()) {
      const membership = m.content["membership"];
      if (membership === "join" || (hv === "invited" && membership === "invite")) return ev;
    }
    const rv = await this.d.events.versionOf(row.room_id);
    return { ...(redactEvent(ev, rv) as RoomEvent), event_id: ev.event_id };
  }

  private async wireEvents(origin: string, rows: EventRow[]): Promise<Record<string, unknown>[]> {
    const evs = await this.d.events.loadEvents(rows.map((r) => r.event_id));
    // Events of users erased on deactivation go to other servers redacted (as Synapse's
    // filter_events_for_server): their content is no longer ours to share.
    const erased = this.d.events.erasedSenders ? await this.d.events.erasedSenders(new Set(rows.map((r) => r.sender))) : undefined;
    const out: Record<string, unknown>[] = [];
    for (const r of rows) {
      const ev = evs.get(r.event_id);
      if (!ev) continue;
      const rv = await this.d.events.versionOf(r.room_id);
      let shown = await this.forServer(origin, r, ev);
      if (erased?.has(r.sender) && shown === ev) shown = { ...(redactEvent(ev, rv) as RoomEvent), event_id: ev.event_id };
      out.push(this.d.membership.wire(shown, rv));
    }
    return out;
  }

  // ------------------------------------------------------------------ history

  /** GET /backfill: up to `limit` events preceding `from` (inclusive), breadth-first through prev_events. */
  async backfill(origin: string, roomId: string, from: string[], limit: number): Promise<Record<string, unknown>> {
    await this.requireServerInRoom(origin, roomId);
    const max = Math.max(1, Math.min(limit, 100));
    const seen = new Set<string>();
    const queue = [...from];
    const picked: EventRow[] = [];
    while (queue.length && picked.length < max) {
      const batch = queue.splice(0, 50).filter((id) => !seen.has(id));
      for (const id of batch) seen.add(id);
      const rows = await this.d.repo.getEvents(batch);
      for (const id of batch) {
        const r = rows.get(id);
        if (!r || r.room_id !== roomId || r.outlier) continue;
        if (picked.length < max) picked.push(r);
        for (const p of refIds((JSON.parse(r.json) as RoomEvent).prev_events)) if (!seen.has(p)) queue.push(p);
      }
    }
    picked.sort((a, b) => Number(b.depth) - Number(a.depth));
    return { origin: this.d.serverName, origin_server_ts: Date.now(), pdus: await this.wireEvents(origin, picked) };
  }

  /** POST /get_missing_events: events between `earliest` and `latest`, oldest first. */
  async missingEvents(origin: string, roomId: string, body: Record<string, unknown>): Promise<{ events: Record<string, unknown>[] }> {
    await this.requireServerInRoom(origin, roomId);
    const earliest = new Set(Array.isArray(body.earliest_events) ? (body.earliest_events as string[]) : []);
    const latest = Array.isArray(body.latest_events) ? (body.latest_events as string[]) : [];
    const limit = Math.max(1, Math.min(typeof body.limit === "number" ? body.limit : 10, 100));
    const minDepth = typeof body.min_depth === "number" ? body.min_depth : 0;
    const seen = new Set<string>([...earliest, ...latest]);
    let frontier = [...latest];
    const picked: EventRow[] = [];
    while (frontier.length && picked.length < limit) {
      const rows = await this.d.repo.getEvents(frontier);
      const next: string[] = [];
      for (const id of frontier) {
        const r = rows.get(id);
        if (!r || r.room_id !== roomId) continue;
        for (const p of refIds((JSON.parse(r.json) as RoomEvent).prev_events)) {
          if (seen.has(p)) continue;
          seen.add(p);
          next.push(p);
        }
      }
      const prevRows = await this.d.repo.getEvents(next);
      frontier = [];
      for (const id of next) {
        const r = prevRows.get(id);
        if (!r || r.room_id !== roomId || Number(r.depth) < minDepth) continue;
        if (picked.length < limit) picked.push(r);
        frontier.push(id);
      }
    }
    picked.sort((a, b) => Number(a.depth) - Number(b.depth));
    return { events: await this.wireEvents(origin, picked) };
  }

  /** GET /state_ids and /state at an event: the room state before it, and its auth chain. */
  async stateAt(origin: string, roomId: string, eventId: string, idsOnly: boolean): Promise<Record<string, unknown>> {
    await this.requireServerInRoom(origin, roomId);
    const row = await this.d.repo.findEvent(eventId);
    if (!row || row.room_id !== roomId) throw new MatrixError("M_NOT_FOUND", "Unknown event");
    // Outliers have no known state; rejected events are not part of the room ("Rejection").
    if (row.outlier || row.rejected_reason !== null) throw new MatrixError("M_NOT_FOUND", "No state known at that event");
    const state = await this.d.membership.stateBefore(eventId);
    const stateIds = [...state.values()];
    const authIds = await this.d.membership.authChain(stateIds);
    if (idsOnly) return { pdu_ids: stateIds, auth_chain_ids: authIds };
    return { pdus: await this.d.membership.pdus(roomId, stateIds), auth_chain: await this.d.membership.pdus(roomId, authIds) };
  }

  /** GET /event/{eventId}. */
  async event(origin: string, eventId: string): Promise<Record<string, unknown>> {
    const row = await this.d.repo.findEvent(eventId);
    if (!row) throw new MatrixError("M_NOT_FOUND", "Unknown event");
    await this.requireServerInRoom(origin, row.room_id);
    return { origin: this.d.serverName, origin_server_ts: Date.now(), pdus: await this.wireEvents(origin, [row]) };
  }

  /** GET /event_auth/{roomId}/{eventId}: the event's full auth chain. */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<{ auth_chain: Record<string, unknown>[] }> {
    await this.requireServerInRoom(origin, roomId);
    const row = await this.d.repo.findEvent(eventId);
    if (!row || row.room_id !== roomId) throw new MatrixError("M_NOT_FOUND", "Unknown event");
    return { auth_chain: await this.d.membership.pdus(roomId, await this.d.membership.authChain([eventId])) };
  }

  /** GET /timestamp_to_event/{roomId}. */
  async timestampToEvent(origin: string, roomId: string, ts: number, dir: "b" | "f"): Promise<{ event_id: string; origin_server_ts: number }> {
    await this.requireServerInRoom(origin, roomId);
    const row = await this.d.repo.eventNearTimestamp(roomId, ts, dir);
    if (!row) throw new MatrixError("M_NOT_FOUND", "No event found");
    return { event_id: row.event_id, origin_server_ts: Number(row.origin_server_ts) };
  }

  /** Whether a user ID belongs to `origin` (EDU senders must). */
  static fromOrigin(userId: unknown, origin: string): userId is string {
    return typeof userId === "string" && findServerNameOf(userId) === origin;
  }
}
