-- Several hs processes on one PostgreSQL database (docs/SCALING.md) share the global stream:
-- positions come from one counter row, and every position handed out but not yet committed (or
-- abandoned) has a row in stream_inflight. Readers advance only to the highest position below
-- which nothing is in flight, so a /sync token never skips an event that a slower writer commits
-- later with a lower position. A single SQLite process keeps both in memory (tables unused).
CREATE TABLE stream_counter (
  id INTEGER PRIMARY KEY,
  pos BIGINT NOT NULL
);
CREATE TABLE stream_inflight (
  pos BIGINT PRIMARY KEY,
  -- The backend that allocated it: a row whose backend is gone (process killed) is reaped.
  backend_pid INTEGER NOT NULL,
  created_ms BIGINT NOT NULL
);
-- Sliding sync connections, so that any process can continue one (several processes only; one
-- process keeps them in memory): the whole connection state as JSON, written after each response.
CREATE TABLE sliding_sync_connections (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  conn_id TEXT NOT NULL,
  data TEXT NOT NULL,
  updated_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, conn_id)
);
-- State group IDs in blocks of 64 (RoomsRepo hands a block out in memory): processes never
-- collide. SQLite (one process) counts from MAX(id) in memory.
CREATE SEQUENCE state_group_ids INCREMENT BY 64 START WITH 1;
