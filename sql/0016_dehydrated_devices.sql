-- Dehydrated devices (MSC3814, as Element and matrix-js-sdk use it at
-- /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device): at most one per user, a real
-- device (row in devices, keys in e2e_device_keys, messages in device_inbox) that no session
-- uses; device_data is the client's encrypted pickle, returned as it was given.
CREATE TABLE dehydrated_devices (
  user_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  device_data TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
