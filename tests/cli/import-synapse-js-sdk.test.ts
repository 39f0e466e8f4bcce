// `hs import-synapse` with real end-to-end encryption: two matrix-js-sdk clients with Rust crypto
// talk on a Synapse 1.67 (../shared/synapse-1.67/synapse-peer); alice sets up cross-signing, secret
// storage with a recovery key and a key backup, and both send encrypted messages. Synapse is
// stopped while both clients keep running, its database is imported, and hs starts on the port
// Synapse's clients used. Then: a fresh login of alice (a new device) restores the backup with the
// recovery key and decrypts the old messages; alice's and bob's old devices (same access tokens,
// same in-memory crypto stores) carry on syncing and exchange new encrypted messages.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import type { MatrixClient } from "matrix-js-sdk";
import type { GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { validateConfig } from "../../src/config/load.ts";
import { startHomeserver, type Homeserver } from "../../src/homeserver.ts";
import { loginUser, registerUser, type TestClient } from "../helpers/client.ts";
import { tempDir } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";
import { startSynapsePeer, synapseUnavailable, type SynapsePeer } from "../helpers/synapse.ts";
import { cryptoClient, decryptedBody, quietCryptoLogs, waitFor } from "../e2ee/sdk-crypto.ts";

const unavailable = synapseUnavailable();
if (unavailable) console.warn(`skipping hs import-synapse js-sdk tests: ${unavailable}`);
quietCryptoLogs();

const OLD = ["before the move: one", "before the move: two", "before the move: three"];

function passwordAuth(user: TestClient, password: string) {
  return async (makeRequest: (auth: never) => Promise<unknown>) => {
    await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: user.userId! }, password } as never);
  };
}

describe.skipIf(unavailable !== undefined)("hs import-synapse: matrix-js-sdk (Rust crypto) clients carry on", () => {
  let syn: SynapsePeer;
  let hs: Homeserver | undefined;
  let dir: string;
  const started: MatrixClient[] = [];
  let aliceUser: TestClient;
  let alice: MatrixClient;
  let bob: MatrixClient;
  let roomId: string;
  let ssKey: GeneratedSecretStorageKey | undefined;
  let backupVersion: string;
  let importOutput = "";

  beforeAll(async () => {
    syn = await startSynapsePeer({ keepData: true });
    aliceUser = await registerUser(syn, "alice", "alice-password");
    const bobUser = await registerUser(syn, "bob", "bob-password");
    alice = await cryptoClient(syn, aliceUser, started, () => ssKey);
    bob = await cryptoClient(syn, bobUser, started);

    // Alice: cross-signing, secret storage under a recovery key, and a key backup stored in it.
    const crypto = alice.getCrypto()!;
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(aliceUser, "alice-password") });
    await crypto.bootstrapSecretStorage({
      createSecretStorageKey: async () => (ssKey = await crypto.createRecoveryKeyFromPassphrase()),
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
    });
    backupVersion = await waitFor(async () => (await crypto.getActiveSessionBackupVersion()) ?? undefined, "an active backup");

    // An encrypted conversation on Synapse.
    roomId = (
      await alice.createRoom({
        preset: "private_chat" as never,
        room_version: "10",
        invite: [bob.getUserId()!],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      })
    ).room_id;
    await waitFor(() => (bob.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "bob's invite");
    await bob.joinRoom(roomId);
    await waitFor(() => (alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join" ? true : undefined), "bob's join seen by alice");
    for (const c of [alice, bob]) await waitFor(async () => ((await c.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), "encryption on");
    for (const text of OLD) {
      await alice.sendTextMessage(roomId, text);
      await waitFor(() => decryptedBody(bob, roomId, text), `bob decrypting ${text} on Synapse`);
    }
    await bob.sendTextMessage(roomId, "bob on Synapse");
    await waitFor(() => decryptedBody(alice, roomId, "bob on Synapse"), "alice decrypting bob's message on Synapse");
    // Both sessions (alice's and bob's) are in the backup on Synapse.
    await waitFor(async () => {
      const r = await aliceUser.ok("GET", `/_matrix/client/v3/room_keys/keys?version=${backupVersion}`);
      return Object.keys(r.rooms[roomId]?.sessions ?? {}).length >= 2 ? true : undefined;
    }, "both room keys in the backup");

    // The move: Synapse stops (the clients keep running and retry), the database is imported, hs
    // starts on the port the clients use.
    await syn.stop();
    dir = tempDir("import-sdk-");
    const clientPort = Number(new URL(syn.url).port);
    const doc = {
      server_name: syn.serverName,
      signing_key_path: pathJoin(dir, "signing.key"),
      database: { path: pathJoin(dir, "hs.db") },
      media: { store_path: pathJoin(dir, "media") },
      registration: { shared_secret: "x" },
      ratelimit: { enabled: false },
      logging: { level: "error" },
      listeners: [{ bind_address: "127.0.0.1", port: clientPort }],
      caches: { memory_target_mb: 8192 },
    };
    const cfg = pathJoin(dir, "homeserver.toml");
    writeFileSync(
      cfg,
      [
        `server_name = "${doc.server_name}"`,
        `signing_key_path = "${doc.signing_key_path}"`,
        `[database]`,
        `path = "${doc.database.path}"`,
        `[media]`,
        `store_path = "${doc.media.store_path}"`,
        "",
      ].join("\n"),
    );
    const r = await runHs(["import-synapse", "--synapse-config", pathJoin(syn.dir, "synapse.yaml"), "-c", cfg]);
    importOutput = r.stdout;
    if (r.code !== 0) throw new Error(`import failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    const { config } = validateConfig(doc, "test-config", dir);
    hs = await startHomeserver(config);
    expect(hs.listeners[0]!.url).toBe(syn.url);
  }, 300_000);

  afterAll(async () => {
    for (const c of started) c.stopClient();
    await hs?.stop(2000);
    await syn?.stop();
    if (!process.env.HS_KEEP_TEST_DIRS) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (syn) rmSync(syn.dir, { recursive: true, force: true });
    }
  });

  test("the import verified", () => {
    expect(importOutput).toContain("verification passed");
  });

  test("a new device of alice's on hs restores the backup with the recovery key and decrypts the old messages", async () => {
    const fresh = await loginUser(hs!.listeners[0]!, "alice", "alice-password", { initial_device_display_name: "new phone" });
    expect(fresh.deviceId).not.toBe(aliceUser.deviceId);
    const c = await cryptoClient({ url: syn.url }, fresh, started, () => ssKey);
    const crypto = c.getCrypto()!;
    // Before the restore, the new device cannot read the history.
    await waitFor(() => (c.getRoom(roomId) ? true : undefined), "the room on the new device");
    expect(await decryptedBody(c, roomId, OLD[0]!)).toBeUndefined();
    await waitFor(async () => ((await crypto.getCrossSigningStatus()).publicKeysOnDevice ? true : undefined), "alice's identity on the new device");
    await crypto.bootstrapCrossSigning({}); // takes the private keys from secret storage
    expect(await crypto.isCrossSigningReady()).toBe(true);
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await crypto.restoreKeyBackup();
    expect(restored.total).toBeGreaterThanOrEqual(2);
    expect(restored.imported).toBe(restored.total);
    expect(await crypto.getActiveSessionBackupVersion()).toBe(backupVersion);
    for (const text of [...OLD, "bob on Synapse"]) {
      const ev = await waitFor(() => decryptedBody(c, roomId, text), `the new device decrypting ${text}`);
      expect(ev.getWireType()).toBe("m.room.encrypted");
    }
  }, 120_000);

  test("the old devices (same tokens and crypto stores) keep syncing and exchange new encrypted messages", async () => {
    await alice.sendTextMessage(roomId, "after the move, from alice's old device");
    const ev = await waitFor(() => decryptedBody(bob, roomId, "after the move, from alice's old device"), "bob decrypting alice's new message", 60_000);
    expect(ev.getSender()).toBe(aliceUser.userId!);
    expect(ev.getWireType()).toBe("m.room.encrypted");
    await bob.sendTextMessage(roomId, "after the move, from bob");
    await waitFor(() => decryptedBody(alice, roomId, "after the move, from bob"), "alice's old device decrypting bob's new message", 60_000);
    // Alice's new device reads both too (it received the room keys over to-device or from the backup).
    const fresh = started[2]!;
    await waitFor(() => decryptedBody(fresh, roomId, "after the move, from bob"), "the new device decrypting bob's new message", 60_000);
  }, 150_000);
});
