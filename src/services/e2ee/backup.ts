// Server-side key backups (spec: client-server-api end_to_end_encryption.md "Server-side key
// backups"; key_backup.yaml). Versions are numbered per user (1, 2, ...; a deleted version's number
// is never reused); keys can only be written to the current (latest undeleted) version, anything
// else is 403 M_WRONG_ROOM_KEYS_VERSION with `current_version`. A key replaces the stored one per
// the spec's order (backupKeyReplaces); the etag changes whenever the stored keys change.
import { backupKeyReplaces, checkBackupKeyData, isBackupProblem, isJsonRecord, type BackupKeyData, type JsonRecord } from "../../core/e2ee-keys.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import type { BackupKeyRow, BackupVersionRow, E2eeRepo } from "../../storage/repos/e2ee.ts";
import { KeyedMutex } from "../../util/mutex.ts";

export interface BackupInfo {
  algorithm: string;
  /** An object for m.megolm_backup.v1.curve25519-aes-sha2; as given for other algorithms. */
  auth_data: unknown;
  count: number;
  etag: string;
  version: string;
}

export interface RoomKeysUpdate {
  etag: string;
  count: number;
}

const unknownVersion = () => new MatrixError("M_NOT_FOUND", "Unknown backup version");

/** A version path or query parameter: a positive decimal integer (anything else names no backup). */
function parseVersion(v: string): number | undefined {
  return /^[1-9][0-9]{0,14}$/.test(v) ? Number(v) : undefined;
}

export class KeyBackup {
  /** Writes of one user's backups run one at a time (compare-then-replace per key). */
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly transaction: Transaction,
    private readonly repo: E2eeRepo,
  ) {}

  // ------------------------------------------------------------------ versions

  /** POST /room_keys/version. */
  async createVersion(userId: string, body: JsonRecord): Promise<{ version: string }> {
    const { algorithm, authData } = checkVersionBody(body);
    const version = await this.locks.run(userId, () => this.repo.createBackupVersion(userId, algorithm, JSON.stringify(authData)));
    return { version: String(version) };
  }

  /** GET /room_keys/version and /room_keys/version/{version}. */
  async getVersion(userId: string, version?: string): Promise<BackupInfo> {
    let row: BackupVersionRow | undefined;
    if (version === undefined) {
      row = await this.repo.backupVersion(userId, undefined);
      if (!row) throw new MatrixError("M_NOT_FOUND", "No current backup version");
    } else {
      const v = parseVersion(version);
      row = v === undefined ? undefined : await this.repo.backupVersion(userId, v);
      if (!row || row.deleted) throw unknownVersion();
    }
    return {
      algorithm: row.algorithm,
      auth_data: JSON.parse(row.auth_data) as unknown,
      count: await this.repo.countBackupKeys(userId, row.version),
      etag: String(row.etag),
      version: String(row.version),
    };
  }

  /** PUT /room_keys/version/{version}: only auth_data may change. */
  async updateVersion(userId: string, version: string, body: JsonRecord): Promise<void> {
    const { algorithm, authData } = checkVersionBody(body);
    if (body.version !== undefined && body.version !== version) {
      throw new MatrixError("M_INVALID_PARAM", "'version' in the body does not match the version in the path");
    }
    const v = parseVersion(version);
    await this.locks.run(userId, async () => {
      const row = v === undefined ? undefined : await this.repo.backupVersion(userId, v);
      if (!row || row.deleted) throw unknownVersion();
      if (row.algorithm !== algorithm) throw new MatrixError("M_INVALID_PARAM", "Algorithm does not match");
      await this.repo.updateBackupAuthData(userId, row.version, JSON.stringify(authData));
    });
  }

  /** DELETE /room_keys/version/{version}: the version and its keys (a second delete succeeds too). */
  async deleteVersion(userId: string, version: string): Promise<void> {
    const v = parseVersion(version);
    await this.locks.run(userId, async () => {
      const row = v === undefined ? undefined : await this.repo.backupVersion(userId, v);
      if (!row) throw unknownVersion();
      if (!row.deleted) await this.repo.deleteBackupVersion(userId, row.version);
    });
  }

  // ------------------------------------------------------------------ keys

  /**
   * PUT /room_keys/keys[/{roomId}[/{sessionId}]]: `rooms` maps room ID → session ID → key data.
   * Only the current version takes keys.
   */
  async putKeys(userId: string, version: string | null, rooms: Map<string, Map<string, unknown>>): Promise<RoomKeysUpdate> {
    if (version === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'version' query parameter");
    const keys: Array<{ roomId: string; sessionId: string; data: BackupKeyData }> = [];
    for (const [roomId, sessions] of rooms) {
      for (const [sessionId, raw] of sessions) {
        // session_data's shape depends on the version's algorithm: checked below, under the lock.
        const data = checkBackupKeyData(raw, `rooms.${roomId}.sessions.${sessionId}`, true);
        if (isBackupProblem(data)) throw new MatrixError(data.errcode, data.error);
        keys.push({ roomId, sessionId, data });
      }
    }
    return this.locks.run(userId, async () => {
      const current = await this.repo.backupVersion(userId, undefined);
      const v = parseVersion(version);
      if (!current) throw unknownVersion();
      if (v !== current.version) {
        throw new MatrixError("M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.", { current_version: String(current.version) }, 403);
      }
      if (current.algorithm === CURVE25519_BACKUP) {
        for (const k of keys) {
          const p = checkBackupKeyData(k.data, `rooms.${k.roomId}.sessions.${k.sessionId}`);
          if (isBackupProblem(p)) throw new MatrixError(p.errcode, p.error);
        }
      }
      await this.transaction(async (tx) => {
        let changed = false;
        for (const k of keys) {
          const stored = await this.repo.findBackupKey(tx, userId, current.version, k.roomId, k.sessionId);
          if (stored && !backupKeyReplaces({ ...stored, is_verified: stored.is_verified === 1 }, k.data)) continue;
          await this.repo.upsertBackupKey(tx, userId, current.version, {
            room_id: k.roomId,
            session_id: k.sessionId,
            first_message_index: k.data.first_message_index,
            forwarded_count: k.data.forwarded_count,
            is_verified: k.data.is_verified ? 1 : 0,
            session_data: JSON.stringify(k.data.session_data),
          });
          changed = true;
        }
        if (changed) await this.repo.bumpBackupEtag(tx, userId, current.version);
      });
      return this.update(userId, current.version);
    });
  }

  /** GET /room_keys/keys[/{roomId}[/{sessionId}]] from a version (current or not, but not deleted). */
  async getKeys(userId: string, version: string | null, roomId?: string, sessionId?: string): Promise<JsonRecord> {
    const row = await this.existingVersion(userId, version);
    const rows = await this.repo.listBackupKeys(userId, row.version, roomId, sessionId);
    if (sessionId !== undefined) {
      if (rows.length === 0) throw new MatrixError("M_NOT_FOUND", "No room key found for this session");
      return keyData(rows[0]!);
    }
    const rooms: Record<string, { sessions: Record<string, JsonRecord> }> = {};
    for (const r of rows) (rooms[r.room_id] ??= { sessions: {} }).sessions[r.session_id] = keyData(r);
    if (roomId !== undefined) return rooms[roomId] ?? { sessions: {} };
    return { rooms };
  }

  /** DELETE /room_keys/keys[/{roomId}[/{sessionId}]]. */
  async deleteKeys(userId: string, version: string | null, roomId?: string, sessionId?: string): Promise<RoomKeysUpdate> {
    return this.locks.run(userId, async () => {
      const row = await this.existingVersion(userId, version);
      await this.transaction(async (tx) => {
        if ((await this.repo.deleteBackupKeys(tx, userId, row.version, roomId, sessionId)) > 0) await this.repo.bumpBackupEtag(tx, userId, row.version);
      });
      return this.update(userId, row.version);
    });
  }

  private async existingVersion(userId: string, version: string | null): Promise<BackupVersionRow> {
    if (version === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'version' query parameter");
    const v = parseVersion(version);
    const row = v === undefined ? undefined : await this.repo.backupVersion(userId, v);
    if (!row || row.deleted) throw unknownVersion();
    return row;
  }

  private async update(userId: string, version: number): Promise<RoomKeysUpdate> {
    const row = await this.repo.backupVersion(userId, version);
    return { etag: String(row?.etag ?? 0), count: await this.repo.countBackupKeys(userId, version) };
  }
}

/** The backup algorithm the spec defines; its auth_data is an object (AuthData of key_backup.yaml). */
const CURVE25519_BACKUP = "m.megolm_backup.v1.curve25519-aes-sha2";

/**
 * `algorithm` and `auth_data` of a version body. The spec says auth_data "depends on the algorithm
 * used": for the algorithm it defines it must be an object; for any other it is kept as the
 * client sent it, of any JSON type (as Synapse does; SyTest sends a string).
 */
function checkVersionBody(body: JsonRecord): { algorithm: string; authData: unknown } {
  if (body.algorithm === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'algorithm'");
  if (typeof body.algorithm !== "string" || body.algorithm === "") throw new MatrixError("M_BAD_JSON", "'algorithm' must be a non-empty string");
  if (body.auth_data === undefined || body.auth_data === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'auth_data'");
  if (body.algorithm === CURVE25519_BACKUP && !isJsonRecord(body.auth_data)) throw new MatrixError("M_BAD_JSON", `'auth_data' must be an object for ${CURVE25519_BACKUP}`);
  return { algorithm: body.algorithm, authData: body.auth_data };
}

function keyData(r: BackupKeyRow): JsonRecord {
  return {
    first_message_index: r.first_message_index,
    forwarded_count: r.forwarded_count,
    is_verified: r.is_verified === 1,
    session_data: JSON.parse(r.session_data) as unknown,
  };
}
