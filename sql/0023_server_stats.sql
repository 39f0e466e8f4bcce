-- The admin console's time series (GET /_hs/admin/v1/server/stats): the server samples its figures
-- every few minutes (services/admin/stats.ts) and keeps 31 days of samples. Counts "since the
-- previous sample" make per-day sums; totals and sizes are as they were at `ts` (ms).
CREATE TABLE server_stats_samples (
  ts BIGINT PRIMARY KEY,
  -- Accounts that can log in (neither deactivated nor guests), and those created since the previous sample.
  users BIGINT NOT NULL,
  registrations BIGINT NOT NULL,
  -- Users seen (user_ips) in the 24 hours and 30 days before ts.
  daily_active_users BIGINT NOT NULL,
  monthly_active_users BIGINT NOT NULL,
  rooms BIGINT NOT NULL,
  -- Messages (m.room.message, m.room.encrypted) persisted since the previous sample, all and
  -- those sent by local users; max_stream is the event stream position they were counted up to.
  messages BIGINT NOT NULL,
  local_messages BIGINT NOT NULL,
  max_stream BIGINT NOT NULL,
  database_bytes BIGINT NOT NULL,
  media_bytes BIGINT NOT NULL,
  -- The process: resident memory and JavaScript heap in use.
  rss_bytes BIGINT NOT NULL,
  heap_bytes BIGINT NOT NULL,
  -- HTTP requests answered since the previous sample, and their latency percentiles (microseconds;
  -- from the request histogram's buckets). A restart starts the count again.
  requests BIGINT NOT NULL,
  latency_p50_us BIGINT NOT NULL,
  latency_p95_us BIGINT NOT NULL,
  -- Federation: destinations known, those failing (backing off), PDUs and EDUs queued.
  federation_destinations BIGINT NOT NULL,
  federation_failing BIGINT NOT NULL,
  federation_queue BIGINT NOT NULL
);
