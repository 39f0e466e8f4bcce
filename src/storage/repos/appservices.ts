// Application service state: each service's position in the event stream, its unacknowledged
// transactions, its published room directory; and the reads its transaction builder needs.
import type { Db } from "../engines/db.ts";
import type { EventRow } from "./rooms.ts";

const EVENT_COLS =
  "event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, received_ts, json, outlier, soft_failed, rejected_reason, state_group, redacted_by, replaces_state, txn_id, device_id";

export interface AppserviceState {
  stream_ordering: number;
  next_txn_id: number;
}

export interface StoredTxn {
  txn_id: number;
  body: string;
}

/** A to-device message waiting in device_inbox (MSC2409: pushed to application services). */
export interface InboxRow {
  user_id: string;
  device_id: string;
  stream_id: number;
  sender: string;
  type: string;
  content: string;
  delivered_at: number | null;
}

/** A device_inbox row, by its key. */
export interface InboxKey {
  user_id: string;
  device_id: string;
  stream_id: number;
}

const INBOX_COLS = "user_id, device_id, stream_id, sender, type, content, delivered_at";
const IN_CHUNK = 500;

function placeholders(n: number): string {
  return Array(n).fill("?").join(", ");
}

function inboxRow(r: InboxRow): InboxRow {
  return { ...r, stream_id: Number(r.stream_id), delivered_at: r.delivered_at === null ? null : Number(r.delivered_at) };
}

export class AppservicesRepo {
  constructor(private readonly db: Db) {}

  /** The service's state; created at `initialPosition` when it has none. */
  async state(asId: string, initialPosition: number): Promise<AppserviceState> {
    await this.db.run("INSERT INTO appservice_states (as_id, stream_ordering, next_txn_id) VALUES (?, ?, 1) ON CONFLICT (as_id) DO NOTHING", [
      asId,
      initialPosition,
    ]);
    const r = await this.db.get<AppserviceState>("SELECT stream_ordering, next_txn_id FROM appservice_states WHERE as_id = ?", [asId]);
    return { stream_ordering: Number(r!.stream_ordering), next_txn_id: Number(r!.next_txn_id) };
  }

  async setPosition(asId: string, pos: number): Promise<void> {
    await this.db.run("UPDATE appservice_states SET stream_ordering = ? WHERE as_id = ?", [pos, asId]);
  }

  /**
   * Stores a new transaction, taking the next ID, and moves the position past its events. The
   * to-device messages `moveFromInbox` (carried by the transaction) leave device_inbox in the same
   * database transaction, unless a /sync has already picked them up.
   */
  async insertTxn(asId: string, body: (txnId: number) => string, newPosition: number, moveFromInbox: readonly InboxKey[] = []): Promise<StoredTxn> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<{ next_txn_id: number }>("SELECT next_txn_id FROM appservice_states WHERE as_id = ?", [asId]);
      const txnId = Number(r!.next_txn_id);
      const text = body(txnId);
      await tx.run("INSERT INTO appservice_txns (as_id, txn_id, body, created_ts) VALUES (?, ?, ?, ?)", [asId, txnId, text, Date.now()]);
      await tx.run("UPDATE appservice_states SET next_txn_id = ?, stream_ordering = ? WHERE as_id = ?", [txnId + 1, newPosition, asId]);
      for (const m of moveFromInbox) {
        await tx.run("DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id = ? AND delivered_at IS NULL", [m.user_id, m.device_id, m.stream_id]);
      }
      return { txn_id: txnId, body: text };
    });
  }

  // ---- to-device messages (MSC2409)

  /** Users with to-device messages stored after `after` (a scan of the inbox, at start-up). */
  async inboxUsersAfter(after: number): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>("SELECT DISTINCT user_id FROM device_inbox WHERE stream_id > ?", [after]);
    return rows.map((r) => r.user_id);
  }

  /**
   * To-device messages of some users stored in (after, upTo], oldest first, at most `limit`
   * (undefined: all). Looked up by user (the inbox's key starts with user_id).
   */
  async inboxOf(userIds: readonly string[], after: number, upTo: number, limit?: number): Promise<InboxRow[]> {
    const out: InboxRow[] = [];
    const users = [...new Set(userIds)];
    for (let i = 0; i < users.length; i += IN_CHUNK) {
      const part = users.slice(i, i + IN_CHUNK);
      const rows = await this.db.all<InboxRow>(
        `SELECT ${INBOX_COLS} FROM device_inbox WHERE user_id IN (${placeholders(part.length)}) AND stream_id > ? AND stream_id <= ?
         ORDER BY stream_id, user_id, device_id${limit === undefined ? "" : " LIMIT ?"}`,
        limit === undefined ? [...part, after, upTo] : [...part, after, upTo, limit],
      );
      out.push(...rows.map(inboxRow));
    }
    out.sort((a, b) => a.stream_id - b.stream_id || (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0));
    return limit === undefined ? out : out.slice(0, limit);
  }

  /** The oldest unacknowledged transaction. */
  async oldestTxn(asId: string): Promise<StoredTxn | undefined> {
    const r = await this.db.get<StoredTxn>("SELECT txn_id, body FROM appservice_txns WHERE as_id = ? ORDER BY txn_id LIMIT 1", [asId]);
    return r ? { txn_id: Number(r.txn_id), body: r.body } : undefined;
  }

  async deleteTxn(asId: string, txnId: number): Promise<void> {
    await this.db.run("DELETE FROM appservice_txns WHERE as_id = ? AND txn_id = ?", [asId, txnId]);
  }

  /** Timeline events accepted after `after`, up to `upTo` (both stream positions), oldest first. */
  async eventsAfter(after: number, upTo: number, limit: number): Promise<EventRow[]> {
    return this.db.all<EventRow>(
      `SELECT ${EVENT_COLS} FROM events WHERE stream_ordering > ? AND stream_ordering <= ?
       AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering LIMIT ?`,
      [after, upTo, limit],
    );
  }

  /** Local joined members of some rooms (room_id, user_id). */
  async localJoinedMembers(roomId: string): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>("SELECT user_id FROM local_memberships WHERE room_id = ? AND membership = 'join'", [roomId]);
    return rows.map((r) => r.user_id);
  }

  /** The local aliases pointing at a room. */
  async aliasesOf(roomId: string): Promise<string[]> {
    const rows = await this.db.all<{ alias: string }>("SELECT alias FROM room_aliases WHERE room_id = ?", [roomId]);
    return rows.map((r) => r.alias);
  }

  // ---- published room directories

  async setRoomListed(asId: string, networkId: string, roomId: string, listed: boolean): Promise<void> {
    if (listed) {
      await this.db.run("INSERT INTO appservice_room_list (as_id, network_id, room_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [asId, networkId, roomId]);
    } else {
      await this.db.run("DELETE FROM appservice_room_list WHERE as_id = ? AND network_id = ? AND room_id = ?", [asId, networkId, roomId]);
    }
  }

  /** Published rooms: of one service's network, or of all when both are undefined. */
  async listedRooms(asId?: string, networkId?: string): Promise<Array<{ as_id: string; network_id: string; room_id: string }>> {
    if (asId === undefined) return this.db.all("SELECT as_id, network_id, room_id FROM appservice_room_list ORDER BY room_id");
    return this.db.all("SELECT as_id, network_id, room_id FROM appservice_room_list WHERE as_id = ? AND network_id = ? ORDER BY room_id", [asId, networkId ?? ""]);
  }
}
