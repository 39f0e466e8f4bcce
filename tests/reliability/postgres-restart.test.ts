// PostgreSQL restarted underneath a running server: requests in flight wait for the database and
// succeed (no 5xx), nothing is lost or duplicated, and the server keeps working afterwards.
// Needs the local cluster (pg_ctlcluster) and TEST_POSTGRES_URL, as CI sets up.
import { describe, expect, test } from "bun:test";
import { registerUser } from "../helpers/client.ts";
import { startTestServer } from "../helpers/server.ts";

const canRestart = !!process.env.TEST_POSTGRES_URL && Bun.which("pg_ctlcluster") !== null && process.getuid?.() === 0;
const enc = encodeURIComponent;

function cluster(): [string, string] {
  const out = Bun.spawnSync(["pg_lsclusters", "-h"]).stdout.toString().trim().split("\n")[0]!.split(/\s+/);
  return [out[0]!, out[1]!];
}

describe("postgres outage", () => {
  test.if(canRestart)("a PostgreSQL restart during sends: every send succeeds once, no 5xx", async () => {
    const s = await startTestServer({ backend: "postgres" });
    try {
      const alice = await registerUser(s, "alice");
      const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
      const statuses: number[] = [];
      const bodies: string[] = [];
      let stop = false;
      const sender = (async () => {
        for (let i = 0; !stop || i < 5; i++) {
          const body = `during outage ${i}`;
          const r = await alice.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/pg-${i}`, { msgtype: "m.text", body });
          statuses.push(r.status);
          if (r.status === 200) bodies.push(body);
        }
      })();
      await Bun.sleep(200);
      const [ver, name] = cluster();
      const restart = Bun.spawnSync(["pg_ctlcluster", ver, name, "restart"]);
      expect(restart.exitCode).toBe(0);
      await Bun.sleep(300);
      stop = true;
      await sender;
      expect(statuses.filter((x) => x >= 500)).toEqual([]);
      expect(statuses.every((x) => x === 200)).toBe(true);
      const chunk = (await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1000`)).chunk;
      const seen = chunk.map((e: any) => e.content.body).filter((b: any) => typeof b === "string" && b.startsWith("during outage"));
      expect(seen.sort()).toEqual([...bodies].sort());
      console.log(`postgres restart: ${statuses.length} sends across the restart, all 200`);
    } finally {
      await s.stop();
    }
  }, 120_000);
});
