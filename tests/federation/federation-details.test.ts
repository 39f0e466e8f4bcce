// Small federation behaviours found by SyTest (issue 17): a malformed X-Matrix origin is a bad
// request (400 M_UNAUTHORIZED, as Synapse), and a remote M_INCOMPATIBLE_ROOM_VERSION reaches the
// joining client with its room_version.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Server } from "bun";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, testCertificate, type FederatingServer } from "../helpers/server.ts";

describe("federation details", () => {
  let hs1: FederatingServer;
  let alice: TestClient;
  let fake: Server<undefined>;
  beforeAll(async () => {
    hs1 = (await startFederatingServers(1))[0]!;
    alice = await registerUser(hs1, "alice");
    const cert = testCertificate();
    fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: readFileSync(cert.certPath, "utf8"), key: readFileSync(cert.keyPath, "utf8") },
      fetch(req) {
        if (new URL(req.url).pathname.startsWith("/_matrix/federation/v1/make_join/")) {
          return Response.json({ errcode: "M_INCOMPATIBLE_ROOM_VERSION", error: "y u no upgrade", room_version: "future-ver" }, { status: 400 });
        }
        return Response.json({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }, { status: 404 });
      },
    });
  }, 60000);
  afterAll(async () => {
    fake?.stop(true);
    await hs1?.stop();
  });

  test("an X-Matrix origin with a non-numeric port: 400 M_UNAUTHORIZED", async () => {
    const r = await fetch(`${hs1.federationUrl}/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(alice.userId!)}`, {
      headers: { Authorization: `X-Matrix origin="localhost:http",destination="${hs1.serverName}",key="ed25519:1",sig="AAAA"` },
      tls: { rejectUnauthorized: false },
    } as RequestInit);
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_UNAUTHORIZED");
  });

  test("M_INCOMPATIBLE_ROOM_VERSION from the resident server carries room_version to the client", async () => {
    const server = `localhost:${fake.port}`;
    const r = await alice.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(`!room:${server}`)}?server_name=${encodeURIComponent(server)}`, {});
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_INCOMPATIBLE_ROOM_VERSION");
    expect(r.body.room_version).toBe("future-ver");
  }, 30000);
});
