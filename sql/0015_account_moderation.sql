-- Account moderation (client-server-api "Account locking" and "Account suspension"; the admin
-- endpoints /_matrix/client/v1/admin/{lock,suspend}/{userId} and Synapse's admin API).
-- A locked account keeps its sessions but every request except logout answers 401 M_USER_LOCKED;
-- a suspended account can read, leave and redact its own events, but not join, invite, send or
-- change its profile (403 M_USER_SUSPENDED). Both are reversible, unlike deactivation.
ALTER TABLE users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
