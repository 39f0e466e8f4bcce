// Message rate limiting ([ratelimit] message_per_minute / message_burst, as Synapse's rc_message):
// events sent by a client (messages, state, redactions, new rooms) are counted per user; over the
// limit the answer is 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After, and a retried
// transaction still yields the one event. Application services registered with rate_limited: false
// are exempt (application-service-api "Registration"), others are not.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const enc = encodeURIComponent;

function registration(dir: string, id: string, rateLimited: boolean): string {
  const path = join(dir, `${id}.json`);
  writeFileSync(
    path,
    JSON.stringify({ id, url: null, as_token: `as_${id}`, hs_token: `hs_${id}`, sender_localpart: `${id}_bot`, namespaces: {}, rate_limited: rateLimited }),
  );
  return path;
}

describeOnBackends("message rate limits", (backend) => {
  const ctx = fixture<{ s: TestServer }>(async (ctx) => {
    const dir = tempDir("hs-rl-");
    ctx.s = await startTestServer({
      backend,
      config: {
        ratelimit: { enabled: true, message_burst: 3, message_per_minute: 60, registration_burst: 100, registration_per_minute: 1000 },
        appservices: { config_files: [registration(dir, "free", false), registration(dir, "limited", true)] },
      },
    });
  });

  test("a burst, then 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After; other users are not affected", async () => {
    const alice = await registerUser(ctx.s, "rl_alice");
    const bob = await registerUser(ctx.s, "rl_bob");
    // createRoom counts as one.
    const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { topic: "t" });
    const first = (await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a1`, { msgtype: "m.text", body: "1" })).event_id;
    const r = await alice.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a2`, { msgtype: "m.text", body: "2" });
    expectError(r, 429, "M_LIMIT_EXCEEDED");
    expect(r.body.retry_after_ms).toBeGreaterThan(0);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Redactions count too.
    expectError(await alice.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(first)}/r1`, {}), 429, "M_LIMIT_EXCEEDED");
    // Bob has his own budget.
    await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b1`, { msgtype: "m.text", body: "bob" });

    // After waiting, the refused transaction goes through, once.
    await Bun.sleep(r.body.retry_after_ms + 50);
    const sent = (await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a2`, { msgtype: "m.text", body: "2" })).event_id;
    await Bun.sleep(1100);
    expect((await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a2`, { msgtype: "m.text", body: "2" })).event_id).toBe(sent);
    const bodies = (await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20`)).chunk
      .filter((e: any) => e.type === "m.room.message")
      .map((e: any) => e.content.body);
    expect(bodies.filter((b: string) => b === "2")).toHaveLength(1);
  }, 20000);

  test("application services: rate_limited: false is exempt, rate_limited: true is not", async () => {
    const free = new TestClient(ctx.s.url, "as_free");
    const limited = new TestClient(ctx.s.url, "as_limited");
    const roomFree = (await free.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    for (let i = 0; i < 8; i++) await free.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomFree)}/send/m.room.message/f${i}`, { msgtype: "m.text", body: `${i}` });
    const roomLimited = (await limited.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    await limited.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomLimited)}/send/m.room.message/l1`, { msgtype: "m.text", body: "1" });
    await limited.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomLimited)}/send/m.room.message/l2`, { msgtype: "m.text", body: "2" });
    expectError(await limited.request("PUT", `/_matrix/client/v3/rooms/${enc(roomLimited)}/send/m.room.message/l3`, { msgtype: "m.text", body: "3" }), 429, "M_LIMIT_EXCEEDED");
  });
});
