// Media for servers older than authenticated media (issue 17, root cause 8): Synapse 1.67 fetches
// a remote file as GET /_matrix/media/r0/download/{server}/{mediaId} on the federation address,
// signed with X-Matrix. hs serves its own media there to a validly signed request (even media that
// the legacy endpoints freeze for clients); an unsigned request on the federation listener is 404
// and a badly signed one 401.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { fedPath } from "../../src/services/federation/client.ts";

describeOnBackends("legacy media for other servers", (backend) => {
  const bytes = new TextEncoder().encode("hello from hs1 ".repeat(50));
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; mediaId: string }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend })) as [FederatingServer, FederatingServer];
    ctx.alice = await registerUser(ctx.hs1, "alice");
    const r = await ctx.alice.request("POST", "/_matrix/media/v3/upload?filename=hello.txt", bytes, { "Content-Type": "text/plain" });
    expect(r.status).toBe(200);
    ctx.mediaId = (r.body.content_uri as string).split("/").pop()!;
  }, { timeout: 60000 });

  for (const v of ["r0", "v3"]) {
    test(`a signed GET /_matrix/media/${v}/download from another server gets the file`, async () => {
      const res = await ctx.hs2.hs.services.federation.client.open({
        destination: ctx.hs1.serverName,
        method: "GET",
        path: fedPath`/_matrix/media/${v}/download/${ctx.hs1.serverName}/${ctx.mediaId}`,
        query: { allow_remote: "false" },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }, 30000);
  }

  test("a signed thumbnail request of a non-image answers like the federation endpoint (not a frozen 404)", async () => {
    const res = await ctx.hs2.hs.services.federation.client.open({
      destination: ctx.hs1.serverName,
      method: "GET",
      path: fedPath`/_matrix/media/r0/thumbnail/${ctx.hs1.serverName}/${ctx.mediaId}`,
      query: { width: 32, height: 32, method: "scale" },
    });
    // A text file has no thumbnail: the file itself (as Synapse does for non-images) or 400, never 404.
    expect(res.status).not.toBe(404);
    await res.arrayBuffer();
  }, 30000);

  test("unsigned on the federation listener: 404; bad signature: 401", async () => {
    const url = `${ctx.hs1.federationUrl}/_matrix/media/r0/download/${encodeURIComponent(ctx.hs1.serverName)}/${ctx.mediaId}`;
    const unsigned = await fetch(url, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(unsigned.status).toBe(404);
    const bad = await fetch(url, {
      headers: { Authorization: `X-Matrix origin="${ctx.hs2.serverName}",destination="${ctx.hs1.serverName}",key="ed25519:x",sig="AAAA"` },
      tls: { rejectUnauthorized: false },
    } as RequestInit);
    expect(bad.status).toBe(401);
  }, 30000);
});
