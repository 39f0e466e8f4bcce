// PostgreSQL restarted underneath a running `hs serve`: requests in flight wait for the database and
// succeed (no 5xx), nothing is lost or duplicated, and the server keeps running afterwards.
// Needs the local cluster (pg_ctlcluster, root) and TEST_POSTGRES_URL, as CI sets up.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser } from "../helpers/client.ts";
import { freshPostgresDatabase, tempDir } from "../helpers/server.ts";
import { ServeProcess } from "../helpers/serve-process.ts";
import { freePort } from "../helpers/spawn.ts";

const canRestart = !!process.env.TEST_POSTGRES_URL && Bun.which("pg_ctlcluster") !== null && process.getuid?.() === 0;
const enc = encodeURIComponent;

function cluster(): [string, string] {
  const out = Bun.spawnSync(["pg_lsclusters", "-h"]).stdout.toString().trim().split("\n")[0]!.split(/\s+/);
  return [out[0]!, out[1]!];
}

describe("postgres outage", () => {
  test.if(canRestart)("a PostgreSQL restart during sends: every send succeeds once, no 5xx, the server stays up", async () => {
    const pg = await freshPostgresDatabase();
    const dir = tempDir("hs-pgrestart-");
    const port = freePort();
    const configPath = join(dir, "hs.toml");
    writeFileSync(
      configPath,
      `server_name = "pg.test"\n[registration]\nshared_secret = "s"\n[database]\nbackend = "postgres"\nurl = "${pg.url}"\n[ratelimit]\nenabled = false\n[federation]\nenabled = false\n[[listeners]]\nbind_address = "127.0.0.1"\nport = ${port}\n[logging]\nlevel = "error"\n`,
    );
    const server = new ServeProcess(configPath, `http://127.0.0.1:${port}`);
    await server.start();
    try {
      const alice = await registerUser({ url: server.url, serverName: "pg.test", config: { registration: { shared_secret: "s" } } }, "alice");
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
      expect(Bun.spawnSync(["pg_ctlcluster", ver, name, "restart"]).exitCode).toBe(0);
      await Bun.sleep(300);
      stop = true;
      await sender;
      expect(server.alive).toBe(true);
      expect(statuses.filter((x) => x >= 500)).toEqual([]);
      expect(statuses.every((x) => x === 200)).toBe(true);
      const chunk = (await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1000`)).chunk;
      const seen = chunk.map((e: any) => e.content.body).filter((b: any) => typeof b === "string" && b.startsWith("during outage"));
      expect(seen.sort()).toEqual([...bodies].sort());
      console.log(`postgres restart: ${statuses.length} sends across the restart, all 200, server still up`);
    } finally {
      await server.kill("SIGTERM");
      await pg.drop();
    }
  }, 120_000);
});
