// End-to-end encryption with real clients: two matrix-js-sdk clients using the Rust crypto stack
// (@matrix-org/matrix-sdk-crypto-wasm, in-memory stores) upload their keys, one creates an encrypted
// room, sends a message, and the other decrypts it to the original text — on one server and across
// two federated servers. Cross-signing bootstrap and key backup creation (with the room key landing
// in the backup) succeed too. Every client is stopped at the end (their sync loops keep timers alive).
import { afterAll, expect, test } from "bun:test";
import { type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { registerUser } from "../helpers/client.ts";
import { sync as sync0 } from "../helpers/sync.ts";
import { cryptoClient, decryptedBody, quietCryptoLogs, waitFor } from "./sdk-crypto.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverFixture } from "../helpers/suite.ts";

quietCryptoLogs();
const enc = encodeURIComponent;

/** Alice creates an encrypted room with bob, bob joins, alice sends `text`; returns bob's decrypted event. */
async function encryptedConversation(alice: MatrixClient, bob: MatrixClient, text: string, via?: string): Promise<{ roomId: string; event: MatrixEvent }> {
  const { room_id: roomId } = await alice.createRoom({
    preset: "private_chat" as never,
    invite: [bob.getUserId()!],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  });
  await waitFor(() => (bob.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "bob's invite");
  await bob.joinRoom(roomId, via ? { viaServers: [via] } : undefined);
  await waitFor(() => (alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join" ? true : undefined), "bob's join seen by alice");
  for (const [c, who] of [[alice, "alice"], [bob, "bob"]] as const) {
    await waitFor(async () => ((await c.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), `encryption on in ${who}'s client`);
  }
  await alice.sendTextMessage(roomId, text);
  const event = await waitFor(() => decryptedBody(bob, roomId, text), "bob decrypting alice's message");
  return { roomId, event };
}

describeOnBackends("matrix-js-sdk Rust crypto", (backend) => {
  const started: MatrixClient[] = [];
  afterAll(() => started.forEach((c) => c.stopClient())); // before the server stops (hooks run in order)
  const ctx = serverFixture({ backend });

  test("alice encrypts, bob decrypts; the server only ever sees ciphertext", async () => {
    const aliceUser = await registerUser(ctx.s, "rcalice");
    const bobUser = await registerUser(ctx.s, "rcbob");
    const alice = await cryptoClient(ctx.s, aliceUser, started);
    const bob = await cryptoClient(ctx.s, bobUser, started);
    // Both devices upload their keys (in the background after start-up).
    const q = await waitFor(async () => {
      const r = await aliceUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [aliceUser.userId!]: [], [bobUser.userId!]: [] } });
      return Object.keys(r.device_keys[aliceUser.userId!]).length && Object.keys(r.device_keys[bobUser.userId!]).length ? r : undefined;
    }, "both devices' keys");
    expect(Object.keys(q.device_keys[aliceUser.userId!])).toEqual([aliceUser.deviceId!]);
    expect(Object.keys(q.device_keys[bobUser.userId!])).toEqual([bobUser.deviceId!]);
    expect((await sync0(bobUser)).device_one_time_keys_count.signed_curve25519).toBeGreaterThan(0);

    const { roomId, event } = await encryptedConversation(alice, bob, "the eagle lands at midnight");
    expect(event.getSender()).toBe(aliceUser.userId!);
    expect(event.getWireType()).toBe("m.room.encrypted");
    const raw = (await bobUser.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20`)).chunk as any[];
    const wire = raw.find((e) => e.event_id === event.getId());
    expect(wire.type).toBe("m.room.encrypted");
    expect(wire.content.algorithm).toBe("m.megolm.v1.aes-sha2");
    expect(JSON.stringify(raw)).not.toContain("eagle");

    // A reply the other way, on the session bob sets up.
    await bob.sendTextMessage(roomId, "copy that");
    await waitFor(() => decryptedBody(alice, roomId, "copy that"), "alice decrypting bob's reply");
  }, 90000);

  test("cross-signing bootstrap and key backup creation; the room key lands in the backup", async () => {
    const aliceUser = await registerUser(ctx.s, "rcalice2");
    const bobUser = await registerUser(ctx.s, "rcbob2");
    const alice = await cryptoClient(ctx.s, aliceUser, started);
    const bob = await cryptoClient(ctx.s, bobUser, started);
    const crypto = alice.getCrypto()!;
    let uiaCalls = 0;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        uiaCalls++;
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: aliceUser.userId! }, password: "password" } as never);
      },
    });
    expect(uiaCalls).toBe(1);
    expect(await crypto.isCrossSigningReady()).toBe(true);
    const status = await crypto.getCrossSigningStatus();
    expect(status.publicKeysOnDevice).toBe(true);
    expect(status.privateKeysCachedLocally).toEqual({ masterKey: true, selfSigningKey: true, userSigningKey: true });
    // The server has the keys, and alice's device is signed by her self-signing key.
    const q = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [aliceUser.userId!]: [] } });
    const ssk = Object.keys(q.self_signing_keys[aliceUser.userId!].keys)[0]!;
    expect(q.device_keys[aliceUser.userId!][aliceUser.deviceId!].signatures[aliceUser.userId!][ssk]).toBeDefined();
    expect(q.user_signing_keys).toEqual({});

    // Key backup: a new version signed by alice's keys, trusted and enabled by her client.
    await crypto.resetKeyBackup();
    const version = await waitFor(async () => (await crypto.getActiveSessionBackupVersion()) ?? undefined, "an active backup");
    const info = await aliceUser.ok("GET", "/_matrix/client/v3/room_keys/version");
    expect(info.version).toBe(version);
    expect(info.algorithm).toBe("m.megolm_backup.v1.curve25519-aes-sha2");
    expect(info.auth_data.signatures[aliceUser.userId!]).toBeDefined();
    const trust = await crypto.isKeyBackupTrusted(info);
    expect(trust.trusted).toBe(true);

    // An encrypted conversation: alice's outbound room key is backed up.
    const { roomId } = await encryptedConversation(alice, bob, "backed up");
    const keys = await waitFor(async () => {
      const r = await aliceUser.ok("GET", `/_matrix/client/v3/room_keys/keys?version=${version}`);
      return r.rooms[roomId] ? r : undefined;
    }, "the room key in the backup");
    const sessions = Object.values(keys.rooms[roomId].sessions) as any[];
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions[0].session_data.ciphertext).toEqual(expect.any(String));
    expect((await aliceUser.ok("GET", `/_matrix/client/v3/room_keys/version/${version}`)).count).toBeGreaterThan(0);

    // Bob, now tracking alice (they share an encrypted room), sees her device cross-signed by her.
    await waitFor(async () => {
      const v = await bob.getCrypto()!.getDeviceVerificationStatus(aliceUser.userId!, aliceUser.deviceId!);
      return v?.signedByOwner ? true : undefined;
    }, "alice's device signed by its owner, seen by bob");
    expect((await bob.getCrypto()!.getUserVerificationStatus(aliceUser.userId!)).isCrossSigningVerified()).toBe(false);
  }, 90000);
});

describeOnBackends("matrix-js-sdk Rust crypto across two servers", (backend) => {
  const started: MatrixClient[] = [];
  const ctx = fixture<{ servers: FederatingServer[] }>(
    async (ctx) => {
      ctx.servers = await startFederatingServers(2, { backend, config: { federation: { retry_min_interval_ms: 200 } } });
    },
    { timeout: 60000, teardown: () => started.forEach((c) => c.stopClient()) },
  );

  test("alice on one server encrypts, bob on the other decrypts, and back", async () => {
    const [hs1, hs2] = ctx.servers as [FederatingServer, FederatingServer];
    const aliceUser = await registerUser(hs1, "fcalice");
    const bobUser = await registerUser(hs2, "fcbob");
    const alice = await cryptoClient(hs1, aliceUser, started);
    const bob = await cryptoClient(hs2, bobUser, started);
    const { roomId, event } = await encryptedConversation(alice, bob, "across the federation", hs1.serverName);
    expect(event.getWireType()).toBe("m.room.encrypted");
    await bob.sendTextMessage(roomId, "received on hs2");
    await waitFor(() => decryptedBody(alice, roomId, "received on hs2"), "alice decrypting bob's reply across servers");
  }, 90000);
});
