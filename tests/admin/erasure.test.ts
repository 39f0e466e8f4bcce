// GDPR erasure (POST /_synapse/admin/v1/deactivate with erase: true, as Synapse): the erased user's
// events stay readable to those who were in the room when they were sent, and are shown redacted to
// anyone who joins later — in /messages, /sync, /event and /context; un-erasing (reactivation) shows
// them again. On both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, enc, send, sync } from "../helpers/sync.ts";

for (const backend of BACKENDS) {
  describe(`erased users [${backend}]`, () => {
    let s: TestServer;
    let admin: TestClient;
    let alice: TestClient;
    let dave: TestClient;
    let carol: TestClient;
    beforeAll(async () => {
      s = await startTestServer({ backend });
      admin = await registerUser(s, "er_admin", "password", true);
      alice = await registerUser(s, "er_alice");
      dave = await registerUser(s, "er_dave");
      carol = await registerUser(s, "er_carol");
    });
    afterAll(() => s.stop());

    test("later joiners see the erased user's events redacted; members at the time still see them", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } }] });
      await dave.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      const secret = await send(dave, roomId, "my private thoughts");
      await admin.ok("POST", `/_synapse/admin/v1/deactivate/${enc(dave.userId!)}`, { erase: true });
      await carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});

      const body = async (c: TestClient) => (await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk.find((e: any) => e.event_id === secret);
      // Alice was there: she still reads it.
      expect((await body(alice)).content.body).toBe("my private thoughts");
      // Carol joined later: redacted (content emptied, the event kept), everywhere.
      const seen = await body(carol);
      expect(seen.content).toEqual({});
      expect(seen.unsigned.membership).toBe("leave");
      expect((await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(secret)}`)).content).toEqual({});
      expect((await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(secret)}`)).event.content).toEqual({});
      const timeline = (await sync(carol, { filter: { room: { timeline: { limit: 50 } } } })).rooms.join[roomId].timeline.events as any[];
      const inSync = timeline.find((e) => e.event_id === secret);
      if (inSync) expect(inSync.content).toEqual({});
      // Dave's membership events are state: they keep their (membership) content.
      const joins = (await carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk.filter((e: any) => e.type === "m.room.member" && e.state_key === dave.userId);
      expect(joins.every((e: any) => typeof e.content.membership === "string")).toBe(true);

      // Reactivated (no longer erased): carol reads it again.
      await admin.ok("PUT", `/_synapse/admin/v2/users/${enc(dave.userId!)}`, { deactivated: false, password: "new-password" });
      expect((await body(carol)).content.body).toBe("my private thoughts");
    });

    test("a user deactivating their own account with erase: true is erased too", async () => {
      const erin = await registerUser(s, "er_erin");
      const frank = await registerUser(s, "er_frank");
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await erin.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      const said = await send(erin, roomId, "erase me");
      const first = await erin.post("/_matrix/client/v3/account/deactivate", { erase: true });
      await erin.ok("POST", "/_matrix/client/v3/account/deactivate", {
        erase: true,
        auth: { type: "m.login.password", identifier: { type: "m.id.user", user: erin.userId }, password: "password", session: first.body.session },
      });
      await frank.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      expect((await frank.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(said)}`)).content).toEqual({});
      expect((await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(said)}`)).content.body).toBe("erase me");
    });
  });
}
