-- Several hs processes on one PostgreSQL database (docs/SCALING.md, "Federation and background
-- work"): work that must run in one process at a time is guarded by a lease. A lease is a row
-- naming its holder (a process instance ID) and when it lapses; the holder renews it while it
-- works, and any process may take over a lease that lapsed (its holder died or hung).
-- Names: "federation_sender:<destination>" (a destination's outbound queue), "background" (the
-- periodic jobs and the pusher and application-service senders).
CREATE TABLE process_leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_ts BIGINT NOT NULL
);

-- The transaction being sent to a destination, written before it is sent: after a failure, a
-- restart or a takeover by another process, exactly these items are sent again under the same
-- transaction ID, so the receiver's per-transaction dedupe applies (server-server-api.md
-- "Transactions") and no PDU goes out twice under two IDs.
CREATE TABLE federation_inflight_txns (
  destination TEXT PRIMARY KEY,
  txn_id TEXT NOT NULL,
  -- JSON array of federation_outbox ids
  item_ids TEXT NOT NULL
);
