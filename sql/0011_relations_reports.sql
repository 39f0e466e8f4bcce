-- Event relationships (m.relates_to with a rel_type), threads, content reports, server notice
-- rooms, and the push actions list behind /notifications.

-- One row per child event of a relationship, written when the child is persisted (timeline
-- events only) and deleted when it is redacted.
CREATE TABLE event_relations (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  -- The parent event.
  relates_to_id TEXT NOT NULL,
  rel_type TEXT NOT NULL,
  event_type TEXT NOT NULL,
  sender TEXT NOT NULL,
  -- m.annotation: the annotation key.
  aggregation_key TEXT,
  -- The thread the child belongs to: the root's event ID, or 'main'.
  thread_id TEXT NOT NULL,
  -- The child's place in the room (topological order, as /messages).
  depth BIGINT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  origin_server_ts BIGINT NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, depth, stream_ordering);

-- Threads per room with their latest event (for /threads, newest thread activity first).
CREATE TABLE threads (
  room_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  latest_event_id TEXT NOT NULL,
  latest_depth BIGINT NOT NULL,
  latest_stream BIGINT NOT NULL,
  PRIMARY KEY (room_id, thread_id)
);
CREATE INDEX threads_room_latest ON threads (room_id, latest_depth, latest_stream);

-- Whether relations of events stored before this migration have been indexed (one row).
CREATE TABLE relations_backfill (
  done INTEGER NOT NULL
);
INSERT INTO relations_backfill (done) VALUES (0);

-- Reports of events (POST /rooms/{roomId}/report/{eventId}), rooms (/rooms/{roomId}/report) and
-- users (/users/{userId}/report), for server admins.
CREATE TABLE event_reports (
  id BIGINT PRIMARY KEY,
  received_ts BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  -- The reporting user.
  user_id TEXT NOT NULL,
  reason TEXT,
  score BIGINT
);
CREATE INDEX event_reports_ts ON event_reports (received_ts);

CREATE TABLE room_reports (
  id BIGINT PRIMARY KEY,
  received_ts BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  reason TEXT NOT NULL
);

CREATE TABLE user_reports (
  id BIGINT PRIMARY KEY,
  received_ts BIGINT NOT NULL,
  -- The reported user.
  target_user_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  reason TEXT NOT NULL
);

-- The server notices room of each local user ([server_notices]).
CREATE TABLE server_notice_rooms (
  user_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);

-- The push rule actions that matched (JSON), for GET /notifications; NULL for older rows.
ALTER TABLE event_push_actions ADD COLUMN actions TEXT;
CREATE INDEX event_push_actions_user_stream ON event_push_actions (user_id, stream_ordering);
