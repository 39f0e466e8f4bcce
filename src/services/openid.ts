// OpenID tokens (client-server-api "OpenID", server-server-api "OpenID"): a client asks for a short
// lived token that a third party (e.g. an integration manager) presents to
// /_matrix/federation/v1/openid/userinfo to learn which user it belongs to. Tokens live in memory
// (an hour, as in Synapse): a restart invalidates them and the client simply asks again. Several
// processes on one database each keep every token (cluster/caches.ts tells them).
import { randomString } from "../util/random.ts";

export const OPENID_TOKEN_LIFETIME_MS = 3600_000;
/** Live tokens kept at most (any user may ask for many): past it the oldest is forgotten. */
export const MAX_OPENID_TOKENS = 100_000;

export class OpenIdTokens {
  private readonly tokens = new Map<string, { userId: string; expiresTs: number }>();

  constructor(
    private readonly serverName: string,
    private readonly now: () => number = Date.now,
  ) {}

  issue(userId: string): { access_token: string; token_type: "Bearer"; matrix_server_name: string; expires_in: number } {
    this.prune();
    const token = randomString(32);
    this.adopt(token, userId, this.now() + OPENID_TOKEN_LIFETIME_MS);
    this.onIssued?.(token, userId, this.now() + OPENID_TOKEN_LIFETIME_MS);
    return { access_token: token, token_type: "Bearer", matrix_server_name: this.serverName, expires_in: OPENID_TOKEN_LIFETIME_MS / 1000 };
  }

  /** Told of every token issued here (several processes: they all learn it, cluster/caches.ts). */
  onIssued?: (token: string, userId: string, expiresTs: number) => void;

  /** Keeps a token (issued here, or by another process on the same database). */
  adopt(token: string, userId: string, expiresTs: number): void {
    this.tokens.set(token, { userId, expiresTs });
    while (this.tokens.size > MAX_OPENID_TOKENS) this.tokens.delete(this.tokens.keys().next().value as string);
  }

  /** The user behind a token, or undefined when unknown or expired. */
  userOf(token: string): string | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    if (t.expiresTs <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return t.userId;
  }

  /** Tokens all live as long, so the map is in expiry order: only the expired front is looked at. */
  private prune(): void {
    const now = this.now();
    for (const [k, v] of this.tokens) {
      if (v.expiresTs > now) break;
      this.tokens.delete(k);
    }
  }

  /** Tokens held now. */
  get size(): number {
    return this.tokens.size;
  }
}
