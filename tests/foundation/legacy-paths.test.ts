// Legacy paths real clients still use (issue 17, root cause 5): every /_matrix/client/v3 endpoint
// also under /_matrix/client/r0 (src/http/legacy-paths.ts), POST /rooms/{roomId}/send/{eventType}
// and POST /rooms/{roomId}/redact/{eventId} without a transaction ID, and the deprecated
// GET /_matrix/key/v2/query/{serverName}/{keyId}.
import { expect, test } from "bun:test";
import { currentPath } from "../../src/http/legacy-paths.ts";
import { registerUser, TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

test("currentPath: r0 becomes v3; other paths are not legacy", () => {
  expect(currentPath("/_matrix/client/r0/sync")).toBe("/_matrix/client/v3/sync");
  expect(currentPath("/_matrix/client/r0/rooms/!a:b/send/m.room.message/1")).toBe("/_matrix/client/v3/rooms/!a:b/send/m.room.message/1");
  expect(currentPath("/_matrix/client/v3/sync")).toBeUndefined();
  expect(currentPath("/_matrix/client/r01/sync")).toBeUndefined();
  expect(currentPath("/_matrix/media/r0/config")).toBeUndefined();
});

describeOnBackends("legacy paths", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; anon: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.anon = new TestClient(ctx.s.url);
  });

  test("every v3 endpoint answers on r0 as on v3", async () => {
    const routes = ctx.s.hs.app.routes.filter((r) => r.path.startsWith("/_matrix/client/v3/") && ["GET", "PUT", "POST", "DELETE"].includes(r.method));
    expect(routes.length).toBeGreaterThan(100);
    const differ: string[] = [];
    for (const r of routes) {
      const path = r.path.replace(/:[^/]+/g, "x").replace(/\*/g, "x");
      const body = r.method === "GET" || r.method === "DELETE" ? undefined : {};
      const v3 = await ctx.anon.request(r.method, path, body);
      const r0 = await ctx.anon.request(r.method, path.replace("/_matrix/client/v3/", "/_matrix/client/r0/"), body);
      if (r0.status === 404 && r0.body?.errcode === "M_UNRECOGNIZED") differ.push(`${r.method} ${r.path}: not on r0`);
      else if (r0.status !== v3.status || r0.body?.errcode !== v3.body?.errcode) differ.push(`${r.method} ${r.path}: r0 ${r0.status}, v3 ${v3.status}`);
    }
    expect(differ).toEqual([]);
  }, 60_000);

  test("an r0 client logs in, syncs and sends (the paths matrix-nio uses)", async () => {
    const login = await ctx.anon.ok("POST", "/_matrix/client/r0/login", { type: "m.login.password", user: "alice", password: "password" });
    const c = new TestClient(ctx.s.url, login.access_token);
    expect((await c.ok("GET", "/_matrix/client/r0/account/whoami")).user_id).toBe(ctx.alice.userId);
    const room = (await c.ok("POST", "/_matrix/client/r0/createRoom", {})).room_id;
    const sent = await c.ok("PUT", `/_matrix/client/r0/rooms/${encodeURIComponent(room)}/send/m.room.message/t1`, { msgtype: "m.text", body: "r0" });
    const sync = await c.ok("GET", "/_matrix/client/r0/sync?timeout=0");
    expect(sync.rooms.join[room].timeline.events.map((e: { event_id: string }) => e.event_id)).toContain(sent.event_id);
    // Unknown r0 paths are still 404 M_UNRECOGNIZED; a known one with the wrong method is 405.
    expect((await c.get("/_matrix/client/r0/no_such_endpoint")).status).toBe(404);
    expect((await c.request("DELETE", "/_matrix/client/r0/sync")).status).toBe(405);
  });

  test("POST /send/{eventType} and POST /redact/{eventId} without a transaction ID", async () => {
    const room = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    const r = encodeURIComponent(room);
    const content = { msgtype: "m.text", body: "no txn" };
    const one = await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${r}/send/m.room.message`, content);
    const two = await ctx.alice.ok("POST", `/_matrix/client/r0/rooms/${r}/send/m.room.message`, content);
    // No transaction ID, no deduplication: two events.
    expect(one.event_id).not.toBe(two.event_id);
    const red = await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${r}/redact/${encodeURIComponent(one.event_id)}`, { reason: "oops" });
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${r}/event/${encodeURIComponent(red.event_id)}`);
    expect(ev.type).toBe("m.room.redaction");
    const target = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${r}/event/${encodeURIComponent(one.event_id)}`);
    expect(target.content).toEqual({});
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${r}/event/${encodeURIComponent(two.event_id)}`)).content).toEqual(content);
  });

  test("GET /_matrix/key/v2/query/{serverName}/{keyId} (deprecated form) answers like /query/{serverName}", async () => {
    const keyId = ctx.s.hs.signingKey.keyId;
    const r = await ctx.anon.get(`/_matrix/key/v2/query/${encodeURIComponent(ctx.s.serverName)}/${encodeURIComponent(keyId)}`);
    expect(r.status).toBe(200);
    expect(r.body.server_keys).toHaveLength(1);
    expect(r.body.server_keys[0].server_name).toBe(ctx.s.serverName);
    expect(Object.keys(r.body.server_keys[0].verify_keys)).toContain(keyId);
  });
});
