// matrix-js-sdk's sliding sync as a real client of hs: its SlidingSync class (lists with ranges, a
// room subscription, a new message arriving through the long-poll loop, a growing range), and
// MatrixClient driven by it (SlidingSyncSdk: rooms, names, timelines, typing, read receipts).
import { expect, test } from "bun:test";
import { ClientEvent, RoomEvent, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import { SlidingSync, SlidingSyncEvent, SlidingSyncState, type MSC3575RoomData } from "matrix-js-sdk/lib/sliding-sync.js";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { sdkFor } from "../helpers/sdk.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, join, send } from "../helpers/sync.ts";
import { until } from "./helpers.ts";

// The SDK's sliding sync modules log through its global logger.
(sdkLogger as unknown as { setLevel(l: string): void }).setLevel("error");

describeOnBackends("matrix-js-sdk sliding sync", (backend) => {
  const stops: Array<() => void> = [];
  const ctx = fixture<{ s: TestServer }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
  }, { teardown: () => {
    for (const stop of stops) stop();
  } });

  test("SlidingSync: a list with ranges, a room subscription, a new message, a growing range", async () => {
    const alice = await registerUser(ctx.s, "jsalice");
    const bob = await registerUser(ctx.s, "jsbob");
    const rooms: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await createRoom(bob, { name: `Room ${i}`, preset: "public_chat" });
      await join(alice, id);
      rooms.push(id);
    }
    // The oldest room gets a message: it is now the most recent.
    await send(bob, rooms[0]!, "hello alice");
    const client = sdkFor(ctx.s, alice);
    const lists = new Map([["all", { ranges: [[0, 1]], timeline_limit: 3, required_state: [["m.room.name", ""], ["m.room.member", "$LAZY"]] }]]);
    const sync = new SlidingSync(ctx.s.url, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, client, 1000);
    stops.push(() => sync.stop());
    const seen = new Map<string, MSC3575RoomData[]>();
    sync.on(SlidingSyncEvent.RoomData, (roomId, data) => {
      seen.set(roomId, [...(seen.get(roomId) ?? []), data]);
    });
    let responses = 0;
    sync.on(SlidingSyncEvent.Lifecycle, (state) => {
      if (state === SlidingSyncState.Complete) responses++;
    });
    // Subscribe to the oldest-but-one room, which is outside the list's range.
    sync.modifyRoomSubscriptions(new Set([rooms[1]!]));
    void sync.start();

    await until(() => (seen.has(rooms[0]!) && seen.has(rooms[1]!) && seen.has(rooms[3]!) ? true : undefined));
    expect(sync.getListData("all")?.joinedCount).toBe(4);
    const first = seen.get(rooms[0]!)![0]!;
    expect(first.initial).toBe(true);
    expect(first.name).toBe("Room 0");
    expect(first.timeline.map((e: any) => e.content?.body).filter(Boolean)).toContain("hello alice");
    // The subscription brought its room with all its state.
    const subscribed = seen.get(rooms[1]!)![0]!;
    expect(subscribed.required_state.some((e: any) => e.type === "m.room.create")).toBe(true);
    expect(seen.has(rooms[2]!)).toBe(false);

    // A new message arrives through the long-poll.
    await send(bob, rooms[3]!, "live message");
    await until(() => seen.get(rooms[3]!)?.some((d) => d.timeline.some((e: any) => e.content?.body === "live message")) || undefined);
    const live = seen.get(rooms[3]!)!.at(-1)!;
    expect(live.initial).toBeFalsy();
    expect(live.num_live).toBe(1);

    // Growing the range brings the last room.
    sync.setListRanges("all", [[0, 3]]);
    await until(() => (seen.has(rooms[2]!) ? true : undefined));
    expect(seen.get(rooms[2]!)![0]!.initial).toBe(true);
    expect(responses).toBeGreaterThan(2);
    sync.stop();
  });

  test("MatrixClient on sliding sync: rooms, timelines, typing and receipts", async () => {
    const carol = await registerUser(ctx.s, "jscarol");
    const dave = await registerUser(ctx.s, "jsdave");
    const roomId = await createRoom(dave, { name: "Shared", preset: "public_chat" });
    await join(carol, roomId);
    await send(dave, roomId, "before start");
    const client = sdkFor(ctx.s, carol);
    const lists = new Map([["all", { ranges: [[0, 20]], timeline_limit: 10, required_state: [["*", "*"]] }]]);
    const sync = new SlidingSync(ctx.s.url, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, client, 1000);
    stops.push(() => {
      client.stopClient();
      sync.stop();
    });
    const ready = new Promise<void>((resolve) => {
      client.on(ClientEvent.Sync, (state) => {
        if (state === "PREPARED" || state === "SYNCING") resolve();
      });
    });
    await client.startClient({ slidingSync: sync });
    await ready;
    const room = await until(() => client.getRoom(roomId) ?? undefined);
    expect(room.name).toBe("Shared");
    await until(() => (room.getLiveTimeline().getEvents().some((e) => e.getContent().body === "before start") ? true : undefined));

    const received: string[] = [];
    client.on(RoomEvent.Timeline, (ev: MatrixEvent) => {
      if (ev.getRoomId() === roomId && ev.getType() === "m.room.message") received.push(ev.getContent().body);
    });
    for (let i = 0; i < 3; i++) await send(dave, roomId, `live ${i}`);
    await until(() => (received.includes("live 2") ? true : undefined));
    expect(received.filter((b) => b.startsWith("live "))).toEqual(["live 0", "live 1", "live 2"]);

    // Typing and receipts through the extensions.
    await dave.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(dave.userId!)}`, { typing: true, timeout: 30_000 });
    await until(() => (room.getMember(dave.userId!)?.typing ? true : undefined));
    const last = room.getLiveTimeline().getEvents().at(-1)!;
    await dave.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(last.getId()!)}`, {});
    await until(() => (room.getEventReadUpTo(dave.userId!) === last.getId() ? true : undefined));
    client.stopClient();
    sync.stop();
  });
});
