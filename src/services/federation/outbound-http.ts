// HTTPS requests to other servers, connecting only to checked addresses. The caller says which hosts
// and ports to try (from server discovery), which Host header to send and which name the certificate
// must be valid for. Host names are resolved here; every address is checked against the IP range
// deny list, and the connection goes to that checked address (no second DNS lookup that could answer
// differently: no DNS rebinding). The certificate is verified against the expected name (sent as SNI
// unless it is an IP address), unless verification is turned off.
import { lookup as dnsLookup } from "node:dns/promises";
import { systemRootCertificates } from "../../util/root-certificates.ts";
import { IpRangeSet, parseIp } from "../../util/ip-range.ts";

export interface OutboundTarget {
  /** A DNS name or an IP literal (IPv6 with or without brackets). */
  host: string;
  port: number;
}

export interface OutboundRequest {
  /** Tried in order; each host's addresses in the order the resolver gives them. */
  targets: readonly OutboundTarget[];
  hostHeader: string;
  /** The name the certificate must be valid for; an IP literal means: send no SNI, verify the IP. */
  tlsName: string;
  method: string;
  /** Path and query, starting with `/`. */
  pathAndQuery: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Overall deadline (all attempts, and reading the body). */
  timeoutMs: number;
  maxResponseBytes: number;
  /** "https" (default, with the TLS checks above) or "http" (URL previews of http:// pages). */
  scheme?: "https" | "http";
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export type OutboundErrorKind = "denied" | "network" | "timeout" | "too_large" | "tls";

export class OutboundError extends Error {
  override name = "OutboundError";
  constructor(
    readonly kind: OutboundErrorKind,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** Resolves a host name to its addresses (A/AAAA, following CNAMEs). */
export type HostLookup = (host: string) => Promise<string[]>;

export const systemLookup: HostLookup = async (host) => {
  const found = await dnsLookup(host, { all: true, order: "ipv4first" });
  return found.map((a) => a.address);
};

export interface OutboundHttpOptions {
  /** Addresses never connected to. */
  denylist: IpRangeSet;
  verifyTls: boolean;
  /** Extra trusted CA certificates (PEM), on top of the default roots. */
  extraCaPems?: readonly string[];
  lookup?: HostLookup;
  fetch?: typeof fetch;
}

// Errors meaning the connection was never made: the next address can be tried safely.
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "FailedToOpenSocket",
]);

const TLS_ERROR_RE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/;

function errCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : "";
}

function urlHost(ip: string): string {
  return ip.includes(":") ? `[${ip}]` : ip;
}

/** Reads a body, failing once it exceeds `max` bytes. */
export async function readLimited(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new OutboundError("too_large", `response of ${declared} bytes exceeds the limit of ${max}`);
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new OutboundError("too_large", `response exceeds the limit of ${max} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

export class OutboundHttp {
  readonly #denylist: IpRangeSet;
  readonly #verifyTls: boolean;
  readonly #ca: string[] | undefined;
  readonly #lookup: HostLookup;
  readonly #fetch: typeof fetch;

  constructor(opts: OutboundHttpOptions) {
    this.#denylist = opts.denylist;
    this.#verifyTls = opts.verifyTls;
    this.#ca = opts.extraCaPems && opts.extraCaPems.length > 0 ? [...systemRootCertificates(), ...opts.extraCaPems] : undefined;
    this.#lookup = opts.lookup ?? systemLookup;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** The addresses of `host` that may be connected to (IP literals are checked as they are). */
  async allowedAddresses(host: string): Promise<{ allowed: string[]; denied: string[] }> {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    let addrs: string[];
    if (parseIp(bare)) addrs = [bare];
    else {
      try {
        addrs = await this.#lookup(bare);
      } catch (e) {
        throw new OutboundError("network", `cannot resolve ${bare}: ${errCode(e) || (e as Error).message}`, e);
      }
    }
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const a of addrs) (this.#denylist.contains(a) ? denied : allowed).push(a);
    return { allowed, denied };
  }

  async request(req: OutboundRequest): Promise<OutboundResponse> {
    const { res, signal } = await this.#connect(req);
    try {
      const body = await readLimited(res, req.maxResponseBytes);
      return { status: res.status, headers: res.headers, body };
    } catch (e) {
      if (e instanceof OutboundError) throw e;
      if (signal.aborted) throw new OutboundError("timeout", `request to ${req.hostHeader} timed out after ${req.timeoutMs} ms`, e);
      throw new OutboundError("network", `reading the response of ${req.hostHeader} failed: ${(e as Error).message}`, e);
    }
  }

  /**
   * Like request, but returns the answer with its body unread (to stream it, e.g. media to disk).
   * The deadline still applies: reading the body fails once `timeoutMs` has passed. The caller
   * enforces its own size limit and must read or cancel the body.
   */
  async open(req: Omit<OutboundRequest, "maxResponseBytes">): Promise<Response> {
    return (await this.#connect(req)).res;
  }

  async #connect(req: Omit<OutboundRequest, "maxResponseBytes">): Promise<{ res: Response; signal: AbortSignal }> {
    const signal = AbortSignal.timeout(req.timeoutMs);
    const scheme = req.scheme ?? "https";
    const tlsNameIsIp = parseIp(req.tlsName) !== null;
    const tls: Record<string, unknown> = { rejectUnauthorized: this.#verifyTls };
    if (!tlsNameIsIp) tls.serverName = req.tlsName;
    if (this.#ca) tls.ca = this.#ca;
    let lastError: unknown;
    let deniedOnly = true;
    for (const target of req.targets) {
      let addrs: { allowed: string[]; denied: string[] };
      try {
        addrs = await this.allowedAddresses(target.host);
      } catch (e) {
        lastError = e;
        deniedOnly = false;
        continue;
      }
      if (addrs.allowed.length > 0) deniedOnly = false;
      for (const ip of addrs.allowed) {
        let res: Response;
        try {
          res = await this.#fetch(`${scheme}://${urlHost(ip)}:${target.port}${req.pathAndQuery}`, {
            method: req.method,
            headers: { ...req.headers, Host: req.hostHeader },
            body: req.body,
            redirect: "manual",
            signal,
            ...(scheme === "https" ? { tls } : {}),
            proxy: false,
            decompress: true,
          } as RequestInit);
        } catch (e) {
          if (signal.aborted) throw new OutboundError("timeout", `request to ${req.hostHeader} timed out after ${req.timeoutMs} ms`, e);
          const code = errCode(e);
          if (TLS_ERROR_RE.test(code)) throw new OutboundError("tls", `TLS error talking to ${req.hostHeader} (${ip}): ${code}`, e);
          lastError = e;
          if (CONNECT_ERRORS.has(code)) continue;
          throw new OutboundError("network", `request to ${req.hostHeader} (${ip}) failed: ${code || (e as Error).message}`, e);
        }
        return { res, signal };
      }
    }
    if (deniedOnly && req.targets.length > 0) {
      throw new OutboundError("denied", `${req.hostHeader} resolves only to addresses in the IP range deny list`);
    }
    if (lastError instanceof OutboundError) throw lastError;
    const code = errCode(lastError);
    throw new OutboundError("network", `cannot connect to ${req.hostHeader}: ${code || (lastError as Error | undefined)?.message || "no address"}`, lastError);
  }
}
