// Presence when a room becomes newly shared across servers (issue 17, root cause 6): after a user
// of another server joins, both sides see each other's presence promptly, though neither
// changed presence since they last synced.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import type { FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, federatedPair, federatedPairFixture, fixture } from "../helpers/suite.ts";
import { eventually } from "../helpers/wait.ts";

const enc = encodeURIComponent;

describeOnBackends("presence in newly shared rooms", (backend) => {
  const ctx = federatedPairFixture({ backend });

  test("both users see the other's presence promptly after the join", async () => {
    // Both online, sharing nothing yet.
    let aliceSince = (await ctx.alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    let bobSince = (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [ctx.bob.userId] })).room_id;
    await eventually(async () => {
      const s = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(bobSince)}`);
      bobSince = s.next_batch;
      return s.rooms?.invite?.[roomId];
    }, 15000, "invite");
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const seen = (c: TestClient, other: string, since: () => string, set: (s: string) => void) =>
      eventually(async () => {
        const s = await c.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(since())}`);
        set(s.next_batch);
        return (s.presence?.events as any[] | undefined)?.find((e) => e.sender === other);
      }, 10000, `${c.userId} to see ${other}'s presence`, 100);
    const [a, b] = await Promise.all([
      seen(ctx.alice, ctx.bob.userId!, () => aliceSince, (s) => (aliceSince = s)),
      seen(ctx.bob, ctx.alice.userId!, () => bobSince, (s) => (bobSince = s)),
    ]);
    expect(a.content.presence).toBe("online");
    expect(b.content.presence).toBe("online");
  }, 60000);

  test("users of one server: a newly shared room brings each other's unchanged presence in the next sync", async () => {
    const carol = await registerUser(ctx.hs1, "carol");
    const dave = await registerUser(ctx.hs1, "dave");
    // Both online long before they share a room.
    const carolSince = (await carol.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    const daveSince = (await dave.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
    const carolAgain = (await carol.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(carolSince)}`)).next_batch as string;
    const roomId = (await carol.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await dave.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    const forCarol = await carol.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(carolAgain)}`);
    expect((forCarol.presence?.events as any[] | undefined)?.find((e) => e.sender === dave.userId)?.content.presence).toBe("online");
    const forDave = await dave.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(daveSince)}`);
    expect((forDave.presence?.events as any[] | undefined)?.find((e) => e.sender === carol.userId)?.content.presence).toBe("online");
    // Not again in the sync after.
    const next = await carol.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(forCarol.next_batch)}`);
    expect((next.presence?.events as any[] | undefined)?.find((e) => e.sender === dave.userId)).toBeUndefined();
  }, 60000);
});

describeOnBackends("presence that arrives before the room it is for", (backend) => {
const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; bob: TestClient }>(async (ctx) => {
  // hs1 sends no presence of its own: the only presence hs2 gets is the one injected below.
  ({ hs1: ctx.hs1, hs2: ctx.hs2, alice: ctx.alice, bob: ctx.bob } = await federatedPair({ backend, config: (i) => (i === 0 ? { presence: { enabled: false } } : {}) }));
}, { timeout: 60000 });

test("is kept and applied once a local user joins a room with that user", async () => {
  const roomId = (await ctx.alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
  const since = (await ctx.bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).next_batch as string;
  // As if hs1's EDU overtook the send_join answer.
  expect(await ctx.hs2.hs.services.presence.applyRemote(ctx.hs1.serverName, { user_id: ctx.alice.userId, presence: "online", currently_active: true, last_active_ago: 10 })).toBe(false);
  await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(ctx.hs1.serverName)}`, {});
  const ev = await eventually(async () => {
    const s = await ctx.bob.ok("GET", `/_matrix/client/v3/sync?timeout=0&since=${enc(since)}`);
    return (s.presence?.events as any[] | undefined)?.find((e) => e.sender === ctx.alice.userId);
  }, 10000, "alice's presence on hs2");
  expect(ev.content.presence).toBe("online");
}, 60000);
});
