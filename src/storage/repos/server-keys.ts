// SQL for other servers' signing keys (tables server_keys and server_key_responses, migration 0005).
import type { Db, Queryable } from "../engines/db.ts";

export interface ServerKeyRow {
  server_name: string;
  key_id: string;
  /** Unpadded Base64 public key. */
  verify_key: string;
  valid_until_ts: number;
  /** Set for keys published under old_verify_keys. */
  expired_ts: number | null;
  fetched_ts: number;
  from_server: string;
  /** The signed key response (as received) the key was last stored from. */
  key_json?: string | null;
}

export interface ServerKeyResponseRow {
  server_name: string;
  from_server: string;
  valid_until_ts: number;
  fetched_ts: number;
  /** The signed response as received. */
  key_json: string;
}

export class ServerKeysRepo {
  constructor(private readonly db: Db) {}

  async listKeys(serverName: string, q: Queryable = this.db): Promise<ServerKeyRow[]> {
    const rows = await q.all<ServerKeyRow>(
      "SELECT server_name, key_id, verify_key, valid_until_ts, expired_ts, fetched_ts, from_server, key_json FROM server_keys WHERE server_name = ?",
      [serverName],
    );
    return rows.map((r) => ({
      ...r,
      valid_until_ts: Number(r.valid_until_ts),
      fetched_ts: Number(r.fetched_ts),
      expired_ts: r.expired_ts === null ? null : Number(r.expired_ts),
    }));
  }

  async listResponses(serverName: string, q: Queryable = this.db): Promise<ServerKeyResponseRow[]> {
    const rows = await q.all<ServerKeyResponseRow>(
      "SELECT server_name, from_server, valid_until_ts, fetched_ts, key_json FROM server_key_responses WHERE server_name = ? ORDER BY fetched_ts DESC",
      [serverName],
    );
    return rows.map((r) => ({ ...r, valid_until_ts: Number(r.valid_until_ts), fetched_ts: Number(r.fetched_ts) }));
  }

  /** Stores one fetched response and the keys it lists, in one transaction. */
  async storeResponse(response: ServerKeyResponseRow, keys: readonly ServerKeyRow[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO server_key_responses (server_name, from_server, valid_until_ts, fetched_ts, key_json) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (server_name, from_server) DO UPDATE SET valid_until_ts = excluded.valid_until_ts,
           fetched_ts = excluded.fetched_ts, key_json = excluded.key_json`,
        [response.server_name, response.from_server, response.valid_until_ts, response.fetched_ts, response.key_json],
      );
      for (const k of keys) {
        await tx.run(
          `INSERT INTO server_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts, fetched_ts, from_server, key_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (server_name, key_id) DO UPDATE SET verify_key = excluded.verify_key, valid_until_ts = excluded.valid_until_ts,
             expired_ts = excluded.expired_ts, fetched_ts = excluded.fetched_ts, from_server = excluded.from_server, key_json = excluded.key_json`,
          [k.server_name, k.key_id, k.verify_key, k.valid_until_ts, k.expired_ts, k.fetched_ts, k.from_server, k.key_json ?? response.key_json],
        );
      }
    });
  }
}
