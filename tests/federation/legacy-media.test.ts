// Media for servers older than authenticated media (issue 17, root cause 8): Synapse 1.67 fetches
// a remote file as GET /_matrix/media/r0/download/{server}/{mediaId} on the federation address,
// signed with X-Matrix. hs serves its own media there to a validly signed request (even media that
// the legacy endpoints freeze for clients); an unsigned request on the federation listener is 404
// and a badly signed one 401.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { fedPath } from "../../src/services/federation/client.ts";

for (const backend of BACKENDS) {
  describe(`legacy media for other servers [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let mediaId: string;
    const bytes = new TextEncoder().encode("hello from hs1 ".repeat(50));
    beforeAll(async () => {
      [hs1, hs2] = (await startFederatingServers(2, { backend })) as [FederatingServer, FederatingServer];
      alice = await registerUser(hs1, "alice");
      const r = await alice.request("POST", "/_matrix/media/v3/upload?filename=hello.txt", bytes, { "Content-Type": "text/plain" });
      expect(r.status).toBe(200);
      mediaId = (r.body.content_uri as string).split("/").pop()!;
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    for (const v of ["r0", "v3"]) {
      test(`a signed GET /_matrix/media/${v}/download from another server gets the file`, async () => {
        const res = await hs2.hs.services.federation.client.open({
          destination: hs1.serverName,
          method: "GET",
          path: fedPath`/_matrix/media/${v}/download/${hs1.serverName}/${mediaId}`,
          query: { allow_remote: "false" },
        });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toStartWith("text/plain");
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
      }, 30000);
    }

    test("a signed thumbnail request of a non-image answers like the federation endpoint (not a frozen 404)", async () => {
      const res = await hs2.hs.services.federation.client.open({
        destination: hs1.serverName,
        method: "GET",
        path: fedPath`/_matrix/media/r0/thumbnail/${hs1.serverName}/${mediaId}`,
        query: { width: 32, height: 32, method: "scale" },
      });
      // A text file has no thumbnail: the file itself (as Synapse does for non-images) or 400, never 404.
      expect(res.status).not.toBe(404);
      await res.arrayBuffer();
    }, 30000);

    test("unsigned on the federation listener: 404; bad signature: 401", async () => {
      const url = `${hs1.federationUrl}/_matrix/media/r0/download/${encodeURIComponent(hs1.serverName)}/${mediaId}`;
      const unsigned = await fetch(url, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(unsigned.status).toBe(404);
      const bad = await fetch(url, {
        headers: { Authorization: `X-Matrix origin="${hs2.serverName}",destination="${hs1.serverName}",key="ed25519:x",sig="AAAA"` },
        tls: { rejectUnauthorized: false },
      } as RequestInit);
      expect(bad.status).toBe(401);
    }, 30000);
  });
}
