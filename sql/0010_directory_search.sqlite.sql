-- Directory, user directory, presence and server-side search (issue 9 part A), SQLite.
-- The PostgreSQL twin is 0010_directory_search.postgres.sql: the tables are the same except the
-- search index (FTS5 here, tsvector there) and the JSON functions used to fill them.

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

-- Full-text index of m.room.message bodies, room names and topics. rowid = the event's
-- stream_ordering; `value` is the searchable text.
CREATE VIRTUAL TABLE event_search USING fts5(value, event_id UNINDEXED, room_id UNINDEXED, key UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');

-- Existing data (databases created before this migration).
INSERT INTO user_directory_public_rooms (room_id)
  SELECT DISTINCT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
  WHERE (cs.type = 'm.room.join_rules' AND cs.state_key = '' AND json_extract(e.json, '$.content.join_rule') = 'public')
     OR (cs.type = 'm.room.history_visibility' AND cs.state_key = '' AND json_extract(e.json, '$.content.history_visibility') = 'world_readable');

INSERT INTO user_directory (user_id, display_name, avatar_url, search_text)
  SELECT cs.state_key, json_extract(e.json, '$.content.displayname'), json_extract(e.json, '$.content.avatar_url'),
         lower(cs.state_key || ' ' || COALESCE(json_extract(e.json, '$.content.displayname'), ''))
  FROM current_state cs JOIN events e ON e.event_id = cs.event_id
  WHERE cs.type = 'm.room.member' AND cs.membership = 'join'
  ON CONFLICT (user_id) DO NOTHING;

INSERT INTO event_search (rowid, value, event_id, room_id, key)
  SELECT e.stream_ordering, json_extract(e.json, '$.content.body'), e.event_id, e.room_id, 'content.body' FROM events e
  WHERE e.type = 'm.room.message' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_type(e.json, '$.content.body') = 'text';
INSERT INTO event_search (rowid, value, event_id, room_id, key)
  SELECT e.stream_ordering, json_extract(e.json, '$.content.name'), e.event_id, e.room_id, 'content.name' FROM events e
  WHERE e.type = 'm.room.name' AND e.state_key = '' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_type(e.json, '$.content.name') = 'text';
INSERT INTO event_search (rowid, value, event_id, room_id, key)
  SELECT e.stream_ordering, json_extract(e.json, '$.content.topic'), e.event_id, e.room_id, 'content.topic' FROM events e
  WHERE e.type = 'm.room.topic' AND e.state_key = '' AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.redacted_by IS NULL
    AND json_type(e.json, '$.content.topic') = 'text';
