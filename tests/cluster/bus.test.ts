// The cluster bus (services/cluster/bus.ts): in-process on SQLite, LISTEN/NOTIFY between two
// connections on PostgreSQL (two "processes" here are two Db pools on one database).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Db } from "../../src/storage/engines/db.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { createClusterBus, type BusOrigin, type ClusterBus } from "../../src/services/cluster/bus.ts";
import { BACKENDS, freshPostgresDatabase, tempDir } from "../helpers/server.ts";
import { configureLogging } from "../../src/util/log.ts";

configureLogging({ level: "error" });

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await Bun.sleep(5);
  return cond();
};

for (const backend of BACKENDS) {
  describe(`cluster bus [${backend}]`, () => {
    const dbs: Db[] = [];
    const buses: ClusterBus[] = [];
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (backend === "postgres") {
        const pg = await freshPostgresDatabase();
        drop = pg.drop;
        for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ backend, url: pg.url, path: "", max_connections: 2 }));
      } else {
        dbs.push(await openDatabase({ backend, path: join(tempDir(), "hs.db"), url: "", max_connections: 1 }));
      }
      for (const db of dbs) {
        const bus = createClusterBus(db.pubsub);
        await bus.start();
        buses.push(bus);
      }
    });
    afterAll(async () => {
      for (const b of buses) await b.close();
      for (const db of dbs) await db.close();
      await drop?.();
    });

    test("a message reaches this process's subscribers at once, once", () => {
      const got: Array<[number, BusOrigin]> = [];
      const ch = buses[0]!.channel<{ n: number }>("t1");
      const off = ch.subscribe((m, o) => got.push([m.n, o]));
      ch.publish({ n: 1 });
      expect(got).toEqual([[1, "local"]]);
      off();
      ch.publish({ n: 2 });
      expect(got).toEqual([[1, "local"]]);
      expect(buses[0]!.shared).toBe(backend === "postgres");
    });

    if (backend === "postgres") {
      test("another process receives messages in order, its own echo is dropped, channels are separate", async () => {
        const a = buses[0]!, b = buses[1]!;
        const onA: number[] = [], onB: number[] = [], other: number[] = [];
        a.channel<number>("t2").subscribe((n) => onA.push(n));
        b.channel<number>("t2").subscribe((n, o) => (expect(o).toBe("remote"), onB.push(n)));
        b.channel<number>("t3").subscribe((n) => other.push(n));
        for (let i = 0; i < 50; i++) a.channel<number>("t2").publish(i);
        expect(await until(() => onB.length === 50)).toBe(true);
        expect(onB).toEqual([...Array(50).keys()]);
        await Bun.sleep(50);
        expect(onA).toEqual([...Array(50).keys()]);
        expect(other).toEqual([]);
        expect(a.instanceId).not.toBe(b.instanceId);
      });
    }
  });
}
