-- Accounts: users, devices, access/refresh/login tokens, profiles, user-interactive auth sessions,
-- registration tokens. Booleans are 0/1 integers; timestamps are milliseconds since the epoch.

-- Local users. A deactivated user keeps its row forever so that its ID is never handed out again.
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  -- argon2id or bcrypt hash; NULL = no password login (guests, deactivated users).
  password_hash TEXT,
  is_admin INTEGER NOT NULL DEFAULT 0,
  is_guest INTEGER NOT NULL DEFAULT 0,
  -- Synapse's user_type: NULL, 'bot' or 'support'.
  user_type TEXT,
  deactivated INTEGER NOT NULL DEFAULT 0,
  created_ts BIGINT NOT NULL
);
-- Logins match the localpart case-insensitively (as Synapse does).
CREATE INDEX users_user_id_lower ON users (lower(user_id));

CREATE TABLE devices (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  display_name TEXT,
  last_seen_ip TEXT,
  last_seen_ts BIGINT,
  last_seen_user_agent TEXT,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

-- Access tokens are stored as the hex sha256 of the token; the token itself is never stored.
CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  -- NULL for tokens not bound to a device (application services).
  device_id TEXT,
  created_ts BIGINT NOT NULL,
  -- NULL = never expires.
  expires_ts BIGINT,
  -- The refresh token issued together with this access token, if any.
  refresh_token_hash TEXT,
  -- Set on first use; the first use of a refreshed token revokes the previous refresh token.
  used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_user_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_hash);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  -- The refresh token this one replaced; revoked once this one or its access token is used.
  prev_token_hash TEXT,
  -- The refresh token issued when this one was last used.
  next_token_hash TEXT,
  created_ts BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_user_device ON refresh_tokens (user_id, device_id);

-- Single-use m.login.token tokens (POST /login/get_token).
CREATE TABLE login_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_ts BIGINT NOT NULL
);

-- Where each device was seen from (admin whois). device_id is '' for device-less tokens.
CREATE TABLE user_ips (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  last_seen_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, ip, user_agent)
);

-- Profile fields (displayname, avatar_url, m.tz, custom keys), each value as JSON text.
CREATE TABLE profiles (
  user_id TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (user_id, field)
);

-- User-interactive authentication sessions, kept in the database so that a restart between two
-- stages does not lose them.
CREATE TABLE uia_sessions (
  session_id TEXT PRIMARY KEY,
  -- The authenticated user who started the session (NULL for registration).
  user_id TEXT,
  method TEXT NOT NULL,
  uri TEXT NOT NULL,
  -- The request parameters (JSON object, secrets removed), reused when a client omits them.
  client_dict TEXT NOT NULL,
  -- Server-side state of the session (JSON object), e.g. the registration token in use.
  server_data TEXT NOT NULL,
  -- The stage types completed so far (JSON array, in order).
  completed TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts);

-- Registration tokens (m.login.registration_token), in Synapse's model.
CREATE TABLE registration_tokens (
  token TEXT PRIMARY KEY,
  -- NULL = unlimited.
  uses_allowed INTEGER,
  -- Sessions that completed the token stage but have not registered yet.
  pending INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,
  -- NULL = never expires.
  expiry_time BIGINT,
  created_ts BIGINT NOT NULL
);
