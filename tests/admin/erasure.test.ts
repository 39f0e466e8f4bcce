// GDPR erasure (POST /_synapse/admin/v1/deactivate with erase: true, as Synapse): the erased user's
// events stay readable to those who were in the room when they were sent, and are shown redacted to
// anyone who joins later — in /messages, /sync, /event and /context; un-erasing (reactivation) shows
// them again. On both databases.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, send, sync } from "../helpers/sync.ts";

describeOnBackends("erased users", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; alice: TestClient; dave: TestClient; carol: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, "er_admin", "password", true);
    ctx.alice = await registerUser(ctx.s, "er_alice");
    ctx.dave = await registerUser(ctx.s, "er_dave");
    ctx.carol = await registerUser(ctx.s, "er_carol");
  });

  test("later joiners see the erased user's events redacted; members at the time still see them", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } }] });
    await ctx.dave.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const secret = await send(ctx.dave, roomId, "my private thoughts");
    await ctx.admin.ok("POST", `/_synapse/admin/v1/deactivate/${enc(ctx.dave.userId!)}`, { erase: true });
    await ctx.carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});

    const body = async (c: TestClient) => (await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk.find((e: any) => e.event_id === secret);
    // Alice was there: she still reads it.
    expect((await body(ctx.alice)).content.body).toBe("my private thoughts");
    // Carol joined later: redacted (content emptied, the event kept), everywhere.
    const seen = await body(ctx.carol);
    expect(seen.content).toEqual({});
    expect(seen.unsigned.membership).toBe("leave");
    expect((await ctx.carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(secret)}`)).content).toEqual({});
    expect((await ctx.carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(secret)}`)).event.content).toEqual({});
    const timeline = (await sync(ctx.carol, { filter: { room: { timeline: { limit: 50 } } } })).rooms.join[roomId].timeline.events as any[];
    const inSync = timeline.find((e) => e.event_id === secret);
    if (inSync) expect(inSync.content).toEqual({});
    // Dave's membership events are state: they keep their (membership) content.
    const joins = (await ctx.carol.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).chunk.filter((e: any) => e.type === "m.room.member" && e.state_key === ctx.dave.userId);
    expect(joins.every((e: any) => typeof e.content.membership === "string")).toBe(true);

    // Reactivated (no longer erased): carol reads it again.
    await ctx.admin.ok("PUT", `/_synapse/admin/v2/users/${enc(ctx.dave.userId!)}`, { deactivated: false, password: "new-password" });
    expect((await body(ctx.carol)).content.body).toBe("my private thoughts");
  });

  test("a user deactivating their own account with erase: true is erased too", async () => {
    const erin = await registerUser(ctx.s, "er_erin");
    const frank = await registerUser(ctx.s, "er_frank");
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await erin.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const said = await send(erin, roomId, "erase me");
    const first = await erin.post("/_matrix/client/v3/account/deactivate", { erase: true });
    await erin.ok("POST", "/_matrix/client/v3/account/deactivate", {
      erase: true,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: erin.userId }, password: "password", session: first.body.session },
    });
    await frank.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    expect((await frank.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(said)}`)).content).toEqual({});
    expect((await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(said)}`)).content.body).toBe("erase me");
  });
});
