// Relations over HTTP on both databases: GET /relations (filters, dir, pagination, recurse,
// errors), bundled aggregations (m.thread, m.replace, m.reference; no annotations) on /event,
// /messages, /context and limited /sync timelines, edits per spec v1.7 (content untouched, most
// recent valid edit, redactions), duplicate annotations, thread validation.
import { expect, test } from "bun:test";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { expectError, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, join, send, sync } from "../helpers/sync.ts";

const thread = (root: string, body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } });
const reaction = (target: string, key: string) => ({ "m.relates_to": { rel_type: "m.annotation", event_id: target, key } });
const edit = (target: string, body: string) => ({
  msgtype: "m.text",
  body: `* ${body}`,
  "m.new_content": { msgtype: "m.text", body },
  "m.relates_to": { rel_type: "m.replace", event_id: target },
});
const reference = (target: string) => ({ "m.relates_to": { rel_type: "m.reference", event_id: target } });

describeOnBackends("relations", (backend) => {
  const ctx = serverFixture({ backend }, "alice", "bob", "eve");

  const rel = (c: TestClient, roomId: string, eventId: string, suffix = "", query = "") =>
    c.get(`/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(eventId)}${suffix}${query ? `?${query}` : ""}`);
  const getEvent = (c: TestClient, roomId: string, eventId: string) => c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
  const redact = (c: TestClient, roomId: string, eventId: string) =>
    c.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/${crypto.randomUUID()}`, {});

  test("GET /relations: children newest first, filtered by rel_type and event type, dir=f, spec shapes", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const root = await send(ctx.alice, roomId, "root");
    const t1 = await send(ctx.bob, roomId, thread(root, "t1"));
    const r1 = await send(ctx.bob, roomId, reaction(root, "👍"), "m.reaction");
    const t2 = await send(ctx.alice, roomId, thread(root, "t2"));
    const x1 = await send(ctx.bob, roomId, reference(root), "org.example.poll.response");
    await send(ctx.alice, roomId, "unrelated");

    const all = await rel(ctx.alice, roomId, root);
    expect(all.status).toBe(200);
    assertMatchesSpec("client-server/relations", "GET", "/rooms/{roomId}/relations/{eventId}", 200, all.body);
    expect(all.body.chunk.map((e: any) => e.event_id)).toEqual([x1, t2, r1, t1]);
    expect(all.body.next_batch).toBeUndefined();
    expect(all.body.recursion_depth).toBeUndefined();

    const threads = await rel(ctx.alice, roomId, root, "/m.thread");
    assertMatchesSpec("client-server/relations", "GET", "/rooms/{roomId}/relations/{eventId}/{relType}", 200, threads.body);
    expect(threads.body.chunk.map((e: any) => e.event_id)).toEqual([t2, t1]);
    const reactions = await rel(ctx.alice, roomId, root, "/m.annotation/m.reaction");
    assertMatchesSpec("client-server/relations", "GET", "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", 200, reactions.body);
    expect(reactions.body.chunk.map((e: any) => e.event_id)).toEqual([r1]);
    expect((await rel(ctx.alice, roomId, root, "/m.annotation/m.room.message")).body.chunk).toEqual([]);
    expect((await rel(ctx.alice, roomId, root, "/m.thread", "dir=f")).body.chunk.map((e: any) => e.event_id)).toEqual([t1, t2]);
    // An event without children.
    expect((await rel(ctx.alice, roomId, t1)).body.chunk).toEqual([]);
  });

  test("pagination: limit, next_batch, prev_batch, to, in both directions", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomId, "root");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send(ctx.alice, roomId, thread(root, `t${i}`)));
    const p1 = (await rel(ctx.alice, roomId, root, "", "limit=2")).body;
    expect(p1.chunk.map((e: any) => e.event_id)).toEqual([ids[4], ids[3]]);
    expect(typeof p1.next_batch).toBe("string");
    expect(p1.prev_batch).toBeUndefined();
    const p2 = (await rel(ctx.alice, roomId, root, "", `limit=2&from=${enc(p1.next_batch)}`)).body;
    expect(p2.chunk.map((e: any) => e.event_id)).toEqual([ids[2], ids[1]]);
    expect(p2.prev_batch).toBe(p1.next_batch);
    const p3 = (await rel(ctx.alice, roomId, root, "", `limit=2&from=${enc(p2.next_batch)}`)).body;
    expect(p3.chunk.map((e: any) => e.event_id)).toEqual([ids[0]]);
    expect(p3.next_batch).toBeUndefined();
    // `to`: from the start down to the end of page 1 gives page 1 only.
    const upTo = (await rel(ctx.alice, roomId, root, "", `limit=10&to=${enc(p1.next_batch)}`)).body;
    expect(upTo.chunk.map((e: any) => e.event_id)).toEqual([ids[4], ids[3]]);
    // Forwards.
    const f1 = (await rel(ctx.alice, roomId, root, "", "dir=f&limit=3")).body;
    expect(f1.chunk.map((e: any) => e.event_id)).toEqual([ids[0], ids[1], ids[2]]);
    const f2 = (await rel(ctx.alice, roomId, root, "", `dir=f&limit=3&from=${enc(f1.next_batch)}`)).body;
    expect(f2.chunk.map((e: any) => e.event_id)).toEqual([ids[3], ids[4]]);
    // A /messages token works as `from` too: events before the latest position.
    const msgs = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`);
    expect((await rel(ctx.alice, roomId, root, "", `from=${enc(msgs.start)}`)).body.chunk).toHaveLength(5);
    // And a /sync token.
    const sy = await sync(ctx.alice, { filter: { room: { timeline: { limit: 1 } } } });
    expect((await rel(ctx.alice, roomId, root, "", `from=${enc(sy.next_batch)}&limit=2`)).body.chunk.map((e: any) => e.event_id)).toEqual([ids[4], ids[3]]);
  });

  test("recurse follows relations of relations (recursion_depth), filters apply to every level", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomId, "root");
    const t1 = await send(ctx.alice, roomId, thread(root, "t1"));
    const onT1 = await send(ctx.alice, roomId, reaction(t1, "🎉"), "m.reaction");
    const editOfT1 = await send(ctx.alice, roomId, edit(t1, "t1 edited"));
    const direct = (await rel(ctx.alice, roomId, root)).body;
    expect(direct.chunk.map((e: any) => e.event_id)).toEqual([t1]);
    const deep = await rel(ctx.alice, roomId, root, "", "recurse=true");
    assertMatchesSpec("client-server/relations", "GET", "/rooms/{roomId}/relations/{eventId}", 200, deep.body);
    expect(deep.body.recursion_depth).toBe(3);
    expect(deep.body.chunk.map((e: any) => e.event_id)).toEqual([editOfT1, onT1, t1]);
    expect((await rel(ctx.alice, roomId, root, "", "recurse=false")).body.recursion_depth).toBe(1);
    // Only m.thread: the reaction and the edit relate through t1 by other types: excluded.
    expect((await rel(ctx.alice, roomId, root, "/m.thread", "recurse=true")).body.chunk.map((e: any) => e.event_id)).toEqual([t1]);
    // m.annotation only: the reaction relates to the root only through t1 (an m.thread): excluded.
    expect((await rel(ctx.alice, roomId, root, "/m.annotation", "recurse=true")).body.chunk).toEqual([]);
    expect((await rel(ctx.alice, roomId, t1, "/m.annotation", "recurse=true")).body.chunk.map((e: any) => e.event_id)).toEqual([onT1]);
  });

  test("errors: unknown or invisible parents are 404; bad parameters 400", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "private_chat" });
    const root = await send(ctx.alice, roomId, "secret");
    const notFound = await rel(ctx.alice, roomId, `$${"a".repeat(43)}`);
    expectError(notFound, 404, "M_NOT_FOUND");
    assertMatchesSpec("client-server/relations", "GET", "/rooms/{roomId}/relations/{eventId}", 404, notFound.body);
    expectError(await rel(ctx.eve, roomId, root), 404, "M_NOT_FOUND");
    expectError(await rel(ctx.alice, "!unknown:localhost", root), 404, "M_NOT_FOUND");
    expectError(await rel(ctx.alice, roomId, root, "", "dir=x"), 400, "M_INVALID_PARAM");
    expectError(await rel(ctx.alice, roomId, root, "", "limit=-1"), 400, "M_INVALID_PARAM");
    expectError(await rel(ctx.alice, roomId, root, "", "limit=abc"), 400, "M_INVALID_PARAM");
    expectError(await rel(ctx.alice, roomId, root, "", "recurse=yes"), 400, "M_INVALID_PARAM");
    expectError(await rel(ctx.alice, roomId, root, "", "from=garbage"), 400, "M_INVALID_PARAM");
    expectError(await rel(ctx.alice, "not-a-room", root), 400, "M_INVALID_PARAM");
    expectError(await new (ctx.alice.constructor as typeof TestClient)(ctx.s.url).get(`/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(root)}`), 401, "M_MISSING_TOKEN");
  });

  test("bundled aggregations: m.thread, m.replace (content untouched), m.reference; no annotations", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const root = await send(ctx.alice, roomId, "hello");
    await send(ctx.bob, roomId, reaction(root, "👍"), "m.reaction");
    const t1 = await send(ctx.bob, roomId, thread(root, "first reply"));
    const t2 = await send(ctx.bob, roomId, thread(root, "second reply"));
    const e1 = await send(ctx.alice, roomId, edit(root, "hello, edited"));
    const ref = await send(ctx.bob, roomId, reference(root), "org.example.ref");
    const editOfT2 = await send(ctx.bob, roomId, edit(t2, "second reply, edited"));

    const check = (ev: any, viewer: TestClient) => {
      expect(ev.content.body).toBe("hello"); // spec v1.7: not replaced
      const r = ev.unsigned["m.relations"];
      expect(Object.keys(r).sort()).toEqual(["m.reference", "m.replace", "m.thread"]);
      expect(r["m.thread"].count).toBe(2);
      expect(r["m.thread"].current_user_participated).toBe(true); // alice sent the root, bob the replies
      expect(r["m.thread"].latest_event.event_id).toBe(t2);
      expect(r["m.thread"].latest_event.room_id).toBe(roomId);
      // The latest event carries its own aggregations (its edit).
      expect(r["m.thread"].latest_event.unsigned["m.relations"]["m.replace"].event_id).toBe(editOfT2);
      expect(r["m.replace"].event_id).toBe(e1);
      expect(r["m.replace"].content["m.new_content"].body).toBe("hello, edited");
      expect(r["m.replace"].sender).toBe(ctx.alice.userId);
      expect(r["m.reference"]).toEqual({ chunk: [{ event_id: ref }] });
      void viewer;
    };
    check(await getEvent(ctx.alice, roomId, root), ctx.alice);
    const eveView = await getEvent(ctx.bob, roomId, root);
    expect(eveView.unsigned["m.relations"]["m.thread"].current_user_participated).toBe(true);

    // /messages and /context bundle too.
    const msgs = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    check(msgs.chunk.find((e: any) => e.event_id === root), ctx.alice);
    // The edit itself gets no aggregations.
    expect(msgs.chunk.find((e: any) => e.event_id === e1).unsigned["m.relations"]).toBeUndefined();
    const context = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(root)}?limit=2`);
    check(context.event, ctx.alice);
    // /relations results are bundled as well.
    const children = (await rel(ctx.alice, roomId, root, "/m.thread")).body.chunk;
    expect(children.find((e: any) => e.event_id === t2).unsigned["m.relations"]["m.replace"].event_id).toBe(editOfT2);
    expect(children.find((e: any) => e.event_id === t1).unsigned["m.relations"]).toBeUndefined();

    // Someone who is not in the thread: current_user_participated is false.
    await join(ctx.eve, roomId);
    const eveSees = (await getEvent(ctx.eve, roomId, root)).unsigned["m.relations"]["m.thread"];
    expect(eveSees.current_user_participated).toBe(false);
    expect(eveSees.count).toBe(2);
  });

  test("sync bundles on limited timelines only", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await send(ctx.alice, roomId, "filler");
    const root = await send(ctx.alice, roomId, "root for sync");
    await send(ctx.alice, roomId, { ...thread(root, "reply") }, "org.example.threaded");
    // Not limited (the whole room fits): no bundles.
    const open = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 100 } } } });
    expect(open.rooms.join[roomId].timeline.limited).toBe(false);
    expect(open.rooms.join[roomId].timeline.events.find((e: any) => e.event_id === root).unsigned["m.relations"]).toBeUndefined();
    // Limited: the root comes with its thread summary.
    const lim = await sync(ctx.alice, { filter: { room: { rooms: [roomId], timeline: { limit: 1, types: ["m.room.message"] } } } });
    const t = lim.rooms.join[roomId].timeline;
    expect(t.limited).toBe(true);
    expect(t.events.map((e: any) => e.event_id)).toEqual([root]);
    expect(t.events[0].unsigned["m.relations"]["m.thread"].count).toBe(1);
    expect(t.events[0].unsigned["m.relations"]["m.thread"].latest_event.type).toBe("org.example.threaded");
  });

  test("edits: only valid replacements, most recent wins, redactions revert; redacted originals bundle none", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const orig = await send(ctx.alice, roomId, "v0");
    // Invalid: another sender, another type, no m.new_content.
    await send(ctx.bob, roomId, edit(orig, "bob's edit"));
    await send(ctx.alice, roomId, edit(orig, "wrong type"), "org.example.other");
    await send(ctx.alice, roomId, { msgtype: "m.text", body: "* no new content", "m.relates_to": { rel_type: "m.replace", event_id: orig } });
    expect((await getEvent(ctx.alice, roomId, orig)).unsigned["m.relations"]).toBeUndefined();
    const e1 = await send(ctx.alice, roomId, edit(orig, "v1"));
    const e2 = await send(ctx.alice, roomId, edit(orig, "v2"));
    // The most recent by origin_server_ts, ties broken by the larger event ID.
    const [ev1, ev2] = [await getEvent(ctx.alice, roomId, e1), await getEvent(ctx.alice, roomId, e2)];
    const e2Wins = ev2.origin_server_ts > ev1.origin_server_ts || (ev2.origin_server_ts === ev1.origin_server_ts && e2 > e1);
    const [winner, other] = e2Wins ? [e2, e1] : [e1, e2];
    expect((await getEvent(ctx.alice, roomId, orig)).unsigned["m.relations"]["m.replace"].event_id).toBe(winner);
    await redact(ctx.alice, roomId, winner);
    expect((await getEvent(ctx.alice, roomId, orig)).unsigned["m.relations"]["m.replace"].event_id).toBe(other);
    // The relations API lists every m.replace child (the invalid ones too), not the redacted one.
    const listed = (await rel(ctx.alice, roomId, orig, "/m.replace")).body.chunk.map((e: any) => e.event_id);
    expect(listed).toHaveLength(4);
    expect(listed).toContain(other);
    expect(listed).not.toContain(winner);
    await redact(ctx.alice, roomId, orig);
    const red = await getEvent(ctx.alice, roomId, orig);
    expect(red.content).toEqual({});
    expect(red.unsigned["m.relations"]).toBeUndefined();
    expect(red.unsigned.redacted_because).toBeDefined();
  });

  test("a second identical annotation is M_DUPLICATE_ANNOTATION until the first is redacted", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await join(ctx.bob, roomId);
    const target = await send(ctx.alice, roomId, "react to me");
    const first = await send(ctx.bob, roomId, reaction(target, "👍"), "m.reaction");
    const again = await ctx.bob.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.reaction/${crypto.randomUUID()}`, reaction(target, "👍"));
    expectError(again, 400, "M_DUPLICATE_ANNOTATION");
    // Another key, another user, another type: fine.
    await send(ctx.bob, roomId, reaction(target, "👎"), "m.reaction");
    await send(ctx.alice, roomId, reaction(target, "👍"), "m.reaction");
    await send(ctx.bob, roomId, reaction(target, "👍"), "org.example.reaction");
    await redact(ctx.bob, roomId, first);
    await send(ctx.bob, roomId, reaction(target, "👍"), "m.reaction");
    // Retrying the same transaction is not a duplicate: the first event comes back.
    const txn = crypto.randomUUID();
    const a = await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.reaction/${txn}`, reaction(target, "🎉"));
    const b = await ctx.bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.reaction/${txn}`, reaction(target, "🎉"));
    expect(b.event_id).toBe(a.event_id);
    // Annotations are not aggregated (spec v1.7).
    expect((await getEvent(ctx.alice, roomId, target)).unsigned["m.relations"]).toBeUndefined();
  });

  test("threads cannot start from an event with a relation (400 M_UNKNOWN)", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomId, "root");
    const reply = await send(ctx.alice, roomId, thread(root, "in thread"));
    const r = await ctx.alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${crypto.randomUUID()}`, thread(reply, "nested"));
    expectError(r, 400, "M_UNKNOWN");
    // A rich reply (no rel_type) can be a thread root.
    const richReply = await send(ctx.alice, roomId, { msgtype: "m.text", body: "re", "m.relates_to": { "m.in_reply_to": { event_id: root } } });
    await send(ctx.alice, roomId, thread(richReply, "thread off a reply"));
  });

  test("children in another room do not relate: not listed, not aggregated", async () => {
    const roomA = await createRoom(ctx.alice, { preset: "public_chat" });
    const roomB = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomA, "root in A");
    const inA = await send(ctx.alice, roomA, thread(root, "reply in A"));
    await send(ctx.alice, roomB, thread(root, "reply in B"));
    await send(ctx.alice, roomB, edit(root, "edit from B"));
    await send(ctx.alice, roomB, reference(root), "org.example.ref");
    expect((await rel(ctx.alice, roomA, root)).body.chunk.map((e: any) => e.event_id)).toEqual([inA]);
    const r = (await getEvent(ctx.alice, roomA, root)).unsigned["m.relations"];
    expect(Object.keys(r)).toEqual(["m.thread"]);
    expect(r["m.thread"].count).toBe(1);
    expect(r["m.thread"].latest_event.event_id).toBe(inA);
    // An annotation from another room does not make one here a duplicate.
    await send(ctx.alice, roomB, reaction(root, "👍"), "m.reaction");
    await send(ctx.alice, roomA, reaction(root, "👍"), "m.reaction");
    expect((await ctx.alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomA)}/threads`)).chunk.map((e: any) => e.event_id)).toEqual([root]);
    expect((await ctx.alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomB)}/threads`)).chunk).toEqual([]);
  });

  test("relations of events stored before indexing are indexed at start-up", async () => {
    const roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    const root = await send(ctx.alice, roomId, "old root");
    const t1 = await send(ctx.alice, roomId, thread(root, "old reply"));
    await send(ctx.alice, roomId, reaction(t1, "👀"), "m.reaction");
    // As if the events had been stored by an older hs.
    await ctx.s.hs.db.run("DELETE FROM event_relations WHERE room_id = ?", [roomId]);
    await ctx.s.hs.db.run("DELETE FROM threads WHERE room_id = ?", [roomId]);
    await ctx.s.hs.db.run("UPDATE relations_backfill SET done = 0");
    expect((await rel(ctx.alice, roomId, root)).body.chunk).toEqual([]);
    await ctx.s.restart();
    const deadline = Date.now() + 10000;
    let chunk: any[] = [];
    while (Date.now() < deadline) {
      chunk = (await rel(ctx.alice, roomId, root, "", "recurse=true")).body.chunk;
      if (chunk.length === 2) break;
      await Bun.sleep(20);
    }
    expect(chunk.map((e: any) => e.type)).toEqual(["m.reaction", "m.room.message"]);
    const threads = await ctx.alice.ok("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/threads`);
    expect(threads.chunk.map((e: any) => e.event_id)).toEqual([root]);
    expect((await ctx.s.hs.db.get<{ done: number }>("SELECT done FROM relations_backfill"))!.done).toBe(1);
  });
});
