// The federation transport services, built from the config: our keys, the KeyRing, server
// discovery, the signed outbound client, the notary and server ACLs.
// When [federation] enabled = false nothing is ever sent: the client refuses every request and the
// KeyRing answers from what it already has.
import { readFileSync } from "node:fs";
import type { Config } from "../../config/schema.ts";
import type { SigningKey } from "../../core/signing.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import { IpRangeSet } from "../../util/ip-range.ts";
import { ServerAcls, type AclContentLookup } from "./acl.ts";
import { FederationClient } from "./client.ts";
import { makeWellKnownFetcher, ServerResolver, systemResolveSrv, type DiscoveryDeps } from "./discovery.ts";
import { KeyRing, parseTrustedKeyServers, type KeyFetcher } from "./keyring.ts";
import { Notary } from "./notary.ts";
import { OutboundHttp, type HostLookup } from "./outbound-http.ts";
import { OwnKeys, parseOldVerifyKeys } from "./own-keys.ts";

export interface FederationServices {
  /** [federation] enabled. */
  readonly enabled: boolean;
  readonly ownKeys: OwnKeys;
  readonly keyRing: KeyRing;
  readonly resolver: ServerResolver;
  readonly client: FederationClient;
  readonly notary: Notary;
  readonly acls: ServerAcls;
  /** Run for each authenticated request from another server: it is up (e.g. resume deliveries to it). */
  readonly inboundHooks: Array<(origin: string) => void>;
  /** domain_allowlist: whether we federate with this server at all. */
  isDomainAllowed(serverName: string): boolean;
}

export interface FederationServicesOptions {
  /** The content of a room's current m.room.server_acl event (undefined: none). */
  aclContent?: AclContentLookup;
  /** Test hooks: fake DNS and /.well-known, address lookups, clock. */
  discovery?: Partial<DiscoveryDeps>;
  lookup?: HostLookup;
  now?: () => number;
}

export function createFederationServices(config: Config, repos: Pick<Repositories, "serverKeys">, signingKey: SigningKey, opts: FederationServicesOptions = {}): FederationServices {
  const fed = config.federation;
  const serverName = config.server_name;
  const now = opts.now ?? Date.now;
  const allowlist = new Set(fed.domain_allowlist);
  const isDomainAllowed = (name: string) => allowlist.size === 0 || allowlist.has(name) || name === serverName;

  const http = new OutboundHttp({
    denylist: new IpRangeSet(fed.ip_range_denylist),
    verifyTls: fed.verify_tls,
    extraCaPems: fed.ca_files.map((f) => readFileSync(f, "utf8")),
    lookup: opts.lookup,
  });
  const resolver = new ServerResolver({
    resolveSrv: opts.discovery?.resolveSrv ?? systemResolveSrv,
    fetchWellKnown: opts.discovery?.fetchWellKnown ?? makeWellKnownFetcher(http),
    now: opts.discovery?.now ?? now,
    random: opts.discovery?.random,
  });
  const client = new FederationClient({ serverName, signingKey, resolver, http, enabled: fed.enabled, isDomainAllowed });
  const ownKeys = new OwnKeys({
    serverName,
    signingKey,
    oldKeys: parseOldVerifyKeys(config.old_verify_keys),
    validityMs: config.key_validity_period * 1000,
    now,
  });
  const fetcher: KeyFetcher | undefined = fed.enabled
    ? {
        fetchServerKeys: (server) => client.getJson(server, "/_matrix/key/v2/server", { timeoutMs: 30_000, maxResponseBytes: 1 << 20 }),
        queryNotary: (notary, body) => client.postJson(notary, "/_matrix/key/v2/query", body, { timeoutMs: 30_000, maxResponseBytes: 16 << 20 }),
      }
    : undefined;
  const keyRing = new KeyRing({
    serverName,
    ownKeys,
    store: repos.serverKeys,
    fetcher,
    trustedKeyServers: parseTrustedKeyServers(fed.trusted_key_servers),
    now,
  });
  const notary = new Notary(keyRing, serverName, signingKey);
  const acls = new ServerAcls(opts.aclContent ?? (async () => undefined));
  return { enabled: fed.enabled, ownKeys, keyRing, resolver, client, notary, acls, isDomainAllowed, inboundHooks: [] };
}
