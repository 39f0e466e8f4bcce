-- End-to-end encryption (issue 7): device keys, one-time and fallback keys, cross-signing keys and
-- signatures, the device list change stream, the cache of remote users' device lists, the
-- to-device inbox and server-side key backups. Key objects are stored as JSON text exactly as
-- uploaded (they are signed). Stream positions come from the global stream (StreamAllocator).

-- Identity keys of local devices (/keys/upload device_keys). Deleted with the device.
CREATE TABLE e2e_device_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

-- One-time keys of local devices, handed out (and deleted) in upload order: seq grows per upload.
CREATE TABLE e2e_one_time_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE INDEX e2e_one_time_keys_claim ON e2e_one_time_keys (user_id, device_id, algorithm, seq);

-- The one fallback key per device and algorithm; used = 1 once /keys/claim has handed it out.
CREATE TABLE e2e_fallback_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys (key_type master, self_signing or user_signing) of local users, and those of
-- remote users while their device list is cached (remote_device_lists).
CREATE TABLE e2e_cross_signing_keys (
  user_id TEXT NOT NULL,
  key_type TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_json TEXT NOT NULL,
  PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded with /keys/signatures/upload: by signer_user_id's key signer_key_id on
-- target_user_id's device (target_key_id = device ID) or master key (target_key_id = public key).
-- A signature is shown to the signer and, when signer and target are the same user, to everyone.
CREATE TABLE e2e_cross_signing_signatures (
  target_user_id TEXT NOT NULL,
  target_key_id TEXT NOT NULL,
  signer_user_id TEXT NOT NULL,
  signer_key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
CREATE INDEX e2e_cross_signing_signatures_signer ON e2e_cross_signing_signatures (signer_user_id);

-- A user's devices or cross-signing keys changed at this stream position (local users, and remote
-- users whose updates arrived over federation): /sync device_lists.changed and /keys/changes.
CREATE TABLE device_list_changes (
  stream_id BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);

-- The stream_id of the last m.device_list_update EDU sent for each local user (its successor's prev_id).
CREATE TABLE device_list_outbound (
  user_id TEXT PRIMARY KEY,
  stream_id BIGINT NOT NULL
);

-- Remote users whose device list this server keeps up to date from m.device_list_update EDUs:
-- stream_id is the last update applied. A row exists only while the cache is complete.
CREATE TABLE remote_device_lists (
  user_id TEXT PRIMARY KEY,
  stream_id BIGINT NOT NULL,
  updated_ts BIGINT NOT NULL
);

-- The cached devices of those users (keys_json NULL: a device without identity keys).
CREATE TABLE remote_devices (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  display_name TEXT,
  keys_json TEXT,
  PRIMARY KEY (user_id, device_id)
);

-- To-device messages waiting for a local device, in stream order. delivered_at is the position of
-- the first /sync response that carried the message: a later /sync whose `since` is at or past it
-- acknowledges it (and deletes it).
CREATE TABLE device_inbox (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  stream_id BIGINT NOT NULL,
  sender TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  delivered_at BIGINT,
  PRIMARY KEY (user_id, device_id, stream_id)
);

-- Transaction IDs of PUT /sendToDevice (idempotency), per device; expired after a day.
CREATE TABLE device_txn_ids (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX device_txn_ids_created ON device_txn_ids (created_ts);

-- message_id of m.direct_to_device EDUs received, so that a resent EDU is delivered once.
CREATE TABLE device_federation_inbox (
  origin TEXT NOT NULL,
  message_id TEXT NOT NULL,
  received_ts BIGINT NOT NULL,
  PRIMARY KEY (origin, message_id)
);
CREATE INDEX device_federation_inbox_received ON device_federation_inbox (received_ts);

-- Server-side key backup versions. Deleted versions keep their row (their number is not reused).
CREATE TABLE e2e_room_keys_versions (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  algorithm TEXT NOT NULL,
  auth_data TEXT NOT NULL,
  -- Bumped on every change of the stored keys.
  etag BIGINT NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_room_keys (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  first_message_index BIGINT NOT NULL,
  forwarded_count BIGINT NOT NULL,
  is_verified INTEGER NOT NULL,
  session_data TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
);
