// Send-to-device messaging on one server: PUT /sendToDevice (idempotent), delivery in /sync until the
// next `since` acknowledges it, `*` devices, at most 100 per response, long-poll wake-ups, and the
// queue of a deleted device.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { sync } from "../helpers/sync.ts";

const enc = encodeURIComponent;

describeOnBackends("send-to-device", (backend) => {
  const ctx = serverFixture({ backend });

  test("a message reaches one device, stays until acknowledged, and a repeated txnId sends nothing", async () => {
    const alice = await registerUser(ctx.s, "tdalice");
    const bob = await registerUser(ctx.s, "tdbob");
    const bob2 = await loginUser(ctx.s, bob.userId!);
    const b0 = await sync(bob);
    const path = `/_matrix/client/v3/sendToDevice/${enc("m.test.ping")}/txn1`;
    const body = { messages: { [bob.userId!]: { [bob.deviceId!]: { n: 1 } } } };
    const r = await alice.put(path, body);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/to_device", "PUT", "/sendToDevice/{eventType}/{txnId}", 200, r.body);
    expect((await alice.put(path, body)).status).toBe(200); // same transaction: nothing new

    const first = await sync(bob, { since: b0.next_batch });
    expect(first.to_device.events).toEqual([{ sender: alice.userId, type: "m.test.ping", content: { n: 1 } }]);
    // Not acknowledged yet (the client retries with the same since): delivered again.
    const retry = await sync(bob, { since: b0.next_batch });
    expect(retry.to_device.events).toHaveLength(1);
    // The next since acknowledges it.
    const next = await sync(bob, { since: retry.next_batch });
    expect(next.to_device.events).toEqual([]);
    // The other device of bob never got it.
    expect((await sync(bob2)).to_device.events).toEqual([]);
    // A new transaction ID is a new message.
    await alice.ok("PUT", `/_matrix/client/v3/sendToDevice/m.test.ping/txn2`, body);
    expect((await sync(bob, { since: next.next_batch })).to_device.events.map((e: any) => e.content.n)).toEqual([1]);
  });

  test("`*` reaches every device of the user; an explicit device in the same request gets its own content", async () => {
    const alice = await registerUser(ctx.s, "tdalice2");
    const carol = await registerUser(ctx.s, "tdcarol");
    const carol2 = await loginUser(ctx.s, carol.userId!);
    const carol3 = await loginUser(ctx.s, carol.userId!);
    await alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/star1", {
      messages: { [carol.userId!]: { "*": { to: "all" }, [carol3.deviceId!]: { to: "three" } }, [`@nobody:${ctx.s.serverName}`]: { "*": {} } },
    });
    const got = await Promise.all([carol, carol2, carol3].map(async (c) => (await sync(c)).to_device.events.map((e: any) => e.content.to)));
    expect(got).toEqual([["all"], ["all"], ["three"]]);
  });

  test("messages arrive in order, at most 100 per response, none lost across responses", async () => {
    const alice = await registerUser(ctx.s, "tdalice3");
    const dave = await registerUser(ctx.s, "tddave");
    for (let i = 0; i < 130; i++) {
      await alice.ok("PUT", `/_matrix/client/v3/sendToDevice/m.test/bulk${i}`, { messages: { [dave.userId!]: { [dave.deviceId!]: { i } } } });
    }
    const r1 = await sync(dave);
    expect(r1.to_device.events.map((e: any) => e.content.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // The rest comes with the next sync, which acknowledges the first batch.
    const r2 = await sync(dave, { since: r1.next_batch });
    expect(r2.to_device.events.map((e: any) => e.content.i)).toEqual(Array.from({ length: 30 }, (_, i) => 100 + i));
    expect(r2.next_batch).not.toBe(r1.next_batch);
    // A lost response: retrying the same since gets the second batch again.
    const r2again = await sync(dave, { since: r1.next_batch });
    expect(r2again.to_device.events).toHaveLength(30);
    expect((await sync(dave, { since: r2again.next_batch })).to_device.events).toEqual([]);
  });

  test("a waiting /sync wakes up for a to-device message", async () => {
    const alice = await registerUser(ctx.s, "tdalice4");
    const erin = await registerUser(ctx.s, "tderin");
    let since = (await sync(erin)).next_batch;
    const started = Date.now();
    // Long-polls until the message comes (other news, such as presence, may end a poll first).
    const waiting = (async () => {
      for (let i = 0; i < 20; i++) {
        const r = await sync(erin, { since, timeout: 10000 });
        if (r.to_device.events.length) return r.to_device.events;
        since = r.next_batch;
      }
      return [];
    })();
    await Bun.sleep(100);
    await alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/wake", { messages: { [erin.userId!]: { [erin.deviceId!]: { hi: true } } } });
    expect(await waiting).toEqual([{ sender: alice.userId, type: "m.test", content: { hi: true } }]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a deleted device's queue goes with it; a device with the same ID starts empty", async () => {
    const alice = await registerUser(ctx.s, "tdalice5");
    const frank = await registerUser(ctx.s, "tdfrank");
    const frank2 = await loginUser(ctx.s, frank.userId!);
    await alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test/del1", { messages: { [frank.userId!]: { [frank2.deviceId!]: { x: 1 } } } });
    expect((await withPasswordAuth(frank, "DELETE", `/_matrix/client/v3/devices/${frank2.deviceId}`)).status).toBe(200);
    const again = await loginUser(ctx.s, frank.userId!, "password", { device_id: frank2.deviceId });
    expect((await sync(again)).to_device.events).toEqual([]);
  });

  test("bad requests", async () => {
    const alice = await registerUser(ctx.s, "tdalice6");
    expectError(await alice.put("/_matrix/client/v3/sendToDevice/m.test/bad1", {}), 400, "M_MISSING_PARAM");
    expectError(await alice.put("/_matrix/client/v3/sendToDevice/m.test/bad2", { messages: [] }), 400, "M_BAD_JSON");
    expectError(await alice.put("/_matrix/client/v3/sendToDevice/m.test/bad3", { messages: { notauser: {} } }), 400, "M_INVALID_PARAM");
    expectError(await alice.put("/_matrix/client/v3/sendToDevice/m.test/bad4", { messages: { [alice.userId!]: { D: "text" } } }), 400, "M_BAD_JSON");
    expectError(await alice.put("/_matrix/client/v3/sendToDevice/m.test/bad5", "not json"), 400, "M_NOT_JSON");
  });
});
