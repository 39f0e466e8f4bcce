// SQL for access, refresh and login tokens. Tokens are looked up by their sha256 hash only.
import type { Db, Queryable } from "../engines/db.ts";

export interface AccessToken {
  tokenHash: string;
  userId: string;
  deviceId: string | null;
  createdTs: number;
  expiresTs: number | null;
  refreshTokenHash: string | null;
  used: boolean;
}

export interface RefreshToken {
  tokenHash: string;
  userId: string;
  deviceId: string;
  prevTokenHash: string | null;
  nextTokenHash: string | null;
}

interface AccessRow {
  token_hash: string;
  user_id: string;
  device_id: string | null;
  created_ts: number;
  expires_ts: number | null;
  refresh_token_hash: string | null;
  used: number;
}

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

export class TokensRepo {
  constructor(private readonly db: Db) {}

  // ---- access tokens

  async insertAccessToken(q: Queryable, t: Omit<AccessToken, "used">): Promise<void> {
    await q.run(
      "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, used) VALUES (?, ?, ?, ?, ?, ?, 0)",
      [t.tokenHash, t.userId, t.deviceId, t.createdTs, t.expiresTs, t.refreshTokenHash],
    );
  }

  async findAccessToken(tokenHash: string): Promise<AccessToken | undefined> {
    const r = await this.db.get<AccessRow>(
      "SELECT token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, used FROM access_tokens WHERE token_hash = ?",
      [tokenHash],
    );
    if (!r) return undefined;
    return {
      tokenHash: r.token_hash,
      userId: r.user_id,
      deviceId: r.device_id,
      createdTs: Number(r.created_ts),
      expiresTs: r.expires_ts === null ? null : Number(r.expires_ts),
      refreshTokenHash: r.refresh_token_hash,
      used: Number(r.used) === 1,
    };
  }

  /** Marks the token used; true if this call was the first use. */
  async markAccessTokenUsed(q: Queryable, tokenHash: string): Promise<boolean> {
    return (await q.run("UPDATE access_tokens SET used = 1 WHERE token_hash = ? AND used = 0", [tokenHash])) === 1;
  }

  async deleteAccessToken(q: Queryable, tokenHash: string): Promise<void> {
    await q.run("DELETE FROM access_tokens WHERE token_hash = ?", [tokenHash]);
  }

  /** Deletes the access tokens issued with one of these refresh tokens; returns their hashes. */
  async deleteAccessTokensByRefresh(q: Queryable, refreshHashes: readonly string[]): Promise<string[]> {
    if (refreshHashes.length === 0) return [];
    const rows = await q.all<{ token_hash: string }>(
      `DELETE FROM access_tokens WHERE refresh_token_hash IN (${placeholders(refreshHashes.length)}) RETURNING token_hash`,
      [...refreshHashes],
    );
    return rows.map((r) => r.token_hash);
  }

  /**
   * Deletes a user's access and refresh tokens: for these devices, or all of them when `deviceIds`
   * is undefined; `exceptHash` keeps one access token (and its device's refresh tokens stay only if
   * that device is not in the list). Returns the access token hashes deleted.
   */
  async deleteTokensForUser(q: Queryable, userId: string, deviceIds?: readonly string[], exceptHash?: string): Promise<string[]> {
    if (deviceIds && deviceIds.length === 0) return [];
    const devFilter = deviceIds ? ` AND device_id IN (${placeholders(deviceIds.length)})` : "";
    const devParams = deviceIds ? [...deviceIds] : [];
    const exceptFilter = exceptHash ? " AND token_hash <> ?" : "";
    const exceptParams = exceptHash ? [exceptHash] : [];
    const rows = await q.all<{ token_hash: string }>(
      `DELETE FROM access_tokens WHERE user_id = ?${devFilter}${exceptFilter} RETURNING token_hash`,
      [userId, ...devParams, ...exceptParams],
    );
    if (exceptHash) {
      // Keep the refresh tokens of the device whose access token is kept.
      const kept = await q.get<{ device_id: string | null }>("SELECT device_id FROM access_tokens WHERE token_hash = ?", [exceptHash]);
      const keepDevice = kept?.device_id ?? null;
      await q.run(
        `DELETE FROM refresh_tokens WHERE user_id = ?${devFilter}${keepDevice !== null ? " AND device_id <> ?" : ""}`,
        [userId, ...devParams, ...(keepDevice !== null ? [keepDevice] : [])],
      );
    } else {
      await q.run(`DELETE FROM refresh_tokens WHERE user_id = ?${devFilter}`, [userId, ...devParams]);
    }
    return rows.map((r) => r.token_hash);
  }

  // ---- refresh tokens

  async insertRefreshToken(q: Queryable, t: Omit<RefreshToken, "nextTokenHash">, now: number): Promise<void> {
    await q.run(
      "INSERT INTO refresh_tokens (token_hash, user_id, device_id, prev_token_hash, next_token_hash, created_ts) VALUES (?, ?, ?, ?, NULL, ?)",
      [t.tokenHash, t.userId, t.deviceId, t.prevTokenHash, now],
    );
  }

  async findRefreshToken(q: Queryable, tokenHash: string): Promise<RefreshToken | undefined> {
    const r = await q.get<{ token_hash: string; user_id: string; device_id: string; prev_token_hash: string | null; next_token_hash: string | null }>(
      "SELECT token_hash, user_id, device_id, prev_token_hash, next_token_hash FROM refresh_tokens WHERE token_hash = ?",
      [tokenHash],
    );
    return r && { tokenHash: r.token_hash, userId: r.user_id, deviceId: r.device_id, prevTokenHash: r.prev_token_hash, nextTokenHash: r.next_token_hash };
  }

  async setNextRefreshToken(q: Queryable, tokenHash: string, next: string): Promise<void> {
    await q.run("UPDATE refresh_tokens SET next_token_hash = ? WHERE token_hash = ?", [next, tokenHash]);
  }

  async clearPrevRefreshToken(q: Queryable, tokenHash: string): Promise<void> {
    await q.run("UPDATE refresh_tokens SET prev_token_hash = NULL WHERE token_hash = ?", [tokenHash]);
  }

  async deleteRefreshTokens(q: Queryable, hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return;
    await q.run(`DELETE FROM refresh_tokens WHERE token_hash IN (${placeholders(hashes.length)})`, [...hashes]);
  }

  // ---- login tokens

  async insertLoginToken(tokenHash: string, userId: string, expiresTs: number): Promise<void> {
    await this.db.run("INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES (?, ?, ?)", [tokenHash, userId, expiresTs]);
  }

  /** Deletes and returns a login token (single use), or undefined when unknown. */
  async takeLoginToken(tokenHash: string): Promise<{ userId: string; expiresTs: number } | undefined> {
    // RETURNING writes go through a transaction: on SQLite, plain reads use a read-only connection.
    const r = await this.db.transaction((tx) =>
      tx.get<{ user_id: string; expires_ts: number }>("DELETE FROM login_tokens WHERE token_hash = ? RETURNING user_id, expires_ts", [tokenHash]),
    );
    return r && { userId: r.user_id, expiresTs: Number(r.expires_ts) };
  }

  async deleteExpiredLoginTokens(now: number): Promise<void> {
    await this.db.run("DELETE FROM login_tokens WHERE expires_ts < ?", [now]);
  }

  async deleteLoginTokensForUser(q: Queryable, userId: string): Promise<void> {
    await q.run("DELETE FROM login_tokens WHERE user_id = ?", [userId]);
  }
}
