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

  async insert(q: Queryable, id: number, destination: string, kind: "pdu" | "edu", json: string, createdTs: number): Promise<void> {
    await q.run("INSERT INTO federation_outbox (id, destination, kind, json, created_ts) VALUES (?, ?, ?, ?, ?)", [id, destination, kind, json, createdTs]);
  }

  /** The oldest `limit` queued items of one kind for a destination. */
  list(destination: string, kind: "pdu" | "edu", limit: number): Promise<OutboxRow[]> {
    return this.db.all<OutboxRow>(`SELECT id, kind, json FROM federation_outbox WHERE destination = ? AND kind = '${kind === "pdu" ? "pdu" : "edu"}' ORDER BY id LIMIT ?`, [destination, limit]);
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

  /** A delivered transaction: its items leave the queue and the destination's back-off ends, in one transaction. */
  async recordDelivered(destination: string, ids: readonly number[], now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const id of ids) await tx.run("DELETE FROM federation_outbox WHERE id = ?", [id]);
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
