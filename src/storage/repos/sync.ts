// Read queries /sync needs beyond RoomsRepo: which rooms changed in a stream range, which state
// keys changed in a range, and a room's heroes. All bounded by stream positions or LIMITs: none
// reads a room's whole history.
import type { Db } from "../engines/db.ts";

export class SyncRepo {
  constructor(private readonly db: Db) {}

  /** Rooms with any event persisted in (from, to] (uses the stream_ordering index). */
  async roomsWithEventsBetween(fromExclusive: number, toInclusive: number): Promise<Set<string>> {
    const rows = await this.db.all<{ room_id: string }>("SELECT DISTINCT room_id FROM events WHERE stream_ordering > ? AND stream_ordering <= ?", [
      fromExclusive,
      toInclusive,
    ]);
    return new Set(rows.map((r) => r.room_id));
  }

  /**
   * The (type, state_key) of accepted state events of a room persisted in (from, to], and of the
   * keys state resolution changed in that range.
   */
  async stateKeysChangedBetween(roomId: string, fromExclusive: number, toInclusive: number): Promise<Array<[string, string]>> {
    const rows = await this.db.all<{ type: string; state_key: string }>(
      `SELECT type, state_key FROM events
       WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ? AND state_key IS NOT NULL
         AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
       UNION
       SELECT type, state_key FROM state_resolution_deltas WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ?`,
      [roomId, fromExclusive, toInclusive, roomId, fromExclusive, toInclusive],
    );
    return rows.map((r) => [r.type, r.state_key]);
  }

  /**
   * Up to `limit` members of a room other than `exclude`, oldest membership first: joined or
   * invited ones, or when there are none, those who left or were banned (room summary heroes).
   */
  async heroes(roomId: string, exclude: string, limit: number): Promise<string[]> {
    const q = (memberships: string) =>
      this.db.all<{ state_key: string }>(
        `SELECT cs.state_key FROM current_state cs JOIN events e ON e.event_id = cs.event_id
         WHERE cs.room_id = ? AND cs.type = 'm.room.member' AND cs.membership IN (${memberships}) AND cs.state_key <> ?
         ORDER BY e.stream_ordering LIMIT ?`,
        [roomId, exclude, limit],
      );
    let rows = await q("'join', 'invite'");
    if (rows.length === 0) rows = await q("'leave', 'ban'");
    return rows.map((r) => r.state_key);
  }

  /** The stripped state that came with an invite (or knock answer) from another server, if any. */
  async remoteInviteState(roomId: string, userId: string): Promise<unknown[] | undefined> {
    const r = await this.db.get<{ invite_room_state: string }>("SELECT invite_room_state FROM remote_invites WHERE room_id = ? AND user_id = ?", [roomId, userId]);
    if (!r) return undefined;
    try {
      const v = JSON.parse(r.invite_room_state) as unknown;
      return Array.isArray(v) ? v : [];
    } catch {
      return [];
    }
  }
}
