// SQL for inbound federation transactions (federation_received_txns): a repeated PUT
// /send/{txnId} gets the answer recorded the first time. Several processes may receive the same
// transaction at once (a remote retrying through a load balancer): the first to insert the row
// claims it (response '' while it is being processed, with received_ts renewed as a heartbeat);
// the others wait for the recorded response, or take a claim over whose heartbeat stopped.
import type { Db } from "../engines/db.ts";

/** The response column of a transaction still being processed (a real response is a JSON object). */
const IN_PROGRESS = "";

export type TxnClaim = { state: "claimed" } | { state: "done"; response: string } | { state: "busy"; heartbeatTs: number };

export class FederationReceivedTxnsRepo {
  constructor(private readonly db: Db) {}

  /** The recorded response (JSON text) of a transaction from `origin`, if it was processed. */
  async findResponse(origin: string, txnId: string): Promise<string | undefined> {
    const r = (await this.db.get<{ response: string }>("SELECT response FROM federation_received_txns WHERE origin = ? AND txn_id = ?", [origin, txnId]))?.response;
    return r === IN_PROGRESS ? undefined : r;
  }

  /** Claims a transaction atomically: claimed (process it), done (its response) or busy (another process has it). */
  async claim(origin: string, txnId: string, now: number): Promise<TxnClaim> {
    for (;;) {
      const inserted = await this.db.run("INSERT INTO federation_received_txns (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [
        origin,
        txnId,
        IN_PROGRESS,
        now,
      ]);
      if (inserted > 0) return { state: "claimed" };
      const row = await this.db.get<{ response: string; received_ts: number }>("SELECT response, received_ts FROM federation_received_txns WHERE origin = ? AND txn_id = ?", [
        origin,
        txnId,
      ]);
      if (!row) continue; // abandoned in between: claim again
      if (row.response !== IN_PROGRESS) return { state: "done", response: row.response };
      return { state: "busy", heartbeatTs: Number(row.received_ts) };
    }
  }

  /** Takes over a claim whose heartbeat is still `heartbeatTs` (its process died); false when someone moved first. */
  async takeOver(origin: string, txnId: string, heartbeatTs: number, now: number): Promise<boolean> {
    const n = await this.db.run("UPDATE federation_received_txns SET received_ts = ? WHERE origin = ? AND txn_id = ? AND response = ? AND received_ts = ?", [
      now,
      origin,
      txnId,
      IN_PROGRESS,
      heartbeatTs,
    ]);
    return n > 0;
  }

  /** The claim is still being worked on. */
  async heartbeat(origin: string, txnId: string, now: number): Promise<void> {
    await this.db.run("UPDATE federation_received_txns SET received_ts = ? WHERE origin = ? AND txn_id = ? AND response = ?", [now, origin, txnId, IN_PROGRESS]);
  }

  /** Records the response of a claimed transaction. */
  async complete(origin: string, txnId: string, response: string, now: number): Promise<void> {
    await this.db.run("UPDATE federation_received_txns SET response = ?, received_ts = ? WHERE origin = ? AND txn_id = ?", [response, now, origin, txnId]);
  }

  /** Drops every claim still being processed (start-up of the only process: they died with the last run). */
  async abandonAll(): Promise<void> {
    await this.db.run("DELETE FROM federation_received_txns WHERE response = ?", [IN_PROGRESS]);
  }

  /** Gives a claim up (processing failed): a retry processes the transaction again. */
  async abandon(origin: string, txnId: string): Promise<void> {
    await this.db.run("DELETE FROM federation_received_txns WHERE origin = ? AND txn_id = ? AND response = ?", [origin, txnId, IN_PROGRESS]);
  }
}
