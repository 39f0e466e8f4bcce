// The homeserver.toml schema: every option, its type, default and documentation, in one place.
// The loader validates against it, `hs generate-config` writes the commented sample from it, and
// the Config type is derived from it.

import { ipRangeProblem } from "../util/ip-range.ts";
import { STABLE_ROOM_VERSIONS } from "../protocol/versions.ts";

type Check<T> = (value: T) => string | undefined;

interface FieldBase<K extends string, T> {
  kind: K;
  doc: string;
  default: T;
  /** An example shown (commented) in the generated config when the default is empty. */
  example?: string;
  /** Returns what was expected when the value is invalid (method syntax: bivariant in T). */
  check?(value: T): string | undefined;
}
export type StringField = FieldBase<"string", string>;
export type BoolField = FieldBase<"bool", boolean>;
export type IntField = FieldBase<"int", number> & { min?: number; max?: number };
export type StringsField = FieldBase<"strings", string[]>;
export type EnumField<V extends string = string> = FieldBase<"enum", V> & { values: readonly V[] };
export type Field = StringField | BoolField | IntField | StringsField | EnumField;

export interface Section<F extends Record<string, Field> = Record<string, Field>> {
  kind: "section";
  doc: string;
  fields: F;
}
export interface TableArray<F extends Record<string, Field> = Record<string, Field>> {
  kind: "array";
  doc: string;
  fields: F;
  /** The entries used when the file has none. */
  default: Array<{ [K in keyof F]?: FieldValue<F[K]> }>;
}
export type Node = Field | Section | TableArray;

type FieldValue<F> = F extends FieldBase<string, infer T> ? T : never;
type Fields<F extends Record<string, Field>> = { [K in keyof F]: FieldValue<F[K]> };
export type Infer<S extends Record<string, Node>> = {
  [K in keyof S]: S[K] extends Section<infer F>
    ? Fields<F>
    : S[K] extends TableArray<infer F>
      ? Fields<F>[]
      : FieldValue<S[K]>;
};

const str = (def: string, doc: string, extra: Partial<StringField> = {}): StringField => ({
  kind: "string",
  default: def,
  doc,
  ...extra,
});
const bool = (def: boolean, doc: string): BoolField => ({ kind: "bool", default: def, doc });
const int = (def: number, doc: string, extra: Partial<IntField> = {}): IntField => ({
  kind: "int",
  default: def,
  doc,
  ...extra,
});
const strs = (def: string[], doc: string, extra: Partial<StringsField> = {}): StringsField => ({
  kind: "strings",
  default: def,
  doc,
  ...extra,
});
function oneOf<V extends string>(values: readonly V[], def: V, doc: string): EnumField<V> {
  return { kind: "enum", values, default: def, doc };
}
function section<F extends Record<string, Field>>(doc: string, fields: F): Section<F> {
  return { kind: "section", doc, fields };
}

const serverNameCheck: Check<string> = (v) =>
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(v) ? undefined : "a server name like example.org or example.org:8448";
const oldVerifyKeysCheck: Check<string[]> = (v) => {
  for (const e of v) {
    const parts = e.trim().split(/\s+/);
    if (parts.length !== 3 || !/^ed25519:[a-zA-Z0-9_]+$/.test(parts[0]!) || !/^[A-Za-z0-9+/_-]{43}=?$/.test(parts[1]!) || !/^\d{1,16}$/.test(parts[2]!)) {
      return `entries like "ed25519:<version> <unpadded base64 public key> <expired_ts in ms>" (not ${JSON.stringify(e)})`;
    }
  }
  return undefined;
};
const trustedKeyServersCheck: Check<string[]> = (v) => {
  for (const e of v) {
    const [name, ...keys] = e.trim().split(/\s+/);
    if (!name || serverNameCheck(name) !== undefined || keys.some((k) => !/^ed25519:[a-zA-Z0-9_]+=[A-Za-z0-9+/_-]{43}=?$/.test(k))) {
      return `entries like "matrix.org" or "matrix.org ed25519:auto=<unpadded base64 public key>" (not ${JSON.stringify(e)})`;
    }
  }
  return undefined;
};
const ipRangesCheck: Check<string[]> = (v) => ipRangeProblem(v);
const supportContactsCheck: Check<string[]> = (v) => {
  for (const e of v) {
    const [role, ...contacts] = e.trim().split(/\s+/);
    const ok =
      role !== undefined &&
      /^[a-z0-9_.-]+\.[a-z0-9_.-]+$/i.test(role) &&
      contacts.length >= 1 &&
      contacts.length <= 2 &&
      contacts.every((c) => /^@[^\s:]+:[^\s]+$/.test(c) || /^[^@\s]+@[^@\s]+$/.test(c)) &&
      contacts.filter((c) => c.startsWith("@")).length <= 1 &&
      contacts.filter((c) => !c.startsWith("@")).length <= 1;
    if (!ok) return `entries like "m.role.admin @admin:example.org admin@example.org" (not ${JSON.stringify(e)})`;
  }
  return undefined;
};
const urlCheck: Check<string> = (v) => {
  if (v === "") return undefined;
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:" ? undefined : "an http(s) URL";
  } catch {
    return "an http(s) URL";
  }
};

/** Private, loopback and link-local ranges: never reached by outbound requests unless allowed. */
export const DEFAULT_IP_RANGE_DENYLIST = [
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "192.0.0.0/24",
  "169.254.0.0/16",
  "192.88.99.0/24",
  "198.18.0.0/15",
  "192.0.2.0/24",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "0.0.0.0/8",
  "::1/128",
  "fe80::/10",
  "fc00::/7",
  "2001:db8::/32",
  "ff00::/8",
  "fec0::/10",
];

const listenerFields = {
  bind_address: str("127.0.0.1", "Address to listen on (\"::\" or \"0.0.0.0\" for all interfaces)."),
  port: int(8008, "TCP port (0 picks a free port, logged at start-up).", { min: 0, max: 65535 }),
  tls: bool(false, "Serve HTTPS on this listener, using [tls] certificate_path and private_key_path."),
  resources: strs(["client", "federation", "keys", "media"], "What this listener serves: client, federation, keys, media, metrics (Prometheus metrics at /_hs/metrics, unauthenticated: give it its own listener on a private address).", {
    check: (v) => {
      const bad = v.find((r) => !["client", "federation", "keys", "media", "metrics"].includes(r));
      return bad === undefined ? undefined : `resources among client, federation, keys, media, metrics (not ${JSON.stringify(bad)})`;
    },
  }),
  x_forwarded: bool(false, "Behind a reverse proxy: take the client's address and scheme from X-Forwarded-For / X-Forwarded-Proto, but only on connections from trusted_proxies."),
  trusted_proxies: strs(["127.0.0.1/8", "::1/128"], "With x_forwarded: the addresses (CIDR ranges) of the reverse proxies whose X-Forwarded-* headers are believed. Other clients' headers are ignored.", {
    check: ipRangesCheck,
  }),
};

export const SCHEMA = {
  server_name: str("", "The domain part of user IDs on this server (@alice:server_name). Cannot change later.", {
    check: serverNameCheck,
    example: "example.org",
  }),
  public_baseurl: str("", "The public URL clients use to reach this server. Defaults to https://<server_name>/.", {
    check: urlCheck,
    example: "https://matrix.example.org/",
  }),
  signing_key_path: str("", "The ed25519 signing key (Synapse format). Created at start-up when missing. Defaults to <data dir>/<server_name>.signing.key.", {
    example: "./data/example.org.signing.key",
  }),
  key_validity_period: int(86400, "How long, in seconds, the signing keys published at /_matrix/key/v2/server stay valid (their valid_until_ts); other servers refetch them after that. Synapse's key_refresh_interval, also 1 day by default; the spec advises at least an hour.", { min: 1 }),
  old_verify_keys: strs([], "Signing keys this server used before, published in old_verify_keys so that events they signed still verify: \"ed25519:<version> <unpadded base64 public key> <expired_ts in ms>\".", {
    check: oldVerifyKeysCheck,
    example: '["ed25519:a_old1 VGhpcyBzaG91bGQgYmUgeW91ciBvbGQga2V5J3MgZWQyNTUxOSBwYXlsb2FkLg 1532645052628"]',
  }),
  default_room_version: oneOf(STABLE_ROOM_VERSIONS, "12", "The room version of rooms created without one (Synapse's name for this key). 12 is what the spec recommends; a server whose peers run older Synapse releases (which know versions 1 to 10) can set \"10\" so that they can join its rooms."),
  max_json_body_size: int(1048576, "Largest JSON request body accepted on client endpoints, in bytes.", { min: 65536 }),

  registration: section("Account registration.", {
    mode: oneOf(["closed", "token", "open"] as const, "closed", "Who may sign up through /register: closed (nobody; admins create accounts with hs register-user), token (only people with a registration token from the admin console or hs admin tokens create), open (anyone). Replaces enabled and requires_token, which still work when mode is not set."),
    enabled: bool(false, "Older form of mode: true is mode = \"open\" (or \"token\" with requires_token). Leave unset when mode is set."),
    shared_secret: str("", "Secret for the shared-secret admin registration API (hs register-user). Empty disables it."),
    requires_token: bool(false, "Older form of mode = \"token\" (with enabled = true); on its own, with registration closed, it has no effect. Leave unset when mode is set."),
    allow_guests: bool(false, "Allow guest accounts (kind=guest)."),
  }),

  password_policy: section("Rules for new passwords chosen by users (registration, password change) and set by admins, like Synapse's password_config.policy. A weak password is refused with M_WEAK_PASSWORD naming the rules; clients read them at GET /_matrix/client/v3/password_policy. hs generate-config writes minimum_length = 10.", {
    minimum_length: int(0, "Fewest characters a new password may have (0: any non-empty password).", { min: 0, max: 512 }),
    require_digit: bool(false, "A new password must contain a digit."),
    require_symbol: bool(false, "A new password must contain a symbol (neither a letter nor a digit)."),
    require_lowercase: bool(false, "A new password must contain a lower-case letter."),
    require_uppercase: bool(false, "A new password must contain an upper-case letter."),
  }),

  auth: section("Access tokens and logins.", {
    access_token_lifetime: int(0, "Lifetime in seconds of access tokens given to clients that support refresh tokens (refresh_token: true); they get a refresh token with it. 0: access tokens never expire and no refresh tokens are issued.", { min: 0 }),
    login_token_lifetime: int(120, "Lifetime in seconds of the single-use m.login.token tokens made by POST /login/get_token.", { min: 1 }),
    login_via_existing_session: bool(true, "Let logged-in users make m.login.token tokens (POST /login/get_token) to log in further clients, after re-entering their password."),
  }),

  database: section("Where hs keeps its data.", {
    backend: oneOf(["sqlite", "postgres"] as const, "sqlite", "Database engine: sqlite (embedded, default) or postgres."),
    path: str("", "SQLite database file (backend = \"sqlite\"). Defaults to <data dir>/homeserver.db.", {
      example: "./data/homeserver.db",
    }),
    url: str("", "PostgreSQL connection URL (backend = \"postgres\"), e.g. postgres://hs:secret@localhost/hs. For a unix socket add ?host=/var/run/postgresql.", {
      example: "postgres://hs:secret@localhost/hs",
    }),
    max_connections: int(10, "PostgreSQL connection pool size. Sends are committed in groups on up to max_connections − 2 of them at once (at most 8).", { min: 1 }),
  }),

  listeners: {
    kind: "array",
    doc: "HTTP(S) listeners. Repeat [[listeners]] for several.",
    fields: listenerFields,
    default: [{}],
  } satisfies TableArray<typeof listenerFields> as TableArray<typeof listenerFields>,

  tls: section("TLS certificate for listeners with tls = true.", {
    certificate_path: str("", "PEM certificate chain.", { example: "/etc/hs/fullchain.pem" }),
    private_key_path: str("", "PEM private key.", { example: "/etc/hs/privkey.pem" }),
  }),

  well_known: section("Discovery documents served under /.well-known/matrix/.", {
    client: str("", "Base URL for /.well-known/matrix/client. Defaults to public_baseurl.", { check: urlCheck }),
    server: str("", "Delegated server for /.well-known/matrix/server, e.g. matrix.example.org:443. Empty: not served.", {
      example: "matrix.example.org:443",
    }),
    support_page: str("", "A help page for this server's users, served in /.well-known/matrix/support.", { check: urlCheck, example: "https://example.org/matrix-help" }),
    support_contacts: strs([], "How to reach the admins, served in /.well-known/matrix/support: \"<role> <contact>...\" where the role is m.role.admin, m.role.security or a namespaced one, and contacts are a Matrix ID and/or an email address. With neither support_page nor support_contacts, /.well-known/matrix/support answers 404.", {
      example: '["m.role.admin @admin:example.org admin@example.org", "m.role.security security@example.org"]',
      check: supportContactsCheck,
    }),
  }),

  federation: section("Talking to other homeservers.", {
    enabled: bool(true, "Federate with other servers."),
    verify_tls: bool(true, "Verify TLS certificates of other servers (turn off only for test setups)."),
    ca_files: strs([], "Extra CA certificates (PEM files) trusted for federation."),
    ip_range_denylist: strs(DEFAULT_IP_RANGE_DENYLIST, "IP ranges that federation requests never connect to.", { check: ipRangesCheck }),
    trusted_key_servers: strs(["matrix.org"], "Notary servers asked for other servers' signing keys when a server does not answer itself. An entry is a server name, optionally followed by the notary's keys (\"matrix.org ed25519:auto=<base64 public key>\"); without keys, the notary's own keys are fetched from it directly.", {
      check: trustedKeyServersCheck,
    }),
    domain_allowlist: strs([], "If not empty, federate only with these server names."),
    retry_min_interval_ms: int(5000, "After a failed delivery to a server, the first retry waits this long (ms); each further failure doubles it, up to an hour. A server that contacts us is retried at once.", { min: 10 }),
    max_concurrent_inbound_transactions: int(
      8,
      "Transactions from other servers processed at once (each server also sends one at a time); more wait their turn. Bounds the memory and CPU a burst of federation traffic can take, e.g. on a Raspberry Pi.",
      { min: 1 },
    ),
    allow_device_name_lookup_over_federation: bool(false, "Show the display names of local users' devices to other servers (in /user/keys/query, /user/devices and device list updates), and so to their users. Off (as in Synapse): other servers' users see device IDs only; local users always see the names."),
  }),

  http_client: section("Outbound HTTP requests (push gateways, URL previews).", {
    ip_range_denylist: strs(DEFAULT_IP_RANGE_DENYLIST, "IP ranges outbound requests never connect to (SSRF protection), push gateways included. Application services are not checked against it: their URLs come from the admin's registration files (as in Synapse).", { check: ipRangesCheck }),
    verify_tls: bool(true, "Verify the TLS certificates of push gateways and application services (bridges). Turn off only for test setups; to trust a private CA, list it in ca_files instead."),
    ca_files: strs([], "Extra CA certificates (PEM files) trusted, besides the system's, for HTTPS to push gateways and application services (bridges) whose certificates a private CA issued.", { example: '["/etc/hs/private-ca.pem"]' }),
  }),

  media: section("The media repository.", {
    store_path: str("", "Directory for uploaded and cached media. Defaults to <data dir>/media.", { example: "./data/media" }),
    max_upload_size: int(52428800, "Largest upload accepted, in bytes. Also the largest remote file fetched over federation.", { min: 1024 }),
    enable_authenticated_media: bool(true, "Freeze the deprecated unauthenticated endpoints (/_matrix/media/v3/download and /thumbnail), as Synapse's enable_authenticated_media does: media uploaded (or remote media cached) while this is on is served only through the authenticated /_matrix/client/v1/media/* endpoints and over federation; older media stays reachable the old way."),
    max_image_pixels: int(32000000, "Images with more pixels than this (width × height × frames) are not thumbnailed: a guard against decompression bombs.", { min: 1 }),
    dynamic_thumbnails: bool(false, "Generate thumbnails of the exact size a client asks for. Off: the spec's recommended sizes (32x32 and 96x96 crop, 320x240, 640x480 and 800x600 scale) are made at upload and the best fit is served."),
    max_storage_per_user: int(
      0,
      "Bytes of uploads a user may keep (their uploads' total size); an upload beyond it gets 403 M_USER_LIMIT_EXCEEDED. Server admins are not limited. 0: no limit.",
      { min: 0 },
    ),
    quota_info_uri: str("", "The page shown to a user who reached max_storage_per_user (the error's info_uri), e.g. how to free space or ask for more. Empty: the server's public base URL."),
    unused_expiration_time: int(86400, "Seconds a media ID created with POST /_matrix/media/v1/create stays reserved for its upload.", { min: 60 }),
    max_pending_uploads: int(5, "Media IDs a user may hold created but not yet uploaded; more get 429 M_LIMIT_EXCEEDED.", { min: 1 }),
    local_media_lifetime: int(0, "Delete local media not downloaded for this many seconds (checked hourly). 0: keep forever.", { min: 0 }),
    remote_media_lifetime: int(0, "Delete cached remote media not downloaded for this many seconds (checked hourly); it is fetched again when asked for. 0: keep forever.", { min: 0 }),
  }),

  logging: section("Logging. Access tokens, passwords and other secrets are never written.", {
    level: oneOf(["debug", "info", "warn", "error"] as const, "info", "Least severe level written."),
    file: str("", "Also write the log to this file instead of stderr. Empty: stderr only."),
    format: oneOf(["auto", "json", "text"] as const, "auto", "json: one JSON object per line; text: human-readable lines; auto: text on a terminal, JSON otherwise."),
    modules: strs([], "Levels for single modules, overriding level: \"module=level\" entries, e.g. [\"http=warn\", \"federation=debug\"]. Modules: http (the request log), federation, rooms, media, e2ee, appservices, push, admin, db and hs (everything else).", {
      check: (v) => {
        const bad = v.find((e) => !/^[a-z_]+=(debug|info|warn|error)$/.test(e));
        return bad === undefined ? undefined : `entries like "federation=debug" (levels debug, info, warn, error), not ${JSON.stringify(bad)}`;
      },
      example: '["http=warn", "federation=debug"]',
    }),
  }),

  caches: section("Memory: one budget for every in-memory cache.", {
    memory_target_mb: int(256, "How much memory hs aims to stay under, in MiB. Every cache (events, state, push rules, keys, tokens, ...) is sized in proportion (256 = the default sizes), and when the process grows past this the caches are trimmed. The default suits a Raspberry Pi with 1 GB; raise it on a big server.", { min: 64 }),
  }),

  voip: section("Voice and video calls: TURN servers handed to clients (GET /_matrix/client/v3/voip/turnServer).", {
    turn_uris: strs([], "TURN server URIs, e.g. [\"turn:turn.example.org:3478?transport=udp\", \"turns:turn.example.org:5349?transport=tcp\"]. Empty: no TURN server (clients get {}).", {
      check: (v) => {
        const bad = v.find((u) => !/^turns?:[^\s]+$/.test(u));
        return bad === undefined ? undefined : `turn: or turns: URIs (not ${JSON.stringify(bad)})`;
      },
    }),
    turn_shared_secret: str("", "The shared secret of coturn's REST API (static-auth-secret with use-auth-secret): clients get short-lived credentials made from it. Takes precedence over turn_username/turn_password."),
    turn_username: str("", "A fixed TURN username (when the TURN server has no shared secret)."),
    turn_password: str("", "The fixed TURN password that goes with turn_username."),
    turn_user_lifetime: int(3600, "How long, in seconds, credentials made from turn_shared_secret stay valid.", { min: 60 }),
    turn_allow_guests: bool(true, "Give TURN credentials to guest accounts too."),
  }),

  appservices: section("Application services (bridges).", {
    config_files: strs([], "Registration files (YAML or JSON) of the application services, as the spec's Registration describes them (id, url, as_token, hs_token, sender_localpart, namespaces, rate_limited, protocols, receive_ephemeral), plus the unstable keys bridges write: de.sorunome.msc2409.push_ephemeral (as receive_ephemeral; to-device messages to the service's users come in transactions too) and org.matrix.msc3202 (device list changes, one-time key counts and unused fallback key types of its users' devices in transactions, for bridges doing encryption without /sync). Relative paths are read from the config file's directory. An invalid file stops the server at start-up with an error naming the file and the field.", {
      example: '["/etc/hs/telegram-registration.yaml"]',
    }),
    retry_min_interval_ms: int(2000, "After a transaction to an application service fails, the first retry waits this long (ms); each further failure doubles it, up to 5 minutes. A successful ping (POST /_matrix/client/v1/appservice/{id}/ping) retries at once.", { min: 10 }),
  }),

  worker: section("Several hs processes on one PostgreSQL database form one homeserver (docs/SCALING.md). By default every process plays every role; this section dedicates a process to some of them. Leave it out with SQLite (one process only).", {
    roles: strs(["client", "federation_inbound", "federation_sender", "media", "background"], "What this process does. client: the client-server API (sync included) on listeners with the client resource; federation_inbound: the federation and key APIs on listeners with the federation resource; media: the media APIs (media resource); federation_sender: sends queued PDUs and EDUs to other servers (each destination's queue is owned by one process at a time); background: periodic jobs (media retention, pruning, deactivation sweeps), pushers and application-service transactions (run by one process at a time). A request for an API whose role the process lacks is answered 404 M_UNRECOGNIZED, as on a listener without that resource: keep the HTTP roles on every process the load balancer sends traffic to, and give at least one process federation_sender and one background.", {
      check: (v) => {
        const known = ["client", "federation_inbound", "federation_sender", "media", "background"];
        const bad = v.find((r) => !known.includes(r));
        if (bad !== undefined) return `roles among ${known.join(", ")} (not ${JSON.stringify(bad)})`;
        if (v.length === 0) return "at least one role (a process with none would do nothing)";
        const dup = v.find((r, i) => v.indexOf(r) !== i);
        return dup === undefined ? undefined : `each role once (${JSON.stringify(dup)} is listed twice)`;
      },
    }),
    instance_name: str("", "A name for this process in logs and in the lease table (process_leases), e.g. \"sender1\". Empty: host name and process ID.", {
      check: (v) => (v === "" || /^[A-Za-z0-9._-]{1,64}$/.test(v) ? undefined : "1 to 64 letters, digits, '.', '_' or '-'"),
    }),
    lease_seconds: int(30, "How long a process's leases (a destination's federation queue, the background jobs) last without renewal; they are renewed every third of it. A process that dies or hangs loses its work to another after at most this long.", { min: 3, max: 3600 }),
  }),

  push: section("Push notifications sent to push gateways (pushers of kind http).", {
    include_content: bool(true, "Send the event's content (message text) to push gateways. Off: only sender, room and counts (clients then fetch the event). Pushers with format event_id_only never get content."),
    group_unread_count_by_room: bool(true, "The badge count sent to push gateways (counts.unread) is the number of rooms with unread notifications. Off: the number of unread notifications."),
    retry_min_interval_ms: int(1000, "After a push gateway fails to accept a notification, the first retry waits this long (ms); each further failure doubles it, up to an hour. A notification still failing after a day is dropped.", { min: 10 }),
  }),

  ratelimit: section("Rate limiting of clients.", {
    enabled: bool(true, "Apply rate limits (M_LIMIT_EXCEEDED) to logins, registrations and messages."),
    max_sync_waiters: int(20000, "Most /sync long-polls waiting at once; beyond it, new long-polls are not woken early (they return after their timeout).", { min: 1 }),
    login_per_minute: int(6, "Login attempts per minute, counted per client IP address and per account.", { min: 1 }),
    login_burst: int(5, "Login attempts allowed in a burst before login_per_minute applies.", { min: 1 }),
    failed_login_per_minute: int(10, "Failed login or password attempts per minute, per account and per IP address, before back-off.", { min: 1 }),
    failed_login_burst: int(3, "Failed login attempts allowed in a burst before failed_login_per_minute applies.", { min: 1 }),
    registration_per_minute: int(10, "Registrations (and registration token checks) per minute, per IP address.", { min: 1 }),
    registration_burst: int(3, "Registrations allowed in a burst before registration_per_minute applies.", { min: 1 }),
    login_token_per_minute: int(1, "POST /login/get_token requests per minute, per user.", { min: 1 }),
    login_token_burst: int(1, "POST /login/get_token requests allowed in a burst.", { min: 1 }),
    message_per_minute: int(12, "Events a user sends per minute (messages, state changes, redactions, new rooms), as Synapse's rc_message; application services registered with rate_limited: false are exempt.", { min: 1 }),
    message_burst: int(10, "Messages allowed in a burst before message_per_minute applies.", { min: 1 }),
  }),

  web_client: section("The web client served at / on listeners with the client resource (built into the binary).", {
    enabled: bool(true, "Serve the web client and admin console at / (and /admin). Off: / answers 404 like any unknown path."),
  }),

  room_directory: section("The public room directory.", {
    publication_allowed: bool(true, "Let users publish rooms to the directory."),
    public_rooms_without_auth: bool(false, "Serve /publicRooms to clients without an access token."),
    public_rooms_over_federation: bool(
      false,
      "Serve this server's published rooms to other servers (GET/POST /_matrix/federation/v1/publicRooms), so their users can browse them with /publicRooms?server=.",
    ),
  }),

  server_notices: section("Server notices: a room per user in which server admins send official notices (POST /_synapse/admin/v1/send_server_notice), as in Synapse.", {
    system_mxid_localpart: str("", "Localpart of the user notices come from (e.g. \"notices\" for @notices:<server_name>); the account is created when the first notice is sent. Empty: server notices are off.", {
      example: "notices",
    }),
    system_mxid_display_name: str("Server Notices", "Display name of the notices user."),
    system_mxid_avatar_url: str("", "Avatar (mxc:// URI) of the notices user."),
    room_name: str("Server Notices", "Name of each user's server notices room."),
    room_topic: str("", "Topic of the server notices rooms."),
    room_avatar_url: str("", "Avatar (mxc:// URI) of the server notices rooms."),
  }),

  user_directory: section("The user directory (POST /user_directory/search).", {
    search_all_users: bool(
      false,
      "Let searches find every local user. Otherwise a search finds only users who share a room with the searcher or are joined to a public or world-readable room.",
    ),
  }),

  presence: section("Presence: online/unavailable/offline, last active time and status messages.", {
    enabled: bool(
      true,
      "Track presence and share it with other users and servers. When false, the presence endpoints still answer, but nothing is tracked, sent or shown (saves work on small machines).",
    ),
    idle_timeout_ms: int(300_000, "A user who has done nothing for this long (milliseconds) is shown as unavailable.", { min: 1 }),
    offline_timeout_ms: int(
      120_000,
      "A user none of whose clients has synced or done anything for this long (milliseconds) is shown as offline. Keep it above the longest /sync long-poll clients use (100 s here).",
      { min: 1 },
    ),
  }),

  url_preview: section("URL previews for links in messages (GET /_matrix/client/v1/media/preview_url).", {
    enabled: bool(false, "Fetch pages to build URL previews. Off: the preview endpoints answer 404 M_UNRECOGNIZED."),
    ip_range_denylist: strs(DEFAULT_IP_RANGE_DENYLIST, "IP ranges the previewer never connects to. A host with any address in these ranges is refused, checked at every connection (redirects and images included) against the address actually connected to.", { check: ipRangesCheck }),
    url_denylist: strs([], "URLs never previewed: a host name glob (\"*.example.com\", matching the host and its subdomains' names) or, starting with ^, a regular expression matched against the whole URL.", {
      example: '["*.internal.example.com", "^https?://[^/]*/private/"]',
      check: (v) => {
        for (const e of v) {
          if (!e.startsWith("^")) continue;
          try {
            new RegExp(e);
          } catch {
            return `host name globs or regular expressions starting with ^ (not ${JSON.stringify(e)}, an invalid regular expression)`;
          }
        }
        return undefined;
      },
    }),
    max_page_size: int(10485760, "Largest page or image downloaded for a preview, in bytes.", { min: 1024 }),
    timeout: int(10, "Seconds allowed to fetch a page (redirects included) or its image.", { min: 1 }),
    cache_lifetime: int(3600, "Seconds a preview is answered from the cache before the page is fetched again.", { min: 0 }),
  }),
} as const;

export type Config = Infer<typeof SCHEMA> & {
  /** Directory of the config file; relative paths in the config resolve against it. */
  readonly config_dir: string;
};
