// matrix-js-sdk with its Rust crypto (@matrix-org/matrix-sdk-crypto-wasm, in-memory stores) in tests:
// quiet logs, a logged-in syncing crypto client, waiting on async conditions, and finding a message
// by its decrypted body. Shared by tests/e2ee/js-sdk*.test.ts.
import { afterAll } from "bun:test";
import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { MatrixClient, MatrixEvent } from "matrix-js-sdk";
import type { GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { TestClient } from "../helpers/client.ts";
import { sdkFor, startSyncing } from "../helpers/sdk.ts";

/**
 * Silences the SDK's global logger and caps the Rust SDK's tracing at errors for the calling test
 * file (js-sdk turns tracing on at debug level before creating each OlmMachine).
 */
export function quietCryptoLogs(): void {
  const rootLogger = sdkLogger as unknown as { methodFactory: () => () => void; rebuild(): void };
  rootLogger.methodFactory = () => () => {};
  rootLogger.rebuild();
  const turnOn = Tracing.prototype.turnOn;
  Tracing.prototype.turnOn = function (this: Tracing) {
    this.minLevel = LoggerLevel.Error;
    turnOn.call(this);
  };
  afterAll(() => {
    Tracing.prototype.turnOn = turnOn;
  });
}

/**
 * A logged-in js-sdk client with Rust crypto (in-memory store), syncing; pushed on `started` so the
 * caller can stop it. With `ssKey`, it answers secret storage requests with that key's private key
 * (the user's recovery key, which a real client would ask for).
 */
export async function cryptoClient(
  server: { url: string },
  user: TestClient,
  started: MatrixClient[],
  ssKey?: () => GeneratedSecretStorageKey | undefined,
): Promise<MatrixClient> {
  const c = sdkFor(
    server,
    user,
    ssKey
      ? {
          cryptoCallbacks: {
            getSecretStorageKey: async ({ keys }) => {
              const key = ssKey();
              const keyId = Object.keys(keys)[0];
              return key && keyId ? [keyId, key.privateKey] : null;
            },
          },
        }
      : {},
  );
  started.push(c);
  await c.initRustCrypto({ useIndexedDB: false });
  await startSyncing(c);
  return c;
}

/** Polls `fn` (sync or async) every 50 ms until it returns something other than undefined. */
export function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = async () => {
      try {
        const v = await fn();
        if (v !== undefined) return resolve(v);
      } catch (e) {
        return reject(e);
      }
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    void tick();
  });
}

/** The decrypted message with `body` in a room of `c`'s store, if it is there and decrypts. */
export async function decryptedBody(c: MatrixClient, roomId: string, body: string): Promise<MatrixEvent | undefined> {
  const room = c.getRoom(roomId);
  if (!room) return undefined;
  for (const ev of room.getLiveTimeline().getEvents()) {
    if (!ev.isEncrypted()) continue;
    await c.decryptEventIfNeeded(ev);
    if (ev.getType() === "m.room.message" && ev.getContent().body === body) return ev;
  }
  return undefined;
}
