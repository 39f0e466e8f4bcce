// SQL for the federation sender: the persistent queue of PDUs and EDUs per destination
// (federation_outbox) and each destination's back-off (federation_destinations).
import type { Db, Queryable } from "../engines/db.ts";

export interface OutboxRow {
  id: number;
  kind: "pdu" | "edu";
  json: string;
}

export class FederationOutboxRepo {
  constructor(private readonly db: Db) {}

  /** Runs fn in one transaction (queueing for several destinations at once). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async maxId(): Promise<number> {
    const r = await this.db.get<{ m: number | null }>("SELECT MAX(id) AS m FROM federation_outbox");
    return Number(r?.m ?? 0);
  }

  /**
   * Several processes queue at once (PostgreSQL): IDs come from the federation_outbox counter,
   * which start() raises to the highest queued ID first. Reserves `n` IDs; returns the first.
   */
  async reserveIds(n: number): Promise<number> {
    const r = await this.db.get<{ value: number }>("UPDATE counters SET value = value + ? WHERE name = 'federation_outbox' RETURNING value", [n]);
    if (!r) throw new Error("federation_outbox counter missing (syncIdCounter not run)");
    return Number(r.value) - n + 1;
  }

  /** Creates the ID counter, or raises it to the highest queued ID (a database ported from SQLite). */
  async syncIdCounter(): Promise<void> {
    await this.db.run(
      `INSERT INTO counters (name, value) SELECT 'federation_outbox', COALESCE(MAX(id), 0) FROM federation_outbox WHERE 1 = 1
       ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE counters.value < excluded.value`,
    );
  }

  async insert(q: Queryable, id: number, destination: string, kind: "pdu" | "edu", json: string, createdTs: number): Promise<void> {
    await q.run("INSERT INTO federation_outbox (id, destination, kind, json, created_ts) VALUES (?, ?, ?, ?, ?)", [id, destination, kind, json, createdTs]);
  }

  /** The oldest `limit` queued items of one kind for a destination. */
  list(destination: string, kind: "pdu" | "edu", limit: number): Promise<OutboxRow[]> {
    return this.db.all<OutboxRow>(`SELECT id, kind, json FROM federation_outbox WHERE destination = ? AND kind = '${kind === "pdu" ? "pdu" : "edu"}' ORDER BY id LIMIT ?`, [destination, limit]);
  }

  /** Queued items by ID (those still queued), in ID order. */
  listByIds(destination: string, ids: readonly number[]): Promise<OutboxRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.all<OutboxRow>(`SELECT id, kind, json FROM federation_outbox WHERE destination = ? AND id IN (${ids.map(() => "?").join(", ")}) ORDER BY id`, [
      destination,
      ...ids,
    ]);
  }

  /** The transaction last built for a destination and not yet delivered (federation_inflight_txns). */
  async findInflight(destination: string): Promise<{ txnId: string; ids: number[] } | undefined> {
    const r = await this.db.get<{ txn_id: string; item_ids: string }>("SELECT txn_id, item_ids FROM federation_inflight_txns WHERE destination = ?", [destination]);
    return r ? { txnId: r.txn_id, ids: (JSON.parse(r.item_ids) as unknown[]).map(Number) } : undefined;
  }

  async setInflight(destination: string, txnId: string, ids: readonly number[]): Promise<void> {
    await this.db.run(
      "INSERT INTO federation_inflight_txns (destination, txn_id, item_ids) VALUES (?, ?, ?) ON CONFLICT (destination) DO UPDATE SET txn_id = excluded.txn_id, item_ids = excluded.item_ids",
      [destination, txnId, JSON.stringify(ids)],
    );
  }

  async deleteInflight(destination: string): Promise<void> {
    await this.db.run("DELETE FROM federation_inflight_txns WHERE destination = ?", [destination]);
  }

  async destinationsWithItems(): Promise<string[]> {
    return (await this.db.all<{ destination: string }>("SELECT DISTINCT destination FROM federation_outbox")).map((r) => r.destination);
  }

  async pendingCount(destination: string): Promise<number> {
    const r = await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM federation_outbox WHERE destination = ?", [destination]);
    return Number(r?.n ?? 0);
  }

  /** Queue depth per destination (metrics). */
  async depths(): Promise<Array<{ destination: string; n: number }>> {
    return (await this.db.all<{ destination: string; n: number }>("SELECT destination, COUNT(*) AS n FROM federation_outbox GROUP BY destination")).map((x) => ({
      destination: x.destination,
      n: Number(x.n),
    }));
  }

  // ---- back-off (federation_destinations)

  async backedOffDestinations(): Promise<string[]> {
    return (await this.db.all<{ destination: string }>("SELECT destination FROM federation_destinations WHERE failures > 0")).map((r) => r.destination);
  }

  findBackoff(destination: string) {
    return this.db.get<{ failures: number; retry_after_ts: number }>("SELECT failures, retry_after_ts FROM federation_destinations WHERE destination = ?", [destination]);
  }

  /** Ends a back-off; true when the destination was backed off. */
  async clearBackoff(destination: string): Promise<boolean> {
    const had = await this.db.run(
      "UPDATE federation_destinations SET failures = 0, retry_after_ts = 0, failure_ts = NULL, retry_last_ts = NULL WHERE destination = ? AND failures > 0",
      [destination],
    );
    return had > 0;
  }

  /** A failed attempt at `now`: failure_ts keeps when this run of failures began; retry_last_ts is this attempt. */
  async recordFailure(destination: string, failures: number, retryAfterTs: number, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO federation_destinations (destination, failures, retry_after_ts, failure_ts, retry_last_ts) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (destination) DO UPDATE SET failures = excluded.failures, retry_after_ts = excluded.retry_after_ts,
         retry_last_ts = excluded.retry_last_ts, failure_ts = COALESCE(federation_destinations.failure_ts, excluded.failure_ts)`,
      [destination, failures, retryAfterTs, now, now],
    );
  }

  /**
   * A delivered transaction: its items leave the queue, it is no longer in flight and the
   * destination's back-off ends, in one transaction.
   */
  async recordDelivered(destination: string, ids: readonly number[], now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const id of ids) await tx.run("DELETE FROM federation_outbox WHERE id = ?", [id]);
      await tx.run("DELETE FROM federation_inflight_txns WHERE destination = ?", [destination]);
      await tx.run(
        `INSERT INTO federation_destinations (destination, failures, retry_after_ts, last_success_ts) VALUES (?, 0, 0, ?)
         ON CONFLICT (destination) DO UPDATE SET failures = 0, retry_after_ts = 0, failure_ts = NULL, retry_last_ts = NULL, last_success_ts = excluded.last_success_ts`,
        [destination, now],
      );
    });
  }

  /** Consecutive failures per destination (metrics). */
  async failures(): Promise<Array<{ destination: string; failures: number }>> {
    return (await this.db.all<{ destination: string; failures: number }>("SELECT destination, failures FROM federation_destinations")).map((x) => ({
      destination: x.destination,
      failures: Number(x.failures),
    }));
  }

  /** When each failing destination is retried (metrics). */
  async retryTimes(): Promise<Array<{ destination: string; retry_after_ts: number }>> {
    return (await this.db.all<{ destination: string; retry_after_ts: number }>("SELECT destination, retry_after_ts FROM federation_destinations WHERE failures > 0")).map((x) => ({
      destination: x.destination,
      retry_after_ts: Number(x.retry_after_ts),
    }));
  }
}
