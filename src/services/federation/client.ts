// Outbound federation requests: signed with our key (`Authorization: X-Matrix ...`, spec
// server-server-api.md "Request Authentication"), sent over HTTPS to where server discovery says,
// through the checked outbound client (IP range deny list, certificate verification), with JSON
// responses parsed under a size cap and failures mapped onto FederationError.
//
//   const body = await svc.federation.client.getJson(dest, fedPath`/_matrix/federation/v1/event/${eventId}`);
//   await svc.federation.client.putJson(dest, fedPath`/_matrix/federation/v1/send/${txnId}`, txn);
import { signRequest } from "../../core/x-matrix.ts";
import type { SigningKey } from "../../core/signing.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../protocol/versions.ts";
import { ServerDiscoveryError, type ServerResolver } from "./discovery.ts";
import { OutboundError, type OutboundHttp } from "./outbound-http.ts";

export type FederationErrorKind =
  /** The remote answered with a non-2xx status (see status, errcode). */
  | "http"
  /** Could not connect, or the connection broke. */
  | "network"
  | "timeout"
  /** TLS failed: e.g. the certificate did not verify. */
  | "tls"
  /** Not allowed: domain_allowlist, or every address is in the IP range deny list. */
  | "denied"
  /** Federation is disabled in the config. */
  | "disabled"
  /** The answer was not JSON, or too large. */
  | "invalid_response"
  /** The server name is invalid. */
  | "discovery";

export class FederationError extends Error {
  override name = "FederationError";
  readonly destination: string;
  readonly kind: FederationErrorKind;
  /** HTTP status (kind "http"). */
  readonly status: number | undefined;
  /** The remote's Matrix errcode, when its error body had one. */
  readonly errcode: string | undefined;
  /** The remote's parsed error body, if any. */
  readonly body: unknown;
  /** How long to wait before retrying (the remote's retry_after_ms / Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(
    destination: string,
    kind: FederationErrorKind,
    message: string,
    extra: { status?: number; errcode?: string; body?: unknown; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.destination = destination;
    this.kind = kind;
    this.status = extra.status;
    this.errcode = extra.errcode;
    this.body = extra.body;
    this.retryAfterMs = extra.retryAfterMs;
  }

  /** Failures that say nothing about the request itself: worth retrying later. */
  get transient(): boolean {
    return this.kind === "network" || this.kind === "timeout" || (this.kind === "http" && (this.status ?? 0) >= 500) || this.status === 429;
  }
}

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

/** `a=1&b=x&b=y`: keys and values percent-encoded; arrays repeat the key; undefined is skipped. */
export function encodeQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v as string | number | boolean];
    for (const x of values) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(x))}`);
  }
  return parts.join("&");
}

/** Tagged template that percent-encodes each interpolated path segment: fedPath`/a/${roomId}/b`. */
export function fedPath(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += encodeURIComponent(String(values[i])) + strings[i + 1]!;
  return out;
}

export interface FederationRequest {
  destination: string;
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** The path, already percent-encoded (see fedPath), starting with /_matrix/. */
  path: string;
  query?: Record<string, QueryValue>;
  /** JSON body (PUT/POST). */
  body?: unknown;
  /** Default 60 s. */
  timeoutMs?: number;
  /** Largest response accepted (default 100 MiB). */
  maxResponseBytes?: number;
}

export interface FederationResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export type RequestOptions = Pick<FederationRequest, "timeoutMs" | "maxResponseBytes" | "query">;

export interface FederationClientOptions {
  serverName: string;
  signingKey: SigningKey;
  resolver: ServerResolver;
  http: OutboundHttp;
  /** false: every request fails with kind "disabled" and nothing is sent. */
  enabled: boolean;
  /** Whether a destination may be contacted (domain_allowlist). */
  isDomainAllowed: (serverName: string) => boolean;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024;
const USER_AGENT = `${SERVER_NAME}/${SERVER_VERSION}`;

function parseRetryAfter(headers: Headers, body: unknown): number | undefined {
  const fromBody = (body as { retry_after_ms?: unknown } | null)?.retry_after_ms;
  if (typeof fromBody === "number" && fromBody >= 0) return fromBody;
  const h = headers.get("retry-after");
  if (h && /^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  return undefined;
}

export class FederationClient {
  readonly serverName: string;
  readonly resolver: ServerResolver;
  readonly #key: SigningKey;
  readonly #http: OutboundHttp;
  readonly #enabled: boolean;
  readonly #allowed: (s: string) => boolean;

  constructor(opts: FederationClientOptions) {
    this.serverName = opts.serverName;
    this.#key = opts.signingKey;
    this.resolver = opts.resolver;
    this.#http = opts.http;
    this.#enabled = opts.enabled;
    this.#allowed = opts.isDomainAllowed;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Sends one signed request: the parsed JSON body of a 2xx answer; throws FederationError otherwise. */
  async request<T = unknown>(req: FederationRequest): Promise<T> {
    return (await this.send<T>(req)).body;
  }

  /**
   * Throws unless federation is enabled and the destination allowed. (Retry back-off per
   * destination is the sender queue's: FederationSender, persisted in federation_destinations.)
   */
  #checkSendable(req: FederationRequest): void {
    const dest = req.destination;
    if (!this.#enabled) throw new FederationError(dest, "disabled", "federation is disabled");
    if (!this.#allowed(dest)) throw new FederationError(dest, "denied", `${dest} is not in the federation domain allowlist`);
  }

  /** Like request, with the status and headers of the answer. */
  async send<T = unknown>(req: FederationRequest): Promise<FederationResponse<T>> {
    this.#checkSendable(req);
    return this.#exchange<T>(req);
  }

  /**
   * Sends one signed request and returns the answer with its body unread, whatever its status (for
   * media, streamed to disk). Same checks as request (enabled, domain_allowlist)
   * except that the status is not looked at: the caller reads or cancels the body.
   */
  async open(req: FederationRequest): Promise<Response> {
    this.#checkSendable(req);
    const out = await this.#prepare(req);
    try {
      return await this.#http.open(out);
    } catch (e) {
      throw this.#outboundError(req, e);
    }
  }

  #outboundError(req: FederationRequest, e: unknown): FederationError {
    const dest = req.destination;
    if (e instanceof OutboundError) {
      const kind = e.kind === "too_large" ? "invalid_response" : e.kind;
      return new FederationError(dest, kind, `${req.method} ${req.path} on ${dest}: ${e.message}`, { cause: e });
    }
    return new FederationError(dest, "network", `${req.method} ${req.path} on ${dest}: ${(e as Error).message}`, { cause: e });
  }

  /** Resolves the destination and signs the request: what the outbound client sends. */
  async #prepare(req: FederationRequest) {
    const dest = req.destination;
    let resolved;
    try {
      resolved = await this.resolver.resolve(dest);
    } catch (e) {
      if (e instanceof ServerDiscoveryError) throw new FederationError(dest, "discovery", e.message, { cause: e });
      throw new FederationError(dest, "network", `discovery of ${dest} failed: ${(e as Error).message}`, { cause: e });
    }
    const qs = encodeQuery(req.query);
    const uri = qs ? `${req.path}${req.path.includes("?") ? "&" : "?"}${qs}` : req.path;
    const hasBody = req.body !== undefined && (req.method === "PUT" || req.method === "POST");
    // PUT and POST always carry a JSON object (spec "API standards"); sign exactly what is sent.
    const content = hasBody ? req.body : req.method === "PUT" || req.method === "POST" ? {} : undefined;
    const authorization = signRequest({ method: req.method, uri, origin: this.serverName, destination: dest, content }, this.#key);
    const headers: Record<string, string> = { Authorization: authorization, "User-Agent": USER_AGENT, Accept: "application/json" };
    let body: string | undefined;
    if (content !== undefined) {
      body = JSON.stringify(content);
      headers["Content-Type"] = "application/json";
    }
    return {
      targets: resolved.targets,
      hostHeader: resolved.hostHeader,
      tlsName: resolved.tlsName,
      method: req.method,
      pathAndQuery: uri,
      headers,
      body,
      timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
  }

  async #exchange<T>(req: FederationRequest): Promise<FederationResponse<T>> {
    const dest = req.destination;
    const out = await this.#prepare(req);
    let res;
    try {
      res = await this.#http.request({ ...out, maxResponseBytes: req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES });
    } catch (e) {
      throw this.#outboundError(req, e);
    }
    let parsed: unknown;
    let parseError: unknown;
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(res.body);
      parsed = text.trim() === "" ? undefined : JSON.parse(text);
    } catch (e) {
      parseError = e;
    }
    if (res.status < 200 || res.status >= 300) {
      const errBody = parseError === undefined ? parsed : undefined;
      const errcode = (errBody as { errcode?: unknown } | undefined)?.errcode;
      const error = (errBody as { error?: unknown } | undefined)?.error;
      throw new FederationError(
        dest,
        "http",
        `${req.method} ${req.path} on ${dest}: ${res.status}${typeof errcode === "string" ? ` ${errcode}` : ""}${typeof error === "string" ? `: ${error}` : ""}`,
        { status: res.status, errcode: typeof errcode === "string" ? errcode : undefined, body: errBody, retryAfterMs: parseRetryAfter(res.headers, errBody) },
      );
    }
    if (parseError !== undefined || parsed === undefined) {
      throw new FederationError(dest, "invalid_response", `${req.method} ${req.path} on ${dest}: the response is not JSON`, { status: res.status, cause: parseError });
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  async getJson<T = unknown>(destination: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>({ destination, method: "GET", path, ...opts });
  }

  async putJson<T = unknown>(destination: string, path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>({ destination, method: "PUT", path, body, ...opts });
  }

  async postJson<T = unknown>(destination: string, path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>({ destination, method: "POST", path, body, ...opts });
  }

  async deleteJson<T = unknown>(destination: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>({ destination, method: "DELETE", path, ...opts });
  }
}
