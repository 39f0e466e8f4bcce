-- The signed key response each key was last seen in, kept with the key: a notary must go on
-- answering for a key after the origin's newer responses stop listing it (SyTest "Key notary server
-- must not overwrite a valid key with a spurious result from the origin server"; Synapse keeps
-- server_keys_json per key ID). server_key_responses keeps only the latest response per source.
ALTER TABLE server_keys ADD COLUMN key_json TEXT;
