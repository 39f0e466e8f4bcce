// Key distribution over HTTP on one server: /keys/upload, /keys/query, /keys/claim, /keys/changes
// and the E2EE parts of /sync (one-time key counts, unused fallback key types, device_lists).
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, join, leave, sync } from "../helpers/sync.ts";
import { TestDevice, randomKey, signAs, syncUntil } from "./helpers.ts";

const KEYS = "client-server/keys";

describeOnBackends("E2EE keys", (backend) => {
  const ctx = serverFixture({ backend });

  test("upload: device keys, one-time keys and a fallback key; counts in the answer and in /sync", async () => {
    const alice = await registerUser(ctx.s, "kalice");
    const dev = new TestDevice(alice);
    const r = await dev.upload(7);
    assertMatchesSpec(KEYS, "POST", "/keys/upload", 200, r);
    expect(r.one_time_key_counts).toEqual({ signed_curve25519: 7 });
    // Uploading the same keys again changes nothing; new ones add up.
    const again = await alice.ok("POST", "/_matrix/client/v3/keys/upload", { device_keys: dev.deviceKeys(), one_time_keys: dev.oneTimeKeys(3) });
    expect(again.one_time_key_counts).toEqual({ signed_curve25519: 10 });
    // An empty upload just reports the counts (signed_curve25519 always listed).
    expect((await alice.ok("POST", "/_matrix/client/v3/keys/upload", {})).one_time_key_counts.signed_curve25519).toBe(10);
    const body = await sync(alice);
    expect(body.device_one_time_keys_count).toEqual({ signed_curve25519: 10 });
    expect(body.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    // Another device of the same user has its own counts.
    const other = await loginUser(ctx.s, alice.userId!);
    expect((await sync(other)).device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
  });

  test("upload refuses foreign IDs, malformed keys and changed one-time keys", async () => {
    const bob = await registerUser(ctx.s, "kbob");
    const dev = new TestDevice(bob);
    const post = (body: unknown) => bob.post("/_matrix/client/v3/keys/upload", body);
    const dk = dev.deviceKeys();
    expectError(await post({ device_keys: { ...dk, device_id: "NOTMINE" } }), 400, "M_INVALID_PARAM");
    expectError(await post({ device_keys: { ...dk, user_id: "@someone:else" } }), 400, "M_INVALID_PARAM");
    expectError(await post({ device_keys: "nope" }), 400, "M_BAD_JSON");
    expectError(await post({ device_keys: { ...dk, keys: "x" } }), 400, "M_BAD_JSON");
    expectError(await post({ one_time_keys: { "no-colon": randomKey() } }), 400, "M_BAD_JSON");
    expectError(await post({ one_time_keys: { "signed_curve25519:A": 5 } }), 400, "M_BAD_JSON");
    expectError(await post({ fallback_keys: { ...dev.fallbackKey("A"), ...dev.fallbackKey("B") } }), 400, "M_INVALID_PARAM");
    expectError(await post([1, 2]), 400, "M_NOT_JSON");
    // Once the device key is known, signed one-time keys must be signed by it.
    await dev.upload(1, false);
    const forged = signAs({ key: randomKey() }, bob.userId!, `ed25519:${bob.deviceId}`, new TestDevice(bob).ed);
    expectError(await post({ one_time_keys: { "signed_curve25519:FORGED": forged } }), 400, "M_INVALID_SIGNATURE");
    // A one-time key ID cannot be reused with other content.
    const otk = dev.oneTimeKeys(1);
    await bob.ok("POST", "/_matrix/client/v3/keys/upload", { one_time_keys: otk });
    const [name] = Object.keys(otk);
    expectError(await post({ one_time_keys: { [name!]: dev.signKey({ key: randomKey() }) } }), 400, "M_INVALID_PARAM");
    // Nothing was stored by the refused requests.
    expect((await bob.ok("POST", "/_matrix/client/v3/keys/upload", {})).one_time_key_counts.signed_curve25519).toBe(2);
    // Without a token: 401.
    const anon = await fetch(`${ctx.s.url}/_matrix/client/v3/keys/upload`, { method: "POST", body: "{}" });
    expect(anon.status).toBe(401);
  });

  test("upload accepts device keys whose self-signature the server cannot verify (clients verify), and query returns them", async () => {
    const erin = await registerUser(ctx.s, "kplaceholder");
    const d = erin.deviceId!;
    const dk = {
      user_id: erin.userId,
      device_id: d,
      algorithms: ["m.olm.curve25519-aes-sha256", "m.megolm.v1.aes-sha"],
      keys: { [`curve25519:${d}`]: "curve25519+key", [`ed25519:${d}`]: "ed25519+key" },
      signatures: { [erin.userId!]: { [`ed25519:${d}`]: "self+signature" } },
    };
    const r = await erin.ok("POST", "/_matrix/client/v3/keys/upload", { device_keys: dk, one_time_keys: { "my_algorithm:my_id_1": "KIhHVkAQi8r41aPNql2zTqQsInpFa8XdslQLC8F8BHc" } });
    expect(r.one_time_key_counts.my_algorithm).toBe(1);
    const q = await erin.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [erin.userId!]: [] } });
    expect(q.device_keys[erin.userId!][d].keys).toEqual(dk.keys);
    // `unsigned` is always there (empty when the device has no name), as Synapse answers.
    expect(q.device_keys[erin.userId!][d].unsigned).toEqual({});
    // Key names need not be ed25519:<device ID> (a "should" in the spec; clients judge the keys).
    const other = { ...dk, keys: { "ed25519:test": "c3op6BJi8aUnDGA541Q6TbTPmbiy1GqGv-zzXDQM9Us" }, signatures: {} };
    await erin.ok("POST", "/_matrix/client/v3/keys/upload", { device_keys: other });
    // The IDs must still be the uploader's own.
    expectError(await erin.post("/_matrix/client/v3/keys/upload", { device_keys: { ...dk, device_id: "NOTMINE" } }), 400, "M_INVALID_PARAM");
  });

  test("query: device keys with display names, specific devices, unknown users; bad requests", async () => {
    const carol = await registerUser(ctx.s, "kcarol");
    await carol.ok("PUT", `/_matrix/client/v3/devices/${carol.deviceId}`, { display_name: "Carol's phone" });
    const dev = new TestDevice(carol);
    await dev.upload(1);
    const second = new TestDevice(await loginUser(ctx.s, carol.userId!));
    await second.upload(1);
    const dave = await registerUser(ctx.s, "kdave");
    const q = await dave.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [carol.userId!]: [], [`@nobody:${ctx.s.serverName}`]: [] }, timeout: 1000 });
    assertMatchesSpec(KEYS, "POST", "/keys/query", 200, q);
    const mine = q.device_keys[carol.userId!];
    expect(Object.keys(mine).sort()).toEqual([carol.deviceId!, second.deviceId].sort());
    const { unsigned, ...signed } = mine[carol.deviceId!];
    expect(signed).toEqual(dev.deviceKeys());
    expect(unsigned).toEqual({ device_display_name: "Carol's phone" });
    expect(q.device_keys[`@nobody:${ctx.s.serverName}`]).toEqual({});
    expect(q.failures).toEqual({});
    // Only the devices asked for.
    const one = await dave.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [carol.userId!]: [second.deviceId] } });
    expect(Object.keys(one.device_keys[carol.userId!])).toEqual([second.deviceId]);
    // Errors.
    expectError(await dave.post("/_matrix/client/v3/keys/query", {}), 400, "M_MISSING_PARAM");
    expectError(await dave.post("/_matrix/client/v3/keys/query", { device_keys: [] }), 400, "M_BAD_JSON");
    expectError(await dave.post("/_matrix/client/v3/keys/query", { device_keys: { [carol.userId!]: "all" } }), 400, "M_BAD_JSON");
    expectError(await dave.post("/_matrix/client/v3/keys/query", { device_keys: { notauser: [] } }), 400, "M_INVALID_PARAM");
    expectError(await dave.post("/_matrix/client/v3/keys/query", { device_keys: {}, timeout: "soon" }), 400, "M_BAD_JSON");
  });

  test("claim: one-time keys in upload order, each once; then the fallback key, reported used in /sync", async () => {
    const erin = await registerUser(ctx.s, "kerin");
    const dev = new TestDevice(erin);
    const first = dev.oneTimeKeys(2);
    await erin.ok("POST", "/_matrix/client/v3/keys/upload", { device_keys: dev.deviceKeys(), one_time_keys: first, fallback_keys: dev.fallbackKey("FB") });
    const later = dev.oneTimeKeys(1);
    await erin.ok("POST", "/_matrix/client/v3/keys/upload", { one_time_keys: later });
    const frank = await registerUser(ctx.s, "kfrank");
    const claim = async () => {
      const r = await frank.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [erin.userId!]: { [erin.deviceId!]: "signed_curve25519" } } });
      assertMatchesSpec(KEYS, "POST", "/keys/claim", 200, r);
      return r.one_time_keys[erin.userId!]?.[erin.deviceId!] as Record<string, any> | undefined;
    };
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(...Object.keys((await claim())!));
    // The first upload's two keys (in either order) come before the later one.
    expect(got.slice(0, 2).sort()).toEqual(Object.keys(first).sort());
    expect(got[2]).toBe(Object.keys(later)[0]);
    const before = await sync(erin);
    expect(before.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(before.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    // Out of one-time keys: the fallback key, again and again.
    for (let i = 0; i < 2; i++) {
      const fb = (await claim())!;
      expect(Object.keys(fb)).toEqual(["signed_curve25519:FB"]);
      expect(fb["signed_curve25519:FB"].fallback).toBe(true);
    }
    expect((await sync(erin)).device_unused_fallback_key_types).toEqual([]);
    // A new fallback key is unused again; re-uploading the used one keeps it used.
    await erin.ok("POST", "/_matrix/client/v3/keys/upload", { fallback_keys: dev.fallbackKey("FB2") });
    expect((await sync(erin)).device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    // Unknown users, devices and algorithms are simply absent.
    const none = await frank.ok("POST", "/_matrix/client/v3/keys/claim", {
      one_time_keys: { [erin.userId!]: { NODEVICE: "signed_curve25519", [erin.deviceId!]: "unknown_alg" }, [`@ghost:${ctx.s.serverName}`]: { X: "signed_curve25519" } },
    });
    expect(none.one_time_keys).toEqual({});
    expectError(await frank.post("/_matrix/client/v3/keys/claim", {}), 400, "M_MISSING_PARAM");
    expectError(await frank.post("/_matrix/client/v3/keys/claim", { one_time_keys: { [erin.userId!]: { D: 1 } } }), 400, "M_BAD_JSON");
  });

  test("concurrent claims never hand out the same one-time key", async () => {
    const gina = await registerUser(ctx.s, "kgina");
    const dev = new TestDevice(gina);
    await gina.ok("POST", "/_matrix/client/v3/keys/upload", { device_keys: dev.deviceKeys(), one_time_keys: dev.oneTimeKeys(20) });
    const claimers = await Promise.all([registerUser(ctx.s, "kh1"), registerUser(ctx.s, "kh2"), registerUser(ctx.s, "kh3"), registerUser(ctx.s, "kh4")]);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        claimers[i % 4]!.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [gina.userId!]: { [gina.deviceId!]: "signed_curve25519" } } }),
      ),
    );
    const keys = results.map((r) => Object.keys(r.one_time_keys[gina.userId!]?.[gina.deviceId!] ?? {})[0]).filter((k) => k !== undefined);
    expect(keys.length).toBe(20);
    expect(new Set(keys).size).toBe(20);
  });

  test("device_lists: a login with a new device is a change before it uploads keys (co-members and the user's own devices)", async () => {
    const alice = await registerUser(ctx.s, "dlnewalice");
    const bob = await registerUser(ctx.s, "dlnewbob");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await join(bob, roomId);
    const a0 = await sync(alice);
    const b0 = await sync(bob);
    const alice2 = await loginUser(ctx.s, alice.userId!);
    expect((await sync(alice, { since: a0.next_batch })).device_lists.changed).toEqual([alice.userId]);
    expect((await sync(bob, { since: b0.next_batch })).device_lists.changed).toEqual([alice.userId]);
    // Logging in again with the same device ID creates no device: no change.
    const b1 = await sync(bob);
    await loginUser(ctx.s, alice.userId!, "password", { device_id: alice2.deviceId });
    expect((await sync(bob, { since: b1.next_batch })).device_lists.changed).toEqual([]);
  });

  test("device_lists: changes of users sharing a room, newly shared users, left users; /keys/changes agrees", async () => {
    const alice = await registerUser(ctx.s, "dlalice");
    const bob = await registerUser(ctx.s, "dlbob");
    const stranger = await registerUser(ctx.s, "dlstranger");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await join(bob, roomId);
    const aliceDev = new TestDevice(alice);
    await aliceDev.upload(0, false);
    const b0 = await sync(bob);
    const st0 = await sync(stranger);

    // Alice gets a new device with keys: bob (sharing a room) sees it, the stranger does not.
    const alice2 = new TestDevice(await loginUser(ctx.s, alice.userId!));
    const longPoll = syncUntil(bob, b0.next_batch, (b) => b.device_lists.changed.length > 0, "alice's new device");
    await alice2.upload(0, false);
    const b1 = await longPoll;
    expect(b1.device_lists.changed).toEqual([alice.userId]);
    expect(b1.device_lists.left).toEqual([]);
    expect((await sync(stranger, { since: st0.next_batch })).device_lists).toEqual({ changed: [], left: [] });
    // The same through /keys/changes; the spec's shape.
    const ch = await bob.ok("GET", `/_matrix/client/v3/keys/changes?from=${b0.next_batch}&to=${b1.next_batch}`);
    assertMatchesSpec(KEYS, "GET", "/keys/changes", 200, ch);
    expect(ch).toEqual({ changed: [alice.userId], left: [] });
    // Alice's own other devices learn about it too.
    const a0 = await sync(alice);
    await alice.ok("PUT", `/_matrix/client/v3/devices/${alice2.deviceId}`, { display_name: "renamed" });
    expect((await sync(alice, { since: a0.next_batch })).device_lists.changed).toEqual([alice.userId]);
    const b2 = await sync(bob, { since: b1.next_batch });
    expect(b2.device_lists.changed).toEqual([alice.userId]);

    // The stranger joins: bob and the stranger now share a room and see each other as changed.
    const st1 = await sync(stranger);
    await join(stranger, roomId);
    const b3 = await sync(bob, { since: b2.next_batch });
    expect(b3.device_lists.changed).toContain(stranger.userId);
    const st2 = await sync(stranger, { since: st1.next_batch });
    expect(st2.device_lists.changed.sort()).toEqual([alice.userId, bob.userId].sort());

    // The stranger leaves again: bob sees them in `left`; they see bob and alice in `left`.
    await leave(stranger, roomId);
    const b4 = await sync(bob, { since: b3.next_batch });
    expect(b4.device_lists.left).toEqual([stranger.userId]);
    expect(b4.device_lists.changed).not.toContain(stranger.userId);
    const st3 = await sync(stranger, { since: st2.next_batch });
    expect(st3.device_lists.left.sort()).toEqual([alice.userId, bob.userId].sort());
    // And their later key changes are not reported to bob.
    const strangerDev = new TestDevice(stranger);
    await strangerDev.upload(0, false);
    expect((await sync(bob, { since: b4.next_batch })).device_lists).toEqual({ changed: [], left: [] });

    // Deleting a device removes its keys and is reported.
    const b5 = await sync(bob);
    const del = await withPasswordAuth(alice, "DELETE", `/_matrix/client/v3/devices/${alice2.deviceId}`);
    expect(del.status).toBe(200);
    expect((await sync(bob, { since: b5.next_batch })).device_lists.changed).toEqual([alice.userId]);
    const q = await bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [] } });
    expect(Object.keys(q.device_keys[alice.userId!])).toEqual([alice.deviceId!]);

    // Initial syncs carry no device_lists; /keys/changes needs `from`.
    expect((await sync(bob)).device_lists).toBeUndefined();
    expectError(await bob.get("/_matrix/client/v3/keys/changes"), 400, "M_MISSING_PARAM");
    expectError(await bob.get("/_matrix/client/v3/keys/changes?from=garbage"), 400, "M_INVALID_PARAM");
  });
});

