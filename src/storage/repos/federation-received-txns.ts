// SQL for inbound federation transactions already processed (federation_received_txns): a
// repeated PUT /send/{txnId} gets the answer recorded the first time.
import type { Db } from "../engines/db.ts";

export class FederationReceivedTxnsRepo {
  constructor(private readonly db: Db) {}

  /** The recorded response (JSON text) of a transaction from `origin`, if it was processed. */
  async findResponse(origin: string, txnId: string): Promise<string | undefined> {
    return (await this.db.get<{ response: string }>("SELECT response FROM federation_received_txns WHERE origin = ? AND txn_id = ?", [origin, txnId]))?.response;
  }

  async insert(origin: string, txnId: string, response: string): Promise<void> {
    await this.db.run("INSERT INTO federation_received_txns (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [
      origin,
      txnId,
      response,
      Date.now(),
    ]);
  }
}
