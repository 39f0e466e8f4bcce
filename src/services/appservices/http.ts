// Requests from the homeserver to an application service (spec: application-service-api.md
// "Homeserver -> Application Service API"): `Authorization: Bearer <hs_token>`, the /_matrix/app/v1
// paths first and the legacy paths when the service does not know them (404, 405, 501).
//
// Application service URLs are set by the server admin in the registration files, so they are not
// subject to [http_client] ip_range_denylist (as in Synapse): bridges usually run on localhost.
import { systemRootCertificates } from "../../util/root-certificates.ts";
import type { ApplicationService } from "./registration.ts";

export type AsResult =
  | { kind: "ok"; status: number; body: unknown; text: string }
  | { kind: "status"; status: number; text: string }
  | { kind: "timeout" }
  | { kind: "network"; message: string };

export interface AsRequest {
  method: "GET" | "PUT" | "POST";
  /** Path under /_matrix/app/v1, e.g. `/transactions/5`. */
  path: string;
  /** The legacy path to fall back to, if any. */
  legacyPath?: string;
  query?: URLSearchParams;
  body?: unknown;
  timeoutMs: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export class AppserviceHttp {
  /** `trust`: [http_client] verify_tls and ca_files (bridges behind a private CA). */
  constructor(
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly trust: { verifyTls: boolean; extraCaPems?: readonly string[] } = { verifyTls: true },
  ) {}

  async request(as: ApplicationService, req: AsRequest): Promise<AsResult> {
    const first = await this.once(as, `/_matrix/app/v1${req.path}`, req);
    if (req.legacyPath !== undefined && first.kind === "status" && [404, 405, 501].includes(first.status)) {
      return this.once(as, req.legacyPath, req);
    }
    return first;
  }

  private async once(as: ApplicationService, path: string, req: AsRequest): Promise<AsResult> {
    if (as.url === null) return { kind: "network", message: "the application service has no URL" };
    const qs = req.query && [...req.query.keys()].length ? `?${req.query.toString()}` : "";
    const headers: Record<string, string> = { Authorization: `Bearer ${as.hsToken}` };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["Content-Type"] = "application/json";
    }
    const signal = AbortSignal.timeout(req.timeoutMs);
    let res: Response;
    try {
      const tls: Record<string, unknown> = { rejectUnauthorized: this.trust.verifyTls };
      if (this.trust.extraCaPems?.length) tls.ca = [...systemRootCertificates(), ...this.trust.extraCaPems];
      res = await this.fetchImpl(`${as.url}${path}${qs}`, { method: req.method, headers, body, signal, redirect: "manual", tls } as RequestInit);
    } catch (e) {
      if (signal.aborted) return { kind: "timeout" };
      return { kind: "network", message: (e as Error).message };
    }
    let text: string;
    try {
      const buf = new Uint8Array(await res.arrayBuffer());
      text = new TextDecoder().decode(buf.byteLength > MAX_RESPONSE_BYTES ? buf.subarray(0, MAX_RESPONSE_BYTES) : buf);
    } catch (e) {
      if (signal.aborted) return { kind: "timeout" };
      return { kind: "network", message: (e as Error).message };
    }
    if (res.status < 200 || res.status >= 300) return { kind: "status", status: res.status, text };
    let parsed: unknown = undefined;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { kind: "ok", status: res.status, body: parsed, text };
  }
}

export function describeResult(r: AsResult): string {
  switch (r.kind) {
    case "ok":
      return `HTTP ${r.status}`;
    case "status":
      return `HTTP ${r.status}`;
    case "timeout":
      return "timed out";
    case "network":
      return r.message;
  }
}
