-- The media repository (client-server-api "Content repository"). The bytes live on disk under
-- [media] store_path, one file per distinct content named by its sha256; these rows only point at
-- them, so identical uploads share one file and a file is deleted with the last row naming it.

-- Local uploads (and IDs created for an async upload, sha256 NULL until the content arrives), the
-- images the URL previewer stored, and the cache of other servers' media (origin != our name).
CREATE TABLE media (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  -- The local uploader; NULL for remote media and URL preview images.
  user_id TEXT,
  -- As uploaded or as the remote server sent it; NULL: application/octet-stream.
  content_type TEXT,
  -- The filename: upload ?filename=, or the remote server's Content-Disposition.
  upload_name TEXT,
  -- Hex sha256 naming the file, and its size; both NULL until the content is there.
  sha256 TEXT,
  size BIGINT,
  -- Local: when the ID was made. Remote: when it was cached.
  created_ts BIGINT NOT NULL,
  -- Async uploads: the reserved ID is dropped when no content has arrived by then.
  unused_expires_ts BIGINT,
  last_access_ts BIGINT NOT NULL,
  -- 1: made while the unauthenticated endpoints were frozen (enable_authenticated_media).
  authenticated INTEGER NOT NULL DEFAULT 0,
  -- The admin who quarantined it (then it is not served), and whether it is safe from quarantine.
  quarantined_by TEXT,
  protected INTEGER NOT NULL DEFAULT 0,
  -- 1: an image stored by the URL previewer.
  url_preview INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_user ON media (user_id, created_ts);
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_last_access ON media (last_access_ts);
CREATE INDEX media_pending ON media (unused_expires_ts);

-- Thumbnails made from a media file: one per requested size, method and animation; width and
-- height are the thumbnail's own (never larger than the original).
CREATE TABLE media_thumbnails (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  req_width INTEGER NOT NULL,
  req_height INTEGER NOT NULL,
  method TEXT NOT NULL,
  animated INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (origin, media_id, req_width, req_height, method, animated)
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);

-- URL previews (GET /_matrix/client/v1/media/preview_url): the latest answer per URL.
CREATE TABLE url_previews (
  url TEXT NOT NULL PRIMARY KEY,
  fetched_ts BIGINT NOT NULL,
  expires_ts BIGINT NOT NULL,
  -- The preview JSON as served.
  response TEXT NOT NULL
);
CREATE INDEX url_previews_expires ON url_previews (expires_ts);
