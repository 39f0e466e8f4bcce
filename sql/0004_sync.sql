-- /sync support: receipts read by stream position across rooms, and the "read up to here"
-- position a user's own events give (sending an event marks earlier notifications as read).

CREATE INDEX receipts_stream_id ON receipts (stream_id);

-- The stream position of a local user's latest own event per room and thread ('main' or the
-- thread root's event ID): notifications at or before it are read.
CREATE TABLE push_read_positions (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (user_id, room_id, thread_id)
);
