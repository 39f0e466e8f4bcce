// E2EE across two hs servers: remote /keys/query and /keys/claim (with `failures` for an unreachable
// server), to-device messages as m.direct_to_device EDUs, device list and cross-signing updates
// arriving in the other user's /sync (m.device_list_update, m.signing_key_update), the remote device
// list cache and its resync after a gap, device display names per config, and the federation
// endpoints themselves.
import { expect, test } from "bun:test";
import { loginUser, registerUser, withPasswordAuth, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { sync } from "../helpers/sync.ts";
import { CrossSigning, TestDevice, eventually, signAs, syncUntil } from "./helpers.ts";

const enc = encodeURIComponent;

async function joinRemote(c: TestClient, roomId: string, via: string): Promise<void> {
  await c.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(via)}`, {});
}

describeOnBackends("E2EE over federation", (backend) => {
  const ctx = fixture<{
    hs1: FederatingServer;
    hs2: FederatingServer;
    alice: TestClient; // hs1
    bob: TestClient; // hs2
    aliceDev: TestDevice;
    bobDev: TestDevice;
    roomId: string;
  }>(async (ctx) => {
    // hs1 shows its users' device names to other servers; hs2 keeps the default (hidden).
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, {
      backend,
      config: (i) => ({ federation: { retry_min_interval_ms: 200, allow_device_name_lookup_over_federation: i === 0 } }),
    })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "fedalice");
    ctx.bob = await registerUser(ctx.hs2, "fedbob");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/devices/${ctx.alice.deviceId}`, { display_name: "Alice's laptop" });
    await ctx.bob.ok("PUT", `/_matrix/client/v3/devices/${ctx.bob.deviceId}`, { display_name: "Bob's phone" });
    ctx.aliceDev = new TestDevice(ctx.alice);
    ctx.bobDev = new TestDevice(ctx.bob);
    await ctx.aliceDev.upload(3);
    await ctx.bobDev.upload(3);
    ctx.roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await joinRemote(ctx.bob, ctx.roomId, ctx.hs1.serverName);
  }, { timeout: 60000 });

  test("remote /keys/query and /keys/claim; an unreachable server is reported in failures", async () => {
    const q = await ctx.bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.alice.userId!]: [], "@ghost:localhost:1": [] }, timeout: 5000 });
    assertMatchesSpec("client-server/keys", "POST", "/keys/query", 200, q);
    const { unsigned, ...keys } = q.device_keys[ctx.alice.userId!][ctx.alice.deviceId!];
    expect(keys).toEqual(ctx.aliceDev.deviceKeys());
    expect(unsigned).toEqual({ device_display_name: "Alice's laptop" }); // hs1 shares names
    expect(Object.keys(q.failures)).toEqual(["localhost:1"]);
    // hs2 does not share its users' device names.
    const q2 = await ctx.alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.bob.userId!]: [] } });
    expect(q2.device_keys[ctx.bob.userId!][ctx.bob.deviceId!].unsigned?.device_display_name).toBeUndefined();
    expect(q2.device_keys[ctx.bob.userId!][ctx.bob.deviceId!].signatures).toEqual(ctx.bobDev.deviceKeys().signatures);
    // Bob's own client sees the name, of course.
    expect((await ctx.bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.bob.userId!]: [] } })).device_keys[ctx.bob.userId!][ctx.bob.deviceId!].unsigned).toEqual({
      device_display_name: "Bob's phone",
    });

    // Claims: three one-time keys, then the fallback key.
    const claim = async () =>
      ctx.bob.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [ctx.alice.userId!]: { [ctx.alice.deviceId!]: "signed_curve25519" } }, timeout: 5000 });
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await claim();
      assertMatchesSpec("client-server/keys", "POST", "/keys/claim", 200, r);
      expect(r.failures).toEqual({});
      for (const k of Object.keys(r.one_time_keys[ctx.alice.userId!][ctx.alice.deviceId!])) seen.add(k);
    }
    expect(seen.size).toBe(3);
    const fb = (await claim()).one_time_keys[ctx.alice.userId!][ctx.alice.deviceId!];
    expect(Object.values(fb)[0]).toMatchObject({ fallback: true });
    const failed = await ctx.bob.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { "@ghost:localhost:1": { D: "signed_curve25519" } }, timeout: 5000 });
    expect(Object.keys(failed.failures)).toEqual(["localhost:1"]);
    expect(failed.one_time_keys).toEqual({});
  });

  test("to-device messages cross servers, to one device and to `*`", async () => {
    const bob2 = await loginUser(ctx.hs2, ctx.bob.userId!);
    const b1 = (await sync(ctx.bob)).next_batch;
    const b2 = (await sync(bob2)).next_batch;
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/fed1", { messages: { [ctx.bob.userId!]: { [ctx.bob.deviceId!]: { n: 1 } } } });
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/fed2", { messages: { [ctx.bob.userId!]: { "*": { n: 2 } } } });
    const got1: number[] = [];
    await syncUntil(ctx.bob, b1, (b) => (got1.push(...b.to_device.events.map((e: any) => e.content.n)), got1.length >= 2), "bob's messages");
    expect(got1).toEqual([1, 2]);
    const got2 = await syncUntil(bob2, b2, (b) => b.to_device.events.length > 0, "bob2's message");
    expect(got2.to_device.events).toEqual([{ sender: ctx.alice.userId, type: "m.test", content: { n: 2 } }]);
    // And back.
    const a0 = (await sync(ctx.alice)).next_batch;
    await ctx.bob.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/back", { messages: { [ctx.alice.userId!]: { [ctx.alice.deviceId!]: { back: true } } } });
    const a1 = await syncUntil(ctx.alice, a0, (b) => b.to_device.events.length > 0, "alice's message");
    expect(a1.to_device.events).toEqual([{ sender: ctx.bob.userId, type: "m.test", content: { back: true } }]);
  });

  test("device list updates reach the other server's /sync and its cache; a gap makes it resync", async () => {
    const hs2svc = () => ctx.hs2.hs.services;
    let since = (await sync(ctx.bob)).next_batch;
    // Alice adds a device: bob hears of it.
    const alice2 = new TestDevice(await loginUser(ctx.hs1, ctx.alice.userId!));
    await alice2.upload(1);
    let r = await syncUntil(ctx.bob, since, (b) => b.device_lists.changed.includes(ctx.alice.userId), "alice's new device in bob's sync");
    since = r.next_batch;
    const devicesOfAlice = async () => Object.keys((await ctx.bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.alice.userId!]: [] } })).device_keys[ctx.alice.userId!]).sort();
    await eventually(async () => ((await devicesOfAlice()).includes(alice2.deviceId) ? true : undefined), "alice2 in bob's query");
    // hs2 keeps alice's device list cached now, up to date with hs1's stream.
    const upToDate = async () => {
      const cached = await hs2svc().e2ee.repo.remoteListStreamId(ctx.alice.userId!);
      return cached !== undefined && cached === (await ctx.hs1.hs.services.e2ee.deviceLists.outboundStreamId(ctx.alice.userId!)) ? cached : undefined;
    };
    await eventually(upToDate, "hs2's cache of alice's devices");

    // Deleting a device travels as an update too; the cache answers without the device.
    expect((await withPasswordAuth(alice2.client, "DELETE", `/_matrix/client/v3/devices/${alice2.deviceId}`)).status).toBe(200);
    r = await syncUntil(ctx.bob, since, (b) => b.device_lists.changed.includes(ctx.alice.userId), "alice's deleted device in bob's sync");
    since = r.next_batch;
    await eventually(async () => ((await devicesOfAlice()).includes(alice2.deviceId) ? undefined : true), "alice2 gone from bob's query");
    await eventually(upToDate, "hs2's cache after the deletion");
    expect(await devicesOfAlice()).toEqual([ctx.alice.deviceId!]);

    // A gap: hs2 loses a device from its cache, then sees an update whose prev_id it does not know.
    await ctx.hs2.hs.db.run("DELETE FROM remote_devices WHERE user_id = ?", [ctx.alice.userId!]);
    expect(await devicesOfAlice()).toEqual([]);
    const cached = (await hs2svc().e2ee.repo.remoteListStreamId(ctx.alice.userId!))!;
    await hs2svc().e2ee.deviceLists.receiveDeviceListUpdate(ctx.hs1.serverName, {
      user_id: ctx.alice.userId,
      device_id: "SOMETHING",
      stream_id: cached + 10,
      prev_id: [cached + 9],
      deleted: true,
    });
    // The resync fetched the whole list again from /user/devices.
    expect(await devicesOfAlice()).toEqual([ctx.alice.deviceId!]);
    // A repeated or older update changes nothing; updates from a server about another server's users are ignored.
    await hs2svc().e2ee.deviceLists.receiveDeviceListUpdate(ctx.hs1.serverName, { user_id: ctx.alice.userId, device_id: ctx.alice.deviceId, stream_id: 1, deleted: true });
    await hs2svc().e2ee.deviceLists.receiveDeviceListUpdate(ctx.hs1.serverName, { user_id: ctx.bob.userId, device_id: ctx.bob.deviceId, stream_id: 99, deleted: true });
    expect(await devicesOfAlice()).toEqual([ctx.alice.deviceId!]);
    expect(Object.keys((await ctx.alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.bob.userId!]: [] } })).device_keys[ctx.bob.userId!])).toEqual([ctx.bob.deviceId!]);
  });

  test("cross-signing keys travel as m.signing_key_update; bob signs alice's master key with his user-signing key", async () => {
    const since = (await sync(ctx.bob)).next_batch;
    const acs = new CrossSigning(ctx.alice.userId!);
    await ctx.alice.ok("POST", "/_matrix/client/v3/keys/device_signing/upload", acs.body());
    await syncUntil(ctx.bob, since, (b) => b.device_lists.changed.includes(ctx.alice.userId), "alice's cross-signing keys in bob's sync");
    const masterOfAlice = async () => (await ctx.bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.alice.userId!]: [] } })).master_keys[ctx.alice.userId!];
    await eventually(async () => ((await masterOfAlice())?.keys?.[acs.masterId] ? true : undefined), "alice's master key seen from hs2");
    const q = await ctx.bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.alice.userId!]: [] } });
    expect(q.self_signing_keys[ctx.alice.userId!]).toEqual(acs.selfSigningKey());
    expect(q.user_signing_keys).toEqual({});

    const bcs = new CrossSigning(ctx.bob.userId!);
    await ctx.bob.ok("POST", "/_matrix/client/v3/keys/device_signing/upload", bcs.body());
    const signed = signAs(acs.masterKey(), ctx.bob.userId!, `ed25519:${bcs.userSigning.publicKeyBase64}`, bcs.userSigning);
    const up = await ctx.bob.ok("POST", "/_matrix/client/v3/keys/signatures/upload", { [ctx.alice.userId!]: { [acs.master.publicKeyBase64]: signed } });
    expect(up.failures).toEqual({});
    expect((await masterOfAlice()).signatures[ctx.bob.userId!]).toEqual(signed.signatures[ctx.bob.userId!]);
    // Alice's server never learns of bob's private verdict.
    const own = await ctx.alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [ctx.alice.userId!]: [] } });
    expect(own.master_keys[ctx.alice.userId!].signatures?.[ctx.bob.userId!]).toBeUndefined();
  });

  test("the federation endpoints: /user/devices, /user/keys/query, /user/keys/claim", async () => {
    const fed = ctx.hs2.hs.services.federation.client;
    const devices = await fed.request<any>({ destination: ctx.hs1.serverName, method: "GET", path: `/_matrix/federation/v1/user/devices/${enc(ctx.alice.userId!)}` });
    assertMatchesSpec("server-server/user_devices", "GET", "/user/devices/{userId}", 200, devices);
    expect(devices.user_id).toBe(ctx.alice.userId);
    expect(devices.devices.map((d: any) => d.device_id)).toContain(ctx.alice.deviceId);
    expect(devices.devices.find((d: any) => d.device_id === ctx.alice.deviceId).device_display_name).toBe("Alice's laptop");
    const query = await fed.request<any>({ destination: ctx.hs1.serverName, method: "POST", path: "/_matrix/federation/v1/user/keys/query", body: { device_keys: { [ctx.alice.userId!]: [] } } });
    assertMatchesSpec("server-server/user_keys", "POST", "/user/keys/query", 200, query);
    expect(query.user_signing_keys).toBeUndefined();
    const claim = await fed.request<any>({
      destination: ctx.hs1.serverName,
      method: "POST",
      path: "/_matrix/federation/v1/user/keys/claim",
      body: { one_time_keys: { [ctx.alice.userId!]: { [ctx.alice.deviceId!]: "signed_curve25519" } } },
    });
    assertMatchesSpec("server-server/user_keys", "POST", "/user/keys/claim", 200, claim);
    // Unsigned requests are refused.
    const anon = await fetch(`${ctx.hs1.federationUrl}/_matrix/federation/v1/user/devices/${enc(ctx.alice.userId!)}`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(anon.status).toBe(401);
    // Only local users.
    await expect(fed.request({ destination: ctx.hs1.serverName, method: "GET", path: `/_matrix/federation/v1/user/devices/${enc(ctx.bob.userId!)}` })).rejects.toMatchObject({ status: 403 });
  });
});
