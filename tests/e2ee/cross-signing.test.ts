// Cross-signing over HTTP on one server: /keys/device_signing/upload (UIA only when replacing keys),
// /keys/signatures/upload, and what /keys/query shows to whom.
import { expect, test } from "bun:test";
import { expectError, registerUser, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, join, sync } from "../helpers/sync.ts";
import { CrossSigning, TestDevice, signAs } from "./helpers.ts";

const CS = "client-server/cross_signing";
const UPLOAD = "/_matrix/client/v3/keys/device_signing/upload";

describeOnBackends("cross-signing", (backend) => {
  const ctx = serverFixture({ backend });

  test("the first upload needs no UIA, an identical one neither; new keys need the password", async () => {
    const alice = await registerUser(ctx.s, "csalice");
    const cs = new CrossSigning(alice.userId!);
    const r = await alice.post(UPLOAD, cs.body());
    expect(r.status).toBe(200);
    assertMatchesSpec(CS, "POST", "/keys/device_signing/upload", 200, r.body);
    expect((await alice.post(UPLOAD, cs.body())).status).toBe(200);
    expect((await alice.post(UPLOAD, { master_key: cs.masterKey() })).status).toBe(200);

    const cs2 = new CrossSigning(alice.userId!);
    const challenge = await alice.post(UPLOAD, cs2.body());
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const wrong = await alice.post(UPLOAD, { ...cs2.body(), auth: { type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: "nope", session: challenge.body.session } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");
    const ok = await alice.post(UPLOAD, { ...cs2.body(), auth: { type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: "password", session: challenge.body.session } });
    expect(ok.status).toBe(200);
    const q = await alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [] } });
    expect(q.master_keys[alice.userId!]).toEqual(cs2.masterKey());
  });

  test("the cross-signing uploads are also served under /_matrix/client/unstable/ (as Synapse does)", async () => {
    const uma = await registerUser(ctx.s, "csunstable");
    const cs = new CrossSigning(uma.userId!);
    expect((await uma.post("/_matrix/client/unstable/keys/device_signing/upload", cs.body())).status).toBe(200);
    const q = await uma.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [uma.userId!]: [] } });
    expect(q.master_keys[uma.userId!]).toEqual(cs.masterKey());
    const r = await uma.post("/_matrix/client/unstable/keys/signatures/upload", {});
    expect(r.status).toBe(200);
    expect(r.body.failures).toEqual({});
    // Only those two: other unstable paths are not v3 aliases.
    expect((await uma.post("/_matrix/client/unstable/keys/query", { device_keys: {} })).status).toBe(404);
  });

  test("refuses keys not signed by the master key, without a master key, or colliding with a device ID", async () => {
    const bob = await registerUser(ctx.s, "csbob");
    const cs = new CrossSigning(bob.userId!);
    expectError(await bob.post(UPLOAD, { self_signing_key: cs.selfSigningKey() }), 400, "M_MISSING_PARAM");
    const other = new CrossSigning(bob.userId!);
    expectError(await bob.post(UPLOAD, { master_key: cs.masterKey(), self_signing_key: other.selfSigningKey() }), 400, "M_INVALID_SIGNATURE");
    expectError(await bob.post(UPLOAD, { master_key: cs.masterKey(), user_signing_key: { ...cs.userSigningKey(), usage: ["user_signing", "x"] } }), 400, "M_INVALID_SIGNATURE");
    expectError(await bob.post(UPLOAD, { master_key: { ...cs.masterKey(), usage: ["self_signing"] } }), 400, "M_INVALID_PARAM");
    expectError(await bob.post(UPLOAD, { master_key: { ...cs.masterKey(), user_id: "@x:y" } }), 400, "M_INVALID_PARAM");
    expectError(await bob.post(UPLOAD, { master_key: "key" }), 400, "M_BAD_JSON");
    // A public key equal to one of the user's device IDs.
    const clash = { user_id: bob.userId, usage: ["master"], keys: { [`ed25519:${bob.deviceId}`]: bob.deviceId } };
    expectError(await bob.post(UPLOAD, { master_key: clash }), 403, "M_FORBIDDEN");
    // Nothing was stored.
    const q = await bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [bob.userId!]: [] } });
    expect(q.master_keys).toEqual({});
  });

  test("query shows master and self-signing keys to all, the user-signing key only to its owner; signatures by visibility", async () => {
    const alice = await registerUser(ctx.s, "csalice2");
    const bob = await registerUser(ctx.s, "csbob2");
    const carol = await registerUser(ctx.s, "cscarol2");
    const aliceDev = new TestDevice(alice);
    await aliceDev.upload(0, false);
    const acs = new CrossSigning(alice.userId!);
    const bcs = new CrossSigning(bob.userId!);
    await alice.ok("POST", UPLOAD, acs.body());
    await bob.ok("POST", UPLOAD, bcs.body());

    // Alice signs her device with her self-signing key and her master key with her device.
    const signedDevice = signAs(aliceDev.deviceKeys(), alice.userId!, `ed25519:${acs.selfSigning.publicKeyBase64}`, acs.selfSigning);
    const signedMaster = signAs(acs.masterKey(), alice.userId!, `ed25519:${alice.deviceId}`, aliceDev.ed);
    const up = await alice.ok("POST", "/_matrix/client/v3/keys/signatures/upload", {
      [alice.userId!]: { [alice.deviceId!]: signedDevice, [acs.master.publicKeyBase64]: signedMaster },
    });
    assertMatchesSpec(CS, "POST", "/keys/signatures/upload", 200, up);
    expect(up.failures).toEqual({});
    // Bob signs alice's master key with his user-signing key.
    const bobSigned = signAs(acs.masterKey(), bob.userId!, `ed25519:${bcs.userSigning.publicKeyBase64}`, bcs.userSigning);
    expect((await bob.ok("POST", "/_matrix/client/v3/keys/signatures/upload", { [alice.userId!]: { [acs.master.publicKeyBase64]: bobSigned } })).failures).toEqual({});

    const query = (c: typeof alice) => c.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [], [bob.userId!]: [] } });
    const asCarol = await query(carol);
    assertMatchesSpec("client-server/keys", "POST", "/keys/query", 200, asCarol);
    expect(asCarol.user_signing_keys).toEqual({});
    expect(asCarol.self_signing_keys[alice.userId!]).toEqual(acs.selfSigningKey());
    // The device carries the self-signing signature; the master key alice's device signature, not bob's.
    const dev = asCarol.device_keys[alice.userId!][alice.deviceId!];
    expect(dev.signatures[alice.userId!][`ed25519:${acs.selfSigning.publicKeyBase64}`]).toBe(signedDevice.signatures[alice.userId!][`ed25519:${acs.selfSigning.publicKeyBase64}`]);
    expect(Object.keys(asCarol.master_keys[alice.userId!].signatures)).toEqual([alice.userId!]);
    expect(asCarol.master_keys[alice.userId!].signatures[alice.userId!][`ed25519:${alice.deviceId}`]).toBeDefined();
    // Bob sees his own signature on alice's master key; alice does not.
    const asBob = await query(bob);
    expect(asBob.master_keys[alice.userId!].signatures[bob.userId!]).toEqual(bobSigned.signatures[bob.userId!]);
    expect(asBob.user_signing_keys).toEqual({ [bob.userId!]: bcs.userSigningKey() });
    const asAlice = await query(alice);
    expect(asAlice.master_keys[alice.userId!].signatures[bob.userId!]).toBeUndefined();
    expect(asAlice.user_signing_keys).toEqual({ [alice.userId!]: acs.userSigningKey() });
  });

  test("signature failures are reported per key; valid ones in the same request are kept", async () => {
    const dan = await registerUser(ctx.s, "csdan");
    const dev = new TestDevice(dan);
    await dev.upload(0, false);
    const cs = new CrossSigning(dan.userId!);
    await dan.ok("POST", UPLOAD, cs.body());
    const badSig = { ...signAs(dev.deviceKeys(), dan.userId!, `ed25519:${cs.selfSigning.publicKeyBase64}`, cs.master) };
    const r = await dan.ok("POST", "/_matrix/client/v3/keys/signatures/upload", {
      [dan.userId!]: {
        [dan.deviceId!]: badSig,
        UNKNOWNDEV: signAs({ user_id: dan.userId, device_id: "UNKNOWNDEV" }, dan.userId!, `ed25519:${cs.selfSigning.publicKeyBase64}`, cs.selfSigning),
        [cs.master.publicKeyBase64]: { ...signAs({ ...cs.masterKey(), usage: ["master", "changed"] }, dan.userId!, `ed25519:${dan.deviceId}`, dev.ed) },
      },
      [`@nobody:${ctx.s.serverName}`]: { X: signAs({ a: 1 }, dan.userId!, `ed25519:${cs.userSigning.publicKeyBase64}`, cs.userSigning) },
      notauser: {},
    });
    assertMatchesSpec(CS, "POST", "/keys/signatures/upload", 200, r);
    expect(r.failures[dan.userId!][dan.deviceId!].errcode).toBe("M_INVALID_SIGNATURE");
    expect(r.failures[dan.userId!].UNKNOWNDEV.errcode).toBe("M_NOT_FOUND");
    expect(r.failures[dan.userId!][cs.master.publicKeyBase64].errcode).toBe("M_INVALID_PARAM");
    expect(r.failures[`@nobody:${ctx.s.serverName}`].X.errcode).toBe("M_NOT_FOUND");
    expect(r.failures.notauser["*"].errcode).toBe("M_INVALID_PARAM");
  });

  test("deactivation removes the account's device keys, cross-signing keys and backups; sharers are told", async () => {
    const gail = await registerUser(ctx.s, "csgail");
    const hank = await registerUser(ctx.s, "cshank");
    const room = await createRoom(gail, { preset: "public_chat" });
    await join(hank, room);
    await new TestDevice(gail).upload(2);
    await gail.ok("POST", UPLOAD, new CrossSigning(gail.userId!).body());
    await gail.ok("POST", "/_matrix/client/v3/room_keys/version", { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data: {} });
    const h0 = await sync(hank);
    const gone = await withPasswordAuth(gail, "POST", "/_matrix/client/v3/account/deactivate", {});
    expect(gone.status).toBe(200);
    const h1 = await sync(hank, { since: h0.next_batch });
    expect([...h1.device_lists.changed, ...h1.device_lists.left]).toContain(gail.userId);
    const q = await hank.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [gail.userId!]: [] } });
    expect(q.device_keys[gail.userId!]).toEqual({});
    expect(q.master_keys).toEqual({});
    expect(q.self_signing_keys).toEqual({});
    const claimed = await hank.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [gail.userId!]: { [gail.deviceId!]: "signed_curve25519" } } });
    expect(claimed.one_time_keys).toEqual({});
    expect(await ctx.s.hs.services.e2ee.repo.backupVersion(gail.userId!, undefined)).toBeUndefined();
  });

  test("uploading cross-signing keys appears in the device_lists of users sharing a room", async () => {
    const erin = await registerUser(ctx.s, "cserin");
    const fred = await registerUser(ctx.s, "csfred");
    const room = await createRoom(erin, { preset: "public_chat" });
    await join(fred, room);
    const f0 = await sync(fred);
    await erin.ok("POST", UPLOAD, new CrossSigning(erin.userId!).body());
    expect((await sync(fred, { since: f0.next_batch })).device_lists.changed).toEqual([erin.userId]);
  });
});
