// Backfilled history can be paged to the start (issue 17, root cause 4): backfilled events have
// negative stream positions, the tokens around them must parse, and each page that reaches the
// start of what this server has asks the room's other servers for more. The first /sync after a
// remote join says limited: true when older history exists.
import { expect, test } from "bun:test";
import { describeOnBackends, federatedPairFixture } from "../helpers/suite.ts";

const enc = encodeURIComponent;

describeOnBackends("backfill paging", (backend) => {
  const ctx = federatedPairFixture({ backend });

  test("after a remote join all older history is paged back to the creation, in order", async () => {
    const N = 120;
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
    for (let i = 0; i < N; i++) await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t${i}`, { msgtype: "m.text", body: `m${i}` });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});

    // The first sync after the join: the room's timeline is limited (there is history before it).
    const sync = await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0");
    const joined = sync.rooms?.join?.[roomId];
    expect(joined).toBeDefined();
    expect(joined.timeline.limited).toBe(true);
    expect(typeof joined.timeline.prev_batch).toBe("string");

    const bodies: string[] = [];
    const types: string[] = [];
    let from: string | undefined = joined.timeline.prev_batch;
    for (let pages = 0; pages < 40 && from; pages++) {
      const page: any = await ctx.bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20&from=${enc(from)}`);
      for (const ev of page.chunk) {
        types.push(ev.type);
        if (ev.type === "m.room.message") bodies.push(ev.content.body);
      }
      if (!page.end || page.chunk.length === 0) break;
      from = page.end;
    }
    // Messages in the initial timeline are not repeated here; together they are all N, newest first.
    const inTimeline = (joined.timeline.events as any[]).filter((e) => e.type === "m.room.message").map((e) => e.content.body);
    const all = [...inTimeline.reverse(), ...bodies];
    expect(all).toEqual(Array.from({ length: N }, (_, i) => `m${N - 1 - i}`));
    expect(types[types.length - 1]).toBe("m.room.create");
  }, 120000);
});
