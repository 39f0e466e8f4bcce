// Server discovery: from a server name to where to connect, which Host header to send and which name
// the TLS certificate must be valid for. Spec: server-server-api.md "Resolving server names", steps 1–6
// (and 3.1–3.5 for a delegated name), wellknown.yaml.
//
// Caching: /.well-known/matrix/server results are kept per Cache-Control max-age / Expires (no-store
// counts as the minimum), 24 h by default, at least 5 minutes and at most 48 h (Synapse's limits).
// Invalid answers (non-200, bad JSON, no valid m.server) are cached for 1 h. Network failures keep a
// previously valid delegation for up to 1 h more and are otherwise retried after 2 minutes, doubling
// with each further failure up to 1 h. SRV answers are cached for 1 h (a failed lookup briefly).
// Address (A/AAAA) lookups are left to the outbound client, which checks the addresses it connects to.
import { resolveSrv as dnsResolveSrv } from "node:dns/promises";
import { parseServerName, type ServerNameParts } from "../../protocol/ids.ts";
import { Lru } from "../../util/lru.ts";
import type { OutboundHttp, OutboundTarget } from "./outbound-http.ts";

export const DEFAULT_FEDERATION_PORT = 8448;

export interface ResolvedServer {
  serverName: string;
  /** Where to connect, in order (several for SRV records with several targets). */
  targets: OutboundTarget[];
  /** The Host header to send. */
  hostHeader: string;
  /** The name the certificate must be valid for (and the SNI unless it is an IP literal). */
  tlsName: string;
  /** How the result was found (for logs and tests). */
  via: "ip-literal" | "explicit-port" | "well-known" | "srv" | "srv-legacy" | "default-port";
  /** The delegated server name from /.well-known, when there was one. */
  delegatedTo?: string;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface WellKnownAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export interface DiscoveryDeps {
  /** SRV lookup; resolves to [] when there is no such record. */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /**
   * GET https://<hostname>/.well-known/matrix/server, following redirects (the implementation limits
   * them, the body size and the time). Rejects on network failure.
   */
  fetchWellKnown(hostname: string): Promise<WellKnownAnswer>;
  now?: () => number;
  /** Random jitter factor in [0,1) for cache lifetimes; defaults to Math.random. */
  random?: () => number;
}

export class ServerDiscoveryError extends Error {
  override name = "ServerDiscoveryError";
}

export const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3600_000;
export const WELL_KNOWN_MAX_CACHE_MS = 48 * 3600_000;
export const WELL_KNOWN_MIN_CACHE_MS = 5 * 60_000;
export const WELL_KNOWN_INVALID_CACHE_MS = 3600_000;
export const WELL_KNOWN_DOWN_RETRY_MS = 2 * 60_000;
export const WELL_KNOWN_DOWN_MAX_RETRY_MS = 3600_000;
/** How long a valid delegation is still used after it expired while the server fails to answer. */
export const WELL_KNOWN_GRACE_MS = 3600_000;
export const WELL_KNOWN_MAX_BYTES = 50 * 1024;
export const SRV_CACHE_MS = 3600_000;
export const SRV_FAILURE_CACHE_MS = 60_000;

interface WellKnownEntry {
  /** The delegated server name, or null when there is none (invalid or failed). */
  delegated: string | null;
  expiresAt: number;
  /** The last valid delegation and until when it may stand in for failed refreshes. */
  lastGood?: { delegated: string; graceUntil: number };
  /** Consecutive network failures. */
  failures: number;
}

/** Parses Cache-Control / Expires into a lifetime in ms; undefined when the headers say nothing. */
export function cacheLifetimeMs(headers: Headers, now: number): number | undefined {
  const cc = headers.get("cache-control");
  if (cc) {
    const directives = cc.toLowerCase().split(",").map((d) => d.trim());
    if (directives.includes("no-store") || directives.includes("no-cache")) return 0;
    for (const d of directives) {
      const m = /^max-age\s*=\s*"?(\d+)"?$/.exec(d);
      if (m) return Number(m[1]) * 1000;
    }
  }
  const expires = headers.get("expires");
  if (expires) {
    const t = Date.parse(expires);
    return Number.isNaN(t) ? 0 : Math.max(0, t - now);
  }
  return undefined;
}

/** The delegated server name in a /.well-known/matrix/server body, or null when invalid. */
export function parseWellKnownBody(body: Uint8Array): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return null;
  const server = (doc as Record<string, unknown>)["m.server"];
  if (typeof server !== "string" || parseServerName(server) === null) return null;
  return server;
}

/** Orders SRV records by priority, then by weight (RFC 2782; heavier first within a priority). */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) {
    if (r.name === "." || r.name === "") continue; // "service decidedly not available"
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: SrvRecord[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Weighted random selection without replacement.
    const pool = [...byPriority.get(p)!];
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let x = random() * total;
        for (pick = 0; pick < pool.length - 1; pick++) {
          x -= pool[pick]!.weight;
          if (x < 0) break;
        }
      }
      out.push(pool.splice(pick, 1)[0]!);
    }
  }
  return out;
}

function bareHost(parts: ServerNameParts): string {
  return parts.kind === "ipv6" ? parts.host.slice(1, -1) : parts.host;
}

export class ServerResolver {
  readonly #deps: DiscoveryDeps;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #wellKnown = new Lru<string, WellKnownEntry>(10000, "well_known");
  readonly #wellKnownInFlight = new Map<string, Promise<string | null>>();
  readonly #srv = new Lru<string, { records: SrvRecord[]; expiresAt: number }>(10000, "srv_records");

  constructor(deps: DiscoveryDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#random = deps.random ?? Math.random;
  }

  /** Resolves a server name. Throws ServerDiscoveryError for an invalid name. */
  async resolve(serverName: string): Promise<ResolvedServer> {
    const parts = parseServerName(serverName);
    if (!parts) throw new ServerDiscoveryError(`invalid server name ${JSON.stringify(serverName)}`);
    // Step 1: IP literal.
    if (parts.kind !== "dns") {
      return {
        serverName,
        targets: [{ host: bareHost(parts), port: parts.port ?? DEFAULT_FEDERATION_PORT }],
        hostHeader: serverName,
        tlsName: bareHost(parts),
        via: "ip-literal",
      };
    }
    // Step 2: explicit port.
    if (parts.port !== undefined) {
      return { serverName, targets: [{ host: parts.host, port: parts.port }], hostHeader: serverName, tlsName: parts.host, via: "explicit-port" };
    }
    // Step 3: /.well-known delegation.
    const delegated = await this.wellKnown(parts.host);
    if (delegated !== null) {
      const d = parseServerName(delegated)!;
      const base = { serverName, delegatedTo: delegated, via: "well-known" as const };
      // 3.1: IP literal.
      if (d.kind !== "dns") {
        return { ...base, targets: [{ host: bareHost(d), port: d.port ?? DEFAULT_FEDERATION_PORT }], hostHeader: delegated, tlsName: bareHost(d) };
      }
      // 3.2: explicit port.
      if (d.port !== undefined) return { ...base, targets: [{ host: d.host, port: d.port }], hostHeader: delegated, tlsName: d.host };
      // 3.3 / 3.4: SRV records of the delegated hostname; 3.5: port 8448.
      const srv = await this.srvTargets(d.host);
      return { ...base, targets: srv?.targets ?? [{ host: d.host, port: DEFAULT_FEDERATION_PORT }], hostHeader: d.host, tlsName: d.host };
    }
    // Steps 4 and 5: SRV records of the hostname; 6: port 8448.
    const srv = await this.srvTargets(parts.host);
    if (srv) return { serverName, targets: srv.targets, hostHeader: parts.host, tlsName: parts.host, via: srv.legacy ? "srv-legacy" : "srv" };
    return { serverName, targets: [{ host: parts.host, port: DEFAULT_FEDERATION_PORT }], hostHeader: parts.host, tlsName: parts.host, via: "default-port" };
  }

  /** Forgets cached discovery results (all, or one host's). */
  clearCache(hostname?: string): void {
    if (hostname === undefined) {
      this.#wellKnown.clear();
      this.#srv.clear();
    } else {
      this.#wellKnown.delete(hostname);
      this.#srv.delete(`_matrix-fed._tcp.${hostname}`);
      this.#srv.delete(`_matrix._tcp.${hostname}`);
    }
  }

  private async srvTargets(host: string): Promise<{ targets: OutboundTarget[]; legacy: boolean } | undefined> {
    const fed = await this.srv(`_matrix-fed._tcp.${host}`);
    if (fed.length > 0) return { targets: fed.map((r) => ({ host: r.name, port: r.port })), legacy: false };
    const legacy = await this.srv(`_matrix._tcp.${host}`);
    if (legacy.length > 0) return { targets: legacy.map((r) => ({ host: r.name, port: r.port })), legacy: true };
    return undefined;
  }

  private async srv(name: string): Promise<SrvRecord[]> {
    const now = this.#now();
    const hit = this.#srv.get(name);
    if (hit && hit.expiresAt > now) return orderSrv(hit.records, this.#random);
    let records: SrvRecord[];
    try {
      records = await this.#deps.resolveSrv(name);
    } catch {
      // A transient failure: use what we had, if anything, and retry soon.
      records = hit?.records ?? [];
      this.#srv.set(name, { records, expiresAt: now + SRV_FAILURE_CACHE_MS });
      return orderSrv(records, this.#random);
    }
    this.#srv.set(name, { records, expiresAt: now + SRV_CACHE_MS });
    return orderSrv(records, this.#random);
  }

  /** The delegated server name for `hostname` from /.well-known/matrix/server, or null. */
  async wellKnown(hostname: string): Promise<string | null> {
    const hit = this.#wellKnown.get(hostname);
    if (hit && hit.expiresAt > this.#now()) return hit.delegated;
    let p = this.#wellKnownInFlight.get(hostname);
    if (!p) {
      p = this.fetchWellKnown(hostname, hit).finally(() => this.#wellKnownInFlight.delete(hostname));
      this.#wellKnownInFlight.set(hostname, p);
    }
    return p;
  }

  private jitter(ms: number): number {
    // Up to 10% earlier, so that many entries cached at once do not all expire together.
    return Math.round(ms * (1 - 0.1 * this.#random()));
  }

  private async fetchWellKnown(hostname: string, previous: WellKnownEntry | undefined): Promise<string | null> {
    let answer: WellKnownAnswer;
    try {
      answer = await this.#deps.fetchWellKnown(hostname);
    } catch {
      const now = this.#now();
      const failures = (previous?.failures ?? 0) + 1;
      const retry = Math.min(WELL_KNOWN_DOWN_MAX_RETRY_MS, WELL_KNOWN_DOWN_RETRY_MS * 2 ** (failures - 1));
      const lastGood = previous?.lastGood && previous.lastGood.graceUntil > now ? previous.lastGood : undefined;
      const entry: WellKnownEntry = { delegated: lastGood?.delegated ?? null, expiresAt: now + retry, lastGood, failures };
      this.#wellKnown.set(hostname, entry);
      return entry.delegated;
    }
    const now = this.#now();
    const delegated = answer.status === 200 ? parseWellKnownBody(answer.body) : null;
    if (delegated === null) {
      this.#wellKnown.set(hostname, { delegated: null, expiresAt: now + WELL_KNOWN_INVALID_CACHE_MS, failures: 0 });
      return null;
    }
    const lifetime = cacheLifetimeMs(answer.headers, now);
    const ms =
      lifetime === undefined
        ? this.jitter(WELL_KNOWN_DEFAULT_CACHE_MS)
        : Math.min(WELL_KNOWN_MAX_CACHE_MS, Math.max(WELL_KNOWN_MIN_CACHE_MS, lifetime));
    this.#wellKnown.set(hostname, {
      delegated,
      expiresAt: now + ms,
      lastGood: { delegated, graceUntil: now + ms + WELL_KNOWN_GRACE_MS },
      failures: 0,
    });
    return delegated;
  }
}

/** SRV lookups through the system resolver; "no such record" is an empty list, other errors reject. */
export async function systemResolveSrv(name: string): Promise<SrvRecord[]> {
  try {
    return await dnsResolveSrv(name);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA" || code === "NXDOMAIN" || code === "ENONAME") return [];
    throw e;
  }
}

export const WELL_KNOWN_MAX_REDIRECTS = 10;
export const WELL_KNOWN_TIMEOUT_MS = 10_000;

/**
 * GET https://<hostname>/.well-known/matrix/server through the checked outbound client: 30x redirects
 * are followed (https only, at most 10, never twice to the same URL), the body is capped at 50 KiB.
 * A redirect that cannot be followed is answered as a non-200 (invalid) response.
 */
export function makeWellKnownFetcher(http: OutboundHttp): (hostname: string) => Promise<WellKnownAnswer> {
  return async (hostname) => {
    let url = new URL(`https://${hostname}/.well-known/matrix/server`);
    const seen = new Set<string>();
    for (let hop = 0; ; hop++) {
      seen.add(url.href);
      const res = await http.request({
        targets: [{ host: url.hostname, port: url.port ? Number(url.port) : 443 }],
        hostHeader: url.host,
        tlsName: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
        method: "GET",
        pathAndQuery: url.pathname + url.search,
        headers: { Accept: "application/json" },
        timeoutMs: WELL_KNOWN_TIMEOUT_MS,
        maxResponseBytes: WELL_KNOWN_MAX_BYTES,
      });
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
      const location = res.headers.get("location");
      let next: URL | undefined;
      try {
        next = location ? new URL(location, url) : undefined;
      } catch {
        next = undefined;
      }
      if (!next || next.protocol !== "https:" || seen.has(next.href) || hop + 1 >= WELL_KNOWN_MAX_REDIRECTS) return res;
      url = next;
    }
  };
}
