-- Other servers' signing keys (server-server-api "Retrieving server keys"), fetched from the servers
-- themselves or through notaries, so that signatures on requests and events can be checked.

-- One row per known key. valid_until_ts is how long the key may be used: for a key listed in
-- verify_keys, the response's valid_until_ts capped at 7 days after fetching (the spec's rule); for a
-- key listed in old_verify_keys, its expired_ts (then also stored in expired_ts).
CREATE TABLE server_keys (
  server_name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  verify_key TEXT NOT NULL,
  valid_until_ts BIGINT NOT NULL,
  expired_ts BIGINT,
  fetched_ts BIGINT NOT NULL,
  -- The server the key came from: the key's own server, or a notary.
  from_server TEXT NOT NULL,
  PRIMARY KEY (server_name, key_id)
);

-- The latest signed key response (GET /_matrix/key/v2/server) of each server from each source,
-- exactly as received, to answer notary queries (POST /_matrix/key/v2/query) from cache.
CREATE TABLE server_key_responses (
  server_name TEXT NOT NULL,
  from_server TEXT NOT NULL,
  valid_until_ts BIGINT NOT NULL,
  fetched_ts BIGINT NOT NULL,
  key_json TEXT NOT NULL,
  PRIMARY KEY (server_name, from_server)
);
