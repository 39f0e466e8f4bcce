-- Shadow-banned users (Synapse's POST /_synapse/admin/v1/users/{userId}/shadow_ban): their
-- requests succeed, but what they send never reaches a room (messages, state, redactions get an
-- event ID nothing stores; invites are dropped; typing is ignored). For spammers who would
-- otherwise notice a ban and come back under another name.
ALTER TABLE users ADD COLUMN shadow_banned INTEGER NOT NULL DEFAULT 0;
