// The KeyRing: other servers' signing keys, fetched on demand and cached (in memory and in the
// database), to verify signatures on requests and events. Spec: server-server-api.md "Retrieving
// server keys"; room versions 5+ "Signing key validity period".
//
// Where keys come from, in order: our own keys (answered locally); the cache; the server itself
// (GET /_matrix/key/v2/server, self-signature, server_name and valid_until_ts checked); then each
// trusted notary (POST /_matrix/key/v2/query), whose answer must be signed by the server and by the
// notary (keys pinned in the config, or else fetched from the notary directly).
//
// Validity: a key from verify_keys is usable until min(valid_until_ts, fetch time + 7 days); a key
// from old_verify_keys until its expired_ts. Callers pass the minimum validity they need: the event's
// origin_server_ts in room versions 5+ (see core/pdu.ts signatureKeyRequests), 0 in older rooms, the
// current time for request signatures.
//
// Fetch limits: one fetch per server at a time (concurrent lookups share it); after a failed fetch the
// server is not asked again for a minute; after a successful one, not again for a minute unless the
// response it gave has expired (at most once a second then).
import { verifyEventSignatures, verifyEventSignaturesAsync, signatureKeyRequests, type EventVerification, type SignatureKeyRequest } from "../../core/pdu.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import { checkNotarySignature, MAX_KEY_VALIDITY_MS, parseServerKeys, signatureKeyIdsOf, type ParsedServerKeys } from "../../core/server-keys.ts";
import { checkEntitySignature, signedContent, verifyKeyFromBase64, type SignatureCheck, type VerifyKey, type VerifyKeyLookup } from "../../core/signing.ts";
import type { ServerKeyRow, ServerKeysRepo } from "../../storage/repos/server-keys.ts";
import { logger } from "../../util/log.ts";
import { Lru } from "../../util/lru.ts";
import type { OwnKeys } from "./own-keys.ts";

const log = logger("federation");

export interface TrustedKeyServer {
  serverName: string;
  /** Pinned keys of the notary; empty: fetch them from the notary itself. */
  keys: Map<string, VerifyKey>;
}

/** Parses `trusted_key_servers` entries: "name" or "name ed25519:id=<base64> ...". */
export function parseTrustedKeyServers(entries: readonly string[]): TrustedKeyServer[] {
  return entries.map((e) => {
    const [serverName, ...pins] = e.trim().split(/\s+/) as [string, ...string[]];
    const keys = new Map<string, VerifyKey>();
    for (const p of pins) {
      const eq = p.indexOf("=");
      keys.set(p.slice(0, eq), verifyKeyFromBase64(p.slice(eq + 1)));
    }
    return { serverName, keys };
  });
}

/** The network side of key fetching (a FederationClient in production, fakes in tests). */
export interface KeyFetcher {
  /** GET /_matrix/key/v2/server on `server`: the parsed JSON body. */
  fetchServerKeys(server: string): Promise<unknown>;
  /** POST /_matrix/key/v2/query on `notary`: the parsed JSON body. */
  queryNotary(notary: string, body: Record<string, unknown>): Promise<unknown>;
}

export interface KeyRingOptions {
  serverName: string;
  ownKeys: OwnKeys;
  store: ServerKeysRepo;
  /** Undefined when federation is disabled: only cached keys are used. */
  fetcher: KeyFetcher | undefined;
  trustedKeyServers?: readonly TrustedKeyServer[];
  now?: () => number;
  /** Least time between two fetches of one server's keys (default 60 s). */
  minRefetchIntervalMs?: number;
}

export interface KnownKey {
  key: VerifyKey;
  /** Usable for signatures made up to this time. */
  validUntilTs: number;
  expiredTs: number | null;
  fetchedTs: number;
  fromServer: string;
}

interface ServerEntry {
  keys: Map<string, KnownKey>;
  lastAttemptTs?: number;
  lastAttemptOk?: boolean;
  /** valid_until_ts (capped) of the latest response stored. */
  responseValidUntilTs: number;
}

/** A batch of key needs (the shape of core/pdu.ts SignatureKeyRequest). */
export type KeyRequest = Pick<SignatureKeyRequest, "serverName" | "keyIds" | "minimumValidUntilTs">;

/** The Map key used by getVerifyKeys. */
export const keyRef = (serverName: string, keyId: string): string => `${serverName}\u0000${keyId}`;

const MIN_EXPIRED_REFETCH_MS = 1000;

export class KeyRing {
  readonly serverName: string;
  readonly #own: OwnKeys;
  readonly #store: ServerKeysRepo;
  readonly #fetcher: KeyFetcher | undefined;
  readonly #notaries: readonly TrustedKeyServer[];
  readonly #now: () => number;
  readonly #minRefetch: number;
  readonly #entries = new Lru<string, ServerEntry>(10000, "server_keys");
  readonly #loading = new Map<string, Promise<ServerEntry>>();
  readonly #refreshing = new Map<string, Promise<void>>();
  /** Counters, for tests and metrics. */
  readonly stats = { directFetches: 0, notaryQueries: 0, fetchFailures: 0 };

  constructor(opts: KeyRingOptions) {
    this.serverName = opts.serverName;
    this.#own = opts.ownKeys;
    this.#store = opts.store;
    this.#fetcher = opts.fetcher;
    this.#notaries = opts.trustedKeyServers ?? [];
    this.#now = opts.now ?? Date.now;
    this.#minRefetch = opts.minRefetchIntervalMs ?? 60_000;
  }

  /**
   * A key of `serverName` usable for signatures made at `minimumValidUntilTs` (0: any), fetching
   * it when needed; undefined when unknown, expired, or unreachable.
   */
  async getVerifyKey(serverName: string, keyId: string, minimumValidUntilTs: number): Promise<VerifyKey | undefined> {
    return this.#get(serverName, keyId, minimumValidUntilTs, true);
  }

  /** Batch form: keys found, by keyRef(serverName, keyId). One fetch per server at most. */
  async getVerifyKeys(requests: readonly KeyRequest[]): Promise<Map<string, VerifyKey>> {
    const out = new Map<string, VerifyKey>();
    await Promise.all(
      requests.flatMap((r) =>
        r.keyIds.map(async (keyId) => {
          const k = await this.#get(r.serverName, keyId, r.minimumValidUntilTs, true);
          if (k) out.set(keyRef(r.serverName, keyId), k);
        }),
      ),
    );
    return out;
  }

  /**
   * Synchronous lookup among keys already in memory (ours, and those fetched or loaded before):
   * use after getVerifyKeys / prefetch, e.g. with core/pdu.ts verifyEventSignatures.
   */
  readonly lookupCached: VerifyKeyLookup = (serverName, keyId, minimumValidUntilTs) => {
    if (serverName === this.serverName) {
      const own = this.#own.lookup(keyId);
      return own && own.validUntilTs >= minimumValidUntilTs ? own.key : undefined;
    }
    const k = this.#entries.get(serverName)?.keys.get(keyId);
    return k && k.validUntilTs >= minimumValidUntilTs ? k.key : undefined;
  };

  /** Fetches what verifying these requests needs, so that lookupCached can answer. */
  async prefetch(requests: readonly KeyRequest[]): Promise<void> {
    await this.getVerifyKeys(requests);
  }

  /** Checks a received event's signatures and hashes (core/pdu.ts), fetching keys as needed. */
  async verifyEvent(event: Readonly<Record<string, unknown>>, roomVersion: RoomVersion): Promise<EventVerification> {
    return verifyEventSignaturesAsync(event, roomVersion, (s, k, min) => this.getVerifyKey(s, k, min));
  }

  /** verifyEvent for many events: keys are fetched for all of them first (one fetch per server). */
  async verifyEvents(events: ReadonlyArray<Readonly<Record<string, unknown>>>, roomVersion: RoomVersion): Promise<EventVerification[]> {
    const reqs: KeyRequest[] = [];
    for (const ev of events) {
      try {
        reqs.push(...signatureKeyRequests(ev, roomVersion));
      } catch {
        // malformed event: verifyEventSignatures reports it
      }
    }
    await this.prefetch(reqs);
    return events.map((ev) => verifyEventSignatures(ev, roomVersion, this.lookupCached));
  }

  /**
   * Checks `serverName`'s signatures on a JSON object ("Checking for a Signature"): at least one by a
   * key valid at `minimumValidUntilTs`, and every such signature valid. `content` is the signed
   * content if already computed.
   */
  async verifyJsonForServer(
    serverName: string,
    obj: Readonly<Record<string, unknown>>,
    minimumValidUntilTs: number,
    content?: string,
  ): Promise<SignatureCheck> {
    const keyIds = signatureKeyIdsOf(obj as Record<string, unknown>, serverName);
    if (keyIds.length === 0) return { ok: false, reason: `no ed25519 signatures from ${serverName}` };
    await this.prefetch([{ serverName, keyIds, minimumValidUntilTs }]);
    let signed: string;
    try {
      signed = content ?? signedContent(obj, { lenient: true });
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    const r = checkEntitySignature(obj, signed, serverName, this.lookupCached, minimumValidUntilTs);
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  }

  /** All keys known for a server (cache or database), without fetching. */
  async knownKeys(serverName: string): Promise<Map<string, KnownKey>> {
    if (serverName === this.serverName) {
      const out = new Map<string, KnownKey>();
      for (const id of [this.#own.signingKey.keyId, ...this.#own.oldKeys.map((k) => k.keyId)]) {
        const l = this.#own.lookup(id)!;
        out.set(id, { ...l, fetchedTs: 0, fromServer: this.serverName });
      }
      return out;
    }
    return new Map((await this.#entry(serverName)).keys);
  }

  /**
   * The signed key responses to serve as a notary for `serverName`, refreshed first when the cached
   * ones are past half their lifetime, too short-lived for `minimumValidUntilTs`, or lack a requested
   * key. Falls back to the cached responses when refreshing fails (spec: "continue to return the last
   * response they received"). Each is the object as its source served it (not yet signed by us).
   */
  async responsesForNotary(serverName: string, keyIds: readonly string[], minimumValidUntilTs: number): Promise<Record<string, unknown>[]> {
    if (serverName === this.serverName) return [this.#own.response()];
    const entry = await this.#entry(serverName);
    const now = this.#now();
    let rows = await this.#store.listResponses(serverName);
    const freshest = rows.reduce<(typeof rows)[number] | undefined>((a, r) => (!a || r.valid_until_ts > a.valid_until_ts ? r : a), undefined);
    const stale =
      !freshest ||
      now > freshest.fetched_ts + (freshest.valid_until_ts - freshest.fetched_ts) / 2 ||
      freshest.valid_until_ts < minimumValidUntilTs ||
      keyIds.some((id) => !entry.keys.has(id));
    // A requester asking for keys valid later than what we hold, or for a key ID we do not know,
    // gets a fresh fetch even right after the last (successful) one: the notary honours
    // minimum_valid_until_ts. Failed attempts keep their back-off.
    // A key ID we have never seen is worth asking for even right after a failed attempt (that one
    // was for other keys); one fetch per server at a time.
    const unknownKey = keyIds.some((id) => !entry.keys.has(id));
    const wantsLater =
      freshest !== undefined &&
      (entry.lastAttemptOk === true || unknownKey) &&
      this.#fetcher !== undefined &&
      (freshest.valid_until_ts < minimumValidUntilTs || unknownKey);
    if (stale && (this.#mayFetch(entry) || wantsLater)) {
      await this.#refresh(serverName, entry, keyIds, minimumValidUntilTs);
      rows = await this.#store.listResponses(serverName);
    }
    if (rows.length === 0) return [];
    rows.sort((a, b) => b.valid_until_ts - a.valid_until_ts || b.fetched_ts - a.fetched_ts);
    const parsed = rows.map((r) => JSON.parse(r.key_json) as Record<string, unknown>);
    const has = (j: Record<string, unknown>, id: string) =>
      Object.hasOwn((j.verify_keys as object | undefined) ?? {}, id) || Object.hasOwn((j.old_verify_keys as object | undefined) ?? {}, id);
    // The responses holding the requested keys first (requesters read the first one), then the
    // freshest response if it is not among them.
    const out: Record<string, unknown>[] = [];
    const push = (j: Record<string, unknown>) => {
      if (!out.some((o) => o === j || JSON.stringify(o) === JSON.stringify(j))) out.push(j);
    };
    let keyRows: Awaited<ReturnType<ServerKeysRepo["listKeys"]>> | undefined;
    for (const id of keyIds) {
      let holder = parsed.find((j) => has(j, id));
      // A key the origin's newer responses no longer list: the response it was last seen in.
      if (!holder) {
        keyRows ??= await this.#store.listKeys(serverName);
        const json = keyRows.find((r) => r.key_id === id)?.key_json;
        if (json) holder = JSON.parse(json) as Record<string, unknown>;
      }
      if (holder) push(holder);
    }
    push(parsed[0]!);
    return out;
  }

  /** Forgets the in-memory state (keys stay in the database). */
  clearMemory(): void {
    this.#entries.clear();
  }

  // -------------------------------------------------------------------------------------------------

  async #get(serverName: string, keyId: string, minTs: number, allowNotaries: boolean): Promise<VerifyKey | undefined> {
    if (serverName === this.serverName) {
      const own = this.#own.lookup(keyId);
      return own && own.validUntilTs >= minTs ? own.key : undefined;
    }
    const entry = await this.#entry(serverName);
    const usable = () => {
      const k = entry.keys.get(keyId);
      return k && k.validUntilTs >= minTs ? k.key : undefined;
    };
    const hit = usable();
    if (hit) return hit;
    const inFlight = this.#refreshing.get(serverName);
    if (inFlight) {
      await inFlight;
      const after = usable();
      if (after || !this.#mayFetch(entry)) return after;
    } else if (!this.#mayFetch(entry)) {
      return undefined;
    }
    await this.#refresh(serverName, entry, [keyId], minTs, allowNotaries);
    return usable();
  }

  #mayFetch(entry: ServerEntry): boolean {
    if (!this.#fetcher) return false;
    if (entry.lastAttemptTs === undefined) return true;
    const since = this.#now() - entry.lastAttemptTs;
    if (since >= this.#minRefetch) return true;
    return entry.lastAttemptOk === true && entry.responseValidUntilTs <= this.#now() && since >= MIN_EXPIRED_REFETCH_MS;
  }

  async #entry(serverName: string): Promise<ServerEntry> {
    const hit = this.#entries.get(serverName);
    if (hit) return hit;
    let p = this.#loading.get(serverName);
    if (!p) {
      p = (async () => {
        const [rows, responses] = await Promise.all([this.#store.listKeys(serverName), this.#store.listResponses(serverName)]);
        const keys = new Map<string, KnownKey>();
        for (const r of rows) {
          try {
            keys.set(r.key_id, {
              key: verifyKeyFromBase64(r.verify_key),
              validUntilTs: r.valid_until_ts,
              expiredTs: r.expired_ts,
              fetchedTs: r.fetched_ts,
              fromServer: r.from_server,
            });
          } catch {
            // a malformed stored key: ignore it
          }
        }
        const responseValidUntilTs = responses.reduce((m, r) => Math.max(m, Math.min(r.valid_until_ts, r.fetched_ts + MAX_KEY_VALIDITY_MS)), 0);
        const entry: ServerEntry = { keys, responseValidUntilTs };
        // Another caller may have created the entry meanwhile (e.g. a refresh): keep theirs.
        const existing = this.#entries.get(serverName);
        if (existing) return existing;
        this.#entries.set(serverName, entry);
        return entry;
      })().finally(() => this.#loading.delete(serverName));
      this.#loading.set(serverName, p);
    }
    return p;
  }

  #refresh(serverName: string, entry: ServerEntry, keyIds: readonly string[], minTs: number, allowNotaries = true): Promise<void> {
    let p = this.#refreshing.get(serverName);
    if (!p) {
      p = this.#doRefresh(serverName, entry, keyIds, minTs, allowNotaries).finally(() => this.#refreshing.delete(serverName));
      this.#refreshing.set(serverName, p);
    }
    return p;
  }

  async #doRefresh(serverName: string, entry: ServerEntry, keyIds: readonly string[], minTs: number, allowNotaries: boolean): Promise<void> {
    const fetcher = this.#fetcher!;
    entry.lastAttemptTs = this.#now();
    let ok = false;
    const satisfied = () => keyIds.every((id) => (entry.keys.get(id)?.validUntilTs ?? -1) >= minTs);
    try {
      this.stats.directFetches++;
      const json = await fetcher.fetchServerKeys(serverName);
      const parsed = parseServerKeys(json, serverName);
      await this.#storeParsed(entry, parsed, serverName, this.#now(), true);
      ok = true;
    } catch (e) {
      this.stats.fetchFailures++;
      log.debug("server key fetch failed", { server: serverName, error: (e as Error).message });
    }
    if (allowNotaries && (!ok || !satisfied())) {
      for (const notary of this.#notaries) {
        if (notary.serverName === serverName || notary.serverName === this.serverName) continue;
        try {
          if (await this.#queryNotary(notary, serverName, entry, keyIds, minTs)) ok = true;
        } catch (e) {
          this.stats.fetchFailures++;
          log.debug("notary key query failed", { server: serverName, notary: notary.serverName, error: (e as Error).message });
        }
        if (satisfied()) break;
      }
    }
    entry.lastAttemptTs = this.#now();
    entry.lastAttemptOk = ok;
  }

  /** Asks one notary; true when it gave at least one valid response. */
  async #queryNotary(notary: TrustedKeyServer, serverName: string, entry: ServerEntry, keyIds: readonly string[], minTs: number): Promise<boolean> {
    const criteria: Record<string, { minimum_valid_until_ts: number }> = {};
    const min = Math.max(minTs, 0);
    for (const id of keyIds) criteria[id] = { minimum_valid_until_ts: min };
    this.stats.notaryQueries++;
    const answer = await this.#fetcher!.queryNotary(notary.serverName, { server_keys: { [serverName]: criteria } });
    const list = (answer as { server_keys?: unknown } | null)?.server_keys;
    if (!Array.isArray(list)) throw new Error("notary answer has no server_keys array");
    let any = false;
    const now = this.#now();
    for (const item of list) {
      if (typeof item !== "object" || item === null || (item as Record<string, unknown>).server_name !== serverName) continue;
      let parsed: ParsedServerKeys;
      try {
        parsed = parseServerKeys(item, serverName);
      } catch (e) {
        log.debug("notary returned invalid keys", { server: serverName, notary: notary.serverName, error: (e as Error).message });
        continue;
      }
      const json = item as Record<string, unknown>;
      let lookup: VerifyKeyLookup;
      if (notary.keys.size > 0) {
        lookup = (_s, keyId) => notary.keys.get(keyId);
      } else {
        const found = new Map<string, VerifyKey>();
        for (const keyId of signatureKeyIdsOf(json, notary.serverName)) {
          const k = await this.#get(notary.serverName, keyId, now, false);
          if (k) found.set(keyId, k);
        }
        lookup = (_s, keyId) => found.get(keyId);
      }
      const check = checkNotarySignature(json, notary.serverName, lookup);
      if (!check.ok) {
        log.debug("notary signature invalid", { server: serverName, notary: notary.serverName, reason: check.reason });
        continue;
      }
      await this.#storeParsed(entry, parsed, notary.serverName, now, false);
      any = true;
    }
    return any;
  }

  async #storeParsed(entry: ServerEntry, parsed: ParsedServerKeys, from: string, fetchedTs: number, direct: boolean): Promise<void> {
    const effective = Math.min(parsed.validUntilTs, fetchedTs + MAX_KEY_VALIDITY_MS);
    const rows: ServerKeyRow[] = [];
    const add = (keyId: string, key: VerifyKey, validUntilTs: number, expiredTs: number | null) => {
      const prev = entry.keys.get(keyId);
      // The server itself is believed; a notary's (possibly cached) answer only extends what we know.
      if (!direct && prev && prev.validUntilTs >= validUntilTs) return;
      rows.push({ server_name: parsed.serverName, key_id: keyId, verify_key: key.base64, valid_until_ts: validUntilTs, expired_ts: expiredTs, fetched_ts: fetchedTs, from_server: from });
    };
    for (const [id, key] of parsed.verifyKeys) add(id, key, effective, null);
    for (const [id, old] of parsed.oldVerifyKeys) add(id, old.key, old.expiredTs, old.expiredTs);
    await this.#store.storeResponse(
      { server_name: parsed.serverName, from_server: from, valid_until_ts: parsed.validUntilTs, fetched_ts: fetchedTs, key_json: JSON.stringify(parsed.json) },
      rows,
    );
    for (const r of rows) {
      entry.keys.set(r.key_id, {
        key: verifyKeyFromBase64(r.verify_key),
        validUntilTs: r.valid_until_ts,
        expiredTs: r.expired_ts,
        fetchedTs,
        fromServer: from,
      });
    }
    entry.responseValidUntilTs = direct ? effective : Math.max(entry.responseValidUntilTs, effective);
  }
}
