// A dead remote server (accepts connections, never answers) cannot stall local users: sends and
// syncs stay fast while the federation queue for it waits and backs off in the background.
import { describe, expect, test } from "bun:test";
import { registerUser } from "../helpers/client.ts";
import { startTestServer } from "../helpers/server.ts";

const enc = encodeURIComponent;

describe("dead remote server", () => {
  test("local sends and syncs stay fast while deliveries to a dead server hang", async () => {
    // A TCP server that accepts and never answers.
    const dead = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
    const s = await startTestServer({ config: { federation: { ip_range_denylist: [], verify_tls: false } } });
    try {
      const alice = await registerUser(s, "alice");
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
      const deadName = `127.0.0.1:${dead.port}`;
      // Queue work for the dead server, as if one of its users were in the room.
      for (let i = 0; i < 20; i++) await s.hs.services.roomFederation.sender.sendEdu("m.typing", { room_id: roomId, user_id: alice.userId, typing: true }, [deadName]);
      const times: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/d${i}`, { msgtype: "m.text", body: `m${i}` });
        await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0");
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const p95 = times[Math.floor(times.length * 0.95)]!;
      console.log(`dead server: send+sync p95 ${p95.toFixed(1)} ms while deliveries hang`);
      expect(p95).toBeLessThan(1000);
      expect(await s.hs.services.roomFederation.sender.pending(deadName)).toBeGreaterThan(0);
    } finally {
      await s.stop();
      dead.stop(true);
    }
  }, 60_000);
});
