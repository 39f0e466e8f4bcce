// SQL for the health of federation destinations (federation_destinations, written by the sender:
// one row per server this server has sent transactions to) and the rooms shared with a server.
import type { Db, SqlParam } from "../engines/db.ts";
import { likeContains } from "./admin.ts";

export interface DestinationRow {
  destination: string;
  failures: number;
  retry_after_ts: number;
  failure_ts: number | null;
  retry_last_ts: number | null;
  last_success_ts: number | null;
}

/** order_by values of the destinations list (Synapse's names) → SQL expressions. */
export const DESTINATION_ORDER = {
  destination: "destination",
  retry_last_ts: "COALESCE(retry_last_ts, 0)",
  retry_interval: "CASE WHEN failures > 0 THEN retry_after_ts - COALESCE(retry_last_ts, retry_after_ts) ELSE 0 END",
  failure_ts: "COALESCE(failure_ts, 0)",
  last_successful_stream_ordering: "COALESCE(last_success_ts, 0)",
} as const;
export type DestinationOrder = keyof typeof DESTINATION_ORDER;

const COLS = "destination, failures, retry_after_ts, failure_ts, retry_last_ts, last_success_ts";

function normalize(r: DestinationRow): DestinationRow {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return { ...r, failures: Number(r.failures), retry_after_ts: Number(r.retry_after_ts), failure_ts: n(r.failure_ts), retry_last_ts: n(r.retry_last_ts), last_success_ts: n(r.last_success_ts) };
}

export class FederationDestinationsRepo {
  constructor(private readonly db: Db) {}

  async list(q: { from: number; limit: number; orderBy: DestinationOrder; dir: "f" | "b"; search?: string }): Promise<{ rows: DestinationRow[]; total: number }> {
    const where = q.search ? " WHERE lower(destination) LIKE ? ESCAPE '\\'" : "";
    const params: SqlParam[] = q.search ? [likeContains(q.search)] : [];
    const dir = q.dir === "b" ? "DESC" : "ASC";
    const rows = await this.db.all<DestinationRow>(
      `SELECT ${COLS} FROM federation_destinations${where} ORDER BY ${DESTINATION_ORDER[q.orderBy]} ${dir}, destination ASC LIMIT ? OFFSET ?`,
      [...params, q.limit, q.from],
    );
    const total = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM federation_destinations${where}`, params);
    return { rows: rows.map(normalize), total: Number(total?.n ?? 0) };
  }

  async find(destination: string): Promise<DestinationRow | undefined> {
    const r = await this.db.get<DestinationRow>(`SELECT ${COLS} FROM federation_destinations WHERE destination = ?`, [destination]);
    return r && normalize(r);
  }

  /** Rooms in which a user of `destination` is joined, with the room's latest stream position. */
  async sharedRooms(destination: string, from: number, limit: number): Promise<{ rooms: Array<{ room_id: string; stream_ordering: number }>; total: number }> {
    const pattern = `%:${destination.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
    const inner = `SELECT DISTINCT room_id FROM current_state WHERE type = 'm.room.member' AND membership = 'join' AND state_key LIKE ? ESCAPE '\\'`;
    const rows = await this.db.all<{ room_id: string; s: number | null }>(
      `SELECT r.room_id, rr.last_stream AS s FROM (${inner}) r LEFT JOIN room_recency rr ON rr.room_id = r.room_id ORDER BY r.room_id LIMIT ? OFFSET ?`,
      [pattern, limit, from],
    );
    const total = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM (${inner}) r`, [pattern]);
    return { rooms: rows.map((r) => ({ room_id: r.room_id, stream_ordering: Number(r.s ?? 0) })), total: Number(total?.n ?? 0) };
  }
}
