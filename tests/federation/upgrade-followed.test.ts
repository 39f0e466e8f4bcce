// A room upgraded on another server (modules/room_upgrades.md): when a local user joins the
// replacement room, this server's own aliases of the old room and its directory listing move to
// the new room, as the upgrading server moved its own; only when the old room's tombstone names
// the new room.
import { expect, test } from "bun:test";
import { type TestClient } from "../helpers/client.ts";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";

const enc = encodeURIComponent;

async function until<T>(f: () => Promise<T | undefined>, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(50);
  }
}

describeOnBackends("upgrade followed by another server", (backend) => {
  const ctx = federatedPairFixture({ backend });

  const inRoom = (c: TestClient, roomId: string, type: string) =>
    until(async () => {
      const r = await c.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${type}/`);
      return r.status === 200 ? r.body : undefined;
    });

  test("bob's server moves its alias and listing when bob joins the replacement room", async () => {
    const oldId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10", power_level_content_override: { users: { [ctx.alice.userId!]: 100, [ctx.bob.userId!]: 50 } } })).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(oldId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    const alias = `#followed-${backend}:${ctx.hs2.serverName}`;
    await ctx.bob.ok("PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { room_id: oldId });
    await ctx.bob.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(oldId)}`, { visibility: "public" });

    const newId = (await ctx.alice.ok("POST", `/_matrix/client/v3/rooms/${enc(oldId)}/upgrade`, { new_version: "10" })).replacement_room;
    await inRoom(ctx.bob, oldId, "m.room.tombstone");
    // Until bob joins the new room, hs2 keeps pointing at the old one.
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`)).room_id).toBe(oldId);

    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(newId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    // The alias moves first, then the listing (after the join, not within it): wait for both.
    const resolved = await until(async () => {
      const r = await ctx.bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`);
      const listed = (await ctx.bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(newId)}`)).visibility;
      return r.room_id === newId && listed === "public" ? r.room_id : undefined;
    });
    expect(resolved).toBe(newId);
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(oldId)}`)).visibility).toBe("private");
  }, 60000);

  test("a room claiming a predecessor without its tombstone takes nothing", async () => {
    const victim = (await ctx.bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    const alias = `#victim-${backend}:${ctx.hs2.serverName}`;
    await ctx.bob.ok("PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { room_id: victim });
    await ctx.bob.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(victim)}`, { visibility: "public" });
    const fake = (
      await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", creation_content: { predecessor: { room_id: victim } } })
    ).room_id;
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(fake)}?server_name=${enc(ctx.hs1.serverName)}`, {});
    await Bun.sleep(300);
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/directory/room/${enc(alias)}`)).room_id).toBe(victim);
    expect((await ctx.bob.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(victim)}`)).visibility).toBe("public");
  }, 60000);
});
