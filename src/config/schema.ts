// The homeserver.toml schema: every option, its type, default and documentation, in one place.
// The loader validates against it, `hs generate-config` writes the commented sample from it, and
// the Config type is derived from it.

import { ipRangeProblem } from "../util/ip-range.ts";

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
  resources: strs(["client", "federation", "keys", "media"], "What this listener serves: client, federation, keys, media.", {
    check: (v) => {
      const bad = v.find((r) => !["client", "federation", "keys", "media"].includes(r));
      return bad === undefined ? undefined : `resources among client, federation, keys, media (not ${JSON.stringify(bad)})`;
    },
  }),
  x_forwarded: bool(false, "Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy in front of this listener."),
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
  max_json_body_size: int(1048576, "Largest JSON request body accepted on client endpoints, in bytes.", { min: 65536 }),

  registration: section("Account registration.", {
    enabled: bool(false, "Allow anyone to register an account through /register (off by default, as in Synapse)."),
    shared_secret: str("", "Secret for the shared-secret admin registration API (hs register-user). Empty disables it."),
    requires_token: bool(false, "Require a registration token (m.login.registration_token) to register."),
    allow_guests: bool(false, "Allow guest accounts (kind=guest)."),
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
    max_connections: int(10, "PostgreSQL connection pool size.", { min: 1 }),
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
  }),

  http_client: section("Outbound HTTP requests (push gateways, appservices, URL previews).", {
    ip_range_denylist: strs(DEFAULT_IP_RANGE_DENYLIST, "IP ranges outbound requests never connect to (SSRF protection).", { check: ipRangesCheck }),
  }),

  media: section("The media repository.", {
    store_path: str("", "Directory for uploaded and cached media. Defaults to <data dir>/media.", { example: "./data/media" }),
    max_upload_size: int(52428800, "Largest upload accepted, in bytes.", { min: 1024 }),
  }),

  logging: section("Logging.", {
    level: oneOf(["debug", "info", "warn", "error"] as const, "info", "Least severe level written."),
    file: str("", "Also write the log to this file instead of stderr. Empty: stderr only."),
  }),

  appservices: section("Application services (bridges).", {
    config_files: strs([], "Registration files (YAML or JSON) of the application services."),
  }),

  ratelimit: section("Rate limiting of clients.", {
    enabled: bool(true, "Apply rate limits (M_LIMIT_EXCEEDED) to logins, registrations and messages."),
    login_per_minute: int(6, "Login attempts per minute, counted per client IP address and per account.", { min: 1 }),
    login_burst: int(5, "Login attempts allowed in a burst before login_per_minute applies.", { min: 1 }),
    failed_login_per_minute: int(10, "Failed login or password attempts per minute, per account and per IP address, before back-off.", { min: 1 }),
    failed_login_burst: int(3, "Failed login attempts allowed in a burst before failed_login_per_minute applies.", { min: 1 }),
    registration_per_minute: int(10, "Registrations (and registration token checks) per minute, per IP address.", { min: 1 }),
    registration_burst: int(3, "Registrations allowed in a burst before registration_per_minute applies.", { min: 1 }),
    login_token_per_minute: int(1, "POST /login/get_token requests per minute, per user.", { min: 1 }),
    login_token_burst: int(1, "POST /login/get_token requests allowed in a burst.", { min: 1 }),
    message_per_minute: int(12, "Messages (events) sent per minute, per user.", { min: 1 }),
    message_burst: int(10, "Messages allowed in a burst before message_per_minute applies.", { min: 1 }),
  }),

  room_directory: section("The public room directory.", {
    publication_allowed: bool(true, "Let users publish rooms to the directory."),
    public_rooms_without_auth: bool(false, "Serve /publicRooms to clients without an access token."),
  }),

  url_preview: section("URL previews for links in messages.", {
    enabled: bool(false, "Fetch pages to build URL previews."),
    ip_range_denylist: strs(DEFAULT_IP_RANGE_DENYLIST, "IP ranges the previewer never connects to."),
  }),
} as const;

export type Config = Infer<typeof SCHEMA> & {
  /** Directory of the config file; relative paths in the config resolve against it. */
  readonly config_dir: string;
};
