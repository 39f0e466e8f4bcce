// SQL behind the server admin API and `hs admin`: listing users with their profile fields, erased
// users, blocked rooms, room statistics and room deletion tasks (tables from 0012_admin.sql).
import type { Db, Queryable, SqlParam } from "../engines/db.ts";

export interface AdminUserRow {
  user_id: string;
  is_guest: number;
  is_admin: number;
  user_type: string | null;
  deactivated: number;
  locked: number;
  suspended: number;
  shadow_banned: number;
  created_ts: number;
  /** JSON text of the profile field, or null. */
  displayname: string | null;
  avatar_url: string | null;
  erased: number;
  last_seen_ts: number | null;
}

/** order_by values of the users list → columns of USER_SELECT. */
export const USER_ORDER_COLUMNS = {
  name: "user_id",
  is_guest: "is_guest",
  admin: "is_admin",
  user_type: "user_type",
  deactivated: "deactivated",
  locked: "locked",
  shadow_banned: "shadow_banned",
  displayname: "displayname",
  avatar_url: "avatar_url",
  creation_ts: "created_ts",
  last_seen_ts: "last_seen_ts",
} as const;
export type UserOrder = keyof typeof USER_ORDER_COLUMNS;

export interface UserListQuery {
  from: number;
  limit: number;
  /** Substring of the user ID (ignored when `name` is given). */
  userId?: string;
  /** Substring of the localpart or the display name. */
  name?: string;
  guests: boolean;
  deactivated: "include" | "exclude" | "only";
  admins?: boolean;
  /** User types to leave out ('' = users without a type). */
  notUserTypes?: string[];
  orderBy: UserOrder;
  dir: "f" | "b";
}

/** `%term%` for LIKE, with % _ and \ escaped (used with ESCAPE '\'). */
export function likeContains(term: string): string {
  return `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const USER_SELECT = `SELECT u.user_id, u.is_guest, u.is_admin, u.user_type, u.deactivated, u.locked, u.suspended, u.shadow_banned, u.created_ts,
    dn.value AS displayname, av.value AS avatar_url,
    CASE WHEN eu.user_id IS NULL THEN 0 ELSE 1 END AS erased,
    (SELECT MAX(ui.last_seen_ts) FROM user_ips ui WHERE ui.user_id = u.user_id) AS last_seen_ts
  FROM users u
  LEFT JOIN profiles dn ON dn.user_id = u.user_id AND dn.field = 'displayname'
  LEFT JOIN profiles av ON av.user_id = u.user_id AND av.field = 'avatar_url'
  LEFT JOIN erased_users eu ON eu.user_id = u.user_id`;

export interface RoomDeletionRow {
  delete_id: string;
  room_id: string;
  status: string;
  error: string | null;
  shutdown_room: string;
  created_ts: number;
  updated_ts: number;
}

export interface RoomCounts {
  joinedMembers: number;
  joinedLocalMembers: number;
  stateEvents: number;
}

export class AdminRepo {
  constructor(private readonly db: Db) {}

  // ---- users

  async listUsers(q: UserListQuery): Promise<{ users: AdminUserRow[]; total: number }> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (q.name !== undefined) {
      // The localpart (between @ and :) or the display name contains the term.
      const colon = this.db.dialect === "sqlite" ? "instr(u.user_id, ':')" : "strpos(u.user_id, ':')";
      where.push(`(lower(substr(u.user_id, 2, ${colon} - 2)) LIKE ? ESCAPE '\\' OR lower(dn.value) LIKE ? ESCAPE '\\')`);
      params.push(likeContains(q.name), likeContains(q.name));
    } else if (q.userId !== undefined) {
      where.push("lower(u.user_id) LIKE ? ESCAPE '\\'");
      params.push(likeContains(q.userId));
    }
    if (!q.guests) where.push("u.is_guest = 0");
    if (q.deactivated === "exclude") where.push("u.deactivated = 0");
    if (q.deactivated === "only") where.push("u.deactivated = 1");
    if (q.admins !== undefined) where.push(q.admins ? "u.is_admin = 1" : "u.is_admin = 0");
    for (const t of q.notUserTypes ?? []) {
      if (t === "") where.push("u.user_type IS NOT NULL");
      else {
        where.push("(u.user_type IS NULL OR u.user_type <> ?)");
        params.push(t);
      }
    }
    const whereSql = where.length ? ` WHERE ${where.join(" AND ")}` : "";
    const dir = q.dir === "b" ? "DESC" : "ASC";
    const col = USER_ORDER_COLUMNS[q.orderBy];
    // NULLs sort first going forwards on both engines.
    const nulls = dir === "ASC" ? "NULLS FIRST" : "NULLS LAST";
    const rows = await this.db.all<AdminUserRow>(
      `SELECT * FROM (${USER_SELECT}${whereSql}) x ORDER BY x.${col} ${dir} ${nulls}, x.user_id ASC LIMIT ? OFFSET ?`,
      [...params, q.limit, q.from],
    );
    const total = await this.db.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM users u LEFT JOIN profiles dn ON dn.user_id = u.user_id AND dn.field = 'displayname'${whereSql}`,
      params,
    );
    return { users: rows.map(normalizeUserRow), total: Number(total?.n ?? 0) };
  }

  async findUser(userId: string): Promise<AdminUserRow | undefined> {
    const r = await this.db.get<AdminUserRow>(`${USER_SELECT} WHERE u.user_id = ?`, [userId]);
    return r && normalizeUserRow(r);
  }

  async setErased(userId: string, erased: boolean, now: number): Promise<void> {
    if (erased) {
      await this.db.run("INSERT INTO erased_users (user_id, erased_ts) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING", [userId, now]);
    } else {
      await this.db.run("DELETE FROM erased_users WHERE user_id = ?", [userId]);
    }
  }

  async erasedUserIds(): Promise<string[]> {
    return (await this.db.all<{ user_id: string }>("SELECT user_id FROM erased_users")).map((r) => r.user_id);
  }

  async userExists(userId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 AS x FROM users WHERE user_id = ?", [userId])) !== undefined;
  }

  /** Local users joined to the room, ordered by user ID. */
  async localJoinedUsers(roomId: string): Promise<string[]> {
    return (await this.db.all<{ user_id: string }>("SELECT user_id FROM local_memberships WHERE room_id = ? AND membership = 'join' ORDER BY user_id", [roomId])).map((r) => r.user_id);
  }

  async roomExists(roomId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 AS x FROM rooms WHERE room_id = ?", [roomId])) !== undefined;
  }

  /** The room name and canonical alias events' JSON of every room (the offline room list). */
  roomNameAndAliasState(): Promise<Array<{ room_id: string; type: string; json: string }>> {
    return this.db.all<{ room_id: string; type: string; json: string }>(
      `SELECT c.room_id, c.type, e.json FROM current_state c JOIN events e ON e.event_id = c.event_id
       WHERE c.state_key = '' AND c.type IN ('m.room.name', 'm.room.canonical_alias')`,
    );
  }

  /** The ID of the user's dehydrated device (MSC3814), if any. */
  async dehydratedDeviceId(userId: string): Promise<string | undefined> {
    return (await this.db.get<{ device_id: string }>("SELECT device_id FROM dehydrated_devices WHERE user_id = ?", [userId]))?.device_id;
  }

  /** Clears the deactivated flag (the admin API's deactivated: false). */
  async reactivate(userId: string): Promise<void> {
    await this.db.run("UPDATE users SET deactivated = 0 WHERE user_id = ?", [userId]);
  }

  async setUserType(userId: string, userType: string | null): Promise<void> {
    await this.db.run("UPDATE users SET user_type = ? WHERE user_id = ?", [userType, userId]);
  }

  /** Every local user's membership per room (the admin memberships API). */
  async memberships(userId: string): Promise<Array<{ room_id: string; membership: string }>> {
    return this.db.all("SELECT room_id, membership FROM local_memberships WHERE user_id = ? ORDER BY room_id", [userId]);
  }

  /** Deactivated users who still have devices (deactivated offline: the server removes them). */
  async deactivatedWithDevices(): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>(
      "SELECT DISTINCT d.user_id FROM devices d JOIN users u ON u.user_id = d.user_id WHERE u.deactivated = 1 ORDER BY d.user_id",
    );
    return rows.map((r) => r.user_id);
  }

  /** Deactivated users still joined to, invited to or knocking on rooms. */
  async deactivatedWithMemberships(): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>(
      `SELECT DISTINCT lm.user_id FROM local_memberships lm JOIN users u ON u.user_id = lm.user_id
       WHERE u.deactivated = 1 AND lm.membership IN ('join', 'invite', 'knock') ORDER BY lm.user_id`,
    );
    return rows.map((r) => r.user_id);
  }

  // ---- blocked rooms

  async blockRoom(roomId: string, by: string, now: number): Promise<void> {
    await this.db.run("INSERT INTO blocked_rooms (room_id, user_id, created_ts) VALUES (?, ?, ?) ON CONFLICT (room_id) DO NOTHING", [roomId, by, now]);
  }

  async unblockRoom(roomId: string): Promise<void> {
    await this.db.run("DELETE FROM blocked_rooms WHERE room_id = ?", [roomId]);
  }

  async findBlock(roomId: string): Promise<{ user_id: string } | undefined> {
    return this.db.get("SELECT user_id FROM blocked_rooms WHERE room_id = ?", [roomId]);
  }

  // ---- rooms

  async listRooms(roomId?: string): Promise<Array<{ room_id: string; room_version: string; creator: string; is_public: number; created_ts: number }>> {
    const rows = await this.db.all<{ room_id: string; room_version: string; creator: string; is_public: number; created_ts: number }>(
      `SELECT room_id, room_version, creator, is_public, created_ts FROM rooms${roomId === undefined ? "" : " WHERE room_id = ?"} ORDER BY room_id`,
      roomId === undefined ? [] : [roomId],
    );
    return rows.map((r) => ({ ...r, is_public: Number(r.is_public), created_ts: Number(r.created_ts) }));
  }

  /** Current state events with an empty state key of the given types, per room: (room, type) → event ID. */
  async roomStateIds(types: readonly string[], roomId?: string): Promise<Array<{ room_id: string; type: string; event_id: string }>> {
    const params: SqlParam[] = [...types];
    let where = `state_key = '' AND type IN (${types.map(() => "?").join(", ")})`;
    if (roomId !== undefined) {
      where += " AND room_id = ?";
      params.push(roomId);
    }
    return this.db.all(`SELECT room_id, type, event_id FROM current_state WHERE ${where}`, params);
  }

  /** Member and state counts per room (all rooms, or one). */
  async roomCounts(serverName: string, roomId?: string): Promise<Map<string, RoomCounts>> {
    const one = roomId === undefined ? "" : " AND room_id = ?";
    const p = roomId === undefined ? [] : [roomId];
    const out = new Map<string, RoomCounts>();
    const get = (id: string) => {
      let c = out.get(id);
      if (!c) out.set(id, (c = { joinedMembers: 0, joinedLocalMembers: 0, stateEvents: 0 }));
      return c;
    };
    for (const r of await this.db.all<{ room_id: string; n: number }>(
      `SELECT room_id, COUNT(*) AS n FROM current_state WHERE type = 'm.room.member' AND membership = 'join'${one} GROUP BY room_id`,
      p,
    )) get(r.room_id).joinedMembers = Number(r.n);
    for (const r of await this.db.all<{ room_id: string; n: number }>(
      `SELECT room_id, COUNT(*) AS n FROM local_memberships WHERE membership = 'join'${one} GROUP BY room_id`,
      p,
    )) get(r.room_id).joinedLocalMembers = Number(r.n);
    for (const r of await this.db.all<{ room_id: string; n: number }>(`SELECT room_id, COUNT(*) AS n FROM current_state WHERE 1 = 1${one} GROUP BY room_id`, p)) {
      get(r.room_id).stateEvents = Number(r.n);
    }
    void serverName;
    return out;
  }

  /** Devices of the room's joined local users. */
  async joinedLocalDevices(roomId: string): Promise<number> {
    const r = await this.db.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM devices d JOIN local_memberships lm ON lm.user_id = d.user_id WHERE lm.room_id = ? AND lm.membership = 'join'`,
      [roomId],
    );
    return Number(r?.n ?? 0);
  }

  /** True when every local user with a membership in the room has forgotten it. */
  async forgottenByAll(roomId: string): Promise<boolean> {
    const r = await this.db.get<{ total: number; forgotten: number }>(
      "SELECT COUNT(*) AS total, COALESCE(SUM(forgotten), 0) AS forgotten FROM local_memberships WHERE room_id = ?",
      [roomId],
    );
    const total = Number(r?.total ?? 0);
    return total > 0 && Number(r?.forgotten ?? 0) === total;
  }

  /** Local aliases of a room. */
  async localAliases(roomId: string, serverName: string): Promise<string[]> {
    const rows = await this.db.all<{ alias: string }>("SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias", [roomId]);
    return rows.map((r) => r.alias).filter((a) => a.endsWith(`:${serverName}`));
  }

  async moveAlias(q: Queryable, alias: string, newRoomId: string | null): Promise<void> {
    if (newRoomId === null) await q.run("DELETE FROM room_aliases WHERE alias = ?", [alias]);
    else await q.run("UPDATE room_aliases SET room_id = ? WHERE alias = ?", [newRoomId, alias]);
  }

  async setPublic(roomId: string, isPublic: boolean): Promise<void> {
    await this.db.run("UPDATE rooms SET is_public = ? WHERE room_id = ?", [isPublic, roomId]);
  }

  // ---- room deletions

  async insertDeletion(r: RoomDeletionRow): Promise<void> {
    await this.db.run(
      "INSERT INTO room_deletions (delete_id, room_id, status, error, shutdown_room, created_ts, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
      [r.delete_id, r.room_id, r.status, r.error, r.shutdown_room, r.created_ts, r.updated_ts],
    );
  }

  async updateDeletion(deleteId: string, fields: { status?: string; error?: string | null; shutdown_room?: string }, now: number): Promise<void> {
    const sets: string[] = ["updated_ts = ?"];
    const params: SqlParam[] = [now];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      sets.push(`${k} = ?`);
      params.push(v);
    }
    await this.db.run(`UPDATE room_deletions SET ${sets.join(", ")} WHERE delete_id = ?`, [...params, deleteId]);
  }

  async findDeletion(deleteId: string): Promise<RoomDeletionRow | undefined> {
    return this.db.get("SELECT delete_id, room_id, status, error, shutdown_room, created_ts, updated_ts FROM room_deletions WHERE delete_id = ?", [deleteId]);
  }

  /** The room's deletions that are running, or ended after `since`. */
  async deletionsOfRoom(roomId: string, since: number): Promise<RoomDeletionRow[]> {
    return this.db.all(
      `SELECT delete_id, room_id, status, error, shutdown_room, created_ts, updated_ts FROM room_deletions
       WHERE room_id = ? AND (status IN ('scheduled', 'active') OR updated_ts >= ?) ORDER BY created_ts, delete_id`,
      [roomId, since],
    );
  }

  /** Marks deletions left running by a previous process as failed; returns how many. */
  async failInterruptedDeletions(now: number): Promise<number> {
    return this.db.run(
      "UPDATE room_deletions SET status = 'failed', error = 'interrupted: the server stopped before the deletion finished; start it again', updated_ts = ? WHERE status IN ('scheduled', 'active')",
      [now],
    );
  }
}

function normalizeUserRow(r: AdminUserRow): AdminUserRow {
  return {
    ...r,
    is_guest: Number(r.is_guest),
    is_admin: Number(r.is_admin),
    deactivated: Number(r.deactivated),
    locked: Number(r.locked),
    suspended: Number(r.suspended),
    shadow_banned: Number(r.shadow_banned),
    created_ts: Number(r.created_ts),
    erased: Number(r.erased),
    last_seen_ts: r.last_seen_ts === null ? null : Number(r.last_seen_ts),
  };
}
