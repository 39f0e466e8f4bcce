// Servers without the v2 membership endpoints (issue 17, root cause 6). Outbound invites: for rooms
// of versions 1 and 2 the invite is retried on /v1/invite (answered as [200, {event}]); for later
// versions the inviter is told the invitee's server does not support the room version. Joins and
// invite rejections fall back from /v2/send_join and /v2/send_leave to /v1 ([200, body]). The old
// server is hs2 behind a proxy that answers 404 M_UNRECOGNIZED for every /_matrix/federation/v2/ path
// and for /v1/event_auth: missing auth events are then fetched one by one with GET /event.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { computeEventId } from "../../src/core/event-id.ts";
import { hashAndSignEvent } from "../../src/core/pdu.ts";
import type { Server } from "bun";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, startTestServer, testCertificate, type FederatingServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { freePort } from "../helpers/spawn.ts";
import { eventually } from "../helpers/wait.ts";

describeOnBackends("servers without the v2 membership endpoints", (backend) => {
  const seen: string[] = [];
  const ctx = fixture<{ hs1: FederatingServer; hs2: TestServer; proxy: Server<undefined>; alice: TestClient; bob: TestClient }>(async (ctx) => {
    const cert = testCertificate();
    ctx.hs1 = (await startFederatingServers(1, { backend }))[0]!;
    const publicPort = freePort();
    const innerPort = freePort();
    ctx.hs2 = await startTestServer({
      backend,
      serverName: `localhost:${publicPort}`,
      config: {
        tls: { certificate_path: cert.certPath, private_key_path: cert.keyPath },
        listeners: [
          { bind_address: "127.0.0.1", port: innerPort, tls: true, resources: ["federation", "keys"] },
          { bind_address: "127.0.0.1", port: 0, resources: ["client", "media"] },
        ],
        federation: { ip_range_denylist: [], trusted_key_servers: [], ca_files: [cert.certPath] },
      },
    });
    ctx.proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: publicPort,
      tls: { cert: readFileSync(cert.certPath, "utf8"), key: readFileSync(cert.keyPath, "utf8") },
      async fetch(req) {
        const url = new URL(req.url);
        seen.push(url.pathname);
        if (url.pathname.startsWith("/_matrix/federation/v2/") || url.pathname.startsWith("/_matrix/federation/v1/event_auth/")) {
          return Response.json({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }, { status: 404 });
        }
        const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
        const res = await fetch(`https://127.0.0.1:${innerPort}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body,
          tls: { rejectUnauthorized: false },
        } as RequestInit);
        return new Response(await res.arrayBuffer(), { status: res.status, headers: { "Content-Type": res.headers.get("content-type") ?? "application/json" } });
      },
    });
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
  }, { timeout: 60000, teardown: (ctx) => ctx.proxy?.stop(true) });

  test("a room of version 2: the invite goes through /v1/invite and reaches the invitee", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "2" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: ctx.bob.userId });
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v2/invite/"))).toBe(true);
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/invite/"))).toBe(true);
    await eventually(async () => (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[roomId], 15000, "invite on hs2");
    const m = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(ctx.bob.userId!)}`);
    expect(m.membership).toBe("invite");
  }, 30000);

  test("joining a room on the old server goes through /v1/send_join", async () => {
    const roomId = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(ctx.hs2.serverName)}`, {});
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/send_join/"))).toBe(true);
    await eventually(async () => {
      const r = await ctx.bob.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(ctx.alice.userId!)}`);
      return r.status === 200 && r.body.membership === "join" ? true : undefined;
    }, 15000, "alice joined on hs2");
  }, 30000);

  test("rejecting an invite from the old server goes through /v1/send_leave", async () => {
    const roomId = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [ctx.alice.userId] })).room_id;
    await eventually(async () => (await ctx.alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[roomId], 15000, "invite on hs1");
    await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, {});
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/send_leave/"))).toBe(true);
    // Not a local fallback: hs2 has the rejection.
    await eventually(async () => {
      const r = await ctx.bob.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(ctx.alice.userId!)}`);
      return r.status === 200 && r.body.membership === "leave" ? true : undefined;
    }, 15000, "the rejection on hs2");
  }, 30000);

  test("an event whose auth events we lack, from a server without /event_auth: fetched with GET /event", async () => {
    const roomId = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    await ctx.alice.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(ctx.hs2.serverName)}`, {});
    // hs2 stops sending: hs1 misses bob's new member event (the auth event of his next message).
    await ctx.hs2.hs.services.roomFederation.sender.stop(0);
    await ctx.bob.ok("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(ctx.bob.userId!)}/displayname`, { displayname: "Bob Renamed" });
    const rv = await ctx.hs2.hs.services.events.versionOf(roomId);
    // bob's next message as hs2 makes it, but after events hs1 has (hs1's forward extremities):
    // only its auth event, the new member event, is unknown to hs1 (a missing prev event would
    // be fetched with /get_missing_events first).
    const stateIds = async (c: TestClient) =>
      new Map(((await c.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`)) as any[]).map((e) => [`${e.type}|${e.state_key}`, e.event_id as string]));
    const onHs2 = await stateIds(ctx.bob);
    const extremities = (await ctx.hs1.hs.db.all<{ event_id: string }>("SELECT event_id FROM forward_extremities WHERE room_id = ?", [roomId])).map((r) => r.event_id);
    const draft = {
      room_id: roomId,
      sender: ctx.bob.userId!,
      type: "m.room.message",
      content: { msgtype: "m.text", body: "after rename" },
      origin_server_ts: Date.now(),
      depth: 50,
      prev_events: extremities,
      auth_events: [onHs2.get("m.room.create|")!, onHs2.get("m.room.power_levels|")!, onHs2.get(`m.room.member|${ctx.bob.userId}`)!],
    };
    const pdu = hashAndSignEvent(draft, rv, ctx.hs2.serverName, ctx.hs2.hs.services.signingKey);
    const x = computeEventId(pdu, rv);
    expect((await ctx.hs1.hs.services.events.loadEvents([onHs2.get(`m.room.member|${ctx.bob.userId}`)!])).size).toBe(0);
    seen.length = 0;
    const res = await ctx.hs1.hs.services.roomFederation.serve.receiveTransaction(ctx.hs2.serverName, `ea-${Date.now()}`, { pdus: [pdu] });
    expect(res.pdus[x]).toEqual({});
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/event_auth/"))).toBe(true);
    expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/event/"))).toBe(true);
    const got = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(x)}`);
    expect(got.content.body).toBe("after rename");
  }, 30000);

  test("a room of version 10: M_UNSUPPORTED_ROOM_VERSION, no invite", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10" })).room_id;
    const r = await ctx.alice.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: ctx.bob.userId });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_UNSUPPORTED_ROOM_VERSION");
    const m = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(ctx.bob.userId!)}`);
    expect(m.status).toBe(404);
  }, 30000);
});
