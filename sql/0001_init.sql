-- Base tables: stream position counters and small server-wide settings.
-- schema_version itself is created by the migration runner.

-- Named monotonic counters (stream orderings, etc.), portable across engines.
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);

-- Server-wide key/value settings written by hs itself (not configuration).
CREATE TABLE server_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
