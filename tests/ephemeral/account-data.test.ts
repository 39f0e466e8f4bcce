// Account data (global and per room) and room tags over HTTP, and their delivery in /sync.
import { expect, test } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";

describeOnBackends("account data and tags", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; roomId: string }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob] = await serverWithUsers({ backend }, "alice", "bob");
    ctx.roomId = await createRoom(ctx.alice, {});
  });

  const global = (c: TestClient, type: string, user = c.userId!) => `/_matrix/client/v3/user/${enc(user)}/account_data/${enc(type)}`;
  const perRoom = (c: TestClient, type: string, room = ctx.roomId, user = c.userId!) =>
    `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/account_data/${enc(type)}`;
  const tags = (c: TestClient, room = ctx.roomId, user = c.userId!) => `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/tags`;

  test("global account data: put, get, overwrite, errors", async () => {
    expectError(await ctx.alice.get(global(ctx.alice, "org.example.settings")), 404, "M_NOT_FOUND");
    const put = await ctx.alice.put(global(ctx.alice, "org.example.settings"), { theme: "dark" });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/account-data", "PUT", "/user/{userId}/account_data/{type}", 200, put.body);
    const got = await ctx.alice.get(global(ctx.alice, "org.example.settings"));
    expect(got.body).toEqual({ theme: "dark" });
    assertMatchesSpec("client-server/account-data", "GET", "/user/{userId}/account_data/{type}", 200, got.body);
    await ctx.alice.ok("PUT", global(ctx.alice, "org.example.settings"), { theme: "light" });
    expect(await ctx.alice.ok("GET", global(ctx.alice, "org.example.settings"))).toEqual({ theme: "light" });

    expectError(await ctx.bob.get(global(ctx.alice, "org.example.settings", ctx.alice.userId!)), 403, "M_FORBIDDEN");
    expectError(await ctx.bob.put(global(ctx.alice, "org.example.settings", ctx.alice.userId!), { x: 1 }), 403, "M_FORBIDDEN");
    expectError(await ctx.alice.put(global(ctx.alice, "m.fully_read"), { event_id: "$x:localhost" }), 405, "M_BAD_JSON");
    expectError(await ctx.alice.put(global(ctx.alice, "m.push_rules"), { global: {} }), 405, "M_BAD_JSON");
    expectError(await ctx.alice.put(global(ctx.alice, "org.example.array"), [1, 2]), 400, "M_NOT_JSON");
  });

  test("m.push_rules is server-managed: readable (defaults included), in every initial sync, not writable", async () => {
    const got = await ctx.alice.ok("GET", global(ctx.alice, "m.push_rules"));
    expect(got.global.override[0].rule_id).toBe(".m.rule.master");
    expect(got.global.underride.map((r: any) => r.rule_id)).toContain(".m.rule.message");
    const first = await sync(ctx.alice);
    const ev = first.account_data.events.find((e: any) => e.type === "m.push_rules");
    expect(ev.content.global.override[0].rule_id).toBe(".m.rule.master");
    // A change through the push rules API comes down in the next incremental sync.
    await ctx.alice.ok("PUT", "/_matrix/client/v3/pushrules/global/room/" + enc(ctx.roomId), { actions: [] });
    const inc = await sync(ctx.alice, { since: first.next_batch });
    const changed = inc.account_data.events.find((e: any) => e.type === "m.push_rules");
    expect(changed.content.global.room.map((r: any) => r.rule_id)).toEqual([ctx.roomId]);
    expect(changed.content.global.override[0].rule_id).toBe(".m.rule.master");
    expectError(await ctx.alice.put(global(ctx.alice, "m.push_rules"), changed.content), 405, "M_BAD_JSON");
  });

  test("room account data: put, get, errors", async () => {
    expectError(await ctx.alice.get(perRoom(ctx.alice, "org.example.room")), 404, "M_NOT_FOUND");
    const put = await ctx.alice.put(perRoom(ctx.alice, "org.example.room"), { pinned: true });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/account-data", "PUT", "/user/{userId}/rooms/{roomId}/account_data/{type}", 200, put.body);
    expect(await ctx.alice.ok("GET", perRoom(ctx.alice, "org.example.room"))).toEqual({ pinned: true });
    // No fallback between global and room data.
    expectError(await ctx.alice.get(global(ctx.alice, "org.example.room")), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.get(perRoom(ctx.alice, "org.example.room", "@notaroom:localhost")), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(perRoom(ctx.alice, "org.example.room", "@notaroom:localhost"), {}), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.get(perRoom(ctx.alice, "org.example.room", ctx.roomId, ctx.alice.userId!)), 403, "M_FORBIDDEN");
    expectError(await ctx.alice.put(perRoom(ctx.alice, "m.fully_read"), { event_id: "$x:localhost" }), 405, "M_BAD_JSON");
    expectError(await ctx.alice.put(perRoom(ctx.alice, "m.push_rules"), {}), 405, "M_BAD_JSON");
  });

  test("account data in /sync: all of it initially, changes incrementally, woken at once", async () => {
    await ctx.alice.ok("PUT", global(ctx.alice, "org.example.sync"), { v: 1 });
    await ctx.alice.ok("PUT", perRoom(ctx.alice, "org.example.roomsync"), { v: 1 });
    const first = await sync(ctx.alice);
    expect(first.account_data.events).toContainEqual({ type: "org.example.sync", content: { v: 1 } });
    expect(first.rooms.join[ctx.roomId].account_data.events).toContainEqual({ type: "org.example.roomsync", content: { v: 1 } });

    const quiet = await sync(ctx.alice, { since: first.next_batch });
    expect(quiet.account_data.events).toEqual([]);
    expect(quiet.rooms.join[ctx.roomId]).toBeUndefined();

    const pending = sync(ctx.alice, { since: first.next_batch, timeout: 15000 });
    const started = performance.now();
    await Bun.sleep(100);
    await ctx.alice.ok("PUT", global(ctx.alice, "org.example.sync"), { v: 2 });
    const woke = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(woke.account_data.events).toEqual([{ type: "org.example.sync", content: { v: 2 } }]);

    await ctx.alice.ok("PUT", perRoom(ctx.alice, "org.example.roomsync"), { v: 2 });
    const inc = await sync(ctx.alice, { since: woke.next_batch });
    expect(inc.account_data.events).toEqual([]);
    expect(inc.rooms.join[ctx.roomId].account_data.events).toEqual([{ type: "org.example.roomsync", content: { v: 2 } }]);
    expect(inc.rooms.join[ctx.roomId].timeline.events).toEqual([]);
    // Others never see it.
    expect(JSON.stringify(await sync(ctx.bob))).not.toContain("org.example.sync");
  });

  test("tags: add with order, list, remove, validation, delivered as m.tag", async () => {
    const before = await sync(ctx.alice);
    const put = await ctx.alice.put(`${tags(ctx.alice)}/m.favourite`, { order: 0.25 });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/tags", "PUT", "/user/{userId}/rooms/{roomId}/tags/{tag}", 200, put.body);
    await ctx.alice.ok("PUT", `${tags(ctx.alice)}/u.work`, {});
    const list = await ctx.alice.get(tags(ctx.alice));
    expect(list.body).toEqual({ tags: { "m.favourite": { order: 0.25 }, "u.work": {} } });
    assertMatchesSpec("client-server/tags", "GET", "/user/{userId}/rooms/{roomId}/tags", 200, list.body);

    const inc = await sync(ctx.alice, { since: before.next_batch });
    const tagEv = inc.rooms.join[ctx.roomId].account_data.events.find((e: any) => e.type === "m.tag");
    expect(tagEv.content).toEqual({ tags: { "m.favourite": { order: 0.25 }, "u.work": {} } });

    const del = await ctx.alice.delete(`${tags(ctx.alice)}/u.work`);
    expect(del.status).toBe(200);
    expect((await ctx.alice.ok("GET", tags(ctx.alice))).tags).toEqual({ "m.favourite": { order: 0.25 } });
    const inc2 = await sync(ctx.alice, { since: inc.next_batch });
    expect(inc2.rooms.join[ctx.roomId].account_data.events).toEqual([{ type: "m.tag", content: { tags: { "m.favourite": { order: 0.25 } } } }]);
    // Deleting a tag that is not there is fine.
    expect((await ctx.alice.delete(`${tags(ctx.alice)}/u.none`)).status).toBe(200);

    expectError(await ctx.alice.put(`${tags(ctx.alice)}/u.bad`, { order: 2 }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(`${tags(ctx.alice)}/u.bad`, { order: -0.1 }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(`${tags(ctx.alice)}/u.bad`, { order: "first" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.put(`${tags(ctx.alice)}/${"x".repeat(256)}`, {}), 400, "M_INVALID_PARAM");
    expectError(await ctx.bob.get(tags(ctx.bob, ctx.roomId, ctx.alice.userId!)), 403, "M_FORBIDDEN");
    expectError(await ctx.bob.put(`${tags(ctx.bob, ctx.roomId, ctx.alice.userId!)}/u.x`, {}), 403, "M_FORBIDDEN");
    // Room without tags.
    const other = await createRoom(ctx.alice, {});
    expect(await ctx.alice.ok("GET", tags(ctx.alice, other))).toEqual({ tags: {} });
  });
});
