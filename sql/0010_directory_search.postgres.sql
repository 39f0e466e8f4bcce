-- Directory, user directory, presence and server-side search (issue 9 part A), PostgreSQL.
-- The SQLite twin is 0010_directory_search.sqlite.sql: the tables are the same except the search
-- index (tsvector here, FTS5 there) and the JSON functions used to fill them.

-- Users the user directory finds: everyone with a joined member event in a room known here (name
-- and avatar from their latest join) and local users who set a profile. `search_text` is
-- "user_id display_name" folded to lower case without accents (done by hs when it writes a row).
CREATE TABLE user_directory (
  user_id TEXT PRIMARY KEY,
  display_name TEXT,
  avatar_url TEXT,
  search_text TEXT NOT NULL
);

-- Rooms whose joined members anyone may find: public join rule or world-readable history.
CREATE TABLE user_directory_public_rooms (
  room_id TEXT PRIMARY KEY
);

-- Presence of local users, and of remote users sharing a room with ours. A row changes (and takes
-- a new stream position, for /sync) when what clients are shown changes; last_active_ts moves in
-- memory between changes and is written with the next one.
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  status_msg TEXT,
  last_active_ts BIGINT NOT NULL,
  currently_active INTEGER NOT NULL DEFAULT 0,
  stream_id BIGINT NOT NULL,
  -- When this server last heard of it (remote users fall back to offline when their server goes quiet).
  updated_ts BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);

-- Full-text index of m.room.message bodies, room names and topics. `vector` is built with the
-- 'simple' configuration (no language stemming) from text hs folds to lower case without accents.
CREATE TABLE event_search (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  key TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  vector TSVECTOR NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room ON event_search (room_id, stream_ordering);

-- Existing data (databases created before this migration).
INSERT INTO user_directory_public_rooms (room_id)
  SELECT DISTINCT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
  WHERE (cs.type = 'm.room.join_rules' AND cs.state_key = '' AND (e.json::json)->'content'->>'join_rule' = 'public')
     OR (cs.type = 'm.room.history_visibility' AND cs.state_key = '' AND (e.json::json)->'content'->>'history_visibility' = 'world_readable');

INSERT INTO user_directory (user_id, display_name, avatar_url, search_text)
  SELECT cs.state_key, (e.json::json)->'content'->>'displayname', (e.json::json)->'content'->>'avatar_url',
         lower(cs.state_key || ' ' || COALESCE((e.json::json)->'content'->>'displayname', ''))
  FROM current_state cs JOIN events e ON e.event_id = cs.event_id
  WHERE cs.type = 'm.room.member' AND cs.membership = 'join'
  ON CONFLICT (user_id) DO NOTHING;

INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector)
  SELECT e.event_id, e.room_id, 'content.body', e.stream_ordering, to_tsvector('simple', lower((e.json::json)->'content'->>'body')) FROM events e
  WHERE e.type = 'm.room.message' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_typeof((e.json::json)->'content'->'body') = 'string';
INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector)
  SELECT e.event_id, e.room_id, 'content.name', e.stream_ordering, to_tsvector('simple', lower((e.json::json)->'content'->>'name')) FROM events e
  WHERE e.type = 'm.room.name' AND e.state_key = '' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_typeof((e.json::json)->'content'->'name') = 'string';
INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector)
  SELECT e.event_id, e.room_id, 'content.topic', e.stream_ordering, to_tsvector('simple', lower((e.json::json)->'content'->>'topic')) FROM events e
  WHERE e.type = 'm.room.topic' AND e.state_key = '' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_typeof((e.json::json)->'content'->'topic') = 'string';
