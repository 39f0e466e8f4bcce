-- Rooms, the event graph, room state (shared state groups with deltas), current state,
-- memberships, transaction IDs, and the per-user streams /sync reads.

CREATE TABLE rooms (
  room_id TEXT PRIMARY KEY,
  room_version TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  -- The state group that the current_state rows below represent.
  current_state_group BIGINT,
  -- Published in the public room directory.
  is_public INTEGER NOT NULL DEFAULT 0
);

-- Every event, stored as received (or as created here), with its place in the graph and in the
-- global stream. Outliers (events without known state) and rejected events are stored too.
CREATE TABLE events (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  -- Global order in which this server accepted events (the /sync stream).
  stream_ordering BIGINT NOT NULL UNIQUE,
  -- Topological order: the event's depth in the room DAG.
  depth BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT,
  sender TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  received_ts BIGINT NOT NULL,
  -- The PDU as canonical JSON, without `unsigned` (added when serving).
  json TEXT NOT NULL,
  outlier INTEGER NOT NULL DEFAULT 0,
  soft_failed INTEGER NOT NULL DEFAULT 0,
  -- Why the event was rejected by the auth rules; NULL when accepted.
  rejected_reason TEXT,
  -- The room state after this event (NULL for outliers and rejected events).
  state_group BIGINT,
  -- The redaction event that redacts this event, once one is accepted.
  redacted_by TEXT,
  -- For state events: the event this one replaced in the room state (for unsigned.prev_content).
  replaces_state TEXT,
  -- For events sent by local clients: the transaction and device (for `unsigned.transaction_id`).
  txn_id TEXT,
  device_id TEXT
);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_topo ON events (room_id, depth, stream_ordering);
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts);

CREATE TABLE event_edges (
  event_id TEXT NOT NULL,
  prev_event_id TEXT NOT NULL,
  PRIMARY KEY (event_id, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges (prev_event_id);

CREATE TABLE event_auth_edges (
  event_id TEXT NOT NULL,
  auth_event_id TEXT NOT NULL,
  PRIMARY KEY (event_id, auth_event_id)
);

-- The events of a room with no known successor: the prev_events of the next local event.
CREATE TABLE forward_extremities (
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (room_id, event_id)
);

-- Room state snapshots, shared between events: a group holds its changes against prev_group.
-- A group with no prev_group holds the full state. Chains are kept short by periodic snapshots.
CREATE TABLE state_groups (
  id BIGINT PRIMARY KEY,
  room_id TEXT NOT NULL,
  prev_group BIGINT,
  -- Length of the delta chain below this group (0 for a full snapshot).
  chain_length INTEGER NOT NULL
);

CREATE TABLE state_group_entries (
  group_id BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  -- NULL: the key was removed from the state (possible after state resolution).
  event_id TEXT,
  PRIMARY KEY (group_id, type, state_key)
);

-- The current state of each room (the state of rooms.current_state_group), for fast reads.
CREATE TABLE current_state (
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  event_id TEXT NOT NULL,
  -- For m.room.member rows: the membership.
  membership TEXT,
  PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state (state_key, type, membership);

-- Each local user's membership per room and the stream position of its last change (for /sync).
CREATE TABLE local_memberships (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  membership TEXT NOT NULL,
  event_id TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  forgotten INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, room_id)
);
CREATE INDEX local_memberships_stream ON local_memberships (user_id, stream_ordering);

-- Client transaction IDs, so a retried send returns the same event (durable across restarts).
CREATE TABLE event_txn_ids (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);

-- Global and per-room account data (room_id '' for global); tags are room account data m.tag.
CREATE TABLE account_data (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  stream_id BIGINT NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

-- Read receipts (m.read, m.read.private), per thread ('' for unthreaded).
CREATE TABLE receipts (
  room_id TEXT NOT NULL,
  receipt_type TEXT NOT NULL,
  user_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  stream_id BIGINT NOT NULL,
  -- stream_ordering of the receipted event (for unread counts).
  event_stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (room_id, stream_id);

-- Stored /sync filters.
CREATE TABLE filters (
  user_id TEXT NOT NULL,
  filter_id BIGINT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);

-- Push actions computed when an event is persisted, per local recipient (unread counts).
CREATE TABLE event_push_actions (
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  thread_id TEXT NOT NULL,
  notify INTEGER NOT NULL,
  highlight INTEGER NOT NULL,
  PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_push_actions_user_room ON event_push_actions (user_id, room_id, stream_ordering);

-- Room aliases (#alias:server) of rooms, local and cached remote.
CREATE TABLE room_aliases (
  alias TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
