// SQL for local users, their devices and where devices were seen from (tables from 0002_accounts.sql).
import type { Db, Queryable } from "../engines/db.ts";

export interface User {
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  userType: string | null;
  deactivated: boolean;
  /** Account moderation: every request but logout refused (401 M_USER_LOCKED). */
  locked: boolean;
  /** Account moderation: limited to reading, leaving and tidying up (403 M_USER_SUSPENDED). */
  suspended: boolean;
  /** What the user sends silently goes nowhere (Synapse's shadow-ban). */
  shadowBanned: boolean;
  createdTs: number;
}

export interface Device {
  userId: string;
  deviceId: string;
  displayName: string | null;
  lastSeenIp: string | null;
  lastSeenTs: number | null;
  lastSeenUserAgent: string | null;
  createdTs: number;
}

export interface UserIp {
  deviceId: string;
  ip: string;
  userAgent: string;
  lastSeenTs: number;
}

interface UserRow {
  user_id: string;
  password_hash: string | null;
  is_admin: number;
  is_guest: number;
  user_type: string | null;
  deactivated: number;
  locked: number;
  suspended: number;
  shadow_banned: number;
  created_ts: number;
}

interface DeviceRow {
  user_id: string;
  device_id: string;
  display_name: string | null;
  last_seen_ip: string | null;
  last_seen_ts: number | null;
  last_seen_user_agent: string | null;
  created_ts: number;
}

const USER_COLS = "user_id, password_hash, is_admin, is_guest, user_type, deactivated, locked, suspended, shadow_banned, created_ts";
const DEVICE_COLS = "user_id, device_id, display_name, last_seen_ip, last_seen_ts, last_seen_user_agent, created_ts";

const toUser = (r: UserRow): User => ({
  userId: r.user_id,
  passwordHash: r.password_hash,
  isAdmin: Number(r.is_admin) === 1,
  isGuest: Number(r.is_guest) === 1,
  userType: r.user_type,
  deactivated: Number(r.deactivated) === 1,
  locked: Number(r.locked) === 1,
  suspended: Number(r.suspended) === 1,
  shadowBanned: Number(r.shadow_banned) === 1,
  createdTs: Number(r.created_ts),
});

const toDevice = (r: DeviceRow): Device => ({
  userId: r.user_id,
  deviceId: r.device_id,
  displayName: r.display_name,
  lastSeenIp: r.last_seen_ip,
  lastSeenTs: r.last_seen_ts === null ? null : Number(r.last_seen_ts),
  lastSeenUserAgent: r.last_seen_user_agent,
  createdTs: Number(r.created_ts),
});

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

export class AccountsRepo {
  constructor(private readonly db: Db) {}

  // ---- users

  async findUser(userId: string, q: Queryable = this.db): Promise<User | undefined> {
    const r = await q.get<UserRow>(`SELECT ${USER_COLS} FROM users WHERE user_id = ?`, [userId]);
    return r && toUser(r);
  }

  /** Users whose ID equals `userId` ignoring case (several only for legacy mixed-case IDs). */
  async listUsersCaseInsensitive(userId: string): Promise<User[]> {
    const rows = await this.db.all<UserRow>(`SELECT ${USER_COLS} FROM users WHERE lower(user_id) = lower(?)`, [userId]);
    return rows.map(toUser);
  }

  async insertUser(q: Queryable, u: Omit<User, "deactivated" | "locked" | "suspended" | "shadowBanned">): Promise<boolean> {
    const n = await q.run(
      `INSERT INTO users (${USER_COLS}) VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, ?) ON CONFLICT (user_id) DO NOTHING`,
      [u.userId, u.passwordHash, u.isAdmin, u.isGuest, u.userType, u.createdTs],
    );
    return n === 1;
  }

  async setPasswordHash(userId: string, hash: string | null, q: Queryable = this.db): Promise<void> {
    await q.run("UPDATE users SET password_hash = ? WHERE user_id = ?", [hash, userId]);
  }

  async setAdmin(userId: string, admin: boolean): Promise<void> {
    await this.db.run("UPDATE users SET is_admin = ? WHERE user_id = ?", [admin, userId]);
  }

  /** Sets the locked or suspended flag; false when the user does not exist. */
  async setModeration(userId: string, flag: "locked" | "suspended" | "shadow_banned", on: boolean): Promise<boolean> {
    const column = flag === "locked" ? "locked" : flag === "suspended" ? "suspended" : "shadow_banned";
    return (await this.db.run(`UPDATE users SET ${column} = ? WHERE user_id = ?`, [on ? 1 : 0, userId])) === 1;
  }

  /** Turns a guest into a full user with a password. False when the user is not (or no longer) a guest. */
  async upgradeGuest(q: Queryable, userId: string, passwordHash: string): Promise<boolean> {
    const n = await q.run("UPDATE users SET is_guest = 0, password_hash = ? WHERE user_id = ? AND is_guest = 1 AND deactivated = 0", [
      passwordHash,
      userId,
    ]);
    return n === 1;
  }

  async markDeactivated(q: Queryable, userId: string): Promise<void> {
    await q.run("UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = ?", [userId]);
  }

  /** Next value of a named counter (1, 2, …). */
  async nextCounter(q: Queryable, name: string): Promise<number> {
    const r = await q.get<{ value: number }>(
      "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
      [name],
    );
    return Number(r!.value);
  }

  // ---- devices

  async listDevices(userId: string): Promise<Device[]> {
    const rows = await this.db.all<DeviceRow>(`SELECT ${DEVICE_COLS} FROM devices WHERE user_id = ? ORDER BY device_id`, [userId]);
    return rows.map(toDevice);
  }

  async findDevice(userId: string, deviceId: string, q: Queryable = this.db): Promise<Device | undefined> {
    const r = await q.get<DeviceRow>(`SELECT ${DEVICE_COLS} FROM devices WHERE user_id = ? AND device_id = ?`, [userId, deviceId]);
    return r && toDevice(r);
  }

  /** Creates the device unless it exists; true when created. */
  async insertDevice(q: Queryable, userId: string, deviceId: string, displayName: string | null, now: number): Promise<boolean> {
    const n = await q.run(
      "INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT (user_id, device_id) DO NOTHING",
      [userId, deviceId, displayName, now],
    );
    return n === 1;
  }

  /** False when the device does not exist. */
  async updateDeviceDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    const n = await this.db.run("UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?", [displayName, userId, deviceId]);
    return n === 1;
  }

  /** Deletes the devices (all of the user's when `deviceIds` is undefined); returns the IDs deleted. */
  async deleteDevices(q: Queryable, userId: string, deviceIds?: readonly string[]): Promise<string[]> {
    if (deviceIds && deviceIds.length === 0) return [];
    const rows = deviceIds
      ? await q.all<{ device_id: string }>(
          `DELETE FROM devices WHERE user_id = ? AND device_id IN (${placeholders(deviceIds.length)}) RETURNING device_id`,
          [userId, ...deviceIds],
        )
      : await q.all<{ device_id: string }>("DELETE FROM devices WHERE user_id = ? RETURNING device_id", [userId]);
    const ids = rows.map((r) => r.device_id);
    if (ids.length > 0) {
      await q.run(`DELETE FROM user_ips WHERE user_id = ? AND device_id IN (${placeholders(ids.length)})`, [userId, ...ids]);
    }
    return ids;
  }

  /** Records that a device (or '' for none) was used from `ip` with `userAgent`. */
  async recordSeen(userId: string, deviceId: string | null, ip: string, userAgent: string, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (deviceId !== null) {
        await tx.run("UPDATE devices SET last_seen_ip = ?, last_seen_ts = ?, last_seen_user_agent = ? WHERE user_id = ? AND device_id = ?", [
          ip,
          now,
          userAgent,
          userId,
          deviceId,
        ]);
      }
      await tx.run(
        `INSERT INTO user_ips (user_id, device_id, ip, user_agent, last_seen_ts) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id, device_id, ip, user_agent) DO UPDATE SET last_seen_ts = excluded.last_seen_ts`,
        [userId, deviceId ?? "", ip, userAgent, now],
      );
    });
  }

  async listUserIps(userId: string): Promise<UserIp[]> {
    const rows = await this.db.all<{ device_id: string; ip: string; user_agent: string; last_seen_ts: number }>(
      "SELECT device_id, ip, user_agent, last_seen_ts FROM user_ips WHERE user_id = ? ORDER BY last_seen_ts DESC",
      [userId],
    );
    return rows.map((r) => ({ deviceId: r.device_id, ip: r.ip, userAgent: r.user_agent, lastSeenTs: Number(r.last_seen_ts) }));
  }
}
