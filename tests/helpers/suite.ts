// A suite's usual start: a describe per storage backend, the servers and users its tests share, and
// their teardown.
import { afterAll, beforeAll, describe } from "bun:test";
import type { Db } from "../../src/storage/engines/db.ts";
import { registerUser, type TestClient } from "./client.ts";
import {
  BACKENDS,
  openTestDatabase,
  startFederatingServers,
  startTestServer,
  type Backend,
  type FederatingOptions,
  type FederatingServer,
  type TestServer,
  type TestServerOptions,
} from "./server.ts";

/**
 * One `describe(`${name} [${backend}]`)` per backend in BACKENDS: SQLite always, PostgreSQL too when
 * TEST_POSTGRES_URL is set. `body` declares the tests for that backend.
 */
export function describeOnBackends(name: string, body: (backend: Backend) => void): void {
  for (const backend of BACKENDS) describe(`${name} [${backend}]`, () => body(backend));
}

function isTestServer(v: unknown): v is TestServer {
  return typeof v === "object" && v !== null && "hs" in v && typeof (v as TestServer).stop === "function" && typeof (v as TestServer).restart === "function";
}

/**
 * What a describe's tests share (servers, clients, room IDs): the returned object is filled by `setup`
 * in a beforeAll (with `timeout` when given); tests read it once the suite runs (`ctx.alice`). In the
 * afterAll, `teardown` runs first, then every test server the object holds (a field, or an array
 * field) is stopped, in field order: also those a failed setup had already started.
 */
export function fixture<T extends object>(
  setup: (ctx: T) => Promise<void>,
  opts: { timeout?: number; teardown?: (ctx: T) => Promise<void> | void } = {},
): T {
  const ctx = {} as T;
  beforeAll(() => setup(ctx), opts.timeout);
  afterAll(async () => {
    try {
      await opts.teardown?.(ctx);
    } finally {
      for (const v of Object.values(ctx)) for (const s of Array.isArray(v) ? v : [v]) if (isTestServer(s)) await s.stop();
    }
  });
  return ctx;
}

/**
 * A describe's test server as a fixture, with `names` registered on it in order:
 * `serverFixture({ backend }, "alice", "bob")` gives ctx.s, ctx.alice and ctx.bob.
 */
export function serverFixture<const N extends readonly string[]>(opts: TestServerOptions, ...names: N): { s: TestServer } & { [K in N[number]]: TestClient } {
  return fixture<{ s: TestServer } & { [K in N[number]]: TestClient }>(async (ctx) => {
    const [s, ...users] = await serverWithUsers(opts, ...names);
    Object.assign(ctx, { s }, Object.fromEntries(names.map((n, i) => [n, users[i]])));
  });
}

/** A describe's fresh database (openTestDatabase) as a fixture: ctx.db, closed (and dropped) after. */
export function databaseFixture(backend: Backend, postgresConnections?: number): { db: Db } {
  return fixture<{ db: Db }>(
    async (ctx) => {
      ctx.db = await openTestDatabase(backend, postgresConnections);
    },
    { teardown: (ctx) => ctx.db?.close() },
  );
}

type Clients<N extends readonly string[]> = { [K in keyof N]: TestClient };

/** Starts a test server and registers `names` on it, in order; returns the server and their clients. */
export async function serverWithUsers<const N extends readonly string[]>(
  opts: TestServerOptions,
  ...names: N
): Promise<[TestServer, ...Clients<N>]> {
  const s = await startTestServer(opts);
  const users: TestClient[] = [];
  for (const name of names) users.push(await registerUser(s, name));
  return [s, ...(users as Clients<N>)];
}

export interface FederatedPair {
  hs1: FederatingServer;
  hs2: FederatingServer;
  /** On hs1. */
  alice: TestClient;
  /** On hs2. */
  bob: TestClient;
}

/** The usual federation start: two federating servers, alice registered on the first and bob on the second. */
export async function federatedPair(opts: FederatingOptions = {}): Promise<FederatedPair> {
  const [hs1, hs2] = (await startFederatingServers(2, opts)) as [FederatingServer, FederatingServer];
  return { hs1, hs2, alice: await registerUser(hs1, "alice"), bob: await registerUser(hs2, "bob") };
}

/** A describe's federatedPair(opts), as a fixture (60 s to start): ctx.hs1, ctx.hs2, ctx.alice, ctx.bob. */
export function federatedPairFixture(opts: FederatingOptions): FederatedPair {
  return fixture<FederatedPair>(async (ctx) => void Object.assign(ctx, await federatedPair(opts)), { timeout: 60000 });
}
