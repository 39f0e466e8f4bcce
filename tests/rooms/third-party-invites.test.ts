// Third-party invites without an identity server (third_party_membership.yaml, createRoom's
// invite_3pid) on both databases: malformed requests get M_MISSING_PARAM / M_BAD_JSON,
// requesters who may not invite get M_FORBIDDEN, well-formed ones M_THREEPID_DENIED; createRoom
// refuses invite_3pid before creating anything.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join } from "../helpers/sync.ts";

const invite3pid = { id_server: "id.example.org", id_access_token: "abc", medium: "email", address: "cheeky@monkey.com" };

describeOnBackends("third-party invites", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  test("POST /rooms/{roomId}/invite with a third-party identifier", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat", power_level_content_override: { invite: 50 } });
    await join(ctx.bob, roomId);
    const path = `/_matrix/client/v3/rooms/${enc(roomId)}/invite`;
    const denied = await ctx.alice.post(path, invite3pid);
    expectError(denied, 403, "M_THREEPID_DENIED");
    assertMatchesSpec("client-server/third_party_membership", "POST", "/rooms/{roomId}/invite", 403, denied.body);
    // Older clients leave id_access_token out: same answer.
    const { id_access_token: _t, ...old } = invite3pid;
    expectError(await ctx.alice.post(path, old), 403, "M_THREEPID_DENIED");
    // Malformed.
    expectError(await ctx.alice.post(path, { id_server: "id.example.org", medium: "email" }), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post(path, { ...invite3pid, address: 42 }), 400, "M_BAD_JSON");
    // Not allowed to invite at all: bob lacks the power, carol is not in the room.
    expectError(await ctx.bob.post(path, invite3pid), 403, "M_FORBIDDEN");
    expectError(await ctx.carol.post(path, invite3pid), 403, "M_FORBIDDEN");
    // The user ID form still works.
    expect((await ctx.alice.post(path, { user_id: ctx.carol.userId })).status).toBe(200);
  });

  test("createRoom with invite_3pid is refused before anything is created", async () => {
    const before = (await ctx.alice.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms.length;
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { invite_3pid: [invite3pid] }), 400, "M_THREEPID_DENIED");
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { invite_3pid: [{ medium: "email" }] }), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/createRoom", { invite_3pid: "x" }), 400, "M_BAD_JSON");
    expect((await ctx.alice.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms.length).toBe(before);
    // An empty list is fine.
    expect((await ctx.alice.post("/_matrix/client/v3/createRoom", { invite_3pid: [] })).status).toBe(200);
  });
});
