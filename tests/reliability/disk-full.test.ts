// A full disk: writes fail cleanly with a Matrix error (503 M_UNKNOWN, Retry-After), reads go on,
// and nothing already stored is damaged. The data directory lives on a small tmpfs (needs root).
import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { registerUser } from "../helpers/client.ts";
import { startTestServer, tempDir } from "../helpers/server.ts";

const enc = encodeURIComponent;

function mountTmpfs(sizeKb: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = join(tempDir("hs-full-"), "disk");
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${sizeKb}k`, "tmpfs", dir]);
  return r.exitCode === 0 ? dir : undefined;
}

const disk = mountTmpfs(4096);

describe("disk full", () => {
  test.if(disk !== undefined)("writes fail with 503 M_UNKNOWN, reads keep working", async () => {
    const s = await startTestServer({ config: { database: { path: join(disk!, "hs.db") }, media: { store_path: join(disk!, "media") } } });
    try {
      const alice = await registerUser(s, "alice");
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
      const stored: string[] = [];
      let failure: { status: number; body: any; headers: Headers } | undefined;
      for (let i = 0; i < 400 && !failure; i++) {
        const body = `${i} ${"x".repeat(50_000)}`;
        const r = await alice.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/full-${i}`, { msgtype: "m.text", body });
        if (r.status === 200) stored.push(r.body.event_id);
        else failure = r;
      }
      expect(failure).toBeDefined();
      expect(failure!.status).toBe(503);
      expect(failure!.body.errcode).toBe("M_UNKNOWN");
      expect(failure!.headers.get("retry-after")).toBe("60");
      // Reads go on, and everything acknowledged is intact.
      const msgs = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1000`);
      const ids = new Set(msgs.chunk.map((e: any) => e.event_id));
      for (const id of stored) expect(ids.has(id)).toBe(true);
      expect((await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms.join[roomId]).toBeDefined();
      console.log(`disk full: ${stored.length} events stored before the disk filled; writes then got 503, reads continued`);
    } finally {
      await s.stop();
      Bun.spawnSync(["umount", disk!]);
    }
  }, 120_000);
});
