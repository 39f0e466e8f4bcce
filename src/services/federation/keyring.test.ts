import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { buildServerKeys } from "../../core/server-keys.ts";
import { generateSigningKey, signJson, type SigningKey } from "../../core/signing.ts";
import type { Db } from "../../storage/engines/db.ts";
import { MIGRATIONS } from "../../storage/engines/migrations.ts";
import { migrate } from "../../storage/engines/migrate.ts";
import { ServerKeysRepo } from "../../storage/repos/server-keys.ts";
import { openSqlite } from "../../storage/engines/sqlite.ts";
import { configureLogging } from "../../util/log.ts";
import { KeyRing, keyRef, parseTrustedKeyServers, type KeyFetcher } from "./keyring.ts";
import { Notary } from "./notary.ts";
import { OwnKeys } from "./own-keys.ts";

configureLogging({ level: "error" });

const HOUR = 3600_000;
const DAY = 24 * HOUR;

let db: Db;
let now: number;
beforeEach(async () => {
  db = openSqlite(":memory:");
  // Only the migrations up to ours: the tree may hold later ones that are still being written.
  await migrate(db, MIGRATIONS.filter((m) => m.version <= 5 || m.version === 20));
  now = 1_700_000_000_000;
});
afterEach(async () => {
  await db.close();
});

interface Remote {
  name: string;
  key: SigningKey;
  validFor: number;
  old?: Array<{ keyId: string; key: SigningKey; expiredTs: number }>;
  down?: boolean;
  /** Tamper with the response before it is served. */
  mangle?: (json: Record<string, unknown>) => Record<string, unknown>;
}

function serverKeysOf(r: Remote): Record<string, unknown> {
  const json = buildServerKeys({
    serverName: r.name,
    signingKey: r.key,
    oldVerifyKeys: (r.old ?? []).map((o) => ({ keyId: o.keyId, key: o.key.verifyKey, expiredTs: o.expiredTs })),
    validUntilTs: now + r.validFor,
  });
  return r.mangle ? r.mangle(json) : json;
}

function setup(remotes: Remote[], opts: { notaries?: string[]; notaryAnswer?: (notary: string, body: any) => unknown } = {}) {
  const calls = { direct: [] as string[], notary: [] as string[] };
  const byName = new Map(remotes.map((r) => [r.name, r]));
  const fetcher: KeyFetcher = {
    async fetchServerKeys(server) {
      calls.direct.push(server);
      const r = byName.get(server);
      if (!r || r.down) throw new Error("unreachable");
      return structuredClone(serverKeysOf(r));
    },
    async queryNotary(notary, body) {
      calls.notary.push(notary);
      if (!opts.notaryAnswer) throw new Error("no notary");
      return opts.notaryAnswer(notary, body);
    },
  };
  const ownKey = generateSigningKey("own");
  const own = new OwnKeys({ serverName: "us.org", signingKey: ownKey, validityMs: DAY, now: () => now });
  const make = () =>
    new KeyRing({
      serverName: "us.org",
      ownKeys: own,
      store: new ServerKeysRepo(db),
      fetcher,
      trustedKeyServers: parseTrustedKeyServers(opts.notaries ?? []),
      now: () => now,
    });
  return { ring: make(), make, calls, own, ownKey };
}

describe("KeyRing", () => {
  test("fetches a server's keys directly, then answers from memory and from the database", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY };
    const { ring, make, calls } = setup([b]);
    const k = await ring.getVerifyKey("b.org", "ed25519:k1", now);
    expect(k?.base64).toBe(b.key.publicKeyBase64);
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBe(k);
    expect(calls.direct).toEqual(["b.org"]);
    const rows = await db.all<{ key_id: string; valid_until_ts: number; from_server: string }>("SELECT key_id, valid_until_ts, from_server FROM server_keys");
    expect(rows).toEqual([{ key_id: "ed25519:k1", valid_until_ts: now + DAY, from_server: "b.org" }]);
    // A new KeyRing (a restart) finds it in the database.
    const again = make();
    expect((await again.getVerifyKey("b.org", "ed25519:k1", now))?.base64).toBe(b.key.publicKeyBase64);
    expect(calls.direct).toEqual(["b.org"]);
    // And synchronously once loaded.
    expect(again.lookupCached("b.org", "ed25519:k1", now)).toBeDefined();
  });

  test("our own keys are answered locally", async () => {
    const { ring, calls, ownKey } = setup([]);
    expect(await ring.getVerifyKey("us.org", ownKey.keyId, now + 100 * DAY)).toBe(ownKey.verifyKey);
    expect(await ring.getVerifyKey("us.org", "ed25519:nope", 0)).toBeUndefined();
    expect(calls.direct).toEqual([]);
  });

  test("responses that are not self-signed, for another server, or malformed are refused", async () => {
    const other = generateSigningKey("k1");
    const cases: Array<(j: Record<string, unknown>) => Record<string, unknown>> = [
      (j) => ({ ...j, valid_until_ts: (j.valid_until_ts as number) + 1 }), // signature no longer matches
      (j) => signJson({ ...j, signatures: {} }, "b.org", other), // signed by a key not in verify_keys
      (j) => ({ ...j, server_name: "evil.org" }),
      (j) => ({ ...j, valid_until_ts: "soon" }),
      (j) => ({ ...j, signatures: {} }),
    ];
    for (const mangle of cases) {
      const { ring, calls } = setup([{ name: "b.org", key: generateSigningKey("k1"), validFor: DAY, mangle }]);
      expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeUndefined();
      expect(calls.direct.length).toBe(1);
    }
  });

  test("validity: keys are usable until valid_until_ts, capped at 7 days after fetching; expired responses are refetched", async () => {
    const b: Remote = { name: "b.org", key: generateSigningKey("k1"), validFor: 30 * DAY };
    const { ring, calls } = setup([b]);
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeDefined();
    expect((await ring.knownKeys("b.org")).get("ed25519:k1")!.validUntilTs).toBe(now + 7 * DAY);
    // An event dated past the cap: the key is not usable for it, and the response is still valid, so
    // no refetch for a minute.
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now + 8 * DAY)).toBeUndefined();
    expect(calls.direct.length).toBe(1);

    // In rooms v1–4 (minimum 0) any known key will do.
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", 0)).toBeDefined();
    expect(calls.direct.length).toBe(1);
  });

  test("a short-lived response is refetched as soon as it has expired", async () => {
    const b: Remote = { name: "b.org", key: generateSigningKey("k1"), validFor: 2000 };
    const { ring, calls } = setup([b]);
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeDefined();
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now + 1000)).toBeDefined();
    expect(calls.direct.length).toBe(1);
    now += 2500;
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeDefined();
    expect(calls.direct.length).toBe(2);
    expect((await ring.knownKeys("b.org")).get("ed25519:k1")!.validUntilTs).toBe(now + 2000);
  });

  test("old_verify_keys are usable for events up to their expired_ts", async () => {
    const oldKey = generateSigningKey("old");
    const b: Remote = { name: "b.org", key: generateSigningKey("new"), validFor: DAY, old: [{ keyId: "ed25519:old", key: oldKey, expiredTs: now - DAY }] };
    const { ring } = setup([b]);
    expect((await ring.getVerifyKey("b.org", "ed25519:old", now - 2 * DAY))?.base64).toBe(oldKey.publicKeyBase64);
    expect(await ring.getVerifyKey("b.org", "ed25519:old", now)).toBeUndefined(); // e.g. request signatures
    const row = await db.get<{ expired_ts: number; valid_until_ts: number }>("SELECT expired_ts, valid_until_ts FROM server_keys WHERE key_id = 'ed25519:old'");
    expect(row).toEqual({ expired_ts: now - DAY, valid_until_ts: now - DAY });
  });

  test("failures are not retried for a minute (negative cache); unknown key IDs neither", async () => {
    const b: Remote = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY, down: true };
    const { ring, calls } = setup([b]);
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeUndefined();
    b.down = false;
    now += 59_000;
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeUndefined();
    expect(calls.direct.length).toBe(1);
    now += 2000;
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeDefined();
    expect(calls.direct.length).toBe(2);
    // A key the server does not have: right after a fetch, no new one; a minute later one fetch,
    // then a minute of quiet again.
    expect(await ring.getVerifyKey("b.org", "ed25519:unknown", now)).toBeUndefined();
    expect(calls.direct.length).toBe(2);
    now += 61_000;
    expect(await ring.getVerifyKey("b.org", "ed25519:unknown", now)).toBeUndefined();
    expect(await ring.getVerifyKey("b.org", "ed25519:unknown", now)).toBeUndefined();
    expect(calls.direct.length).toBe(3);
  });

  test("concurrent lookups share one fetch; the batch form fetches each server once", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY };
    const c = { name: "c.org", key: generateSigningKey("k2"), validFor: DAY };
    const { ring, calls } = setup([b, c]);
    const found = await ring.getVerifyKeys([
      { serverName: "b.org", keyIds: ["ed25519:k1", "ed25519:zzz"], minimumValidUntilTs: now },
      { serverName: "c.org", keyIds: ["ed25519:k2"], minimumValidUntilTs: now },
      { serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: 0 },
    ]);
    expect([...found.keys()].sort()).toEqual([keyRef("b.org", "ed25519:k1"), keyRef("c.org", "ed25519:k2")]);
    expect(calls.direct.sort()).toEqual(["b.org", "c.org"]);
  });

  test("notary fallback with a pinned notary key; the notary's signature is required", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY, down: true };
    const notaryKey = generateSigningKey("n1");
    let signWith = notaryKey;
    const answer = (_n: string, body: any) => {
      expect(body).toEqual({ server_keys: { "b.org": { "ed25519:k1": { minimum_valid_until_ts: now } } } });
      return { server_keys: [signJson(serverKeysOf({ ...b, down: false }), "notary.org", signWith)] };
    };
    const pinned = `notary.org ed25519:n1=${notaryKey.publicKeyBase64}`;
    const bad = setup([b], { notaries: [pinned], notaryAnswer: answer });
    signWith = generateSigningKey("n1"); // an impostor's key under the same ID
    expect(await bad.ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeUndefined();
    expect(bad.calls.notary).toEqual(["notary.org"]);

    await db.run("DELETE FROM server_keys");
    signWith = notaryKey;
    const good = setup([b], { notaries: [pinned], notaryAnswer: answer });
    expect((await good.ring.getVerifyKey("b.org", "ed25519:k1", now))?.base64).toBe(b.key.publicKeyBase64);
    expect(good.calls.direct).toEqual(["b.org"]);
    const row = await db.get<{ from_server: string }>("SELECT from_server FROM server_keys WHERE server_name = 'b.org'");
    expect(row?.from_server).toBe("notary.org");
  });

  test("an unpinned notary's keys are fetched from the notary itself", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY, down: true };
    const notary = { name: "notary.org", key: generateSigningKey("n1"), validFor: DAY };
    const { ring, calls } = setup([b, notary], {
      notaries: ["notary.org"],
      notaryAnswer: () => ({ server_keys: [signJson(serverKeysOf({ ...b, down: false }), "notary.org", notary.key)] }),
    });
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeDefined();
    expect(calls.direct).toEqual(["b.org", "notary.org"]);
  });

  test("a notary answer for another server than asked is ignored", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY, down: true };
    const c = { name: "c.org", key: generateSigningKey("k1"), validFor: DAY };
    const notaryKey = generateSigningKey("n1");
    const { ring } = setup([b], {
      notaries: [`notary.org ed25519:n1=${notaryKey.publicKeyBase64}`],
      notaryAnswer: () => ({ server_keys: [signJson(serverKeysOf(c), "notary.org", notaryKey)] }),
    });
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", now)).toBeUndefined();
  });

  test("verifyJsonForServer", async () => {
    const b = { name: "b.org", key: generateSigningKey("k1"), validFor: DAY };
    const { ring } = setup([b]);
    const obj = signJson({ hello: "world" }, "b.org", b.key);
    expect(await ring.verifyJsonForServer("b.org", obj, now)).toEqual({ ok: true });
    expect((await ring.verifyJsonForServer("b.org", { ...obj, hello: "mars" }, now)).ok).toBe(false);
    expect((await ring.verifyJsonForServer("c.org", obj, now)).ok).toBe(false);
  });

  test("without a fetcher (federation disabled) only known keys are used", async () => {
    const store = new ServerKeysRepo(db);
    const own = new OwnKeys({ serverName: "us.org", signingKey: generateSigningKey("own"), validityMs: DAY, now: () => now });
    const ring = new KeyRing({ serverName: "us.org", ownKeys: own, store, fetcher: undefined, now: () => now });
    expect(await ring.getVerifyKey("b.org", "ed25519:k1", 0)).toBeUndefined();
  });
});

describe("Notary", () => {
  test("serves cached responses signed by us, refreshing past half their lifetime, falling back to the cache", async () => {
    const b: Remote = { name: "b.org", key: generateSigningKey("k1"), validFor: 4 * HOUR };
    const { ring, calls, ownKey } = setup([b]);
    const notary = new Notary(ring, "us.org", ownKey);
    const first = await notary.query([{ serverName: "b.org", keyIds: [], minimumValidUntilTs: now }]);
    expect(first.server_keys.length).toBe(1);
    const entry = first.server_keys[0]! as any;
    expect(entry.server_name).toBe("b.org");
    expect(Object.keys(entry.signatures).sort()).toEqual(["b.org", "us.org"]);
    expect(calls.direct.length).toBe(1);
    now += HOUR;
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: now }]);
    expect(calls.direct.length).toBe(1); // fresh enough
    now += 90 * 60_000; // past half of its lifetime
    b.down = true;
    const stale = await notary.query([{ serverName: "b.org", keyIds: [], minimumValidUntilTs: now }]);
    expect(calls.direct.length).toBe(2);
    expect(stale.server_keys.length).toBe(1); // the cached one
    expect((stale.server_keys[0] as any).valid_until_ts).toBe(entry.valid_until_ts);
  });

  test("minimum_valid_until_ts beyond what is cached makes the notary fetch again at once (issue 17)", async () => {
    // The origin serves an already expired response (SyTest's notary tests do this).
    const b: Remote = { name: "b.org", key: generateSigningKey("k1"), validFor: -DAY };
    const { ring, calls, ownKey } = setup([b]);
    const notary = new Notary(ring, "us.org", ownKey);
    const first = await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: 0 }]);
    expect(calls.direct.length).toBe(1);
    const expiry = (first.server_keys[0] as any).valid_until_ts as number;
    // Right after: a later minimum is asked for; the notary asks the origin again, and with
    // nothing better it still answers the expired response.
    now += 100;
    const second = await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: expiry + 1000 }]);
    expect(calls.direct.length).toBe(2);
    expect((second.server_keys[0] as any).valid_until_ts).toBe(expiry + 100); // the new (still expired) response
    // A key ID we do not know yet (the origin rotated its key): fetched at once too.
    b.key = generateSigningKey("k2");
    now += 100;
    const rotated = await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k2"], minimumValidUntilTs: 0 }]);
    expect(calls.direct.length).toBe(3);
    expect(rotated.server_keys.some((k: any) => "ed25519:k2" in k.verify_keys)).toBe(true);
    // A failing origin keeps its back-off: no further fetch straight away.
    b.down = true;
    now += 100;
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: expiry + 1000 }]);
    const afterFail = calls.direct.length;
    now += 100;
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k1"], minimumValidUntilTs: expiry + 1000 }]);
    expect(calls.direct.length).toBe(afterFail);
  });

  test("a key the origin stops listing is still answered for; a new key ID is fetched even right after a failure (SyTest 01keys.pl)", async () => {
    const b: Remote = { name: "b.org", key: generateSigningKey("k0"), validFor: -DAY };
    const { ring, calls, ownKey } = setup([b]);
    const notary = new Notary(ring, "us.org", ownKey);
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k0"], minimumValidUntilTs: 0 }]);
    // The origin fails the next attempt (a later minimum is asked for).
    b.down = true;
    now += 10;
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:k0"], minimumValidUntilTs: now }]);
    expect(calls.direct.length).toBe(2);
    // Key 1, never seen: asked of the origin at once although the last attempt failed.
    b.down = false;
    b.key = generateSigningKey("key_1");
    now += 10;
    const first = await notary.query([{ serverName: "b.org", keyIds: ["ed25519:key_1"], minimumValidUntilTs: 0 }]);
    expect(calls.direct.length).toBe(3);
    expect(first.server_keys.some((k: any) => "ed25519:key_1" in k.verify_keys)).toBe(true);
    // The origin then answers with another key only (key 1 forgotten): key 1 is still answered.
    b.key = generateSigningKey("key_2");
    now += 10;
    await notary.query([{ serverName: "b.org", keyIds: ["ed25519:key_1"], minimumValidUntilTs: now }]);
    expect(calls.direct.length).toBe(4);
    const third = await notary.query([{ serverName: "b.org", keyIds: ["ed25519:key_1"], minimumValidUntilTs: 0 }]);
    const withKey1 = third.server_keys.filter((k: any) => "ed25519:key_1" in k.verify_keys);
    expect(withKey1.length).toBe(1);
    expect(third.server_keys[0]).toBe(withKey1[0]!); // the asked-for key's response first
    expect(Object.keys((withKey1[0] as any).signatures).sort()).toEqual(["b.org", "us.org"]);
  });

  test("our own keys; unknown servers give nothing", async () => {
    const { ring, ownKey } = setup([]);
    const notary = new Notary(ring, "us.org", ownKey);
    const r = await notary.query([
      { serverName: "us.org", keyIds: [], minimumValidUntilTs: now },
      { serverName: "nowhere.org", keyIds: [], minimumValidUntilTs: now },
    ]);
    expect(r.server_keys.map((k: any) => k.server_name)).toEqual(["us.org"]);
  });
});
