// The persisted-upto rule across processes (services/streams.ts on PostgreSQL): two allocators on
// one database stand for two processes. A position finished on one never becomes visible while a
// lower position is still in flight on the other, and a process that dies holding one is reaped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Db } from "../../src/storage/engines/db.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { createClusterBus, type ClusterBus } from "../../src/services/cluster/bus.ts";
import { StreamAllocator } from "../../src/services/streams.ts";
import { ClusterRepo } from "../../src/storage/repos/cluster.ts";
import { freshPostgresDatabase } from "../helpers/server.ts";
import { configureLogging } from "../../src/util/log.ts";

configureLogging({ level: "error" });

describe.if(!!process.env.TEST_POSTGRES_URL)("shared stream positions [postgres]", () => {
  const dbs: Db[] = [];
  const buses: ClusterBus[] = [];
  const streams: StreamAllocator[] = [];
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const pg = await freshPostgresDatabase();
    drop = pg.drop;
    for (let i = 0; i < 2; i++) {
      const db = await openDatabase({ backend: "postgres", url: pg.url, path: "", max_connections: 2 });
      const bus = createClusterBus(db.pubsub);
      await bus.start();
      const s = new StreamAllocator(0);
      await s.share(new ClusterRepo(db), bus);
      dbs.push(db);
      buses.push(bus);
      streams.push(s);
    }
  });
  afterAll(async () => {
    for (const s of streams) s.stop();
    for (const b of buses) await b.close();
    for (const db of dbs) await db.close();
    await drop();
  });

  test("a later position finished elsewhere stays hidden behind a lower one in flight", async () => {
    const [a, b] = streams as [StreamAllocator, StreamAllocator];
    const start = a.current();
    const [low] = await a.allocateMany(1);
    const [high] = await b.allocateMany(1);
    expect(high!).toBeGreaterThan(low!);
    await b.release([high!]);
    await Bun.sleep(100);
    expect(b.current()).toBe(start);
    expect(a.current()).toBe(start);
    // A reader holding a token for `high` (handed out elsewhere) waits, then gets it.
    const caught = a.catchUp(high!, 5000);
    await a.release([low!]);
    await caught;
    expect(a.current()).toBe(high!);
    // The other process hears of it over the bus.
    const deadline = Date.now() + 5000;
    while (b.current() < high! && Date.now() < deadline) await Bun.sleep(5);
    expect(b.current()).toBe(high!);
  });

  test("with() allocates distinct positions in both processes and every one becomes visible", async () => {
    const [a, b] = streams as [StreamAllocator, StreamAllocator];
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).with(async (p) => p)));
    expect(new Set(got).size).toBe(20);
    const top = Math.max(...got);
    const deadline = Date.now() + 5000;
    while ((a.current() < top || b.current() < top) && Date.now() < deadline) await Bun.sleep(5);
    expect(a.current()).toBe(top);
    expect(b.current()).toBe(top);
  });

  test("positions held by a connection that is gone are reaped", async () => {
    const repo = new ClusterRepo(dbs[0]!);
    const [a] = streams as [StreamAllocator];
    // A dead backend's row, as a killed process leaves it (pid 0 is never a live backend).
    const before = a.current();
    const [p] = await a.allocateMany(1);
    await dbs[0]!.run("UPDATE stream_inflight SET backend_pid = 0, created_ms = created_ms - 60000 WHERE pos = ?", [p!]);
    expect(await repo.reapStreamPositions(10_000)).toBe(1);
    await a.refresh();
    expect(a.current()).toBeGreaterThan(before);
  });
});

test.if(!process.env.TEST_POSTGRES_URL)("shared stream test skipped: needs TEST_POSTGRES_URL", () => {});
