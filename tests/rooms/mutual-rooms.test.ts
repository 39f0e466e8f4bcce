// GET /_matrix/client/v1/mutual_rooms (spec v1.19) on both databases: rooms both users are
// joined to, the total count, paging with next_batch, and the spec's 400s.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, leave } from "../helpers/sync.ts";

describeOnBackends("mutual rooms", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "carol");

  const mutual = (c: TestClient, userId: string, from?: string) =>
    c.get(`/_matrix/client/v1/mutual_rooms?user_id=${enc(userId)}${from !== undefined ? `&from=${enc(from)}` : ""}`);

  test("rooms where both are joined, counted, paged", async () => {
    const shared: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await createRoom(ctx.alice, { preset: "public_chat" });
      await join(ctx.bob, r);
      shared.push(r);
    }
    await createRoom(ctx.alice, { preset: "public_chat" }); // alice only
    await createRoom(ctx.alice, { preset: "private_chat", invite: [ctx.bob.userId!] }); // bob only invited
    const bobLeft = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, bobLeft);
    await leave(ctx.bob, bobLeft);

    const r = await mutual(ctx.alice, ctx.bob.userId!);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/mutual_rooms", "GET", "/mutual_rooms", 200, r.body);
    expect(r.body.count).toBe(5);
    expect([...r.body.joined].sort()).toEqual([...shared].sort());
    expect(r.body.next_batch).toBeUndefined();
    // Symmetric.
    expect([...(await mutual(ctx.bob, ctx.alice.userId!)).body.joined].sort()).toEqual([...shared].sort());
    // No shared rooms, and unknown users: empty lists.
    expect((await mutual(ctx.carol, ctx.alice.userId!)).body).toEqual({ joined: [], count: 0 });
    expect((await mutual(ctx.alice, "@ghost:localhost")).body).toEqual({ joined: [], count: 0 });

    // Paging, 2 rooms a page.
    ctx.s.hs.services.mutualRooms.pageSize = 2;
    try {
      const seen: string[] = [];
      let from: string | undefined;
      let pages = 0;
      do {
        const page = await mutual(ctx.alice, ctx.bob.userId!, from);
        expect(page.status).toBe(200);
        assertMatchesSpec("client-server/mutual_rooms", "GET", "/mutual_rooms", 200, page.body);
        expect(page.body.count).toBe(5);
        expect(page.body.joined.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.joined);
        from = page.body.next_batch;
        pages++;
      } while (from !== undefined);
      expect(pages).toBe(3);
      expect(seen.sort()).toEqual([...shared].sort());
    } finally {
      ctx.s.hs.services.mutualRooms.pageSize = 100;
    }
  });

  test("errors: missing, invalid or own user ID, invalid token", async () => {
    expectError(await ctx.alice.get("/_matrix/client/v1/mutual_rooms"), 400, "M_MISSING_PARAM");
    const bad = await mutual(ctx.alice, "not a user");
    expectError(bad, 400, "M_INVALID_PARAM");
    assertMatchesSpec("client-server/mutual_rooms", "GET", "/mutual_rooms", 400, bad.body);
    expectError(await mutual(ctx.alice, "@émile:localhost"), 400, "M_INVALID_PARAM");
    expectError(await mutual(ctx.alice, ctx.alice.userId!), 400, "M_INVALID_PARAM");
    expectError(await mutual(ctx.alice, ctx.bob.userId!, "garbage!"), 400, "M_INVALID_PARAM");
    expectError(await mutual(ctx.alice, ctx.bob.userId!, "mbm90YXJvb20"), 400, "M_INVALID_PARAM");
  });
});
