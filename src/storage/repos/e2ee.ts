// All SQL of end-to-end encryption (sql/0008_e2ee.sql): device keys, one-time and fallback keys,
// cross-signing keys and signatures, the device list change stream and the remote device list
// cache, the to-device inbox, key backups — and the room-membership reads that decide who shares a
// room with whom (from current_state and local_memberships).
import type { Db, Queryable } from "../engines/db.ts";

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");
/** Largest IN (...) list per query. */
const CHUNK = 500;

function chunks<T>(list: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export interface OneTimeKeyRow {
  algorithm: string;
  key_id: string;
  key_json: string;
}

export interface FallbackKeyRow extends OneTimeKeyRow {
  used: number;
}

export interface CrossSigningKeyRow {
  user_id: string;
  key_type: string;
  public_key: string;
  key_json: string;
}

export interface SignatureRow {
  target_user_id: string;
  target_key_id: string;
  signer_user_id: string;
  signer_key_id: string;
  signature: string;
}

export interface RemoteDeviceRow {
  device_id: string;
  display_name: string | null;
  keys_json: string | null;
}

export interface InboxRow {
  stream_id: number;
  sender: string;
  type: string;
  content: string;
  delivered_at: number | null;
}

export interface NewInboxMessage {
  userId: string;
  deviceId: string;
  sender: string;
  type: string;
  content: string;
}

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  auth_data: string;
  etag: number;
  deleted: number;
}

export interface BackupKeyRow {
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: number;
  session_data: string;
}

export class E2eeRepo {
  constructor(private readonly db: Db) {}

  /** Highest global stream position held by the E2EE tables (the stream allocator starts above it). */
  async maxStreamPosition(): Promise<number> {
    const r = await this.db.get<{ a: number | null; b: number | null }>(
      "SELECT (SELECT MAX(stream_id) FROM device_list_changes) AS a, (SELECT MAX(stream_id) FROM device_inbox) AS b",
    );
    return Math.max(0, Number(r?.a ?? 0), Number(r?.b ?? 0));
  }

  // ------------------------------------------------------------------ device keys

  async findDeviceKeys(userId: string, deviceId: string, q: Queryable = this.db): Promise<string | undefined> {
    const r = await q.get<{ key_json: string }>("SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    return r?.key_json;
  }

  async upsertDeviceKeys(q: Queryable, userId: string, deviceId: string, json: string, ts: number): Promise<void> {
    await q.run(
      `INSERT INTO e2e_device_keys (user_id, device_id, key_json, ts) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, ts = excluded.ts`,
      [userId, deviceId, json, ts],
    );
  }

  /** Device keys of users' devices (all of a user's devices when its list is empty), with local display names. */
  async listDeviceKeys(users: ReadonlyMap<string, readonly string[]>): Promise<Array<{ user_id: string; device_id: string; key_json: string; display_name: string | null }>> {
    const out: Array<{ user_id: string; device_id: string; key_json: string; display_name: string | null }> = [];
    const whole = [...users].filter(([, d]) => d.length === 0).map(([u]) => u);
    for (const part of chunks(whole)) {
      out.push(
        ...(await this.db.all<{ user_id: string; device_id: string; key_json: string; display_name: string | null }>(
          `SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
           JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
           WHERE k.user_id IN (${placeholders(part.length)})`,
          part,
        )),
      );
    }
    for (const [userId, devices] of users) {
      if (devices.length === 0) continue;
      for (const part of chunks([...new Set(devices)])) {
        out.push(
          ...(await this.db.all<{ user_id: string; device_id: string; key_json: string; display_name: string | null }>(
            `SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
             JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
             WHERE k.user_id = ? AND k.device_id IN (${placeholders(part.length)})`,
            [userId, ...part],
          )),
        );
      }
    }
    return out;
  }

  /** A local user's devices with their keys (NULL for devices without keys) — for /user/devices. */
  async devicesWithKeys(userId: string): Promise<Array<{ device_id: string; display_name: string | null; key_json: string | null }>> {
    return this.db.all(
      `SELECT d.device_id, d.display_name, k.key_json FROM devices d
       LEFT JOIN e2e_device_keys k ON k.user_id = d.user_id AND k.device_id = d.device_id
       WHERE d.user_id = ? ORDER BY d.device_id`,
      [userId],
    );
  }

  /** Everything E2EE a deleted device leaves behind: keys, one-time and fallback keys, inbox, signatures on it. */
  async deleteDeviceData(q: Queryable, userId: string, deviceIds: readonly string[]): Promise<void> {
    for (const part of chunks(deviceIds)) {
      const ph = placeholders(part.length);
      for (const table of ["e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys", "device_inbox", "device_txn_ids"]) {
        await q.run(`DELETE FROM ${table} WHERE user_id = ? AND device_id IN (${ph})`, [userId, ...part]);
      }
      await q.run(`DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = ? AND target_key_id IN (${ph})`, [userId, ...part]);
    }
  }

  // ------------------------------------------------------------------ one-time and fallback keys

  async findOneTimeKeys(q: Queryable, userId: string, deviceId: string): Promise<Map<string, string>> {
    const rows = await q.all<OneTimeKeyRow>("SELECT algorithm, key_id, key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    return new Map(rows.map((r) => [`${r.algorithm}:${r.key_id}`, r.key_json]));
  }

  async findOneTimeKeysNamed(q: Queryable, userId: string, deviceId: string, names: ReadonlyArray<{ algorithm: string; keyId: string }>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const n of names) {
      const r = await q.get<{ key_json: string }>(
        "SELECT key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
        [userId, deviceId, n.algorithm, n.keyId],
      );
      if (r) out.set(`${n.algorithm}:${n.keyId}`, r.key_json);
    }
    return out;
  }

  async insertOneTimeKeys(q: Queryable, userId: string, deviceId: string, keys: ReadonlyArray<{ algorithm: string; keyId: string; json: string }>): Promise<void> {
    if (keys.length === 0) return;
    const r = await q.get<{ m: number | null }>("SELECT MAX(seq) AS m FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    const seq = Number(r?.m ?? 0) + 1;
    for (const k of keys) {
      await q.run(
        "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, seq) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [userId, deviceId, k.algorithm, k.keyId, k.json, seq],
      );
    }
  }

  /**
   * For some users' devices at once: unclaimed one-time keys per algorithm and unused fallback key
   * algorithms (as countOneTimeKeys and unusedFallbackKeyTypes), keyed `user\0device`.
   */
  async keyCountsOf(userIds: readonly string[]): Promise<Map<string, { counts: Record<string, number>; fallback: string[] }>> {
    const out = new Map<string, { counts: Record<string, number>; fallback: string[] }>();
    const of = (u: string, d: string) => {
      const k = `${u}\u0000${d}`;
      let v = out.get(k);
      if (!v) out.set(k, (v = { counts: {}, fallback: [] }));
      return v;
    };
    for (const part of chunks(userIds, 400)) {
      const marks = part.map(() => "?").join(", ");
      const counts = await this.db.all<{ user_id: string; device_id: string; algorithm: string; n: number }>(
        `SELECT user_id, device_id, algorithm, COUNT(*) AS n FROM e2e_one_time_keys WHERE user_id IN (${marks}) GROUP BY user_id, device_id, algorithm ORDER BY user_id, device_id, algorithm`,
        [...part],
      );
      for (const r of counts) of(r.user_id, r.device_id).counts[r.algorithm] = Number(r.n);
      const fallback = await this.db.all<{ user_id: string; device_id: string; algorithm: string }>(
        `SELECT user_id, device_id, algorithm FROM e2e_fallback_keys WHERE user_id IN (${marks}) AND used = 0 ORDER BY user_id, device_id, algorithm`,
        [...part],
      );
      for (const r of fallback) of(r.user_id, r.device_id).fallback.push(r.algorithm);
    }
    return out;
  }

  /** Unclaimed one-time keys per algorithm. */
  async countOneTimeKeys(userId: string, deviceId: string, q: Queryable = this.db): Promise<Record<string, number>> {
    const rows = await q.all<{ algorithm: string; n: number }>(
      "SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm",
      [userId, deviceId],
    );
    const out: Record<string, number> = {};
    for (const r of rows) out[r.algorithm] = Number(r.n);
    return out;
  }

  /**
   * Takes the oldest one-time key of a device for an algorithm: removed, so that no other claim can
   * get it (a concurrent claim that deleted it first makes this one try the next key).
   */
  async claimOneTimeKey(userId: string, deviceId: string, algorithm: string): Promise<OneTimeKeyRow | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const claimed = await this.db.transaction(async (tx) => {
        const row = await tx.get<OneTimeKeyRow>(
          "SELECT algorithm, key_id, key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY seq, key_id LIMIT 1",
          [userId, deviceId, algorithm],
        );
        if (!row) return null;
        const n = await tx.run("DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?", [userId, deviceId, algorithm, row.key_id]);
        return n === 1 ? row : undefined;
      });
      if (claimed === null) return undefined;
      if (claimed) return claimed;
    }
    return undefined;
  }

  async findFallbackKey(q: Queryable, userId: string, deviceId: string, algorithm: string): Promise<FallbackKeyRow | undefined> {
    return q.get<FallbackKeyRow>(
      "SELECT algorithm, key_id, key_json, used FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?",
      [userId, deviceId, algorithm],
    );
  }

  async upsertFallbackKey(q: Queryable, userId: string, deviceId: string, algorithm: string, keyId: string, json: string): Promise<void> {
    await q.run(
      `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json, used = 0`,
      [userId, deviceId, algorithm, keyId, json],
    );
  }

  /** Hands out the fallback key (marking it used); it stays until replaced. */
  async claimFallbackKey(userId: string, deviceId: string, algorithm: string): Promise<OneTimeKeyRow | undefined> {
    return this.db.transaction(async (tx) => {
      const row = await this.findFallbackKey(tx, userId, deviceId, algorithm);
      if (!row) return undefined;
      if (!Number(row.used)) await tx.run("UPDATE e2e_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?", [userId, deviceId, algorithm]);
      return { algorithm: row.algorithm, key_id: row.key_id, key_json: row.key_json };
    });
  }

  async unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    const rows = await this.db.all<{ algorithm: string }>(
      "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm",
      [userId, deviceId],
    );
    return rows.map((r) => r.algorithm);
  }

  // ------------------------------------------------------------------ cross-signing

  async crossSigningKeys(userIds: readonly string[], q: Queryable = this.db): Promise<CrossSigningKeyRow[]> {
    const out: CrossSigningKeyRow[] = [];
    for (const part of chunks([...new Set(userIds)])) {
      out.push(...(await q.all<CrossSigningKeyRow>(`SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id IN (${placeholders(part.length)})`, part)));
    }
    return out;
  }

  async upsertCrossSigningKey(q: Queryable, userId: string, keyType: string, publicKey: string, json: string): Promise<void> {
    await q.run(
      `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`,
      [userId, keyType, publicKey, json],
    );
  }

  async insertSignature(q: Queryable, s: SignatureRow): Promise<void> {
    await q.run(
      `INSERT INTO e2e_cross_signing_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature`,
      [s.target_user_id, s.target_key_id, s.signer_user_id, s.signer_key_id, s.signature],
    );
  }

  /** Stored signatures on these users' keys, made by the users themselves or by `viewer`. */
  async signaturesOn(targetUserIds: readonly string[], viewer: string | undefined): Promise<SignatureRow[]> {
    const out: SignatureRow[] = [];
    for (const part of chunks([...new Set(targetUserIds)])) {
      out.push(
        ...(await this.db.all<SignatureRow>(
          `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_cross_signing_signatures
           WHERE target_user_id IN (${placeholders(part.length)}) AND (signer_user_id = target_user_id OR signer_user_id = ?)`,
          [...part, viewer ?? ""],
        )),
      );
    }
    return out;
  }

  async deleteCrossSigningKeys(q: Queryable, userId: string): Promise<void> {
    await q.run("DELETE FROM e2e_cross_signing_keys WHERE user_id = ?", [userId]);
  }

  /** A deactivated user's cross-signing keys and every signature they made. */
  async deleteCrossSigning(q: Queryable, userId: string): Promise<void> {
    await q.run("DELETE FROM e2e_cross_signing_keys WHERE user_id = ?", [userId]);
    await q.run("DELETE FROM e2e_cross_signing_signatures WHERE signer_user_id = ? OR target_user_id = ?", [userId, userId]);
  }

  // ------------------------------------------------------------------ device list stream

  async insertDeviceListChange(q: Queryable, stream: number, userIds: Iterable<string>): Promise<void> {
    for (const u of new Set(userIds)) {
      await q.run("INSERT INTO device_list_changes (stream_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [stream, u]);
    }
  }

  /**
   * Deletes changes below `before` that a later change of the same user supersedes: the question
   * /sync asks ("did this user change after my token?") has the same answer with the latest only.
   */
  async pruneDeviceListChanges(before: number): Promise<number> {
    return this.db.run(
      `DELETE FROM device_list_changes WHERE stream_id < ?
         AND EXISTS (SELECT 1 FROM device_list_changes later WHERE later.user_id = device_list_changes.user_id AND later.stream_id > device_list_changes.stream_id)`,
      [before],
    );
  }

  /** Users with a device list change in (from, to]. */
  async usersChangedBetween(fromExclusive: number, toInclusive: number): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>(
      "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > ? AND stream_id <= ?",
      [fromExclusive, toInclusive],
    );
    return rows.map((r) => r.user_id);
  }

  async lastOutboundStreamId(userId: string, q: Queryable = this.db): Promise<number | undefined> {
    const r = await q.get<{ stream_id: number }>("SELECT stream_id FROM device_list_outbound WHERE user_id = ?", [userId]);
    return r ? Number(r.stream_id) : undefined;
  }

  async setOutboundStreamId(q: Queryable, userId: string, streamId: number): Promise<void> {
    await q.run(
      "INSERT INTO device_list_outbound (user_id, stream_id) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id",
      [userId, streamId],
    );
  }

  // ------------------------------------------------------------------ who shares rooms with whom

  /** Those of `candidates` joined to a room `userId` is joined to. */
  async sharingJoinedRoom(userId: string, candidates: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks([...new Set(candidates)])) {
      const rows = await this.db.all<{ state_key: string }>(
        `SELECT DISTINCT b.state_key FROM current_state a
         JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
         WHERE a.type = 'm.room.member' AND a.state_key = ? AND a.membership = 'join' AND b.state_key IN (${placeholders(part.length)})`,
        [userId, ...part],
      );
      for (const r of rows) out.add(r.state_key);
    }
    return out;
  }

  /** Rooms a user (local or remote) is joined to, from current state. */
  async joinedRooms(userId: string): Promise<string[]> {
    const rows = await this.db.all<{ room_id: string }>(
      "SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = ? AND membership = 'join'",
      [userId],
    );
    return rows.map((r) => r.room_id);
  }

  /** Whether a (remote) user is joined to a room that a local user is joined to. */
  async sharesRoomWithLocalUser(userId: string): Promise<boolean> {
    const r = await this.db.get(
      `SELECT 1 AS x FROM current_state cs JOIN local_memberships lm ON lm.room_id = cs.room_id AND lm.membership = 'join'
       WHERE cs.type = 'm.room.member' AND cs.state_key = ? AND cs.membership = 'join' LIMIT 1`,
      [userId],
    );
    return r !== undefined;
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const rows = await this.db.all<{ state_key: string }>(
      "SELECT state_key FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND membership = 'join'",
      [roomId],
    );
    return rows.map((r) => r.state_key);
  }

  /** Current memberships of these users in one room. */
  async memberships(roomId: string, userIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const part of chunks([...new Set(userIds)])) {
      const rows = await this.db.all<{ state_key: string; membership: string }>(
        `SELECT state_key, membership FROM current_state WHERE room_id = ? AND type = 'm.room.member' AND state_key IN (${placeholders(part.length)})`,
        [roomId, ...part],
      );
      for (const r of rows) out.set(r.state_key, r.membership);
    }
    return out;
  }

  /** Accepted membership events persisted in (from, to] in rooms a local user is (or was) in: (room, member). */
  async memberEventsBetween(userId: string, fromExclusive: number, toInclusive: number): Promise<Array<{ room_id: string; state_key: string }>> {
    return this.db.all(
      `SELECT e.room_id, e.state_key FROM events e JOIN local_memberships lm ON lm.room_id = e.room_id AND lm.user_id = ?
       WHERE e.stream_ordering > ? AND e.stream_ordering <= ? AND e.type = 'm.room.member' AND e.state_key IS NOT NULL
         AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.soft_failed = 0`,
      [userId, fromExclusive, toInclusive],
    );
  }

  /** A local user's memberships (room, membership, stream position) from local_memberships. */
  async localMemberships(userId: string): Promise<Array<{ room_id: string; membership: string; stream_ordering: number }>> {
    const rows = await this.db.all<{ room_id: string; membership: string; stream_ordering: number }>(
      "SELECT room_id, membership, stream_ordering FROM local_memberships WHERE user_id = ?",
      [userId],
    );
    return rows.map((r) => ({ ...r, stream_ordering: Number(r.stream_ordering) }));
  }

  // ------------------------------------------------------------------ remote device list cache

  async remoteListStreamId(userId: string, q: Queryable = this.db): Promise<number | undefined> {
    const r = await q.get<{ stream_id: number }>("SELECT stream_id FROM remote_device_lists WHERE user_id = ?", [userId]);
    return r ? Number(r.stream_id) : undefined;
  }

  async remoteDevices(userIds: readonly string[]): Promise<Array<RemoteDeviceRow & { user_id: string }>> {
    const out: Array<RemoteDeviceRow & { user_id: string }> = [];
    for (const part of chunks([...new Set(userIds)])) {
      out.push(
        ...(await this.db.all<RemoteDeviceRow & { user_id: string }>(
          `SELECT user_id, device_id, display_name, keys_json FROM remote_devices WHERE user_id IN (${placeholders(part.length)})`,
          part,
        )),
      );
    }
    return out;
  }

  /** Replaces a remote user's cached device list and cross-signing keys with a full snapshot. */
  async replaceRemoteList(
    q: Queryable,
    userId: string,
    streamId: number,
    devices: ReadonlyArray<{ deviceId: string; displayName: string | null; keysJson: string | null }>,
    crossSigning: ReadonlyArray<{ type: string; publicKey: string; json: string }>,
  ): Promise<void> {
    await this.dropRemoteList(q, userId);
    for (const d of devices) {
      await q.run("INSERT INTO remote_devices (user_id, device_id, display_name, keys_json) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [userId, d.deviceId, d.displayName, d.keysJson]);
    }
    for (const k of crossSigning) await this.upsertCrossSigningKey(q, userId, k.type, k.publicKey, k.json);
    await q.run("INSERT INTO remote_device_lists (user_id, stream_id, updated_ts) VALUES (?, ?, ?)", [userId, streamId, Date.now()]);
  }

  async upsertRemoteDevice(q: Queryable, userId: string, deviceId: string, displayName: string | null, keysJson: string | null): Promise<void> {
    await q.run(
      `INSERT INTO remote_devices (user_id, device_id, display_name, keys_json) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, keys_json = excluded.keys_json`,
      [userId, deviceId, displayName, keysJson],
    );
  }

  async deleteRemoteDevice(q: Queryable, userId: string, deviceId: string): Promise<void> {
    await q.run("DELETE FROM remote_devices WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
  }

  async setRemoteListStreamId(q: Queryable, userId: string, streamId: number): Promise<void> {
    await q.run("UPDATE remote_device_lists SET stream_id = ?, updated_ts = ? WHERE user_id = ?", [streamId, Date.now(), userId]);
  }

  /** Forgets a remote user's cached device list (and cached cross-signing keys). */
  async dropRemoteList(q: Queryable, userId: string): Promise<void> {
    await q.run("DELETE FROM remote_device_lists WHERE user_id = ?", [userId]);
    await q.run("DELETE FROM remote_devices WHERE user_id = ?", [userId]);
    await q.run("DELETE FROM e2e_cross_signing_keys WHERE user_id = ?", [userId]);
  }

  /** Which of these users have a cached device list. */
  async cachedRemoteUsers(userIds: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks([...new Set(userIds)])) {
      const rows = await this.db.all<{ user_id: string }>(`SELECT user_id FROM remote_device_lists WHERE user_id IN (${placeholders(part.length)})`, part);
      for (const r of rows) out.add(r.user_id);
    }
    return out;
  }

  // ------------------------------------------------------------------ to-device inbox

  /** Records a sendToDevice transaction ID; false when it was already used. */
  async insertTxnId(q: Queryable, userId: string, deviceId: string, txnId: string, now: number): Promise<boolean> {
    return (await q.run("INSERT INTO device_txn_ids (user_id, device_id, txn_id, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [userId, deviceId, txnId, now])) === 1;
  }

  /** Records a federation to-device message ID; false when it was already received. */
  async insertFederationMessageId(q: Queryable, origin: string, messageId: string, now: number): Promise<boolean> {
    return (await q.run("INSERT INTO device_federation_inbox (origin, message_id, received_ts) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [origin, messageId, now])) === 1;
  }

  async expireIds(beforeTs: number): Promise<void> {
    await this.db.run("DELETE FROM device_txn_ids WHERE created_ts < ?", [beforeTs]);
    await this.db.run("DELETE FROM device_federation_inbox WHERE received_ts < ?", [beforeTs]);
  }

  async insertInbox(q: Queryable, stream: number, messages: readonly NewInboxMessage[]): Promise<void> {
    for (const m of messages) {
      await q.run(
        `INSERT INTO device_inbox (user_id, device_id, stream_id, sender, type, content) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, device_id, stream_id) DO UPDATE SET sender = excluded.sender, type = excluded.type, content = excluded.content`,
        [m.userId, m.deviceId, stream, m.sender, m.type, m.content],
      );
    }
  }

  /** Whether some messages were delivered in responses up to `since` (and so are now acknowledged). */
  async hasAcknowledged(userId: string, deviceId: string, since: number): Promise<boolean> {
    const r = await this.db.get("SELECT 1 AS x FROM device_inbox WHERE user_id = ? AND device_id = ? AND delivered_at IS NOT NULL AND delivered_at <= ? LIMIT 1", [userId, deviceId, since]);
    return r !== undefined;
  }

  /** Deletes the messages delivered in responses up to `since` (acknowledged by the client). */
  async ackInbox(userId: string, deviceId: string, since: number): Promise<number> {
    return this.db.run("DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND delivered_at IS NOT NULL AND delivered_at <= ?", [userId, deviceId, since]);
  }

  async pendingInbox(userId: string, deviceId: string, limit: number): Promise<InboxRow[]> {
    const rows = await this.db.all<InboxRow>(
      "SELECT stream_id, sender, type, content, delivered_at FROM device_inbox WHERE user_id = ? AND device_id = ? ORDER BY stream_id LIMIT ?",
      [userId, deviceId, limit],
    );
    return rows.map((r) => ({ ...r, stream_id: Number(r.stream_id), delivered_at: r.delivered_at === null ? null : Number(r.delivered_at) }));
  }

  /** Stamps messages with the position of the response that first carried them. */
  async markDelivered(userId: string, deviceId: string, streamIds: readonly number[], at: number): Promise<void> {
    for (const part of chunks(streamIds)) {
      await this.db.run(
        `UPDATE device_inbox SET delivered_at = ? WHERE user_id = ? AND device_id = ? AND delivered_at IS NULL AND stream_id IN (${placeholders(part.length)})`,
        [at, userId, deviceId, ...part],
      );
    }
  }

  /** Messages of a device after a stream position, oldest first (dehydrated devices page through these). */
  async inboxAfter(userId: string, deviceId: string, after: number, limit: number): Promise<InboxRow[]> {
    const rows = await this.db.all<InboxRow>(
      "SELECT stream_id, sender, type, content, delivered_at FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id > ? ORDER BY stream_id LIMIT ?",
      [userId, deviceId, after, limit],
    );
    return rows.map((r) => ({ ...r, stream_id: Number(r.stream_id), delivered_at: r.delivered_at === null ? null : Number(r.delivered_at) }));
  }

  /** Deletes a device's messages up to a stream position (those a dehydrated device's reader has). */
  async deleteInboxUpTo(userId: string, deviceId: string, upTo: number): Promise<number> {
    return this.db.run("DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?", [userId, deviceId, upTo]);
  }

  // ------------------------------------------------------------------ dehydrated devices (MSC3814)

  /** The user's dehydrated device, when it still exists as a device. */
  async dehydratedDevice(userId: string, q: Queryable = this.db): Promise<{ deviceId: string; deviceData: string } | undefined> {
    const r = await q.get<{ device_id: string; device_data: string }>(
      `SELECT d.device_id, d.device_data FROM dehydrated_devices d
       JOIN devices v ON v.user_id = d.user_id AND v.device_id = d.device_id WHERE d.user_id = ?`,
      [userId],
    );
    return r && { deviceId: r.device_id, deviceData: r.device_data };
  }

  /** Records the user's dehydrated device, replacing the previous one; returns the previous device ID. */
  async setDehydratedDevice(q: Queryable, userId: string, deviceId: string, deviceData: string, now: number): Promise<string | undefined> {
    const old = await q.get<{ device_id: string }>("SELECT device_id FROM dehydrated_devices WHERE user_id = ?", [userId]);
    await q.run(
      `INSERT INTO dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data, created_ts = excluded.created_ts`,
      [userId, deviceId, deviceData, now],
    );
    return old?.device_id;
  }

  /** Forgets the dehydrated device record when it is one of these devices. */
  async forgetDehydratedDevice(userId: string, deviceIds: readonly string[]): Promise<void> {
    for (const part of chunks(deviceIds)) {
      await this.db.run(`DELETE FROM dehydrated_devices WHERE user_id = ? AND device_id IN (${placeholders(part.length)})`, [userId, ...part]);
    }
  }

  // ------------------------------------------------------------------ key backup

  async backupVersion(userId: string, version: number | undefined, q: Queryable = this.db): Promise<BackupVersionRow | undefined> {
    const r =
      version === undefined
        ? await q.get<BackupVersionRow>(
            "SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_keys_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1",
            [userId],
          )
        : await q.get<BackupVersionRow>("SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_keys_versions WHERE user_id = ? AND version = ?", [userId, version]);
    return r ? { ...r, version: Number(r.version), etag: Number(r.etag), deleted: Number(r.deleted) } : undefined;
  }

  async createBackupVersion(userId: string, algorithm: string, authData: string): Promise<number> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<{ m: number | null }>("SELECT MAX(version) AS m FROM e2e_room_keys_versions WHERE user_id = ?", [userId]);
      const version = Number(r?.m ?? 0) + 1;
      await tx.run("INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data, etag, deleted) VALUES (?, ?, ?, ?, 0, 0)", [userId, version, algorithm, authData]);
      return version;
    });
  }

  async updateBackupAuthData(userId: string, version: number, authData: string): Promise<void> {
    await this.db.run("UPDATE e2e_room_keys_versions SET auth_data = ? WHERE user_id = ? AND version = ?", [authData, userId, version]);
  }

  async deleteBackupVersion(userId: string, version: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run("UPDATE e2e_room_keys_versions SET deleted = 1 WHERE user_id = ? AND version = ?", [userId, version]);
      await tx.run("DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?", [userId, version]);
    });
  }

  async deleteAllBackups(q: Queryable, userId: string): Promise<void> {
    await q.run("UPDATE e2e_room_keys_versions SET deleted = 1 WHERE user_id = ?", [userId]);
    await q.run("DELETE FROM e2e_room_keys WHERE user_id = ?", [userId]);
  }

  async countBackupKeys(userId: string, version: number, q: Queryable = this.db): Promise<number> {
    const r = await q.get<{ n: number }>("SELECT COUNT(*) AS n FROM e2e_room_keys WHERE user_id = ? AND version = ?", [userId, version]);
    return Number(r?.n ?? 0);
  }

  async bumpBackupEtag(q: Queryable, userId: string, version: number): Promise<void> {
    await q.run("UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?", [userId, version]);
  }

  async findBackupKey(q: Queryable, userId: string, version: number, roomId: string, sessionId: string): Promise<BackupKeyRow | undefined> {
    const r = await q.get<BackupKeyRow>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
       WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`,
      [userId, version, roomId, sessionId],
    );
    return r ? normaliseBackupKey(r) : undefined;
  }

  async upsertBackupKey(q: Queryable, userId: string, version: number, k: BackupKeyRow): Promise<void> {
    await q.run(
      `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET first_message_index = excluded.first_message_index,
         forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified, session_data = excluded.session_data`,
      [userId, version, k.room_id, k.session_id, k.first_message_index, k.forwarded_count, k.is_verified, k.session_data],
    );
  }

  async listBackupKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackupKeyRow[]> {
    const { where, params } = backupKeysWhere(userId, version, roomId, sessionId);
    const sql = `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys WHERE ${where}`;
    return (await this.db.all<BackupKeyRow>(`${sql} ORDER BY room_id, session_id`, params)).map(normaliseBackupKey);
  }

  async deleteBackupKeys(q: Queryable, userId: string, version: number, roomId?: string, sessionId?: string): Promise<number> {
    const { where, params } = backupKeysWhere(userId, version, roomId, sessionId);
    return q.run(`DELETE FROM e2e_room_keys WHERE ${where}`, params);
  }
}

/** The backup keys of one backup version, optionally of one room and one session. */
function backupKeysWhere(userId: string, version: number, roomId?: string, sessionId?: string): { where: string; params: (string | number)[] } {
  let where = "user_id = ? AND version = ?";
  const params: (string | number)[] = [userId, version];
  if (roomId !== undefined) {
    where += " AND room_id = ?";
    params.push(roomId);
  }
  if (sessionId !== undefined) {
    where += " AND session_id = ?";
    params.push(sessionId);
  }
  return { where, params };
}

function normaliseBackupKey(r: BackupKeyRow): BackupKeyRow {
  return { ...r, first_message_index: Number(r.first_message_index), forwarded_count: Number(r.forwarded_count), is_verified: Number(r.is_verified) };
}
