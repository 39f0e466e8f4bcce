-- Application services (bridges) and pushers (issue 12).

-- Per application service: how far through the event stream its transactions reach, and the ID
-- of the next transaction. A service seen for the first time starts at the current position.
CREATE TABLE appservice_states (
  as_id TEXT PRIMARY KEY,
  stream_ordering BIGINT NOT NULL,
  next_txn_id BIGINT NOT NULL
);

-- Transactions built but not yet acknowledged: sent again, unchanged and with the same ID, until
-- the application service answers 200 (spec: "Pushing events").
CREATE TABLE appservice_txns (
  as_id TEXT NOT NULL,
  txn_id BIGINT NOT NULL,
  body TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (as_id, txn_id)
);

-- Rooms an application service published in its room directory for one of its networks
-- (PUT /directory/list/appservice/{networkId}/{roomId}).
CREATE TABLE appservice_room_list (
  as_id TEXT NOT NULL,
  network_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  PRIMARY KEY (as_id, network_id, room_id)
);

-- Pushers (POST /pushers/set). `data` is the JSON object the client gave (url included);
-- `last_stream_ordering` is how far through event_push_actions the pusher has delivered;
-- `failing_since_ts` is set while deliveries fail (retried with back-off).
CREATE TABLE pushers (
  user_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  pushkey TEXT NOT NULL,
  kind TEXT NOT NULL,
  app_display_name TEXT NOT NULL,
  device_display_name TEXT NOT NULL,
  profile_tag TEXT,
  lang TEXT NOT NULL,
  data TEXT NOT NULL,
  -- The device whose session created the pusher (deleted with the device), NULL for device-less tokens.
  device_id TEXT,
  pushkey_ts BIGINT NOT NULL,
  last_stream_ordering BIGINT NOT NULL,
  failing_since_ts BIGINT,
  PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);

-- Who was notified of an event (pushers look it up when the event is persisted).
CREATE INDEX event_push_actions_event ON event_push_actions (event_id);
