// Remote users' profiles over federation (spec: server-server-api "Query information",
// GET /_matrix/federation/v1/query/profile), cached so that a member list or an invite does not
// ask the remote server again for every read. The cache keeps answers for `ttlMs` (a 404 too: the
// user does not exist there); a failure to reach the server is not cached.
import { Lru } from "../../util/lru.ts";
import { parseUserId } from "../../protocol/ids.ts";
import type { RemoteProfileLookup } from "../profiles.ts";
import { FederationError, type FederationClient } from "./client.ts";

export const REMOTE_PROFILE_TTL_MS = 60_000;

interface Entry {
  profile: Record<string, unknown> | null;
  expires: number;
}

export class RemoteProfiles {
  readonly #cache = new Lru<string, Entry>(10000, "remote_profiles");
  readonly #inflight = new Map<string, Promise<Record<string, unknown> | null>>();

  constructor(
    private readonly client: FederationClient,
    private readonly opts: { ttlMs?: number; now?: () => number; timeoutMs?: number } = {},
  ) {}

  /** The lookup ProfileService.remoteLookup calls. */
  readonly lookup: RemoteProfileLookup = (userId) => this.get(userId);

  /** Forgets a user's cached profile (e.g. a new member event of theirs arrived). */
  invalidate(userId: string): void {
    this.#cache.delete(userId);
  }

  async get(userId: string): Promise<Record<string, unknown> | null> {
    const now = (this.opts.now ?? Date.now)();
    const hit = this.#cache.get(userId);
    if (hit && hit.expires > now) return hit.profile;
    const pending = this.#inflight.get(userId);
    if (pending) return pending;
    const p = this.#fetch(userId, now).finally(() => this.#inflight.delete(userId));
    this.#inflight.set(userId, p);
    return p;
  }

  async #fetch(userId: string, now: number): Promise<Record<string, unknown> | null> {
    const server = parseUserId(userId)?.serverName;
    if (!server) return null;
    try {
      const body = await this.client.request<unknown>({
        destination: server,
        method: "GET",
        path: "/_matrix/federation/v1/query/profile",
        query: { user_id: userId },
        timeoutMs: this.opts.timeoutMs ?? 10_000,
        maxResponseBytes: 1 << 20,
      });
      const profile = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
      this.#cache.set(userId, { profile, expires: now + (this.opts.ttlMs ?? REMOTE_PROFILE_TTL_MS) });
      return profile;
    } catch (e) {
      // Federation off or the server not allowed: as unknown (not cached, the config may change).
      if (e instanceof FederationError && (e.kind === "disabled" || e.kind === "denied")) return null;
      if (e instanceof FederationError && e.kind === "http" && e.status === 404) {
        this.#cache.set(userId, { profile: null, expires: now + (this.opts.ttlMs ?? REMOTE_PROFILE_TTL_MS) });
        return null;
      }
      throw e;
    }
  }
}
