// Remote profiles (issue 17, root cause 3): GET /profile of a user on another server is answered
// from a federation profile query (cached), and the query for one field of an existing user whose
// field is unset answers 200 without it (404 only for unknown users), so that the asking server
// does not take the whole profile for missing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, type TestClient } from "../helpers/client.ts";
import { BACKENDS, type FederatingServer } from "../helpers/server.ts";
import { federatedPair } from "../helpers/suite.ts";
import { FederationError } from "../../src/services/federation/client.ts";

const enc = encodeURIComponent;

for (const backend of BACKENDS) {
  describe(`remote profiles [${backend}]`, () => {
    let hs1: FederatingServer;
    let hs2: FederatingServer;
    let alice: TestClient;
    let bob: TestClient;
    beforeAll(async () => {
      ({ hs1, hs2, alice, bob } = await federatedPair({ backend }));
    }, 60000);
    afterAll(async () => {
      await hs1?.stop();
      await hs2?.stop();
    });

    test("a remote user's profile and fields are fetched over federation", async () => {
      await alice.ok("PUT", `/_matrix/client/v3/profile/${enc(alice.userId!)}/displayname`, { displayname: "Alice Remote" });
      const p = await bob.ok("GET", `/_matrix/client/v3/profile/${enc(alice.userId!)}`);
      expect(p.displayname).toBe("Alice Remote");
      expect(p.avatar_url).toBeUndefined();
      const d = await bob.ok("GET", `/_matrix/client/v3/profile/${enc(alice.userId!)}/displayname`);
      expect(d).toEqual({ displayname: "Alice Remote" });
      // Unset field of an existing remote user: 404 for that field only.
      expectError(await bob.request("GET", `/_matrix/client/v3/profile/${enc(alice.userId!)}/avatar_url`), 404, "M_NOT_FOUND");
      // Unknown remote user: 404.
      expectError(await bob.request("GET", `/_matrix/client/v3/profile/${enc(`@nobody:${hs1.serverName}`)}`), 404, "M_NOT_FOUND");
    }, 30000);

    test("an unreachable remote server is 502, not 404 or 500", async () => {
      const r = await bob.request("GET", `/_matrix/client/v3/profile/${enc("@x:localhost:1")}`);
      expect(r.status).toBe(502);
      expect(r.body.errcode).toBe("M_UNKNOWN");
    }, 30000);

    test("federation query/profile: an unset field of an existing user is 200 without it; unknown users 404", async () => {
      const client = hs2.hs.services.federation.client;
      const q = (user_id: string, field?: string) =>
        client.request<any>({ destination: hs1.serverName, method: "GET", path: "/_matrix/federation/v1/query/profile", query: { user_id, field } });
      expect(await q(alice.userId!, "avatar_url")).toEqual({});
      expect(await q(alice.userId!, "displayname")).toEqual({ displayname: "Alice Remote" });
      expect((await q(alice.userId!)).displayname).toBe("Alice Remote");
      const err = await q(`@nobody:${hs1.serverName}`, "displayname").catch((e) => e);
      expect(err).toBeInstanceOf(FederationError);
      expect((err as FederationError).status).toBe(404);
    }, 30000);

    test("the remote lookup hook is wired at start-up", () => {
      expect(hs2.hs.services.profiles.remoteLookup).toBeDefined();
      expect(() => hs2.hs.services.profiles.assertWired()).not.toThrow();
    });
  });
}
