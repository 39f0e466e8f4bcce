// Dehydrated devices (MSC3814, /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device) over
// HTTP on both databases: advertised in /versions; PUT creates the device with its keys (checked
// like /keys/upload) and replaces the previous one; GET returns it; to-device messages sent to it
// are read page by page with next_batch and deleted once the reader has moved past them; DELETE and
// every other way of deleting the device forget it; bad input gets Matrix errors.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { signAs, TestDevice, type Json } from "./helpers.ts";

const PATH = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";
const enc = encodeURIComponent;

/** A device of `owner` with another device ID (the one to dehydrate). */
function deviceFor(owner: TestClient, deviceId: string): TestDevice {
  return new TestDevice({ userId: owner.userId, deviceId } as TestClient);
}

function putBody(dev: TestDevice, extra: Json = {}): Json {
  return {
    device_id: dev.deviceId,
    device_data: { algorithm: "org.matrix.msc3814.v2", device_pickle: "opaque-pickle", nonce: "n0nce" },
    initial_device_display_name: "Dehydrated device",
    // Clients mark the device keys of a dehydrated device (signed like the rest).
    device_keys: signAs({ ...dev.deviceKeys(), signatures: undefined, dehydrated: true }, dev.userId, `ed25519:${dev.deviceId}`, dev.ed),
    one_time_keys: dev.oneTimeKeys(3),
    fallback_keys: dev.fallbackKey(),
    ...extra,
  };
}

describeOnBackends("dehydrated devices", (backend) => {
  const ctx = serverFixture({ backend });

  test("advertised in /versions; none yet is 404 M_NOT_FOUND for GET, DELETE and events", async () => {
    const alice = await registerUser(ctx.s, "dh_alice");
    expect((await alice.ok("GET", "/_matrix/client/versions")).unstable_features["org.matrix.msc3814"]).toBe(true);
    expectError(await alice.request("GET", PATH), 404, "M_NOT_FOUND");
    expectError(await alice.request("DELETE", PATH), 404, "M_NOT_FOUND");
    expectError(await alice.request("POST", `${PATH}/X/events`, {}), 404, "M_NOT_FOUND");
  });

  test("PUT stores the device and its keys; GET returns it; others can claim its keys and see it in /keys/query", async () => {
    const alice = await registerUser(ctx.s, "dh_bob");
    const other = await registerUser(ctx.s, "dh_other");
    const dev = deviceFor(alice, "DEHYDRATED1");
    const put = await alice.ok("PUT", PATH, putBody(dev));
    expect(put).toEqual({ device_id: "DEHYDRATED1" });
    const got = await alice.ok("GET", PATH);
    expect(got).toEqual({ device_id: "DEHYDRATED1", device_data: { algorithm: "org.matrix.msc3814.v2", device_pickle: "opaque-pickle", nonce: "n0nce" } });

    // An ordinary device to everyone else: listed, queried (with dehydrated: true), claimable.
    const devices = (await alice.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: Json) => d.device_id);
    expect(devices).toContain("DEHYDRATED1");
    const q = await other.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [] } });
    expect(q.device_keys[alice.userId!].DEHYDRATED1.dehydrated).toBe(true);
    const claim = await other.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [alice.userId!]: { DEHYDRATED1: "signed_curve25519" } } });
    expect(Object.keys(claim.one_time_keys[alice.userId!].DEHYDRATED1)).toHaveLength(1);
  });

  test("to-device messages for the dehydrated device are read in pages with next_batch, and deleted once read", async () => {
    const alice = await registerUser(ctx.s, "dh_carol");
    const sender = await registerUser(ctx.s, "dh_sender");
    const dev = deviceFor(alice, "DEHYD2");
    await alice.ok("PUT", PATH, putBody(dev));
    for (let i = 0; i < 130; i++) {
      await sender.ok("PUT", `/_matrix/client/v3/sendToDevice/m.room_key_request/t${i}`, { messages: { [alice.userId!]: { DEHYD2: { n: i } } } });
    }
    // A message to `*` reaches it too.
    await sender.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/star", { messages: { [alice.userId!]: { "*": { n: "star" } } } });

    const page1 = await alice.ok("POST", `${PATH}/DEHYD2/events`, {});
    expect(page1.events).toHaveLength(100);
    expect(page1.events[0]).toEqual({ sender: sender.userId, type: "m.room_key_request", content: { n: 0 } });
    expect(typeof page1.next_batch).toBe("string");
    // Asking again from the start gives the same page (nothing is lost until the reader moves on).
    expect((await alice.ok("POST", `${PATH}/DEHYD2/events`, {})).events[0].content).toEqual({ n: 0 });
    const page2 = await alice.ok("POST", `${PATH}/DEHYD2/events`, { next_batch: page1.next_batch });
    expect(page2.events.map((e: Json) => e.content.n)).toEqual([...Array.from({ length: 30 }, (_, i) => 100 + i), "star"]);
    // The first page is gone now.
    expect((await alice.ok("POST", `${PATH}/DEHYD2/events`, {})).events[0].content.n).toBe(100);
    const page3 = await alice.ok("POST", `${PATH}/DEHYD2/events`, { next_batch: page2.next_batch });
    expect(page3.events).toEqual([]);
    expect((await alice.ok("POST", `${PATH}/DEHYD2/events`, {})).events).toEqual([]);

    // Only the dehydrated device's own events, and a well-formed next_batch.
    expectError(await alice.request("POST", `${PATH}/${enc(alice.deviceId!)}/events`, {}), 403, "M_FORBIDDEN");
    expectError(await alice.request("POST", `${PATH}/DEHYD2/events`, { next_batch: "abc" }), 400, "M_INVALID_PARAM");
    expectError(await alice.request("POST", `${PATH}/DEHYD2/events`, { next_batch: 5 }), 400, "M_INVALID_PARAM");
  });

  test("a new PUT replaces the device (the old one's keys and messages go); DELETE and DELETE /devices forget it", async () => {
    const alice = await registerUser(ctx.s, "dh_dave");
    const other = await registerUser(ctx.s, "dh_other2");
    await alice.ok("PUT", PATH, putBody(deviceFor(alice, "OLDDEHYD")));
    await other.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/x1", { messages: { [alice.userId!]: { OLDDEHYD: { n: 1 } } } });
    // Uploading a device with the same ID again replaces it (fresh keys, no old messages).
    await alice.ok("PUT", PATH, putBody(deviceFor(alice, "OLDDEHYD")));
    expect((await alice.ok("POST", `${PATH}/OLDDEHYD/events`, {})).events).toEqual([]);
    await other.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/x2", { messages: { [alice.userId!]: { OLDDEHYD: { n: 2 } } } });
    await alice.ok("PUT", PATH, putBody(deviceFor(alice, "NEWDEHYD")));
    expect((await alice.ok("GET", PATH)).device_id).toBe("NEWDEHYD");
    const devices = (await alice.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: Json) => d.device_id);
    expect(devices).toContain("NEWDEHYD");
    expect(devices).not.toContain("OLDDEHYD");
    const q = await other.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [] } });
    expect(Object.keys(q.device_keys[alice.userId!])).toEqual(["NEWDEHYD"]);

    expect(await alice.ok("DELETE", PATH)).toEqual({ device_id: "NEWDEHYD" });
    expectError(await alice.request("GET", PATH), 404, "M_NOT_FOUND");
    expect((await alice.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: Json) => d.device_id)).toEqual([alice.deviceId]);

    // Deleting it as a device (with UIA) forgets it as well.
    await alice.ok("PUT", PATH, putBody(deviceFor(alice, "THIRD")));
    const del = await alice.request("DELETE", "/_matrix/client/v3/devices/THIRD", {});
    expect(del.status).toBe(401);
    await alice.ok("DELETE", "/_matrix/client/v3/devices/THIRD", { auth: { type: "m.login.password", session: del.body.session, identifier: { type: "m.id.user", user: alice.userId }, password: "password" } });
    expectError(await alice.request("GET", PATH), 404, "M_NOT_FOUND");

    // The admin API marks it.
    const admin = await registerUser(ctx.s, "dh_admin", "password", true);
    await alice.ok("PUT", PATH, putBody(deviceFor(alice, "FOURTH")));
    const listed = (await admin.ok("GET", `/_synapse/admin/v2/users/${enc(alice.userId!)}/devices`)).devices;
    expect(listed.find((d: Json) => d.device_id === "FOURTH").dehydrated).toBe(true);
    expect(listed.find((d: Json) => d.device_id === alice.deviceId).dehydrated).toBe(false);
  });

  test("bad input: Matrix errors, and no half-created device", async () => {
    const alice = await registerUser(ctx.s, "dh_erin");
    const dev = deviceFor(alice, "BADDEHYD");
    expectError(await alice.request("PUT", PATH, { ...putBody(dev), device_id: undefined }), 400, "M_MISSING_PARAM");
    expectError(await alice.request("PUT", PATH, putBody(dev, { device_id: "" })), 400, "M_INVALID_PARAM");
    expectError(await alice.request("PUT", PATH, putBody(dev, { device_data: "pickle" })), 400, "M_BAD_JSON");
    expectError(await alice.request("PUT", PATH, putBody(dev, { device_data: { no: "algorithm" } })), 400, "M_BAD_JSON");
    expectError(await alice.request("PUT", PATH, { ...putBody(dev), device_keys: undefined }), 400, "M_MISSING_PARAM");
    expectError(await alice.request("PUT", PATH, putBody(dev, { initial_device_display_name: 5 })), 400, "M_BAD_JSON");
    // Keys signed by someone else, or for another device: refused, and the device is not left behind.
    const wrong = deviceFor(alice, "OTHERID");
    const r = await alice.request("PUT", PATH, putBody(dev, { device_keys: wrong.deviceKeys() }));
    expect(r.status).toBe(400);
    expect((await alice.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: Json) => d.device_id)).toEqual([alice.deviceId]);
    // A session's device cannot be taken over.
    expectError(await alice.request("PUT", PATH, putBody(deviceFor(alice, alice.deviceId!))), 400, "M_INVALID_PARAM");
    expectError(await alice.request("GET", PATH), 404, "M_NOT_FOUND");
  });
});
