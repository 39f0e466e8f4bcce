// What the federation event pipeline needs of the transport layer (keyring.ts, client.ts), as
// narrow interfaces so the pipeline can be tested and wired independently.
import type { VerifyKeyInput } from "../../core/signing.ts";

export interface KeyLookup {
  /** A server's verify key valid at least until `minimumValidUntilTs` (fetched and cached as needed). */
  getVerifyKey(serverName: string, keyId: string, minimumValidUntilTs: number): Promise<VerifyKeyInput | undefined>;
}

export interface FederationRequest {
  destination: string;
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path including /_matrix/federation/...; segments already percent-encoded. */
  path: string;
  query?: Record<string, string | string[] | undefined>;
  body?: unknown;
  timeoutMs?: number;
}

export interface FederationRequester {
  /** A signed request to another server; resolves to its JSON body, throws on non-2xx or network errors. */
  request<T = unknown>(req: FederationRequest): Promise<T>;
}
