// matrix-js-sdk in tests: a silent logger, a client for a freshly registered user, and starting
// its sync loop.
import { ClientEvent, createClient, type ICreateClientOpts, type IStartClientOpts, type MatrixClient } from "matrix-js-sdk";
import { registerUser, type TestClient } from "./client.ts";
import type { TestServer } from "./server.ts";

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
