// POST /search (room_events): bodies, names and topics; case and accents; order_by rank and
// recent; next_batch pagination; count and highlights; event_context with profiles; groupings;
// include_state; filters; history visibility (left rooms, joined later); redactions; errors.
// On both databases (FTS5 and PostgreSQL full-text search).
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc, invite, join, leave, send, setState } from "../helpers/sync.ts";

async function search(c: TestClient, criteria: Record<string, unknown>, nextBatch?: string): Promise<any> {
  const path = `/_matrix/client/v3/search${nextBatch ? `?next_batch=${enc(nextBatch)}` : ""}`;
  const r = await c.post(path, { search_categories: { room_events: criteria } });
  if (r.status !== 200) throw new Error(`search → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/search", "POST", "/search", 200, r.body);
  return r.body.search_categories.room_events;
}
const bodiesOf = (res: any): string[] => res.results.map((r: any) => r.result.content.body ?? r.result.content.name ?? r.result.content.topic);

describeOnBackends("search", (backend) => {
  const ctx = fixture<{
    s: TestServer;
    alice: TestClient;
    bob: TestClient;
    eve: TestClient; // in no room
    roomA: string;
    roomB: string;
  }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob, ctx.eve] = await serverWithUsers({ backend }, "alice", "bob", "eve");
    await ctx.alice.ok("PUT", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`, { displayname: "Alice A" });
    ctx.roomA = await createRoom(ctx.alice, { preset: "public_chat", name: "Martian Embassy", topic: "Where martians meet" });
    await join(ctx.bob, ctx.roomA);
    ctx.roomB = await createRoom(ctx.bob, { preset: "public_chat", name: "Kitchen" });
    await join(ctx.alice, ctx.roomB);
    await send(ctx.alice, ctx.roomA, "The martians have landed");
    await send(ctx.bob, ctx.roomA, "I saw a MARTIAN in the café");
    await send(ctx.alice, ctx.roomA, "Nothing to see here");
    await send(ctx.bob, ctx.roomB, "Martians like crème brûlée");
    await send(ctx.alice, ctx.roomB, "martian martian martian");
  });

  test("finds message bodies, room names and topics; case, accents and word prefixes", async () => {
    const res = await search(ctx.alice, { search_term: "martian" });
    expect(res.count).toBe(6);
    expect(bodiesOf(res).sort()).toEqual(
      ["Martian Embassy", "Where martians meet", "The martians have landed", "I saw a MARTIAN in the café", "Martians like crème brûlée", "martian martian martian"].sort(),
    );
    // Ranked: higher is better, results in order of rank.
    const ranks = res.results.map((r: any) => r.rank);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
    expect(res.highlights).toContain("martian");
    expect(res.highlights).toContain("MARTIAN");
    expect(res.highlights).toContain("martians");
    expect(bodiesOf(await search(ctx.alice, { search_term: "CAFE" }))).toEqual(["I saw a MARTIAN in the café"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "creme brulee" }))).toEqual(["Martians like crème brûlée"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian landed" }))).toEqual(["The martians have landed"]);
    expect((await search(ctx.alice, { search_term: "zebra" })).results).toEqual([]);
    expect((await search(ctx.alice, { search_term: "!!!" })).count).toBe(0);
    // keys restricts where to look.
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian", keys: ["content.name"] }))).toEqual(["Martian Embassy"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian", keys: ["content.topic"] }))).toEqual(["Where martians meet"]);
    // eve is in no room: nothing.
    expect((await search(ctx.eve, { search_term: "martian" })).results).toEqual([]);
  });

  test("order_by recent and pagination with next_batch, both orders", async () => {
    const recent = await search(ctx.alice, { search_term: "martian", order_by: "recent", keys: ["content.body"] });
    expect(bodiesOf(recent)).toEqual(["martian martian martian", "Martians like crème brûlée", "I saw a MARTIAN in the café", "The martians have landed"]);
    for (const order of ["recent", "rank"]) {
      const seen: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const page = await search(ctx.alice, { search_term: "martian", order_by: order, filter: { limit: 3 } }, next);
        expect(page.results.length).toBeLessThanOrEqual(3);
        seen.push(...page.results.map((r: any) => r.result.event_id));
        next = page.next_batch;
        pages++;
      } while (next && pages < 10);
      expect(seen.length).toBe(6);
      expect(new Set(seen).size).toBe(6);
      expect(pages).toBe(2);
    }
    const r = await ctx.alice.post("/_matrix/client/v3/search?next_batch=garbage", { search_categories: { room_events: { search_term: "x" } } });
    expectError(r, 400, "M_INVALID_PARAM");
  });

  test("filters: rooms, senders, types", async () => {
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian", filter: { rooms: [ctx.roomB] } })).sort()).toEqual(["Martians like crème brûlée", "martian martian martian"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian", filter: { not_rooms: [ctx.roomA], senders: [ctx.bob.userId] } }))).toEqual(["Martians like crème brûlée"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "martian", filter: { types: ["m.room.name"] } }))).toEqual(["Martian Embassy"]);
    expect((await search(ctx.alice, { search_term: "martian", filter: { rooms: ["!other:example.org"] } })).results).toEqual([]);
  });

  test("event_context with profiles, groupings and include_state", async () => {
    const res = await search(ctx.alice, {
      search_term: "landed",
      event_context: { before_limit: 2, after_limit: 1, include_profile: true },
      groupings: { group_by: [{ key: "room_id" }, { key: "sender" }] },
      include_state: true,
    });
    expect(res.results.length).toBe(1);
    const context = res.results[0].context;
    expect(context.events_before.length).toBe(2);
    expect(context.events_after.map((e: any) => e.content.body)).toEqual(["I saw a MARTIAN in the café"]);
    expect(typeof context.start).toBe("string");
    expect(typeof context.end).toBe("string");
    expect(context.profile_info[ctx.alice.userId!]).toEqual({ displayname: "Alice A" });
    expect(context.profile_info[ctx.bob.userId!]).toBeDefined();
    const id = res.results[0].result.event_id;
    expect(res.groups.room_id[ctx.roomA]).toEqual({ results: [id], order: 1 });
    expect(res.groups.sender[ctx.alice.userId!]).toEqual({ results: [id], order: 1 });
    expect(res.state[ctx.roomA].some((e: any) => e.type === "m.room.name" && e.content.name === "Martian Embassy")).toBe(true);
    // /messages continues from the context's tokens.
    const older = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomA)}/messages?dir=b&limit=1&from=${enc(context.start)}`);
    expect(older.chunk.length).toBe(1);

    // A group's next_batch continues within that group.
    const page = await search(ctx.alice, { search_term: "martian", filter: { limit: 1 }, order_by: "recent", groupings: { group_by: [{ key: "room_id" }] } });
    const [groupRoom, group] = Object.entries(page.groups.room_id)[0] as [string, any];
    expect(groupRoom).toBe(ctx.roomB);
    const more = await search(ctx.alice, { search_term: "martian", filter: { limit: 10 }, order_by: "recent", groupings: { group_by: [{ key: "room_id" }] } }, group.next_batch);
    expect(more.results.every((r: any) => r.result.room_id === ctx.roomB)).toBe(true);
    expect(bodiesOf(more)).toEqual(["Martians like crème brûlée"]);
  });

  test("history visibility: nothing after leaving, nothing from before joining when history is 'joined'", async () => {
    const room = await createRoom(ctx.alice, { preset: "private_chat" });
    await setState(ctx.alice, room, "m.room.history_visibility", { history_visibility: "joined" });
    await send(ctx.alice, room, "secret plans before carol");
    const carol = await registerUser(ctx.s, "carol");
    await invite(ctx.alice, room, carol.userId!);
    await join(carol, room);
    await send(ctx.alice, room, "secret plans with carol");
    await leave(carol, room);
    await send(ctx.alice, room, "secret plans after carol");
    expect(bodiesOf(await search(carol, { search_term: "secret plans" }))).toEqual(["secret plans with carol"]);
    expect(bodiesOf(await search(ctx.alice, { search_term: "secret plans", order_by: "recent" }))).toEqual([
      "secret plans after carol",
      "secret plans with carol",
      "secret plans before carol",
    ]);
    // bob was never in the room.
    expect((await search(ctx.bob, { search_term: "secret" })).results).toEqual([]);
  });

  test("redacted events leave the index; new names and topics are indexed", async () => {
    const room = await createRoom(ctx.alice, { preset: "public_chat" });
    const ev = await send(ctx.alice, room, "embarrassing typo");
    expect(bodiesOf(await search(ctx.alice, { search_term: "embarrassing" }))).toEqual(["embarrassing typo"]);
    await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(ev)}/r1`, {});
    expect((await search(ctx.alice, { search_term: "embarrassing" })).results).toEqual([]);
    expect((await search(ctx.alice, { search_term: "embarrassing" })).count).toBe(0);
    await setState(ctx.alice, room, "m.room.topic", { topic: "Quarterly zeppelins", "m.topic": { "m.text": [{ body: "Quarterly <b>zeppelins</b>", mimetype: "text/html" }, { body: "Quarterly zeppelins" }] } });
    expect(bodiesOf(await search(ctx.alice, { search_term: "zeppelin" }))).toEqual(["Quarterly zeppelins"]);
  });

  test("errors", async () => {
    expectError(await ctx.alice.post("/_matrix/client/v3/search", {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: [] }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: {} } }), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: 1 } } }), 400, "M_BAD_JSON");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "x", order_by: "size" } } }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "x", keys: ["content.sender"] } } }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "x", groupings: { group_by: [{ key: "type" }] } } } }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "x", filter: { rooms: "a" } } } }), 400, "M_BAD_JSON");
    // No known category: an empty answer.
    expect(await ctx.alice.ok("POST", "/_matrix/client/v3/search", { search_categories: {} })).toEqual({ search_categories: {} });
  });
});
