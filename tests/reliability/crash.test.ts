// Durability: an event whose send returned 200 is never lost or duplicated, even when the server is
// killed with SIGKILL at random moments. Senders in several rooms retry with the same transaction
// IDs; afterwards every acknowledged event exists exactly once, with the acknowledged event ID, and
// every reader sees the same order.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser, TestClient } from "../helpers/client.ts";
import { freshPostgresDatabase, tempDir } from "../helpers/server.ts";
import { describeOnBackends } from "../helpers/suite.ts";
import { freePort, hsCommand } from "../helpers/spawn.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";

const KILLS = Number(process.env.HS_CRASH_KILLS ?? 12);
const enc = encodeURIComponent;

class Server {
  proc: ReturnType<typeof Bun.spawn> | undefined;
  constructor(
    readonly configPath: string,
    readonly url: string,
  ) {}
  async start(): Promise<void> {
    this.proc = Bun.spawn([...hsCommand(), "serve", "--config", this.configPath], { stdout: "ignore", stderr: "ignore" });
    const deadline = Date.now() + 20000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error("server did not start");
      await Bun.sleep(25);
    }
  }
  async kill(): Promise<void> {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
  }
}

/** PUT with the same transaction ID until the server answers (it may be down). */
async function sendUntilAcked(c: TestClient, roomId: string, txnId: string, body: string, deadline: number): Promise<string> {
  for (;;) {
    try {
      const r = await c.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body });
      if (r.status === 200) return r.body.event_id;
      if (r.status < 500) throw new Error(`send refused: ${r.status} ${JSON.stringify(r.body)}`);
    } catch (e) {
      if ((e as Error).message.startsWith("send refused")) throw e;
    }
    if (Date.now() > deadline) throw new Error("server never came back");
    await Bun.sleep(20);
  }
}

describeOnBackends("crash safety", (backend) => {
  test(`SIGKILL ${KILLS} times during sends: every acknowledged event exactly once, same order for all readers`, async () => {
    const dir = tempDir("hs-crash-");
    const port = freePort();
    let dbSection = `[database]\nbackend = "sqlite"\npath = "hs.db"\n`;
    let drop: (() => Promise<void>) | undefined;
    let dbUrl = "";
    if (backend === "postgres") {
      const pg = await freshPostgresDatabase();
      dbUrl = pg.url;
      dbSection = `[database]\nbackend = "postgres"\nurl = "${pg.url}"\n`;
      drop = pg.drop;
    }
    const configPath = join(dir, "hs.toml");
    writeFileSync(
      configPath,
      `server_name = "crash.test"\n[registration]\nshared_secret = "s"\n${dbSection}[ratelimit]\nenabled = false\n[federation]\nenabled = false\n[[listeners]]\nbind_address = "127.0.0.1"\nport = ${port}\n[logging]\nlevel = "error"\n`,
    );
    const server = new Server(configPath, `http://127.0.0.1:${port}`);
    await server.start();
    const info = { url: server.url, serverName: "crash.test", config: { registration: { shared_secret: "s" } } };
    try {
      const alice = await registerUser(info, "alice");
      const bob = await registerUser(info, "bob");
      const rooms: string[] = [];
      for (let i = 0; i < 3; i++) {
        const roomId = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" })).room_id;
        await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
        rooms.push(roomId);
      }
      const acked = new Map<string, string>(); // body → event ID acknowledged
      let stop = false;
      const deadline = Date.now() + 120_000;
      const senders = rooms.flatMap((roomId, r) =>
        [alice, bob].map(async (c, s) => {
          for (let i = 0; !stop; i++) {
            const body = `r${r}-s${s}-${i}`;
            acked.set(body, await sendUntilAcked(c, roomId, `t-${body}`, body, deadline));
          }
        }),
      );
      let kills = 0;
      while (kills < KILLS) {
        await Bun.sleep(80 + Math.floor(Math.random() * 250));
        await server.kill();
        kills++;
        await server.start();
      }
      stop = true;
      await Promise.all(senders);
      expect(acked.size).toBeGreaterThan(KILLS);

      // Every acknowledged event is there exactly once, with the acknowledged ID.
      for (const [r, roomId] of rooms.entries()) {
        const read = async (c: TestClient) => {
          const all: any[] = [];
          let from = "";
          for (;;) {
            const page = await c.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=500${from ? `&from=${enc(from)}` : ""}`);
            all.push(...page.chunk);
            if (!page.end) break;
            from = page.end;
          }
          return all.filter((e) => e.type === "m.room.message").map((e) => [e.content.body as string, e.event_id as string] as const);
        };
        const [byAlice, byBob] = [await read(alice), await read(bob)];
        expect(byBob).toEqual(byAlice);
        const bodies = byAlice.map(([b]) => b);
        expect(new Set(bodies).size).toBe(bodies.length);
        const seen = new Map(byAlice);
        for (const [body, eventId] of acked) {
          if (!body.startsWith(`r${r}-`)) continue;
          expect(seen.get(body)).toBe(eventId);
        }
      }
      // No forks from the crashes: each room has a single forward extremity.
      await server.kill();
      const db = await openDatabase(
        backend === "postgres" ? { backend, url: dbUrl, path: "", max_connections: 1 } : { backend, path: join(dir, "hs.db"), url: "", max_connections: 1 },
      );
      try {
        for (const roomId of rooms) {
          expect(await db.all("SELECT event_id FROM forward_extremities WHERE room_id = ?", [roomId])).toHaveLength(1);
        }
      } finally {
        await db.close();
      }
      console.log(`crash safety [${backend}]: ${kills} SIGKILLs, ${acked.size} acknowledged events, all present once`);
    } finally {
      await server.kill();
      await drop?.();
    }
  }, 180_000);
});
