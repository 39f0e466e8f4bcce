// device_list_changes housekeeping: superseded changes older than the horizon go, each user's latest
// stays, and /keys/changes and /sync report the same users as before pruning. On both databases.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";
import { TestDevice } from "./helpers.ts";

describeOnBackends("device list change pruning", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob");

  test("only superseded rows below the horizon are deleted; the answers do not change", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const since = (await sync(ctx.alice)).next_batch;
    // Bob's devices change three times.
    const dev = new TestDevice(ctx.bob);
    await dev.upload(1);
    await ctx.bob.ok("PUT", `/_matrix/client/v3/devices/${enc(ctx.bob.deviceId!)}`, { display_name: "phone" });
    await ctx.bob.ok("PUT", `/_matrix/client/v3/devices/${enc(ctx.bob.deviceId!)}`, { display_name: "phone 2" });
    const rows = async () => (await ctx.s.hs.db.all<{ user_id: string }>("SELECT user_id FROM device_list_changes WHERE user_id = ?", [ctx.bob.userId!])).length;
    const before = await rows();
    expect(before).toBeGreaterThanOrEqual(3);
    const changes = async () => (await ctx.alice.ok("GET", `/_matrix/client/v3/keys/changes?from=${enc(since)}&to=${enc((await sync(ctx.alice)).next_batch)}`)).changed;
    expect(await changes()).toContain(ctx.bob.userId);

    // A horizon below everything: nothing goes.
    expect(await ctx.s.hs.services.e2ee.deviceLists.prune(0)).toBe(0);
    // Past everything: bob keeps his latest row only.
    const deleted = await ctx.s.hs.services.e2ee.deviceLists.prune(ctx.s.hs.services.streams.current() + 1);
    expect(deleted).toBe(before - 1);
    expect(await rows()).toBe(1);
    expect(await changes()).toContain(ctx.bob.userId);
    const incremental = await sync(ctx.alice, { since });
    expect(incremental.device_lists.changed).toContain(ctx.bob.userId);
  });
});
