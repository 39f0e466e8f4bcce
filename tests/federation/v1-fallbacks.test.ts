// Servers without the v2 membership endpoints (issue 17, root cause 6). Outbound invites: for rooms
// of versions 1 and 2 the invite is retried on /v1/invite (answered as [200, {event}]); for later
// versions the inviter is told the invitee's server does not support the room version. Joins and
// invite rejections fall back from /v2/send_join and /v2/send_leave to /v1 ([200, body]). The old
// server is hs2 behind a proxy that answers 404 M_UNRECOGNIZED for every /_matrix/federation/v2/ path
// and for /v1/event_auth: missing auth events are then fetched one by one with GET /event.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { computeEventId } from "../../src/core/event-id.ts";
import { hashAndSignEvent } from "../../src/core/pdu.ts";
import type { Server } from "bun";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, startTestServer, testCertificate, type FederatingServer, type TestServer } from "../helpers/server.ts";
import { freePort } from "../helpers/spawn.ts";
import { eventually } from "../helpers/wait.ts";

for (const backend of BACKENDS) {
  describe(`servers without the v2 membership endpoints [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: TestServer;
    let proxy: Server<undefined>;
    let alice: TestClient;
    let bob: TestClient;
    const seen: string[] = [];
    beforeAll(async () => {
      const cert = testCertificate();
      hs1 = (await startFederatingServers(1, { backend }))[0]!;
      const publicPort = freePort();
      const innerPort = freePort();
      hs2 = await startTestServer({
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
      proxy = Bun.serve({
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
      alice = await registerUser(hs1, "alice");
      bob = await registerUser(hs2, "bob");
    }, 60000);
    afterAll(async () => {
      proxy?.stop(true);
      await hs1?.stop();
      await hs2?.stop();
    });

    test("a room of version 2: the invite goes through /v1/invite and reaches the invitee", async () => {
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "2" })).room_id;
      await alice.ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: bob.userId });
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v2/invite/"))).toBe(true);
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/invite/"))).toBe(true);
      await eventually(async () => (await bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[roomId], 15000, "invite on hs2");
      const m = await alice.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(bob.userId!)}`);
      expect(m.membership).toBe("invite");
    }, 30000);

    test("joining a room on the old server goes through /v1/send_join", async () => {
      const roomId = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
      await alice.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(hs2.serverName)}`, {});
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/send_join/"))).toBe(true);
      await eventually(async () => {
        const r = await bob.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(alice.userId!)}`);
        return r.status === 200 && r.body.membership === "join" ? true : undefined;
      }, 15000, "alice joined on hs2");
    }, 30000);

    test("rejecting an invite from the old server goes through /v1/send_leave", async () => {
      const roomId = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [alice.userId] })).room_id;
      await eventually(async () => (await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[roomId], 15000, "invite on hs1");
      await alice.ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, {});
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/send_leave/"))).toBe(true);
      // Not a local fallback: hs2 has the rejection.
      await eventually(async () => {
        const r = await bob.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(alice.userId!)}`);
        return r.status === 200 && r.body.membership === "leave" ? true : undefined;
      }, 15000, "the rejection on hs2");
    }, 30000);

    test("an event whose auth events we lack, from a server without /event_auth: fetched with GET /event", async () => {
      const roomId = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
      await alice.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(hs2.serverName)}`, {});
      // hs2 stops sending: hs1 misses bob's new member event (the auth event of his next message).
      await hs2.hs.services.roomFederation.sender.stop(0);
      await bob.ok("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(bob.userId!)}/displayname`, { displayname: "Bob Renamed" });
      const rv = await hs2.hs.services.events.versionOf(roomId);
      // bob's next message as hs2 makes it, but after events hs1 has (hs1's forward extremities):
      // only its auth event, the new member event, is unknown to hs1 (a missing prev event would
      // be fetched with /get_missing_events first).
      const stateIds = async (c: TestClient) =>
        new Map(((await c.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`)) as any[]).map((e) => [`${e.type}|${e.state_key}`, e.event_id as string]));
      const onHs2 = await stateIds(bob);
      const extremities = (await hs1.hs.db.all<{ event_id: string }>("SELECT event_id FROM forward_extremities WHERE room_id = ?", [roomId])).map((r) => r.event_id);
      const draft = {
        room_id: roomId,
        sender: bob.userId!,
        type: "m.room.message",
        content: { msgtype: "m.text", body: "after rename" },
        origin_server_ts: Date.now(),
        depth: 50,
        prev_events: extremities,
        auth_events: [onHs2.get("m.room.create|")!, onHs2.get("m.room.power_levels|")!, onHs2.get(`m.room.member|${bob.userId}`)!],
      };
      const pdu = hashAndSignEvent(draft, rv, hs2.serverName, hs2.hs.services.signingKey);
      const x = computeEventId(pdu, rv);
      expect((await hs1.hs.services.events.loadEvents([onHs2.get(`m.room.member|${bob.userId}`)!])).size).toBe(0);
      seen.length = 0;
      const res = await hs1.hs.services.roomFederation.serve.receiveTransaction(hs2.serverName, `ea-${Date.now()}`, { pdus: [pdu] });
      expect(res.pdus[x]).toEqual({});
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/event_auth/"))).toBe(true);
      expect(seen.some((p) => p.startsWith("/_matrix/federation/v1/event/"))).toBe(true);
      const got = await alice.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(x)}`);
      expect(got.content.body).toBe("after rename");
    }, 30000);

    test("a room of version 10: M_UNSUPPORTED_ROOM_VERSION, no invite", async () => {
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10" })).room_id;
      const r = await alice.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: bob.userId });
      expect(r.status).toBe(400);
      expect(r.body.errcode).toBe("M_UNSUPPORTED_ROOM_VERSION");
      const m = await alice.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(bob.userId!)}`);
      expect(m.status).toBe(404);
    }, 30000);
  });
}
