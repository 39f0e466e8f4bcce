// The media repository (client-server-api "Content repository"): uploads (direct and async),
// downloads of local and remote media, thumbnails, and the retention and admin operations.
// Handlers give it streams and get back Blobs (files read lazily): it never sees HTTP.
import type { Config } from "../../config/schema.ts";
import { chooseRecommendedSize, fitsWithin, RECOMMENDED_THUMBNAIL_SIZES, type ThumbnailMethod, type ThumbnailSize } from "../../core/thumbnails.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { parseServerName } from "../../protocol/ids.ts";
import type { MediaKey, MediaRecord, MediaRepo, MediaSelection, ThumbnailRecord, UserMediaOrder } from "../../storage/repos/media.ts";

export type { MediaKey, MediaRecord, UserMediaOrder };
import { logger } from "../../util/log.ts";
import { Lru } from "../../util/lru.ts";
import { KeyedMutex } from "../../util/mutex.ts";
import { randomString } from "../../util/random.ts";
import { TooLargeError, type FileStore, type PendingFile } from "./file-store.ts";
import type { RemoteMediaFetcher } from "./remote.ts";
import { ImageTooLargeError, NotAnImageError, type ImageInfo, type Thumbnailer } from "./thumbnailer.ts";

const log = logger("media");

/** What a download serves. */
export interface MediaFile {
  /** The bytes, read lazily from disk. */
  content: Blob;
  size: number;
  /** Never empty: application/octet-stream when unknown. */
  contentType: string;
  uploadName: string | null;
  /** Names the content (an ETag). */
  sha256: string;
}

export interface ThumbnailResult extends MediaFile {
  /** "original": the image itself (smaller than asked, or thumbnails unavailable). */
  kind: "thumbnail" | "original";
}

export interface DownloadRequest {
  serverName: string;
  mediaId: string;
  /** False: do not fetch remote media not cached yet (legacy allow_remote=false). */
  allowRemote?: boolean;
  /** How long to wait for an async upload still to come (timeout_ms). */
  timeoutMs?: number;
  /** Through the deprecated unauthenticated endpoints (frozen by enable_authenticated_media). */
  legacy?: boolean;
}

export interface ThumbnailRequest extends DownloadRequest {
  width: number;
  height: number;
  method: ThumbnailMethod;
  /** true: animated if possible; false/undefined: never animated. */
  animated?: boolean;
}

export interface UploadRequest {
  userId: string;
  contentType: string | null;
  filename: string | null;
  body: ReadableStream<Uint8Array> | null;
  /** The declared Content-Length, when there is one (refused early when too large). */
  contentLength: number | null;
  /** Not held to [media] max_storage_per_user (server admins). */
  unlimited?: boolean;
}

/** Content types thumbnails are made of (sharp then checks the real format). */
const THUMBNAILABLE = new Set(["image/jpeg", "image/jpg", "image/png", "image/gif", "image/webp", "image/apng"]);
const MEDIA_ID_RE = /^[A-Za-z0-9_-]{1,255}$/;
const CONTENT_TYPE_RE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;.*)?$/;
const MAX_WAIT_MS = 60_000;
/** Last-access times are written at most this often per media (downloads stay read-only). */
const TOUCH_INTERVAL_MS = 10 * 60_000;

export const isValidMediaId = (id: string) => MEDIA_ID_RE.test(id);

/** The media type (lowercase, without parameters). */
export function baseType(contentType: string | null): string {
  return (contentType ?? "application/octet-stream").split(";")[0]!.trim().toLowerCase();
}

/** A Content-Type worth keeping: syntactically valid and without line breaks; otherwise null. */
export function normalizeContentType(ct: string | null | undefined): string | null {
  if (!ct) return null;
  const t = ct.trim();
  if (t.length > 255 || !CONTENT_TYPE_RE.test(t) || /[\r\n]/.test(t)) return null;
  return t;
}

export interface MediaServiceOptions {
  serverName: string;
  config: Config["media"];
  repo: MediaRepo;
  files: FileStore;
  thumbnailer: Thumbnailer;
  /** Undefined where remote media cannot be fetched (the command line). */
  remote?: RemoteMediaFetcher;
  now?: () => number;
}

export interface DeletionResult {
  deleted: MediaKey[];
  /** Files removed from disk (content no other media names). */
  filesRemoved: number;
}

export class MediaService {
  readonly serverName: string;
  readonly config: Config["media"];
  readonly repo: MediaRepo;
  readonly files: FileStore;
  readonly thumbnailer: Thumbnailer;
  readonly #remote: RemoteMediaFetcher | undefined;
  readonly #now: () => number;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #inflight = new Map<string, Promise<MediaRecord>>();
  readonly #thumbLocks = new KeyedMutex();
  readonly #probes = new Lru<string, ImageInfo | Error>(512, "media_probes");
  #pregen: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(o: MediaServiceOptions) {
    this.serverName = o.serverName;
    this.config = o.config;
    this.repo = o.repo;
    this.files = o.files;
    this.thumbnailer = o.thumbnailer;
    this.#remote = o.remote;
    this.#now = o.now ?? Date.now;
  }

  /** GET /media/config. */
  mediaConfig(): Record<string, unknown> {
    return { "m.upload.size": this.config.max_upload_size };
  }

  #tooLarge(): MatrixError {
    return new MatrixError("M_TOO_LARGE", `Cannot upload files larger than ${this.config.max_upload_size} bytes`);
  }

  /**
   * 403 M_USER_LIMIT_EXCEEDED (spec v1.18) when `bytes` more would take the user past
   * [media] max_storage_per_user, with the configured info_uri.
   */
  async #checkQuota(req: UploadRequest, bytes: number): Promise<void> {
    const limit = this.config.max_storage_per_user;
    if (limit <= 0 || req.unlimited) return;
    if ((await this.repo.bytesOfUser(req.userId)) + bytes > limit) {
      throw new MatrixError("M_USER_LIMIT_EXCEEDED", `This upload would exceed your storage quota of ${limit} bytes`, { info_uri: this.config.quota_info_uri, can_upgrade: false });
    }
  }

  async #receive(req: UploadRequest): Promise<PendingFile> {
    if (req.filename !== null && req.filename.length > 1024) throw new MatrixError("M_INVALID_PARAM", "filename is too long");
    if (req.contentLength !== null && req.contentLength > this.config.max_upload_size) {
      await req.body?.cancel().catch(() => {});
      throw this.#tooLarge();
    }
    try {
      await this.#checkQuota(req, req.contentLength ?? 0);
    } catch (e) {
      await req.body?.cancel().catch(() => {});
      throw e;
    }
    let pending: PendingFile;
    try {
      pending = await this.files.receive(req.body, this.config.max_upload_size);
    } catch (e) {
      if (e instanceof TooLargeError) throw this.#tooLarge();
      throw e;
    }
    // Without a Content-Length the size is known only now (with one, the check above counted it).
    if (req.contentLength === null || pending.size > req.contentLength) {
      try {
        await this.#checkQuota(req, pending.size);
      } catch (e) {
        await pending.discard();
        throw e;
      }
    }
    return pending;
  }

  /** POST /_matrix/media/v3/upload: stores the content, returns its mxc:// URI. */
  async upload(req: UploadRequest): Promise<string> {
    const pending = await this.#receive(req);
    const mediaId = await this.#storeLocal(pending, { userId: req.userId, contentType: req.contentType, uploadName: req.filename || null, urlPreview: false });
    return `mxc://${this.serverName}/${mediaId}`;
  }

  /** Places a received file and records it as new local media under a fresh media ID (returned). */
  async #storeLocal(pending: PendingFile, m: { userId: string | null; contentType: string | null; uploadName: string | null; urlPreview: boolean }): Promise<string> {
    const now = this.#now();
    const mediaId = randomString(24);
    await this.files.withLock(pending.sha256, async () => {
      await pending.place();
      await this.repo.insert({
        origin: this.serverName,
        mediaId,
        userId: m.userId,
        contentType: normalizeContentType(m.contentType),
        uploadName: m.uploadName,
        sha256: pending.sha256,
        size: pending.size,
        createdTs: now,
        unusedExpiresTs: null,
        lastAccessTs: now,
        authenticated: this.config.enable_authenticated_media,
        quarantinedBy: null,
        protected: false,
        urlPreview: m.urlPreview,
      });
    });
    this.#schedulePregeneration(this.serverName, mediaId);
    return mediaId;
  }

  /** Stores an image fetched by the URL previewer as local media; returns its media ID and file. */
  async storePreviewImage(body: ReadableStream<Uint8Array> | Iterable<Uint8Array>, contentType: string | null, maxBytes: number): Promise<{ mediaId: string; size: number; path: string }> {
    let pending: PendingFile;
    try {
      pending = await this.files.receive(body, maxBytes);
    } catch (e) {
      if (e instanceof TooLargeError) throw new MatrixError("M_TOO_LARGE", "Image too large");
      throw e;
    }
    const mediaId = await this.#storeLocal(pending, { userId: null, contentType, uploadName: null, urlPreview: true });
    return { mediaId, size: pending.size, path: this.files.pathOf(pending.sha256) };
  }

  /** POST /_matrix/media/v1/create: reserves a media ID for a later upload. */
  async create(userId: string): Promise<{ content_uri: string; unused_expires_at: number }> {
    const now = this.#now();
    const pending = await this.repo.countPending(userId, now);
    if (pending.count >= this.config.max_pending_uploads) {
      throw new MatrixError("M_LIMIT_EXCEEDED", "Too many pending media uploads", {
        retry_after_ms: Math.max(0, (pending.firstExpiry ?? now) - now),
      });
    }
    const mediaId = randomString(24);
    const expires = now + this.config.unused_expiration_time * 1000;
    await this.repo.insert({
      origin: this.serverName,
      mediaId,
      userId,
      contentType: null,
      uploadName: null,
      sha256: null,
      size: null,
      createdTs: now,
      unusedExpiresTs: expires,
      lastAccessTs: now,
      authenticated: this.config.enable_authenticated_media,
      quarantinedBy: null,
      protected: false,
      urlPreview: false,
    });
    return { content_uri: `mxc://${this.serverName}/${mediaId}`, unused_expires_at: expires };
  }

  /** PUT /_matrix/media/v3/upload/{serverName}/{mediaId}: the content of a reserved ID. */
  async uploadTo(req: UploadRequest & { serverName: string; mediaId: string }): Promise<void> {
    const unknown = () => new MatrixError("M_NOT_FOUND", "Unknown media ID");
    const check = (rec: MediaRecord | undefined): MediaRecord => {
      if (!rec || rec.userId === null) throw unknown();
      if (rec.userId !== req.userId) throw new MatrixError("M_FORBIDDEN", "This media ID was created by another user");
      if (rec.sha256 !== null) throw new MatrixError("M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
      if (rec.unusedExpiresTs !== null && rec.unusedExpiresTs <= this.#now()) throw unknown();
      return rec;
    };
    if (req.serverName !== this.serverName || !isValidMediaId(req.mediaId)) {
      await req.body?.cancel().catch(() => {});
      throw unknown();
    }
    try {
      check(await this.repo.find(this.serverName, req.mediaId));
    } catch (e) {
      await req.body?.cancel().catch(() => {});
      throw e;
    }
    const pending = await this.#receive(req);
    let stored = 0;
    await this.files.withLock(pending.sha256, async () => {
      await pending.place();
      stored = await this.repo.setContent(this.serverName, req.mediaId, {
        sha256: pending.sha256,
        size: pending.size,
        contentType: normalizeContentType(req.contentType),
        uploadName: req.filename || null,
        now: this.#now(),
      });
    });
    if (stored === 0) {
      // Someone else's upload won, or the ID expired meanwhile: this content is not kept.
      await this.#removeUnused([pending.sha256]);
      check(await this.repo.find(this.serverName, req.mediaId));
      throw unknown();
    }
    const key = `${this.serverName}/${req.mediaId}`;
    for (const wake of this.#waiters.get(key) ?? []) wake();
    this.#waiters.delete(key);
    this.#schedulePregeneration(this.serverName, req.mediaId);
  }

  async #waitForUpload(rec: MediaRecord, timeoutMs: number): Promise<MediaRecord> {
    const key = `${rec.origin}/${rec.mediaId}`;
    const deadline = this.#now() + Math.min(Math.max(timeoutMs, 0), MAX_WAIT_MS);
    for (;;) {
      const remaining = deadline - this.#now();
      if (remaining <= 0) throw new MatrixError("M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
      await new Promise<void>((resolve) => {
        const set = this.#waiters.get(key) ?? new Set();
        this.#waiters.set(key, set);
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(remaining, 1000));
        set.add(done);
      });
      const now = await this.repo.find(rec.origin, rec.mediaId);
      if (!now || (now.unusedExpiresTs !== null && now.unusedExpiresTs <= this.#now() && now.sha256 === null)) {
        throw new MatrixError("M_NOT_FOUND", "Media not found");
      }
      if (now.sha256 !== null) return now;
    }
  }

  #validate(serverName: string, mediaId: string): void {
    if (parseServerName(serverName) === null) throw new MatrixError("M_INVALID_PARAM", "Invalid server name");
    if (!isValidMediaId(mediaId)) throw new MatrixError("M_INVALID_PARAM", "Invalid media ID: only A-Z, a-z, 0-9, _ and - are allowed");
  }

  /** The media row with its file, fetching remote media when not cached. Throws MatrixError. */
  async #resolve(req: DownloadRequest): Promise<{ rec: MediaRecord; file: Blob }> {
    this.#validate(req.serverName, req.mediaId);
    const notFound = () => new MatrixError("M_NOT_FOUND", "Media not found");
    const local = req.serverName === this.serverName;
    let rec = await this.repo.find(req.serverName, req.mediaId);
    if (local) {
      if (!rec) throw notFound();
      if (rec.sha256 === null) {
        if (rec.unusedExpiresTs !== null && rec.unusedExpiresTs <= this.#now()) throw notFound();
        rec = await this.#waitForUpload(rec, req.timeoutMs ?? 20_000);
      }
    }
    if (rec?.quarantinedBy) throw notFound();
    if (req.legacy && rec?.authenticated) {
      throw new MatrixError("M_NOT_FOUND", "Media not found (use the authenticated /_matrix/client/v1/media endpoints)");
    }
    let file = rec?.sha256 ? await this.files.file(rec.sha256) : undefined;
    if (!rec || !file) {
      if (local) {
        log.error("media file missing from the store", { media_id: req.mediaId, sha256: rec?.sha256 });
        throw notFound();
      }
      // Remote media not (or no longer) cached.
      if (req.legacy && this.config.enable_authenticated_media) throw notFound();
      if (req.allowRemote === false) throw notFound();
      rec = await this.#fetchRemote(req.serverName, req.mediaId, req.timeoutMs ?? 20_000);
      if (rec.quarantinedBy) throw notFound();
      file = await this.files.file(rec.sha256!);
      if (!file) throw notFound();
    }
    if (this.#now() - rec.lastAccessTs > TOUCH_INTERVAL_MS) await this.repo.touch(rec.origin, rec.mediaId, this.#now());
    return { rec, file };
  }

  #fetchRemote(origin: string, mediaId: string, timeoutMs: number): Promise<MediaRecord> {
    const key = `${origin}/${mediaId}`;
    let p = this.#inflight.get(key);
    if (!p) {
      p = (async () => {
        if (!this.#remote) throw new MatrixError("M_NOT_FOUND", "Remote media cannot be fetched here");
        const got = await this.#remote.fetch(origin, mediaId, Math.min(Math.max(timeoutMs, 0), MAX_WAIT_MS));
        const now = this.#now();
        const rec: MediaRecord = {
          origin,
          mediaId,
          userId: null,
          contentType: normalizeContentType(got.contentType),
          uploadName: got.uploadName,
          sha256: got.pending.sha256,
          size: got.pending.size,
          createdTs: now,
          unusedExpiresTs: null,
          lastAccessTs: now,
          authenticated: this.config.enable_authenticated_media,
          quarantinedBy: null,
          protected: false,
          urlPreview: false,
        };
        await this.files.withLock(got.pending.sha256, async () => {
          await got.pending.place();
          await this.repo.upsertRemote(rec);
        });
        return (await this.repo.find(origin, mediaId)) ?? rec;
      })().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  #asFile(rec: MediaRecord, file: Blob): MediaFile {
    return {
      content: file,
      size: file.size,
      contentType: rec.contentType ?? "application/octet-stream",
      uploadName: rec.uploadName,
      sha256: rec.sha256!,
    };
  }

  /** A download (local, cached or fetched remote media). */
  async download(req: DownloadRequest): Promise<MediaFile> {
    const { rec, file } = await this.#resolve(req);
    return this.#asFile(rec, file);
  }

  /** Our own media for another server (federation endpoints): never remote, never frozen. */
  async downloadForFederation(mediaId: string, timeoutMs?: number): Promise<MediaFile> {
    return this.download({ serverName: this.serverName, mediaId, allowRemote: false, timeoutMs });
  }

  async #probe(sha256: string, path: string, remote: boolean): Promise<ImageInfo | undefined> {
    let cached = this.#probes.get(sha256);
    if (cached === undefined) {
      try {
        const info = await this.thumbnailer.probe(path);
        if (!info) return undefined;
        cached = info;
      } catch (e) {
        if (!(e instanceof NotAnImageError) && !(e instanceof ImageTooLargeError)) throw e;
        cached = e;
      }
      this.#probes.set(sha256, cached);
    }
    if (cached instanceof ImageTooLargeError) {
      throw new MatrixError("M_TOO_LARGE", "Content is too large to thumbnail", {}, remote ? 502 : 413);
    }
    if (cached instanceof Error) throw new MatrixError("M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    return cached;
  }

  /** A thumbnail (or the original image when it is already small enough, or when thumbnails are unavailable). */
  async thumbnail(req: ThumbnailRequest): Promise<ThumbnailResult> {
    if (!Number.isInteger(req.width) || !Number.isInteger(req.height) || req.width < 1 || req.height < 1 || req.width > 10000 || req.height > 10000) {
      throw new MatrixError("M_INVALID_PARAM", "width and height must be integers from 1 to 10000");
    }
    const { rec, file } = await this.#resolve(req);
    const original = (): ThumbnailResult => ({ ...this.#asFile(rec, file), kind: "original" });
    if (!THUMBNAILABLE.has(baseType(rec.contentType))) {
      throw new MatrixError("M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    }
    const path = this.files.pathOf(rec.sha256!);
    const info = await this.#probe(rec.sha256!, path, rec.origin !== this.serverName);
    if (!info) return original(); // sharp unavailable (logged once)
    const animated = req.animated === true && info.pages > 1;
    const asked: ThumbnailSize = { width: req.width, height: req.height, method: req.method };
    // Never upscale: an original that already fits is served as it is (unless it would animate uninvited).
    if (fitsWithin(info.width, info.height, asked) && (info.pages === 1 || animated)) return original();
    const size = this.config.dynamic_thumbnails ? asked : chooseRecommendedSize(asked);
    const thumb = await this.#thumbnailOf(rec, info, size, animated);
    if (!thumb) return original();
    const tfile = await this.files.file(thumb.sha256);
    if (!tfile) return original();
    return { content: tfile, size: tfile.size, contentType: thumb.contentType, uploadName: null, sha256: thumb.sha256, kind: "thumbnail" };
  }

  /** The stored thumbnail of this size, made now when missing. */
  async #thumbnailOf(rec: MediaRecord, info: ImageInfo, size: ThumbnailSize, animated: boolean): Promise<ThumbnailRecord | undefined> {
    const find = async () => {
      const all = await this.repo.listThumbnails(rec.origin, rec.mediaId);
      const t = all.find((x) => x.reqWidth === size.width && x.reqHeight === size.height && x.method === size.method && x.animated === animated);
      return t && (await this.files.file(t.sha256)) ? t : undefined;
    };
    const existing = await find();
    if (existing) return existing;
    const key = `${rec.origin}/${rec.mediaId}/${size.width}x${size.height}/${size.method}/${animated}`;
    return this.#thumbLocks.run(key, async () => {
      const again = await find();
      if (again) return again;
      let made;
      try {
        made = await this.thumbnailer.make(this.files.pathOf(rec.sha256!), info, size, animated);
      } catch (e) {
        if (e instanceof NotAnImageError) throw new MatrixError("M_UNKNOWN", "Cannot generate thumbnails for the requested content");
        throw e;
      }
      if (!made) return undefined;
      const t: ThumbnailRecord = {
        origin: rec.origin,
        mediaId: rec.mediaId,
        reqWidth: size.width,
        reqHeight: size.height,
        method: size.method,
        animated,
        width: made.width,
        height: made.height,
        contentType: made.contentType,
        sha256: "",
        size: made.bytes.byteLength,
        createdTs: this.#now(),
      };
      const pending = await this.files.receive([made.bytes], Number.MAX_SAFE_INTEGER);
      t.sha256 = pending.sha256;
      let replaced: string | undefined;
      await this.files.withLock(pending.sha256, async () => {
        await pending.place();
        replaced = await this.repo.upsertThumbnail(t);
      });
      if (replaced) await this.#removeUnused([replaced]);
      return t;
    });
  }

  /** Makes the recommended (still) thumbnails of an image in the background, one image at a time. */
  #schedulePregeneration(origin: string, mediaId: string): void {
    this.#pregen = this.#pregen.then(async () => {
      if (this.#stopped) return;
      try {
        await this.pregenerateThumbnails(origin, mediaId);
      } catch (e) {
        if (!this.#stopped) log.warn("thumbnail pre-generation failed", { media_id: mediaId, error: (e as Error).message });
      }
    });
  }

  /** Makes the spec's recommended thumbnail sizes of one image (those smaller than it). Returns how many were made. */
  async pregenerateThumbnails(origin: string, mediaId: string): Promise<number> {
    const rec = await this.repo.find(origin, mediaId);
    if (!rec?.sha256 || !THUMBNAILABLE.has(baseType(rec.contentType))) return 0;
    if (!(await this.thumbnailer.available())) return 0;
    let info: ImageInfo | undefined;
    try {
      info = await this.#probe(rec.sha256, this.files.pathOf(rec.sha256), origin !== this.serverName);
    } catch {
      return 0; // not an image, or too large: nothing to make
    }
    if (!info) return 0;
    let n = 0;
    for (const size of RECOMMENDED_THUMBNAIL_SIZES) {
      if (this.#stopped) break;
      if (fitsWithin(info.width, info.height, size) && info.pages === 1) continue;
      if (await this.#thumbnailOf(rec, info, size, false)) n++;
    }
    return n;
  }

  /** Waits until the background thumbnail queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    let p;
    do {
      p = this.#pregen;
      await p;
    } while (p !== this.#pregen);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, 5000))]);
  }

  // ---- retention and administration

  async #removeUnused(hashes: readonly string[]): Promise<number> {
    let n = 0;
    for (const h of hashes) if (await this.files.removeIfUnused(h, () => this.repo.countRefs(h))) n++;
    return n;
  }

  /** Deletes media (rows, thumbnails, and files nothing else names). */
  async deleteMedia(keys: readonly MediaKey[]): Promise<DeletionResult> {
    const { deleted, hashes } = await this.repo.deleteMany(keys);
    return { deleted, filesRemoved: await this.#removeUnused(hashes) };
  }

  /** Deletes local media (created and last accessed before `beforeTs`) or cached remote media (last accessed before). */
  async purge(sel: Omit<MediaSelection, "serverName">): Promise<DeletionResult> {
    return this.deleteMedia(await this.repo.select({ ...sel, serverName: this.serverName }));
  }

  async deleteUserMedia(userId: string): Promise<DeletionResult> {
    return this.deleteMedia(await this.repo.keysByUser(userId));
  }

  /** Expired async-upload reservations, and media past [media] local/remote_media_lifetime. */
  async runRetention(): Promise<{ expiredPending: number; local: number; remote: number }> {
    const now = this.#now();
    const expiredPending = await this.repo.deleteExpiredPending(now);
    let local = 0;
    let remote = 0;
    if (this.config.local_media_lifetime > 0) {
      local = (await this.purge({ scope: "local", beforeTs: now - this.config.local_media_lifetime * 1000, keepProtected: true })).deleted.length;
    }
    if (this.config.remote_media_lifetime > 0) {
      remote = (await this.purge({ scope: "remote", beforeTs: now - this.config.remote_media_lifetime * 1000 })).deleted.length;
    }
    if (expiredPending + local + remote > 0) log.info("media retention", { expired_pending: expiredPending, local_deleted: local, remote_deleted: remote });
    return { expiredPending, local, remote };
  }

  async find(origin: string, mediaId: string): Promise<MediaRecord | undefined> {
    this.#validate(origin, mediaId);
    return this.repo.find(origin, mediaId);
  }

  /** Quarantines one media item (404 for everyone from now on); false when unknown or protected. */
  async quarantine(origin: string, mediaId: string, by: string): Promise<boolean> {
    this.#validate(origin, mediaId);
    return (await this.repo.setQuarantine(origin, mediaId, by)) > 0;
  }

  async unquarantine(origin: string, mediaId: string): Promise<boolean> {
    this.#validate(origin, mediaId);
    return (await this.repo.setQuarantine(origin, mediaId, null)) > 0;
  }

  /** The media a room's events refer to, ours and other servers' (GET /room/{roomId}/media). */
  async roomMedia(roomId: string): Promise<{ local: string[]; remote: string[] }> {
    const keys = await this.repo.mxcsInRoom(roomId);
    const mxc = (k: { origin: string; mediaId: string }) => `mxc://${k.origin}/${k.mediaId}`;
    return { local: keys.filter((k) => k.origin === this.serverName).map(mxc), remote: keys.filter((k) => k.origin !== this.serverName).map(mxc) };
  }

  /** Quarantines every media item a room's events refer to (that this server has). */
  async quarantineRoomMedia(roomId: string, by: string): Promise<number> {
    return this.repo.quarantineMany(await this.repo.mxcsInRoom(roomId), by);
  }

  async quarantineUserMedia(userId: string, by: string): Promise<number> {
    return this.repo.quarantineUser(userId, by);
  }

  async setProtected(mediaId: string, value: boolean): Promise<boolean> {
    this.#validate(this.serverName, mediaId);
    return (await this.repo.setProtected(this.serverName, mediaId, value)) > 0;
  }

  async listUserMedia(userId: string, opts: { from: number; limit: number; orderBy: UserMediaOrder; dir: "f" | "b" }) {
    return this.repo.listByUser(userId, opts);
  }

  async usageByUser(opts: { from: number; limit: number; orderBy: "media_length" | "media_count" | "user_id"; dir: "f" | "b" }) {
    return this.repo.usageByUser(opts);
  }
}
