// The notary: answering GET /_matrix/key/v2/query/{serverName} and POST /_matrix/key/v2/query with
// other servers' key responses, from cache or freshly fetched (KeyRing.responsesForNotary), each
// signed by us. Spec: server-server-api.md "Querying Keys Through Another Server", keys_query.yaml.
import { signJson, type SigningKey } from "../../core/signing.ts";
import { logger } from "../../util/log.ts";
import type { KeyRing } from "./keyring.ts";

const log = logger("federation");

export interface NotaryCriteria {
  serverName: string;
  /** Key IDs asked for (empty: all). */
  keyIds: string[];
  /** The keys returned should be valid until at least this time (default: now). */
  minimumValidUntilTs: number;
}

/** Servers fetched in parallel for one query. */
const CONCURRENCY = 10;

export class Notary {
  constructor(
    private readonly keyRing: KeyRing,
    private readonly serverName: string,
    private readonly signingKey: SigningKey,
  ) {}

  async query(criteria: readonly NotaryCriteria[]): Promise<{ server_keys: Record<string, unknown>[] }> {
    const results: Record<string, unknown>[][] = new Array(criteria.length);
    let next = 0;
    const worker = async () => {
      while (next < criteria.length) {
        const i = next++;
        const c = criteria[i]!;
        try {
          results[i] = await this.keyRing.responsesForNotary(c.serverName, c.keyIds, c.minimumValidUntilTs);
        } catch (e) {
          log.warn("notary lookup failed", { server: c.serverName, error: (e as Error).message });
          results[i] = [];
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, criteria.length) }, worker));
    const out: Record<string, unknown>[] = [];
    for (const list of results) {
      for (const json of list) {
        try {
          out.push(signJson(json, this.serverName, this.signingKey, { lenient: true }));
        } catch (e) {
          log.warn("cannot sign a cached key response", { error: (e as Error).message });
        }
      }
    }
    return { server_keys: out };
  }
}
