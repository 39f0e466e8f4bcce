// Room aliases, published rooms (rooms.is_public) and the user directory tables.
import type { Db, Queryable } from "../engines/db.ts";

export interface AliasRow {
  alias: string;
  room_id: string;
  creator: string;
  created_ts: number;
}

export interface UserDirectoryRow {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
  /** 1 when the user shares a joined room with the searcher. */
  shared: number;
}

/** `LIKE` pattern matching `term` anywhere (with `\` as the escape character). */
function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const MEMBER_JOINED = "cs.type = 'm.room.member' AND cs.membership = 'join'";

export class DirectoryRepo {
  constructor(private readonly db: Db) {}

  // ---- aliases

  async findAlias(alias: string): Promise<AliasRow | undefined> {
    const r = await this.db.get<AliasRow>("SELECT alias, room_id, creator, created_ts FROM room_aliases WHERE alias = ?", [alias]);
    return r ? { ...r, created_ts: Number(r.created_ts) } : undefined;
  }

  /** Inserts the alias; false when it is taken. */
  async insertAlias(alias: string, roomId: string, creator: string, ts: number): Promise<boolean> {
    const n = await this.db.run("INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT (alias) DO NOTHING", [
      alias,
      roomId,
      creator,
      ts,
    ]);
    return n > 0;
  }

  async deleteAlias(alias: string): Promise<boolean> {
    return (await this.db.run("DELETE FROM room_aliases WHERE alias = ?", [alias])) > 0;
  }

  /** The aliases of a room on `serverName`, oldest first. */
  async aliasesOfRoom(roomId: string, serverName: string): Promise<string[]> {
    const rows = await this.db.all<{ alias: string }>("SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY created_ts, alias", [roomId]);
    return rows.map((r) => r.alias).filter((a) => a.endsWith(`:${serverName}`));
  }

  // ---- published rooms

  async isPublished(roomId: string): Promise<boolean | undefined> {
    const r = await this.db.get<{ is_public: number }>("SELECT is_public FROM rooms WHERE room_id = ?", [roomId]);
    return r ? Number(r.is_public) === 1 : undefined;
  }

  async setPublished(roomId: string, published: boolean): Promise<void> {
    await this.db.run("UPDATE rooms SET is_public = ? WHERE room_id = ?", [published ? 1 : 0, roomId]);
  }

  async isServerAdmin(userId: string): Promise<boolean> {
    const r = await this.db.get<{ is_admin: number }>("SELECT is_admin FROM users WHERE user_id = ?", [userId]);
    return Number(r?.is_admin ?? 0) === 1;
  }

  async publishedRooms(): Promise<string[]> {
    return (await this.db.all<{ room_id: string }>("SELECT room_id FROM rooms WHERE is_public = 1")).map((r) => r.room_id);
  }

  // ---- user directory

  async upsertUser(q: Queryable, userId: string, displayName: string | null, avatarUrl: string | null, searchText: string): Promise<void> {
    await q.run(
      `INSERT INTO user_directory (user_id, display_name, avatar_url, search_text) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, avatar_url = excluded.avatar_url, search_text = excluded.search_text`,
      [userId, displayName, avatarUrl, searchText],
    );
  }

  async setRoomPublicForUsers(q: Queryable, roomId: string, isPublic: boolean): Promise<void> {
    if (isPublic) await q.run("INSERT INTO user_directory_public_rooms (room_id) VALUES (?) ON CONFLICT (room_id) DO NOTHING", [roomId]);
    else await q.run("DELETE FROM user_directory_public_rooms WHERE room_id = ?", [roomId]);
  }

  /**
   * Directory entries whose folded search text contains every term, visible to `searcher`: they
   * share a joined room with the searcher, are joined to a public (or world-readable) room, or —
   * with `allLocal` — are users of `serverName`. Deactivated users are left out.
   */
  async searchUsers(searcher: string, terms: readonly string[], opts: { allLocal: boolean; serverName: string; max: number }): Promise<UserDirectoryRow[]> {
    const likes = terms.map(() => "ud.search_text LIKE ? ESCAPE '\\'").join(" AND ");
    const shared = `EXISTS (SELECT 1 FROM current_state cs JOIN local_memberships lm ON lm.room_id = cs.room_id
        WHERE ${MEMBER_JOINED} AND cs.state_key = ud.user_id AND lm.user_id = ? AND lm.membership = 'join' AND cs.state_key <> lm.user_id)`;
    // Public rooms count only while a local user is still joined: once this server has left a
    // room, its view of the room's members is frozen and stale.
    const inPublic = `EXISTS (SELECT 1 FROM current_state cs JOIN user_directory_public_rooms p ON p.room_id = cs.room_id
        WHERE ${MEMBER_JOINED} AND cs.state_key = ud.user_id
          AND EXISTS (SELECT 1 FROM local_memberships lj WHERE lj.room_id = cs.room_id AND lj.membership = 'join'))`;
    const local = opts.allLocal ? " OR ud.user_id LIKE ? ESCAPE '\\'" : "";
    const localParam = opts.allLocal ? [`%:${opts.serverName.replace(/[\\%_]/g, (c) => `\\${c}`)}`] : [];
    const rows = await this.db.all<UserDirectoryRow>(
      `SELECT ud.user_id, ud.display_name, ud.avatar_url, CASE WHEN ${shared} THEN 1 ELSE 0 END AS shared
       FROM user_directory ud
       WHERE ${likes}
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = ud.user_id AND u.deactivated = 1)
         AND (${shared} OR ${inPublic}${local})
       LIMIT ?`,
      [searcher, ...terms.map(containsPattern), searcher, ...localParam, opts.max],
    );
    const out = rows.map((r) => ({ ...r, shared: Number(r.shared) }));
    if (opts.allLocal && out.length < opts.max) {
      // Local users the directory has no entry for (never joined a room nor set a profile).
      const extra = await this.db.all<{ user_id: string }>(
        `SELECT u.user_id FROM users u
         WHERE u.deactivated = 0 AND u.is_guest = 0 AND ${terms.map(() => "lower(u.user_id) LIKE ? ESCAPE '\\'").join(" AND ")}
           AND NOT EXISTS (SELECT 1 FROM user_directory ud WHERE ud.user_id = u.user_id)
         LIMIT ?`,
        [...terms.map(containsPattern), opts.max - out.length],
      );
      for (const e of extra) out.push({ user_id: e.user_id, display_name: null, avatar_url: null, shared: 0 });
    }
    return out;
  }
}
