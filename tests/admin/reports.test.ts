// Reporting content (report_content.yaml) and the reports admin API in Synapse's shapes, on both
// databases: who may report what, the spec's errors, and list/get/delete with filters and paging.
import { expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send } from "../helpers/sync.ts";

describeOnBackends("reports", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; alice: TestClient; bob: TestClient; carol: TestClient; roomId: string; bobsEvent: string }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, "admin", "password", true);
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.bob = await registerUser(ctx.s, "bob");
    ctx.carol = await registerUser(ctx.s, "carol");
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat", name: "Reported room", room_alias_name: `reported-${backend}` });
    await join(ctx.bob, ctx.roomId);
    ctx.bobsEvent = await send(ctx.bob, ctx.roomId, "something nasty");
  });

  const reportEvent = (c: TestClient, room: string, eventId: string, body: unknown = { reason: "nasty" }) =>
    c.post(`/_matrix/client/v3/rooms/${enc(room)}/report/${enc(eventId)}`, body);

  test("event reports: joined members only, visible existing events only", async () => {
    const ok = await reportEvent(ctx.alice, ctx.roomId, ctx.bobsEvent);
    expect(ok.status).toBe(200);
    assertMatchesSpec("client-server/report_content", "POST", "/rooms/{roomId}/report/{eventId}", 200, ok.body);
    // The reason is optional; an integer score from older clients is accepted.
    expect((await reportEvent(ctx.alice, ctx.roomId, ctx.bobsEvent, { score: -100 })).status).toBe(200);
    expect((await reportEvent(ctx.alice, ctx.roomId, ctx.bobsEvent, {})).status).toBe(200);
    const notJoined = await reportEvent(ctx.carol, ctx.roomId, ctx.bobsEvent);
    expectError(notJoined, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/report_content", "POST", "/rooms/{roomId}/report/{eventId}", 404, notJoined.body);
    expectError(await reportEvent(ctx.alice, ctx.roomId, `$${"x".repeat(43)}`), 404, "M_NOT_FOUND");
    // An event of another room.
    const other = await createRoom(ctx.alice, {});
    const otherEvent = await send(ctx.alice, other, "elsewhere");
    expectError(await reportEvent(ctx.alice, ctx.roomId, otherEvent), 404, "M_NOT_FOUND");
    // Redacted events cannot be reported.
    const gone = await send(ctx.bob, ctx.roomId, "regret");
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/redact/${enc(gone)}/${crypto.randomUUID()}`, {});
    expectError(await reportEvent(ctx.alice, ctx.roomId, gone), 404, "M_NOT_FOUND");
    expectError(await reportEvent(ctx.alice, ctx.roomId, ctx.bobsEvent, { reason: 42 }), 400, "M_BAD_JSON");
    expectError(await reportEvent(ctx.alice, ctx.roomId, ctx.bobsEvent, "not json"), 400, "M_NOT_JSON");
    expectError(await reportEvent(ctx.alice, "not-a-room", ctx.bobsEvent), 400, "M_INVALID_PARAM");
    expectError(await new TestClient(ctx.s.url).post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/report/${enc(ctx.bobsEvent)}`, {}), 401, "M_MISSING_TOKEN");
  });

  test("room reports (v1.13) need no membership; user reports (v1.14) any known user", async () => {
    const r = await ctx.carol.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/report`, { reason: "whole room is bad" });
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/report_content", "POST", "/rooms/{roomId}/report", 200, r.body);
    expect((await ctx.carol.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/report`, { reason: "" })).status).toBe(200);
    const missing = await ctx.carol.post(`/_matrix/client/v3/rooms/${enc("!nope:localhost")}/report`, { reason: "x" });
    expectError(missing, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/report_content", "POST", "/rooms/{roomId}/report", 404, missing.body);
    expectError(await ctx.carol.post(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/report`, {}), 400, "M_MISSING_PARAM");

    const u = await ctx.carol.post(`/_matrix/client/v3/users/${enc(ctx.bob.userId!)}/report`, { reason: "harassment" });
    expect(u.status).toBe(200);
    assertMatchesSpec("client-server/report_content", "POST", "/users/{userId}/report", 200, u.body);
    const unknown = await ctx.carol.post(`/_matrix/client/v3/users/${enc("@ghost:localhost")}/report`, { reason: "x" });
    expectError(unknown, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/report_content", "POST", "/users/{userId}/report", 404, unknown.body);
    expectError(await ctx.carol.post(`/_matrix/client/v3/users/${enc("@someone:elsewhere.example")}/report`, { reason: "x" }), 404, "M_NOT_FOUND");
    expectError(await ctx.carol.post(`/_matrix/client/v3/users/${enc("not-a-user")}/report`, { reason: "x" }), 400, "M_INVALID_PARAM");
    expectError(await ctx.carol.post(`/_matrix/client/v3/users/${enc(ctx.bob.userId!)}/report`, { reason: ["x"] }), 400, "M_BAD_JSON");
  });

  test("admin API: event reports listed newest first with room details, filtered, paged, shown and deleted", async () => {
    expectError(await ctx.alice.get("/_synapse/admin/v1/event_reports"), 403, "M_FORBIDDEN");
    const all = await ctx.admin.ok("GET", "/_synapse/admin/v1/event_reports");
    expect(all.total).toBe(3);
    expect(all.next_token).toBeUndefined();
    const first = all.event_reports[0];
    expect(first).toMatchObject({
      room_id: ctx.roomId,
      event_id: ctx.bobsEvent,
      user_id: ctx.alice.userId,
      sender: ctx.bob.userId,
      name: "Reported room",
      canonical_alias: `#reported-${backend}:localhost`,
    });
    expect(typeof first.id).toBe("number");
    expect(typeof first.received_ts).toBe("number");
    // Oldest first with dir=f: the first report had the reason "nasty" and no score.
    const f = await ctx.admin.ok("GET", "/_synapse/admin/v1/event_reports?dir=f");
    expect(f.event_reports.map((r: any) => [r.reason, r.score])).toEqual([
      ["nasty", null],
      [null, -100],
      [null, null],
    ]);
    // Paging.
    const p1 = await ctx.admin.ok("GET", "/_synapse/admin/v1/event_reports?limit=2&dir=f");
    expect(p1.event_reports).toHaveLength(2);
    expect(p1.next_token).toBe(2);
    const p2 = await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?limit=2&dir=f&from=${p1.next_token}`);
    expect(p2.event_reports.map((r: any) => r.id)).toEqual([f.event_reports[2].id]);
    expect(p2.next_token).toBeUndefined();
    // Filters: user_id / room_id are substrings, sender_user_id exact.
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?user_id=alice`)).total).toBe(3);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?user_id=bob`)).total).toBe(0);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?room_id=${enc(ctx.roomId.slice(1, 8))}`)).total).toBe(3);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?sender_user_id=${enc(ctx.bob.userId!)}`)).total).toBe(3);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?sender_user_id=${enc(ctx.alice.userId!)}`)).total).toBe(0);
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports?user_id=%25`)).total).toBe(0); // LIKE wildcards are literal

    // One report in detail, with the event.
    const one = await ctx.admin.ok("GET", `/_synapse/admin/v1/event_reports/${first.id}`);
    expect(one.id).toBe(first.id);
    expect(one.event_json.content.body).toBe("something nasty");
    expect(one.event_json.sender).toBe(ctx.bob.userId);
    expect(one.event_json.room_id).toBe(ctx.roomId);

    // Errors in Synapse's style.
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports?limit=-1"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports?from=x"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports?dir=up"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports/abc"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports/0"), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.get("/_synapse/admin/v1/event_reports/99999"), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.get(`/_synapse/admin/v1/event_reports/${first.id}`), 403, "M_FORBIDDEN");
    expectError(await ctx.alice.delete(`/_synapse/admin/v1/event_reports/${first.id}`), 403, "M_FORBIDDEN");

    expect(await ctx.admin.ok("DELETE", `/_synapse/admin/v1/event_reports/${first.id}`)).toEqual({});
    expectError(await ctx.admin.get(`/_synapse/admin/v1/event_reports/${first.id}`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.delete(`/_synapse/admin/v1/event_reports/${first.id}`), 404, "M_NOT_FOUND");
    expect((await ctx.admin.ok("GET", "/_synapse/admin/v1/event_reports")).total).toBe(2);
  });

  test("admin API: room and user reports", async () => {
    const rooms = await ctx.admin.ok("GET", "/_synapse/admin/v1/room_reports?dir=f");
    expect(rooms.total).toBe(2);
    expect(rooms.room_reports[0]).toMatchObject({ room_id: ctx.roomId, user_id: ctx.carol.userId, reason: "whole room is bad", name: "Reported room" });
    const users = await ctx.admin.ok("GET", "/_synapse/admin/v1/user_reports");
    expect(users.user_reports).toHaveLength(1);
    expect(users.user_reports[0]).toMatchObject({ target_user_id: ctx.bob.userId, user_id: ctx.carol.userId, reason: "harassment" });
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/user_reports?target_user_id=${enc(ctx.alice.userId!)}`)).total).toBe(0);
    const id = users.user_reports[0].id;
    expect((await ctx.admin.ok("GET", `/_synapse/admin/v1/user_reports/${id}`)).reason).toBe("harassment");
    await ctx.admin.ok("DELETE", `/_synapse/admin/v1/user_reports/${id}`);
    expect((await ctx.admin.ok("GET", "/_synapse/admin/v1/user_reports")).total).toBe(0);
    expectError(await ctx.bob.get("/_synapse/admin/v1/room_reports"), 403, "M_FORBIDDEN");
  });
});
