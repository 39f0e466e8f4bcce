// matrix-js-sdk as a real client: create a room, invite, join, send, receive through its sync
// loop, and paginate back through history.
import { expect, test } from "bun:test";
import { createClient, Direction, RoomEvent, type MatrixEvent } from "matrix-js-sdk";
import { quiet, sdkPair, startSyncing, waitFor } from "../helpers/sdk.ts";
import { describeOnBackends } from "../helpers/suite.ts";

describeOnBackends("matrix-js-sdk rooms", (backend) => {
  const pair = sdkPair(backend);

  test("create, invite, join, send and receive through the sync loop, paginate back", async () => {
    const { s, alice, bob } = pair;
    await startSyncing(alice);
    await startSyncing(bob);
    const { room_id: roomId } = await alice.createRoom({ name: "SDK room", preset: "private_chat" as never });
    await alice.invite(roomId, bob.getUserId()!);
    // Bob's sync loop sees the invite.
    await waitFor(() => (bob.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined));
    await bob.joinRoom(roomId);
    await waitFor(() => (alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join" ? true : undefined));

    // Messages from alice arrive in bob's timeline through his sync loop.
    const received: string[] = [];
    bob.on(RoomEvent.Timeline, (ev: MatrixEvent) => {
      if (ev.getRoomId() === roomId && ev.getType() === "m.room.message") received.push(ev.getContent().body);
    });
    for (let i = 0; i < 30; i++) await alice.sendTextMessage(roomId, `msg ${i}`);
    await waitFor(() => (received.includes("msg 29") ? true : undefined));
    expect(received.filter((b) => b.startsWith("msg "))).toEqual(Array.from({ length: 30 }, (_, i) => `msg ${i}`));
    expect(bob.getRoom(roomId)?.name).toBe("SDK room");

    // A fresh client for bob paginates back through the history with /messages.
    const fresh = createClient({ baseUrl: s.url, accessToken: bob.getAccessToken()!, userId: bob.getUserId()!, deviceId: bob.getDeviceId()!, logger: quiet });
    try {
      const res = await fresh.createMessagesRequest(roomId, null, 40, Direction.Backward);
      const bodies = res.chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
      expect(bodies[0]).toBe("msg 29");
      expect(bodies).toHaveLength(30);
    } finally {
      fresh.stopClient();
    }
    // And the SDK's own scrollback works on bob's live timeline.
    const room = bob.getRoom(roomId)!;
    await bob.scrollback(room, 50);
    const all = room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);
    expect(all.length).toBe(30);
    expect(room.getLiveTimeline().getEvents().some((e) => e.getType() === "m.room.create")).toBe(true);
  }, 60000);
});
