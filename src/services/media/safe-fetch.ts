// Fetching arbitrary http(s) URLs without becoming an SSRF proxy (URL previews, media `Location`
// redirects). Every hop — the first URL and each redirect — is checked: the scheme, the URL deny
// list, and every address the host resolves to against the IP range deny list (a host with any
// denied address is refused). The connection then goes to one of the checked addresses, so a DNS
// answer that changes between check and connect (DNS rebinding) cannot move it elsewhere: the
// OutboundHttp client connects by IP, with the Host header and TLS name of the URL.
import { OutboundError, type OutboundHttp } from "../federation/outbound-http.ts";

export type SafeFetchErrorKind = "denied" | "invalid_url" | "network" | "timeout" | "too_many_redirects";

export class SafeFetchError extends Error {
  override name = "SafeFetchError";
  constructor(
    readonly kind: SafeFetchErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface SafeFetchOptions {
  http: OutboundHttp;
  /** Returns a reason when this URL must not be fetched (url_denylist). */
  urlDenied?: (url: URL) => string | undefined;
  maxRedirects?: number;
  userAgent: string;
}

export interface FetchedResponse {
  /** The final URL (after redirects). */
  url: URL;
  res: Response;
}

function defaultPort(u: URL): number {
  return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}

export class SafeFetcher {
  readonly #opts: SafeFetchOptions;

  constructor(opts: SafeFetchOptions) {
    this.#opts = opts;
  }

  /**
   * GETs `url`, following redirects (each checked again), within `timeoutMs` overall. Returns the
   * final response with its body unread: the caller reads it (the deadline still applies) or
   * cancels it.
   */
  async get(url: string | URL, opts: { timeoutMs: number; headers?: Record<string, string> }): Promise<FetchedResponse> {
    const deadline = Date.now() + opts.timeoutMs;
    const maxRedirects = this.#opts.maxRedirects ?? 5;
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      throw new SafeFetchError("invalid_url", "not a valid URL");
    }
    for (let hop = 0; ; hop++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") throw new SafeFetchError("invalid_url", `unsupported URL scheme ${current.protocol}`);
      if (current.username || current.password) throw new SafeFetchError("invalid_url", "URLs with credentials are not fetched");
      const denied = this.#opts.urlDenied?.(current);
      if (denied) throw new SafeFetchError("denied", denied);
      const host = current.hostname;
      const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
      let addrs;
      try {
        addrs = await this.#opts.http.allowedAddresses(bare);
      } catch (e) {
        throw new SafeFetchError("network", (e as Error).message);
      }
      if (addrs.denied.length > 0) throw new SafeFetchError("denied", `${bare} resolves to an address in the IP range deny list`);
      if (addrs.allowed.length === 0) throw new SafeFetchError("network", `${bare} has no address`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new SafeFetchError("timeout", "timed out");
      let res: Response;
      try {
        res = await this.#opts.http.open({
          targets: addrs.allowed.map((ip) => ({ host: ip, port: defaultPort(current) })),
          hostHeader: current.host,
          tlsName: bare,
          method: "GET",
          pathAndQuery: current.pathname + current.search,
          headers: { "User-Agent": this.#opts.userAgent, ...opts.headers },
          timeoutMs: remaining,
          scheme: current.protocol === "https:" ? "https" : "http",
        });
      } catch (e) {
        if (e instanceof OutboundError) {
          if (e.kind === "denied") throw new SafeFetchError("denied", e.message);
          if (e.kind === "timeout") throw new SafeFetchError("timeout", e.message);
        }
        throw new SafeFetchError("network", (e as Error).message);
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.body?.cancel().catch(() => {});
        if (hop >= maxRedirects) throw new SafeFetchError("too_many_redirects", `more than ${maxRedirects} redirects`);
        try {
          current = new URL(location, current);
        } catch {
          throw new SafeFetchError("invalid_url", "redirect to an invalid URL");
        }
        continue;
      }
      return { url: current, res };
    }
  }
}

/** Reads a body up to `max` bytes (undefined past it: the rest is cancelled). */
export async function readUpTo(res: Response, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.byteLength;
    if (n > max) {
      await res.body.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(c);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
