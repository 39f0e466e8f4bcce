-- Every destination this server has sent transactions to gets a row in federation_destinations
-- (before, only failing ones had one): the admin API lists them with their health, as Synapse's
-- /_synapse/admin/v1/federation/destinations does. failures > 0 means backed off until retry_after_ts.
ALTER TABLE federation_destinations ADD COLUMN failure_ts BIGINT;
ALTER TABLE federation_destinations ADD COLUMN retry_last_ts BIGINT;
ALTER TABLE federation_destinations ADD COLUMN last_success_ts BIGINT;
