// Dehydrated devices (MSC3814) end to end with the real client: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm, in-memory stores). Alice's first device sets up cross-signing
// and secret storage, then parks a dehydrated device on the server and logs out. Bob, with no
// client of Alice's running, sends a message in their encrypted room: its room key can only reach
// the dehydrated device. Alice logs in again on a new device with a fresh store and the same secret
// storage key; startDehydration rehydrates the device, reads its to-device messages (POST .../events,
// paged by next_batch), receives the room key and uploads a replacement dehydrated device. Alice's
// new device decrypts Bob's message. There is no key backup and key requests are off in the SDK,
// so the dehydrated device is the only way the key can arrive.
import { afterAll, expect, test } from "bun:test";
import { type MatrixClient } from "matrix-js-sdk";
import { CryptoEvent, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { loginUser, registerUser, type TestClient } from "../helpers/client.ts";
import { cryptoClient, decryptedBody, quietCryptoLogs, waitFor } from "./sdk-crypto.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";

quietCryptoLogs();

const DEHYDRATION = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

/** Password UIA for uploading cross-signing keys. */
function passwordAuth(user: TestClient) {
  return async (makeRequest: (auth: never) => Promise<unknown>) => {
    await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: user.userId! }, password: "password" } as never);
  };
}

describeOnBackends("matrix-js-sdk device dehydration", (backend) => {
  const started: MatrixClient[] = [];
  afterAll(() => started.forEach((c) => c.stopClient())); // before the server stops (hooks run in order)
  const ctx = serverFixture({ backend });

  test("a room key sent while alice has no device reaches her next device through the dehydrated device", async () => {
    const alice1User = await registerUser(ctx.s, "dhalice");
    const bobUser = await registerUser(ctx.s, "dhbob");
    let ssKey: GeneratedSecretStorageKey | undefined;
    const alice1 = await cryptoClient(ctx.s, alice1User, started, () => ssKey);
    const bob = await cryptoClient(ctx.s, bobUser, started, () => undefined);
    const aliceId = alice1User.userId!;

    // 1. Alice's first device: cross-signing, secret storage (no key backup), a dehydrated device.
    const crypto1 = alice1.getCrypto()!;
    await crypto1.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(alice1User) });
    await crypto1.bootstrapSecretStorage({
      createSecretStorageKey: async () => (ssKey = await crypto1.createRecoveryKeyFromPassphrase()),
      setupNewSecretStorage: true,
    });
    expect(await crypto1.isCrossSigningReady()).toBe(true);
    expect(await crypto1.isSecretStorageReady()).toBe(true);
    expect(await crypto1.isDehydrationSupported()).toBe(true);
    const uploaded: string[] = [];
    alice1.on(CryptoEvent.DehydratedDeviceUploaded, () => uploaded.push("uploaded"));
    await crypto1.startDehydration();
    expect(uploaded).toEqual(["uploaded"]);
    const dehydrated1 = (await alice1User.ok("GET", DEHYDRATION)) as { device_id: string; device_data: { algorithm: string } };
    expect(dehydrated1.device_id).toEqual(expect.any(String));
    expect(dehydrated1.device_id).not.toBe(alice1User.deviceId);
    expect(dehydrated1.device_data.algorithm).toEqual(expect.any(String));
    const q = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [aliceId]: [] } });
    const dkeys = q.device_keys[aliceId][dehydrated1.device_id];
    expect(dkeys.dehydrated).toBe(true);
    // The SDK signs the dehydrated device with alice's self-signing key.
    const ssk = Object.keys(q.self_signing_keys[aliceId].keys)[0]!;
    expect(dkeys.signatures[aliceId][ssk]).toBeDefined();
    expect((await alice1User.request("GET", "/_matrix/client/v3/room_keys/version")).status).toBe(404);

    // An encrypted room, alice's first device still there to create it and let bob in.
    const { room_id: roomId } = await alice1.createRoom({
      preset: "private_chat" as never,
      invite: [bobUser.userId!],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await waitFor(() => (bob.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "bob's invite");
    await bob.joinRoom(roomId);

    // 2. Alice's first device goes away: stopped and logged out (deleted, so it cannot share keys).
    alice1.stopClient();
    await alice1User.ok("POST", "/_matrix/client/v3/logout", {});
    const devicesAfterLogout = (await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [aliceId]: [] } })).device_keys[aliceId];
    expect(Object.keys(devicesAfterLogout)).toEqual([dehydrated1.device_id]);

    // 3. Bob, tracking alice now that they share an encrypted room, knows only her dehydrated device, and sends.
    await waitFor(async () => {
      const devices = (await bob.getCrypto()!.getUserDeviceInfo([aliceId], true)).get(aliceId);
      return devices?.size === 1 && devices.has(dehydrated1.device_id) ? true : undefined;
    }, "bob seeing exactly alice's dehydrated device");
    await waitFor(async () => ((await bob.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), "encryption on in bob's client");
    const text = "sent while alice was away";
    await bob.sendTextMessage(roomId, text);

    // 4. Alice logs in on a new device: fresh store, the same recovery key; cross-signing comes from
    //    secret storage, then startDehydration rehydrates the parked device.
    const alice2User = await loginUser(ctx.s, aliceId);
    expect(alice2User.deviceId).not.toBe(alice1User.deviceId);
    // The room key waits in the dehydrated device's inbox as an Olm message from bob (reading the
    // first page without a next_batch deletes nothing).
    const inbox = (await alice2User.ok("POST", `${DEHYDRATION}/${encodeURIComponent(dehydrated1.device_id)}/events`, {})).events as any[];
    const curve = dkeys.keys[`curve25519:${dehydrated1.device_id}`];
    expect(inbox.some((e) => e.sender === bobUser.userId && e.type === "m.room.encrypted" && e.content.ciphertext?.[curve])).toBe(true);
    expect(JSON.stringify(inbox)).not.toContain(text);
    const alice2 = await cryptoClient(ctx.s, alice2User, started, () => ssKey);
    const crypto2 = alice2.getCrypto()!;
    await waitFor(async () => ((await crypto2.getUserDeviceInfo([aliceId], true)).get(aliceId)?.size ? true : undefined), "alice's own devices known to her new device");
    await crypto2.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(alice2User) });
    expect(await crypto2.isCrossSigningReady()).toBe(true);
    expect(await crypto2.isSecretStorageReady()).toBe(true);
    const rehydration: string[] = [];
    let progress: [number, number] = [0, 0];
    alice2.on(CryptoEvent.RehydrationStarted, () => rehydration.push("started"));
    alice2.on(CryptoEvent.RehydrationProgress, (roomKeys: number, toDevice: number) => (progress = [roomKeys, toDevice]));
    alice2.on(CryptoEvent.RehydrationCompleted, () => rehydration.push("completed"));
    alice2.on(CryptoEvent.RehydrationError, (msg: string) => rehydration.push(`error: ${msg}`));
    alice2.on(CryptoEvent.DehydratedDeviceUploaded, () => rehydration.push("uploaded"));
    await crypto2.startDehydration();
    expect(rehydration).toEqual(["started", "completed", "uploaded"]);
    const [roomKeys, toDevice] = progress;
    expect(roomKeys).toBeGreaterThanOrEqual(1);
    expect(toDevice).toBeGreaterThanOrEqual(1);

    // 5. Alice's new device decrypts bob's message with the key the dehydrated device received.
    const event = await waitFor(() => decryptedBody(alice2, roomId, text), "alice's new device decrypting bob's message");
    expect(event.getSender()).toBe(bobUser.userId!);
    expect(event.getWireType()).toBe("m.room.encrypted");
    expect((await alice2User.request("GET", "/_matrix/client/v3/room_keys/version")).status).toBe(404);

    // 6. The rehydrated device was replaced by a new dehydrated device; the old one is gone.
    const dehydrated2 = (await alice2User.ok("GET", DEHYDRATION)) as { device_id: string };
    expect(dehydrated2.device_id).not.toBe(dehydrated1.device_id);
    expect(dehydrated2.device_id).not.toBe(alice2User.deviceId);
    const devices = ((await alice2User.ok("GET", "/_matrix/client/v3/devices")).devices as { device_id: string }[]).map((d) => d.device_id).sort();
    expect(devices).toEqual([alice2User.deviceId!, dehydrated2.device_id].sort());
  }, 60000);
});
