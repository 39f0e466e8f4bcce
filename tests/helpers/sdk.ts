// matrix-js-sdk in tests: a silent logger, a client for a freshly registered user, starting its
// sync loop, and a server with two clients for a describe block.
import { afterAll, beforeAll } from "bun:test";
import { ClientEvent, createClient, type ICreateClientOpts, type IStartClientOpts, type MatrixClient } from "matrix-js-sdk";
import { registerUser, type TestClient } from "./client.ts";
import { startTestServer, type Backend, type TestServer } from "./server.ts";

/** A logger for the SDK that prints nothing. */
export const quiet = { debug() {}, info() {}, log() {}, warn() {}, error() {}, trace() {}, getChild() { return quiet; } };

/** An SDK client logged in as an existing test user; `extra` adds options (e.g. cryptoCallbacks). */
export function sdkFor(s: { url: string }, u: TestClient, extra: Partial<ICreateClientOpts> = {}): MatrixClient {
  return createClient({ baseUrl: s.url, accessToken: u.accessToken, userId: u.userId, deviceId: u.deviceId, logger: quiet, ...extra });
}

/** Registers `name` and returns an SDK client logged in as that user. */
export async function sdkClient(s: TestServer, name: string): Promise<MatrixClient> {
  const u = await registerUser(s, name);
  return sdkFor(s, u);
}

/** Starts the SDK's sync loop and waits until it is prepared. */
export async function startSyncing(c: MatrixClient, opts: IStartClientOpts = { initialSyncLimit: 10 }): Promise<void> {
  const ready = new Promise<void>((resolve, reject) => {
    c.on(ClientEvent.Sync, (state) => {
      if (state === "PREPARED" || state === "SYNCING") resolve();
      if (state === "ERROR") reject(new Error("sync error"));
    });
  });
  await c.startClient(opts);
  await ready;
}

/** Polls `fn` every 20 ms until it returns something other than undefined (rejects after timeoutMs). */
export function waitFor<T>(fn: () => T | undefined, timeoutMs = 10000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const v = fn();
      if (v !== undefined) return resolve(v);
      if (Date.now() - started > timeoutMs) return reject(new Error("timed out"));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** A test server with two SDK clients, alice and bob, for the calling describe block (stopped after it). */
export interface SdkPair {
  readonly s: TestServer;
  readonly alice: MatrixClient;
  readonly bob: MatrixClient;
}

export function sdkPair(backend: Backend): SdkPair {
  const pair = {} as { s: TestServer; alice: MatrixClient; bob: MatrixClient };
  beforeAll(async () => {
    pair.s = await startTestServer({ backend });
    pair.alice = await sdkClient(pair.s, "sdkalice");
    pair.bob = await sdkClient(pair.s, "sdkbob");
  });
  afterAll(async () => {
    pair.alice?.stopClient();
    pair.bob?.stopClient();
    await pair.s?.stop();
  });
  return pair;
}
