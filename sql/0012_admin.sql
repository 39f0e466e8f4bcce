-- Server administration (Synapse's admin API): blocked rooms, erased users and the room deletion
-- tasks started by DELETE /_synapse/admin/v2/rooms/{roomId} (kept across restarts).

-- Rooms local users may not join (PUT /_synapse/admin/v1/rooms/{roomId}/block, delete with block).
CREATE TABLE blocked_rooms (
  room_id TEXT PRIMARY KEY,
  -- The admin who blocked it.
  user_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);

-- Users deactivated with erase = true (GDPR erasure), shown as `erased` by the admin API.
CREATE TABLE erased_users (
  user_id TEXT PRIMARY KEY,
  erased_ts BIGINT NOT NULL
);

-- Room deletions (shutdown and purge) and their progress.
CREATE TABLE room_deletions (
  delete_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  -- scheduled, active, complete or failed.
  status TEXT NOT NULL,
  error TEXT,
  -- The shutdown_room object of the status API (JSON).
  shutdown_room TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  updated_ts BIGINT NOT NULL
);
CREATE INDEX room_deletions_room ON room_deletions (room_id);
