// Presence rows (local users and remote users sharing a room with ours), by stream position.
import type { Db } from "../engines/db.ts";
import { chunks } from "./rooms.ts";

export interface PresenceRow {
  user_id: string;
  state: string;
  status_msg: string | null;
  last_active_ts: number;
  currently_active: number;
  stream_id: number;
  updated_ts: number;
}

const COLS = "user_id, state, status_msg, last_active_ts, currently_active, stream_id, updated_ts";

function norm(r: PresenceRow): PresenceRow {
  r.last_active_ts = Number(r.last_active_ts);
  r.currently_active = Number(r.currently_active);
  r.stream_id = Number(r.stream_id);
  r.updated_ts = Number(r.updated_ts);
  return r;
}

export class PresenceRepo {
  constructor(private readonly db: Db) {}

  async find(userId: string): Promise<PresenceRow | undefined> {
    const r = await this.db.get<PresenceRow>(`SELECT ${COLS} FROM presence WHERE user_id = ?`, [userId]);
    return r ? norm(r) : undefined;
  }

  async upsert(r: PresenceRow): Promise<void> {
    await this.db.run(
      `INSERT INTO presence (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts,
         currently_active = excluded.currently_active, stream_id = excluded.stream_id, updated_ts = excluded.updated_ts`,
      [r.user_id, r.state, r.status_msg, r.last_active_ts, r.currently_active, r.stream_id, r.updated_ts],
    );
  }

  /** Whether a local account exists. */
  async userExists(userId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 FROM users WHERE user_id = ?", [userId])) !== undefined;
  }

  /** Rows changed in (from, to]. */
  async listBetween(fromExclusive: number, toInclusive: number): Promise<PresenceRow[]> {
    const rows = await this.db.all<PresenceRow>(`SELECT ${COLS} FROM presence WHERE stream_id > ? AND stream_id <= ? ORDER BY stream_id`, [
      fromExclusive,
      toInclusive,
    ]);
    return rows.map(norm);
  }

  /** Rows of users not offline, written up to `to` (initial sync). */
  async listNotOffline(toInclusive: number): Promise<PresenceRow[]> {
    const rows = await this.db.all<PresenceRow>(`SELECT ${COLS} FROM presence WHERE state <> 'offline' AND stream_id <= ?`, [toInclusive]);
    return rows.map(norm);
  }

  /** Local users (of `serverName`) not offline: resumed at start-up. */
  async listLocalNotOffline(serverName: string): Promise<PresenceRow[]> {
    const rows = await this.db.all<PresenceRow>(`SELECT ${COLS} FROM presence WHERE state <> 'offline' AND user_id LIKE ?`, [`%:${serverName}`]);
    return rows.map(norm).filter((r) => r.user_id.endsWith(`:${serverName}`));
  }

  /** Those of `candidates` who share a joined room with `userId`. */
  async sharingRoomWith(userId: string, candidates: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks([...new Set(candidates)], 400)) {
      const rows = await this.db.all<{ state_key: string }>(
        `SELECT DISTINCT cs.state_key FROM current_state cs JOIN local_memberships lm ON lm.room_id = cs.room_id
         WHERE lm.user_id = ? AND lm.membership = 'join' AND cs.type = 'm.room.member' AND cs.membership = 'join'
           AND cs.state_key IN (${part.map(() => "?").join(", ")})`,
        [userId, ...part],
      );
      for (const r of rows) out.add(r.state_key);
    }
    return out;
  }

  /**
   * Users who came to share a room with `userId` in (fromExclusive, toInclusive]: the members of
   * rooms the user joined then, and those whose member events then are in the user's joined rooms
   * (still joined now; the user themselves excluded).
   */
  async newlySharing(userId: string, fromExclusive: number, toInclusive: number): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>(
      `SELECT cs.state_key AS user_id FROM local_memberships lm JOIN current_state cs ON cs.room_id = lm.room_id
         WHERE lm.user_id = ? AND lm.membership = 'join' AND lm.stream_ordering > ? AND lm.stream_ordering <= ?
           AND cs.type = 'm.room.member' AND cs.membership = 'join'
       UNION
       SELECT cs.state_key AS user_id FROM local_memberships lm
         JOIN events e ON e.room_id = lm.room_id AND e.type = 'm.room.member' AND e.stream_ordering > ? AND e.stream_ordering <= ?
         JOIN current_state cs ON cs.room_id = e.room_id AND cs.type = 'm.room.member' AND cs.state_key = e.state_key AND cs.membership = 'join'
         WHERE lm.user_id = ? AND lm.membership = 'join'`,
      [userId, fromExclusive, toInclusive, fromExclusive, toInclusive, userId],
    );
    return [...new Set(rows.map((r) => r.user_id))].filter((u) => u !== userId);
  }

  /** Whether the user is joined to a room some local user is joined to. */
  async sharesRoomWithLocalUser(userId: string): Promise<boolean> {
    const r = await this.db.get(
      `SELECT 1 FROM current_state cs JOIN local_memberships lm ON lm.room_id = cs.room_id AND lm.membership = 'join'
       WHERE cs.type = 'm.room.member' AND cs.state_key = ? AND cs.membership = 'join' LIMIT 1`,
      [userId],
    );
    return r !== undefined;
  }

  /** The rooms the user is joined to (current state). */
  async joinedRooms(userId: string): Promise<string[]> {
    const rows = await this.db.all<{ room_id: string }>(
      "SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = ? AND membership = 'join'",
      [userId],
    );
    return rows.map((r) => r.room_id);
  }

  /** Local users joined to a room whose presence is not offline. */
  async localMembersNotOffline(roomId: string): Promise<PresenceRow[]> {
    const rows = await this.db.all<PresenceRow>(
      `SELECT ${COLS.split(", ").map((c) => `p.${c}`).join(", ")} FROM local_memberships lm JOIN presence p ON p.user_id = lm.user_id
       WHERE lm.room_id = ? AND lm.membership = 'join' AND p.state <> 'offline'`,
      [roomId],
    );
    return rows.map(norm);
  }
}
