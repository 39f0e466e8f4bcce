// SQL for the media repository (sql/0009_media.sql): media rows, their thumbnails and the URL
// preview cache. Files on disk are the service's business; this only knows their sha256 names.
import { Semaphore } from "../../util/mutex.ts";
import type { Db, Queryable, SqlParam } from "../engines/db.ts";

export interface MediaRecord {
  origin: string;
  mediaId: string;
  userId: string | null;
  contentType: string | null;
  uploadName: string | null;
  /** Null while an async upload has not arrived. */
  sha256: string | null;
  size: number | null;
  createdTs: number;
  unusedExpiresTs: number | null;
  lastAccessTs: number;
  authenticated: boolean;
  quarantinedBy: string | null;
  protected: boolean;
  urlPreview: boolean;
}

export interface ThumbnailRecord {
  origin: string;
  mediaId: string;
  reqWidth: number;
  reqHeight: number;
  method: "crop" | "scale";
  animated: boolean;
  width: number;
  height: number;
  contentType: string;
  sha256: string;
  size: number;
  createdTs: number;
}

interface MediaRow {
  origin: string;
  media_id: string;
  user_id: string | null;
  content_type: string | null;
  upload_name: string | null;
  sha256: string | null;
  size: number | null;
  created_ts: number;
  unused_expires_ts: number | null;
  last_access_ts: number;
  authenticated: number;
  quarantined_by: string | null;
  protected: number;
  url_preview: number;
}

interface ThumbRow {
  origin: string;
  media_id: string;
  req_width: number;
  req_height: number;
  method: string;
  animated: number;
  width: number;
  height: number;
  content_type: string;
  sha256: string;
  size: number;
  created_ts: number;
}

const MEDIA_COLS =
  "origin, media_id, user_id, content_type, upload_name, sha256, size, created_ts, unused_expires_ts, last_access_ts, authenticated, quarantined_by, protected, url_preview";
const THUMB_COLS = "origin, media_id, req_width, req_height, method, animated, width, height, content_type, sha256, size, created_ts";

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toMedia(r: MediaRow): MediaRecord {
  return {
    origin: r.origin,
    mediaId: r.media_id,
    userId: r.user_id,
    contentType: r.content_type,
    uploadName: r.upload_name,
    sha256: r.sha256,
    size: numOrNull(r.size),
    createdTs: num(r.created_ts),
    unusedExpiresTs: numOrNull(r.unused_expires_ts),
    lastAccessTs: num(r.last_access_ts),
    authenticated: num(r.authenticated) === 1,
    quarantinedBy: r.quarantined_by,
    protected: num(r.protected) === 1,
    urlPreview: num(r.url_preview) === 1,
  };
}

function toThumb(r: ThumbRow): ThumbnailRecord {
  return {
    origin: r.origin,
    mediaId: r.media_id,
    reqWidth: num(r.req_width),
    reqHeight: num(r.req_height),
    method: r.method === "crop" ? "crop" : "scale",
    animated: num(r.animated) === 1,
    width: num(r.width),
    height: num(r.height),
    contentType: r.content_type,
    sha256: r.sha256,
    size: num(r.size),
    createdTs: num(r.created_ts),
  };
}

export type MediaKey = { origin: string; mediaId: string };

/** Which media a bulk deletion looks at. */
export interface MediaSelection {
  /** Local media (origin = ours) or the cache of remote media. */
  scope: "local" | "remote";
  serverName: string;
  /** Last accessed (local: also created) before this time, in ms. */
  beforeTs: number;
  /** Only files larger than this many bytes. */
  sizeGt?: number;
  /** Keep media that is protected from quarantine (Synapse keeps it too). */
  keepProtected?: boolean;
  /** Keep media used as a user's avatar (Synapse's keep_profiles). */
  keepProfiles?: boolean;
}

export type UserMediaOrder = "media_id" | "upload_name" | "created_ts" | "last_access_ts" | "media_length" | "media_type" | "quarantined_by" | "safe_from_quarantine";

const ORDER_COLUMN: Record<UserMediaOrder, string> = {
  media_id: "media_id",
  upload_name: "upload_name",
  created_ts: "created_ts",
  last_access_ts: "last_access_ts",
  media_length: "size",
  media_type: "content_type",
  quarantined_by: "quarantined_by",
  safe_from_quarantine: "protected",
};

export interface UserUsage {
  userId: string;
  mediaCount: number;
  mediaLength: number;
}

/** An mxc:// URI inside event JSON: server name (host, IPv6 literal, port) and media ID. */
const MXC_IN_JSON = /mxc:\/\/([A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)\/([A-Za-z0-9_\-]+)/g;

/** 'medi': the first key of media content advisory locks. */
const MEDIA_LOCK_CLASS = 0x6d656469;

export class MediaRepo {
  constructor(private readonly db: Db) {}

  /**
   * Runs fn while holding, across every process sharing the database, the lock of one content
   * hash (PostgreSQL: a transaction-scoped advisory lock, in its own key space (two int4 keys, the
   * first 'medi'); SQLite: one process, fn alone). Placing a file and naming it in a row, and
   * removing an unnamed file, hold it, so that a process never removes the file another is naming.
   * The lock holds a pool connection while fn runs queries on others: at most `holders` at once.
   */
  withContentLock<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    if (this.db.dialect !== "postgres") return fn();
    return this.contentLocks.run(() =>
      this.db.transaction(async (tx) => {
        await tx.get("SELECT pg_advisory_xact_lock(?, ?) AS locked", [MEDIA_LOCK_CLASS, Number.parseInt(sha256.slice(0, 8), 16) | 0]);
        return fn();
      }),
    );
  }
  private readonly contentLocks = new Semaphore(2);

  // ---- media rows

  /** False when the (origin, media_id) already exists. */
  async insert(m: MediaRecord, q: Queryable = this.db): Promise<boolean> {
    const n = await q.run(
      `INSERT INTO media (${MEDIA_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin, media_id) DO NOTHING`,
      [
        m.origin,
        m.mediaId,
        m.userId,
        m.contentType,
        m.uploadName,
        m.sha256,
        m.size,
        m.createdTs,
        m.unusedExpiresTs,
        m.lastAccessTs,
        m.authenticated ? 1 : 0,
        m.quarantinedBy,
        m.protected ? 1 : 0,
        m.urlPreview ? 1 : 0,
      ],
    );
    return n === 1;
  }

  /** Inserts a remote media row, or replaces the content of one (a re-fetch after its file went). */
  async upsertRemote(m: MediaRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO media (${MEDIA_COLS}) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, 0, 0)
       ON CONFLICT (origin, media_id) DO UPDATE SET content_type = excluded.content_type, upload_name = excluded.upload_name,
         sha256 = excluded.sha256, size = excluded.size, created_ts = excluded.created_ts, last_access_ts = excluded.last_access_ts,
         authenticated = excluded.authenticated`,
      [m.origin, m.mediaId, m.contentType, m.uploadName, m.sha256, m.size, m.createdTs, m.lastAccessTs, m.authenticated ? 1 : 0],
    );
  }

  async find(origin: string, mediaId: string, q: Queryable = this.db): Promise<MediaRecord | undefined> {
    const r = await q.get<MediaRow>(`SELECT ${MEDIA_COLS} FROM media WHERE origin = ? AND media_id = ?`, [origin, mediaId]);
    return r && toMedia(r);
  }

  /**
   * Fills in the content of a reserved (async) media ID: 1 when done, 0 when the ID already had
   * content (or does not exist). Atomic, so two concurrent uploads cannot both succeed.
   */
  async setContent(origin: string, mediaId: string, c: { sha256: string; size: number; contentType: string | null; uploadName: string | null; now: number }): Promise<number> {
    return this.db.run(
      `UPDATE media SET sha256 = ?, size = ?, content_type = ?, upload_name = ?, unused_expires_ts = NULL, last_access_ts = ?
       WHERE origin = ? AND media_id = ? AND sha256 IS NULL`,
      [c.sha256, c.size, c.contentType, c.uploadName, c.now, origin, mediaId],
    );
  }

  async touch(origin: string, mediaId: string, now: number): Promise<void> {
    await this.db.run("UPDATE media SET last_access_ts = ? WHERE origin = ? AND media_id = ?", [now, origin, mediaId]);
  }

  /** Reserved IDs of a user that have neither content nor expired at `now`. */
  async countPending(userId: string, now: number): Promise<{ count: number; firstExpiry: number | null }> {
    const r = await this.db.get<{ n: number; first: number | null }>(
      "SELECT COUNT(*) AS n, MIN(unused_expires_ts) AS first FROM media WHERE user_id = ? AND sha256 IS NULL AND unused_expires_ts > ?",
      [userId, now],
    );
    return { count: num(r?.n ?? 0), firstExpiry: numOrNull(r?.first) };
  }

  /** Deletes reserved IDs whose time ran out without content; returns how many. */
  async deleteExpiredPending(now: number): Promise<number> {
    return this.db.run("DELETE FROM media WHERE sha256 IS NULL AND unused_expires_ts IS NOT NULL AND unused_expires_ts <= ?", [now]);
  }

  /**
   * Deletes media rows and their thumbnails; returns the keys deleted and every sha256 they named
   * (the caller removes the files no other row names any more).
   */
  async deleteMany(keys: readonly MediaKey[]): Promise<{ deleted: MediaKey[]; hashes: string[] }> {
    const deleted: MediaKey[] = [];
    const hashes = new Set<string>();
    // In batches: one transaction each, so a large purge does not hold the SQLite writer long.
    for (let i = 0; i < keys.length; i += 100) {
      const batch = keys.slice(i, i + 100);
      await this.db.transaction(async (tx) => {
        for (const k of batch) {
          const thumbs = await tx.all<{ sha256: string }>("SELECT sha256 FROM media_thumbnails WHERE origin = ? AND media_id = ?", [k.origin, k.mediaId]);
          for (const t of thumbs) hashes.add(t.sha256);
          await tx.run("DELETE FROM media_thumbnails WHERE origin = ? AND media_id = ?", [k.origin, k.mediaId]);
          const row = await tx.get<{ sha256: string | null }>("SELECT sha256 FROM media WHERE origin = ? AND media_id = ?", [k.origin, k.mediaId]);
          if (!row) continue;
          if (row.sha256) hashes.add(row.sha256);
          await tx.run("DELETE FROM media WHERE origin = ? AND media_id = ?", [k.origin, k.mediaId]);
          deleted.push(k);
        }
      });
    }
    return { deleted, hashes: [...hashes] };
  }

  /** How many media and thumbnail rows name this file. */
  async countRefs(sha256: string): Promise<number> {
    const a = await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM media WHERE sha256 = ?", [sha256]);
    const b = await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM media_thumbnails WHERE sha256 = ?", [sha256]);
    return num(a?.n ?? 0) + num(b?.n ?? 0);
  }

  /** Media matching a bulk-deletion selection (keys only). */
  async select(sel: MediaSelection): Promise<MediaKey[]> {
    const where: string[] = [sel.scope === "local" ? "origin = ?" : "origin <> ?", "sha256 IS NOT NULL"];
    const params: SqlParam[] = [sel.serverName];
    if (sel.scope === "local") {
      where.push("created_ts < ?", "last_access_ts < ?");
      params.push(sel.beforeTs, sel.beforeTs);
    } else {
      where.push("last_access_ts < ?");
      params.push(sel.beforeTs);
    }
    if (sel.sizeGt !== undefined) {
      where.push("size > ?");
      params.push(sel.sizeGt);
    }
    if (sel.keepProtected) where.push("protected = 0");
    if (sel.keepProfiles) {
      // Profile values are stored as JSON text: an avatar is the quoted mxc:// URI.
      where.push(`NOT EXISTS (SELECT 1 FROM profiles p WHERE p.field = 'avatar_url' AND p.value = '"mxc://' || media.origin || '/' || media.media_id || '"')`);
    }
    const rows = await this.db.all<{ origin: string; media_id: string }>(`SELECT origin, media_id FROM media WHERE ${where.join(" AND ")}`, params);
    return rows.map((r) => ({ origin: r.origin, mediaId: r.media_id }));
  }

  /** A user's uploads, paginated like Synapse's admin API. */
  async listByUser(
    userId: string,
    opts: { from: number; limit: number; orderBy: UserMediaOrder; dir: "f" | "b" },
  ): Promise<{ media: MediaRecord[]; total: number }> {
    const col = ORDER_COLUMN[opts.orderBy];
    const dir = opts.dir === "b" ? "DESC" : "ASC";
    const rows = await this.db.all<MediaRow>(
      `SELECT ${MEDIA_COLS} FROM media WHERE user_id = ? ORDER BY ${col} ${dir}, media_id ${dir} LIMIT ? OFFSET ?`,
      [userId, opts.limit, opts.from],
    );
    const t = await this.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM media WHERE user_id = ?", [userId]);
    return { media: rows.map(toMedia), total: num(t?.n ?? 0) };
  }

  async keysByUser(userId: string): Promise<MediaKey[]> {
    const rows = await this.db.all<{ origin: string; media_id: string }>("SELECT origin, media_id FROM media WHERE user_id = ?", [userId]);
    return rows.map((r) => ({ origin: r.origin, mediaId: r.media_id }));
  }

  /** Sets or clears quarantine; protected media is left alone unless `force`. Returns rows changed. */
  async setQuarantine(origin: string, mediaId: string, by: string | null): Promise<number> {
    if (by === null) return this.db.run("UPDATE media SET quarantined_by = NULL WHERE origin = ? AND media_id = ?", [origin, mediaId]);
    return this.db.run("UPDATE media SET quarantined_by = ? WHERE origin = ? AND media_id = ? AND protected = 0", [by, origin, mediaId]);
  }

  /**
   * The media a room's events refer to (mxc:// URIs anywhere in their JSON, redacted events
   * included), read in batches of 500 events so a large room is never loaded whole.
   */
  async mxcsInRoom(roomId: string): Promise<MediaKey[]> {
    const found = new Map<string, MediaKey>();
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = await this.db.all<{ stream_ordering: number; json: string }>(
        "SELECT stream_ordering, json FROM events WHERE room_id = ? AND stream_ordering > ? AND json LIKE '%mxc://%' ORDER BY stream_ordering LIMIT 500",
        [roomId, after],
      );
      for (const r of rows) {
        for (const m of r.json.matchAll(MXC_IN_JSON)) found.set(`${m[1]}/${m[2]}`, { origin: m[1]!, mediaId: m[2]! });
      }
      if (rows.length < 500) return [...found.values()];
      after = Number(rows[rows.length - 1]!.stream_ordering);
    }
  }

  /** Quarantines these media items (protected ones excepted); returns how many were newly quarantined. */
  async quarantineMany(keys: readonly MediaKey[], by: string): Promise<number> {
    let n = 0;
    for (const k of keys) {
      n += await this.db.run("UPDATE media SET quarantined_by = ? WHERE origin = ? AND media_id = ? AND protected = 0 AND quarantined_by IS NULL", [by, k.origin, k.mediaId]);
    }
    return n;
  }

  async quarantineUser(userId: string, by: string): Promise<number> {
    return this.db.run("UPDATE media SET quarantined_by = ? WHERE user_id = ? AND protected = 0 AND quarantined_by IS NULL", [by, userId]);
  }

  async setProtected(origin: string, mediaId: string, value: boolean): Promise<number> {
    return this.db.run("UPDATE media SET protected = ? WHERE origin = ? AND media_id = ?", [value ? 1 : 0, origin, mediaId]);
  }

  /** Bytes of content a user has uploaded (what counts against max_storage_per_user). */
  async bytesOfUser(userId: string): Promise<number> {
    return Number((await this.db.get<{ n: number | null }>("SELECT SUM(size) AS n FROM media WHERE user_id = ? AND url_preview = 0", [userId]))?.n ?? 0);
  }

  /** Space used per local user (uploaded content only), largest first or by user ID. */
  async usageByUser(opts: { from: number; limit: number; orderBy: "media_length" | "media_count" | "user_id"; dir: "f" | "b" }): Promise<{ users: UserUsage[]; total: number }> {
    const col = opts.orderBy === "user_id" ? "user_id" : opts.orderBy === "media_count" ? "media_count" : "media_length";
    const dir = opts.dir === "b" ? "DESC" : "ASC";
    const rows = await this.db.all<{ user_id: string; media_count: number; media_length: number }>(
      `SELECT user_id, COUNT(*) AS media_count, COALESCE(SUM(size), 0) AS media_length FROM media
       WHERE user_id IS NOT NULL AND sha256 IS NOT NULL GROUP BY user_id ORDER BY ${col} ${dir}, user_id ASC LIMIT ? OFFSET ?`,
      [opts.limit, opts.from],
    );
    const t = await this.db.get<{ n: number }>("SELECT COUNT(DISTINCT user_id) AS n FROM media WHERE user_id IS NOT NULL AND sha256 IS NOT NULL");
    return {
      users: rows.map((r) => ({ userId: r.user_id, mediaCount: num(r.media_count), mediaLength: num(r.media_length) })),
      total: num(t?.n ?? 0),
    };
  }

  // ---- thumbnails

  async listThumbnails(origin: string, mediaId: string): Promise<ThumbnailRecord[]> {
    const rows = await this.db.all<ThumbRow>(`SELECT ${THUMB_COLS} FROM media_thumbnails WHERE origin = ? AND media_id = ?`, [origin, mediaId]);
    return rows.map(toThumb);
  }

  /** Stores a thumbnail; returns the sha256 of the one it replaced, if any (its file may be unused now). */
  async upsertThumbnail(t: ThumbnailRecord): Promise<string | undefined> {
    return this.db.transaction(async (tx) => {
      const old = await tx.get<{ sha256: string }>(
        "SELECT sha256 FROM media_thumbnails WHERE origin = ? AND media_id = ? AND req_width = ? AND req_height = ? AND method = ? AND animated = ?",
        [t.origin, t.mediaId, t.reqWidth, t.reqHeight, t.method, t.animated ? 1 : 0],
      );
      await tx.run(
        `INSERT INTO media_thumbnails (${THUMB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (origin, media_id, req_width, req_height, method, animated) DO UPDATE SET width = excluded.width,
           height = excluded.height, content_type = excluded.content_type, sha256 = excluded.sha256, size = excluded.size,
           created_ts = excluded.created_ts`,
        [t.origin, t.mediaId, t.reqWidth, t.reqHeight, t.method, t.animated ? 1 : 0, t.width, t.height, t.contentType, t.sha256, t.size, t.createdTs],
      );
      return old && old.sha256 !== t.sha256 ? old.sha256 : undefined;
    });
  }

  // ---- URL previews

  async findPreview(url: string): Promise<{ fetchedTs: number; expiresTs: number; response: string } | undefined> {
    const r = await this.db.get<{ fetched_ts: number; expires_ts: number; response: string }>(
      "SELECT fetched_ts, expires_ts, response FROM url_previews WHERE url = ?",
      [url],
    );
    return r && { fetchedTs: num(r.fetched_ts), expiresTs: num(r.expires_ts), response: r.response };
  }

  async upsertPreview(url: string, fetchedTs: number, expiresTs: number, response: string): Promise<void> {
    await this.db.run(
      `INSERT INTO url_previews (url, fetched_ts, expires_ts, response) VALUES (?, ?, ?, ?)
       ON CONFLICT (url) DO UPDATE SET fetched_ts = excluded.fetched_ts, expires_ts = excluded.expires_ts, response = excluded.response`,
      [url, fetchedTs, expiresTs, response],
    );
  }

  async deleteExpiredPreviews(now: number): Promise<number> {
    return this.db.run("DELETE FROM url_previews WHERE expires_ts <= ?", [now]);
  }
}
