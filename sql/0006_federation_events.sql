-- Federation: the persistent outbound queue per destination, inbound transaction IDs (so a
-- retried /send is not processed twice), and invites received from other servers.

CREATE TABLE federation_outbox (
  id BIGINT PRIMARY KEY,
  destination TEXT NOT NULL,
  -- 'pdu' (json is the event) or 'edu' (json is {edu_type, content}).
  kind TEXT NOT NULL,
  json TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX federation_outbox_destination ON federation_outbox (destination, id);

-- Retry state of destinations that failed (exponential back-off survives restarts).
CREATE TABLE federation_destinations (
  destination TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  retry_after_ts BIGINT NOT NULL
);

CREATE TABLE federation_received_txns (
  origin TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  response TEXT NOT NULL,
  received_ts BIGINT NOT NULL,
  PRIMARY KEY (origin, txn_id)
);

-- Invites to rooms on other servers: the invite event and the stripped state sent with it.
CREATE TABLE remote_invites (
  room_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  room_version TEXT NOT NULL,
  invite_room_state TEXT NOT NULL,
  received_ts BIGINT NOT NULL,
  PRIMARY KEY (room_id, user_id)
);

-- Events referenced as prev_events by events we have, but which we lack (history before we joined):
-- where /messages backfills from other servers.
CREATE TABLE backward_extremities (
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
