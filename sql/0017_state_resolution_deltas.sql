-- Current-state changes that no event in the timeline explains: when state resolution (merging
-- branches of the room's DAG, e.g. after a netsplit) changes or removes a key other than the one of
-- the event being stored. Incremental /sync and sliding sync send these keys with their new values,
-- so that a client's view of the room state never drifts from the server's (a "state reset").
CREATE TABLE state_resolution_deltas (
  room_id TEXT NOT NULL,
  -- Stream position of the event whose arrival caused the change.
  stream_ordering BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL
);
CREATE INDEX state_resolution_deltas_room ON state_resolution_deltas (room_id, stream_ordering);
