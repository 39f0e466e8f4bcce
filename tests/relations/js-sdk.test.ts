// matrix-js-sdk with thread support as a real client of relations and threads: its sync loop
// builds Thread models (from bundled aggregations and thread events), its relations and thread
// list requests parse our answers, and edits and reactions come back as it expects.
import { expect, test } from "bun:test";
import { ClientEvent, Direction, THREAD_RELATION_TYPE, ThreadFilterType, type MatrixClient } from "matrix-js-sdk";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { sdkFor, waitFor } from "../helpers/sdk.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { send } from "../helpers/sync.ts";

describeOnBackends("matrix-js-sdk threads and relations", (backend) => {
  const ctx = fixture<{ s: TestServer; bob: TestClient; alice: MatrixClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    const a = await registerUser(ctx.s, "sdkalice");
    ctx.bob = await registerUser(ctx.s, "sdkbob");
    ctx.alice = sdkFor(ctx.s, a);
  }, { teardown: (ctx) => ctx.alice.stopClient() });

  test("thread models from the sync loop, /relations and /threads through the SDK", async () => {
    const { room_id: roomId } = await ctx.alice.createRoom({ preset: "public_chat" as never });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    const root = await send(ctx.bob, roomId, "what shall we eat?");
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "pizza", "m.relates_to": { rel_type: "m.thread", event_id: root } });

    const ready = new Promise<void>((resolve) => ctx.alice.on(ClientEvent.Sync, (st) => (st === "PREPARED" || st === "SYNCING") && resolve()));
    await ctx.alice.startClient({ initialSyncLimit: 20, threadSupport: true });
    await ready;
    expect((await ctx.alice.doesServerSupportThread()).threads).toBeGreaterThan(0);
    const room = ctx.alice.getRoom(roomId)!;

    // Alice replies in the thread with the SDK's thread-aware send.
    await ctx.alice.sendMessage(roomId, root, { msgtype: "m.text" as never, body: "sushi" });
    await send(ctx.bob, roomId, { msgtype: "m.text", body: "fine", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    // The thread's length can reach 3 from the root's bundled count before "fine" itself arrives
    // through the sync loop, so wait for the latest reply as well.
    const thread = await waitFor(() => {
      const t = room.getThread(root);
      return t && t.length >= 3 && t.replyToEvent?.getContent().body === "fine" ? t : undefined;
    });
    expect(thread.id).toBe(root);
    expect(thread.replyToEvent?.getContent().body).toBe("fine");
    expect(thread.hasCurrentUserParticipated).toBe(true);

    // The relations API as the SDK calls it.
    const rel = await ctx.alice.relations(roomId, root, THREAD_RELATION_TYPE.name, null, { dir: Direction.Backward });
    expect(rel.events.map((e) => e.getContent().body)).toEqual(["fine", "sushi", "pizza"]);
    expect(rel.events.every((e) => e.threadRootId === root)).toBe(true);

    // The thread list as the SDK asks for it (its thread panel).
    const list = await ctx.alice.createThreadListMessagesRequest(roomId, null, 10, Direction.Backward, ThreadFilterType.All);
    expect(list.chunk.map((e) => e.event_id)).toEqual([root]);
    const summary = (list.chunk[0]!.unsigned as any)["m.relations"]["m.thread"];
    expect(summary.count).toBe(3);
    expect(summary.latest_event.content.body).toBe("fine");
    const mine = await ctx.alice.createThreadListMessagesRequest(roomId, null, 10, Direction.Backward, ThreadFilterType.My);
    expect(mine.chunk.map((e) => e.event_id)).toEqual([root]);

    // Reactions and edits the SDK sends are accepted; a duplicate reaction is refused.
    const target = (await ctx.alice.sendTextMessage(roomId, "react here")).event_id;
    await ctx.alice.sendEvent(roomId, "m.reaction" as never, { "m.relates_to": { rel_type: "m.annotation" as never, event_id: target, key: "👍" } } as never);
    await expect(
      ctx.alice.sendEvent(roomId, "m.reaction" as never, { "m.relates_to": { rel_type: "m.annotation" as never, event_id: target, key: "👍" } } as never),
    ).rejects.toMatchObject({ errcode: "M_DUPLICATE_ANNOTATION" });
    await ctx.alice.sendEvent(roomId, "m.room.message" as never, {
      msgtype: "m.text",
      body: "* react here!",
      "m.new_content": { msgtype: "m.text", body: "react here!" },
      "m.relates_to": { rel_type: "m.replace", event_id: target },
    } as never);
    const fetched = await ctx.alice.fetchRoomEvent(roomId, target);
    expect((fetched.unsigned as any)["m.relations"]["m.replace"].content["m.new_content"].body).toBe("react here!");
  }, 30000);
});
