// IDs handed out from a process's memory when several processes share a database
// (docs/SCALING.md): report IDs taken by another process are skipped, not refused with a 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Db } from "../../src/storage/engines/db.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { ReportsRepo } from "../../src/storage/repos/reports.ts";
import { BACKENDS, freshPostgresDatabase, tempDir } from "../helpers/server.ts";
import { configureLogging } from "../../src/util/log.ts";

configureLogging({ level: "error" });

for (const backend of BACKENDS) {
  describe(`report IDs with two writers [${backend}]`, () => {
    let db: Db;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (backend === "postgres") {
        const pg = await freshPostgresDatabase();
        drop = pg.drop;
        db = await openDatabase({ backend, url: pg.url, path: "", max_connections: 2 });
      } else db = await openDatabase({ backend, path: join(tempDir(), "hs.db"), url: "", max_connections: 1 });
    });
    afterAll(async () => {
      await db.close();
      await drop?.();
    });

    test("two repositories (two processes) interleaving inserts get distinct IDs", async () => {
      const a = new ReportsRepo(db);
      const b = new ReportsRepo(db);
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) {
        const repo = i % 2 ? b : a;
        ids.push(await repo.insertRoomReport({ room_id: "!r:x", user_id: "@u:x", reason: `r${i}`, received_ts: i }));
      }
      expect(new Set(ids).size).toBe(6);
    });
  });
}
