// The deprecated old sync API (old_sync.yaml) as clients of it saw it in Synapse: the global
// GET /events stream carries the user's account data changes (global ones, and per room with
// room_id, e.g. m.tag), and the global GET /initialSync lists the user's own presence (it counts
// as a sync) and that of users sharing a room with them.
import { expect, test } from "bun:test";
import { registerUser } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";

const V3 = "/_matrix/client/v3";

describeOnBackends("old sync streams", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob");

  test("GET /events: global and room account data changes, tags included", async () => {
    const room = (await ctx.alice.ok("POST", `${V3}/createRoom`, {})).room_id;
    const from = (await ctx.alice.ok("GET", `${V3}/events?timeout=0`)).end;
    const u = encodeURIComponent(ctx.alice.userId!);
    // A long-poll wakes for an account data change.
    const polled = ctx.alice.ok("GET", `${V3}/events?timeout=5000&from=${from}`);
    await Bun.sleep(100);
    await ctx.alice.ok("PUT", `${V3}/user/${u}/account_data/my.test.type`, { cats_or_rats: "cats" });
    const first = await polled;
    expect(first.chunk).toContainEqual({ type: "my.test.type", content: { cats_or_rats: "cats" } });
    await ctx.alice.ok("PUT", `${V3}/user/${u}/rooms/${encodeURIComponent(room)}/tags/u.work`, { order: 0.5 });
    const next = await ctx.alice.ok("GET", `${V3}/events?timeout=0&from=${first.end}`);
    expect(next.chunk).toContainEqual({ type: "m.tag", content: { tags: { "u.work": { order: 0.5 } } }, room_id: room });
    // A room's peek stream (room_id=) carries room events only.
    const peek = await ctx.alice.ok("GET", `${V3}/events?timeout=0&room_id=${encodeURIComponent(room)}&from=${from}`);
    expect(peek.chunk.some((e: { type: string }) => e.type === "m.tag" || e.type === "my.test.type")).toBe(false);
  });

  test("GET /initialSync: own presence, and that of users sharing a room", async () => {
    const fresh = await registerUser(ctx.s, "fresh");
    const own = await fresh.ok("GET", `${V3}/initialSync?limit=1`);
    const mine = own.presence.find((p: { content: { user_id: string } }) => p.content.user_id === fresh.userId);
    expect(mine.type).toBe("m.presence");
    expect(mine.content.presence).toBe("online");
    expect(typeof mine.content.last_active_ago).toBe("number");

    const room = (await ctx.alice.ok("POST", `${V3}/createRoom`, { invite: [ctx.bob.userId] })).room_id;
    await ctx.bob.ok("POST", `${V3}/join/${encodeURIComponent(room)}`, {});
    await ctx.alice.ok("GET", `${V3}/initialSync?limit=1`);
    const seen = await ctx.bob.ok("GET", `${V3}/initialSync?limit=1`);
    const ids = seen.presence.map((p: { content: { user_id: string } }) => p.content.user_id);
    expect(ids).toContain(ctx.alice.userId);
    expect(ids).toContain(ctx.bob.userId);
    expect(ids).not.toContain(fresh.userId);
  });
});
