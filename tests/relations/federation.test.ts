// Relations and threads across two hs servers (both databases): children received over
// federation are indexed and aggregated; history backfilled from the other server is indexed;
// a redaction received over federation breaks the relationship; thread notification counts
// for remote thread replies.
import { expect, test } from "bun:test";
import { type TestClient } from "../helpers/client.ts";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";
import { enc, send, sync } from "../helpers/sync.ts";

const thread = (root: string, body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } });

describeOnBackends("relations over federation", (backend) => {
  const ctx = federatedPairFixture({ backend, config: { federation: { retry_min_interval_ms: 200 } } });

  const relations = async (c: TestClient, roomId: string, eventId: string, suffix = "") =>
    (await c.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(eventId)}${suffix}`)).chunk as any[];
  const threadSummary = async (c: TestClient, roomId: string, eventId: string) =>
    (await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`)).unsigned?.["m.relations"]?.["m.thread"];

  test("backfilled history, remote children, remote redactions, remote thread replies counted per thread", async () => {
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id as string;
    const root = await send(ctx.alice, roomId, "root on hs1");
    const early = await send(ctx.alice, roomId, thread(root, "before bob came"));
    await send(ctx.alice, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: root, key: "⭐" } }, "m.reaction");

    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    // History from before the join arrives by backfill (/messages), and its relations are indexed.
    const history = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    expect(history.chunk.map((e: any) => e.event_id)).toContain(early);
    expect((await relations(ctx.bob, roomId, root)).map((e) => e.event_id)).toContain(early);
    expect((await relations(ctx.bob, roomId, root, "/m.annotation")).map((e) => e.content["m.relates_to"].key)).toEqual(["⭐"]);
    const onHs2 = await ctx.bob.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/threads`);
    expect(onHs2.chunk.map((e: any) => e.event_id)).toEqual([root]);
    expect(onHs2.chunk[0].unsigned["m.relations"]["m.thread"]).toMatchObject({ count: 1, current_user_participated: false });

    // Bob replies in the thread from hs2: hs1 indexes the remote child and aggregates it.
    await eventually(async () => {
      const r = await ctx.alice.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(ctx.bob.userId!)}`);
      return r.status === 200 ? true : undefined;
    }, 15000, "bob's join on hs1");
    const reply = await send(ctx.bob, roomId, thread(root, "hello from hs2"));
    const summary = await eventually(async () => {
      const t = await threadSummary(ctx.alice, roomId, root);
      return t?.count === 2 ? t : undefined;
    }, 15000, "the remote reply aggregated on hs1");
    expect(summary.latest_event.event_id).toBe(reply);
    expect(summary.latest_event.sender).toBe(ctx.bob.userId);
    expect(summary.current_user_participated).toBe(true);
    expect((await relations(ctx.alice, roomId, root, "/m.thread")).map((e) => e.event_id)).toEqual([reply, early]);
    // The remote reply counts in alice's thread notifications on hs1.
    const unread = (await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 1, unread_thread_notifications: true } } } })).rooms.join[roomId];
    expect(unread.unread_thread_notifications[root].notification_count).toBe(1);
    // And bob now participates, as hs2 sees it.
    expect((await threadSummary(ctx.bob, roomId, root)).current_user_participated).toBe(true);

    // Bob redacts his reply: the relationship is broken on both servers.
    await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(reply)}/${crypto.randomUUID()}`, {});
    expect((await threadSummary(ctx.bob, roomId, root)).count).toBe(1);
    const after = await eventually(async () => {
      const t = await threadSummary(ctx.alice, roomId, root);
      return t?.count === 1 ? t : undefined;
    }, 15000, "the redaction applied on hs1");
    expect(after.latest_event.event_id).toBe(early);
    expect((await relations(ctx.alice, roomId, root, "/m.thread")).map((e) => e.event_id)).toEqual([early]);

    // An edit from hs1 reaches hs2 and is bundled there.
    const editId = await send(ctx.alice, roomId, {
      msgtype: "m.text",
      body: "* root, edited",
      "m.new_content": { msgtype: "m.text", body: "root, edited" },
      "m.relates_to": { rel_type: "m.replace", event_id: root },
    });
    const bundled = await eventually(async () => {
      const ev = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(root)}`);
      return ev.unsigned?.["m.relations"]?.["m.replace"]?.event_id === editId ? ev : undefined;
    }, 15000, "the edit bundled on hs2");
    expect(bundled.content.body).toBe("root on hs1");
  }, 90000);
});
