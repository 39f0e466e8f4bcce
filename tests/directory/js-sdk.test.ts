// matrix-js-sdk as a real client of the directory features: aliases, directory visibility and
// /publicRooms, user directory search, presence (and the User objects its sync loop keeps),
// server-side search, the space hierarchy and room summaries.
import { expect, test } from "bun:test";
import { ClientEvent, SearchOrderBy, Visibility } from "matrix-js-sdk";
import { sdkPair, waitFor } from "../helpers/sdk.ts";
import { describeOnBackends } from "../helpers/suite.ts";

describeOnBackends("matrix-js-sdk directory, presence, search, spaces", (backend) => {
  const pair = sdkPair(backend);

  test("aliases, directory and user search", async () => {
    const { s, alice, bob } = pair;
    const { room_id: roomId } = await alice.createRoom({ name: "SDK lobby", preset: "public_chat" as never, visibility: Visibility.Public });
    const alias = `#sdk-lobby:${s.serverName}`;
    await alice.createAlias(alias, roomId);
    expect((await bob.getRoomIdForAlias(alias)).room_id).toBe(roomId);
    expect((await alice.getLocalAliases(roomId)).aliases).toEqual([alias]);
    expect((await bob.getRoomDirectoryVisibility(roomId)).visibility).toBe(Visibility.Public);
    const dir = await bob.publicRooms({ filter: { generic_search_term: "lobby" } });
    expect(dir.chunk.map((r) => r.room_id)).toEqual([roomId]);
    await alice.deleteAlias(alias);
    await expect(bob.getRoomIdForAlias(alias)).rejects.toMatchObject({ errcode: "M_NOT_FOUND" });
    await bob.joinRoom(roomId);
    const found = await bob.searchUserDirectory({ term: "sdkalice" });
    expect(found.results.map((r) => r.user_id)).toEqual([alice.getUserId()!]);
    expect(found.limited).toBe(false);
  });

  test("presence through the sync loop, and server-side search", async () => {
    const { s, alice, bob } = pair;
    const { room_id: roomId } = await alice.createRoom({ name: "Presence", preset: "public_chat" as never });
    await bob.joinRoom(roomId);
    const ready = new Promise<void>((resolve) => bob.on(ClientEvent.Sync, (st) => (st === "PREPARED" || st === "SYNCING") && resolve()));
    await bob.startClient({ initialSyncLimit: 5 });
    await ready;
    await alice.setPresence({ presence: "online", status_msg: "hello from the sdk" });
    const user = await waitFor(() => {
      const u = bob.getUser(alice.getUserId()!);
      return u?.presenceStatusMsg === "hello from the sdk" ? u : undefined;
    });
    expect(user.presence).toBe("online");
    expect(user.currentlyActive).toBe(true);
    expect((await bob.getPresence(alice.getUserId()!)).presence).toBe("online");

    await alice.sendTextMessage(roomId, "the quick brown fox");
    const res = await bob.searchRoomEvents({ term: "QUICK fox", filter: { rooms: [roomId] } } as never);
    expect(res.results.map((r) => r.context.getEvent().getContent().body)).toEqual(["the quick brown fox"]);
    expect(res.highlights).toContain("quick");
    const recent = await bob.search({ body: { search_categories: { room_events: { search_term: "fox", order_by: SearchOrderBy.Recent } } } });
    expect(recent.search_categories.room_events.count).toBe(1);
    bob.stopClient();
  });

  test("space hierarchy and room summary", async () => {
    const { s, alice, bob } = pair;
    const { room_id: space } = await alice.createRoom({ name: "SDK space", preset: "public_chat" as never, creation_content: { type: "m.space" } });
    const { room_id: child } = await alice.createRoom({ name: "Child", preset: "public_chat" as never });
    await alice.sendStateEvent(space, "m.space.child" as never, { via: [s.serverName], suggested: true } as never, child);
    const h = await bob.getRoomHierarchy(space, 10, 2, false);
    expect(h.rooms.map((r) => r.room_id)).toEqual([space, child]);
    expect(h.rooms[0]!.children_state[0]!.state_key).toBe(child);
    const summary = await bob.getRoomSummary(space);
    expect(summary).toMatchObject({ room_id: space, name: "SDK space", room_type: "m.space" });
  });
});
