// hasLoginUsers (the first start's "next steps" check) answers as serverCounts' user count would,
// without counting rows: guests and deactivated accounts do not count.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AccountsRepo } from "../../src/storage/repos/accounts.ts";
import type { Db } from "../../src/storage/engines/db.ts";
import { hasLoginUsers, serverCounts } from "../../src/storage/engines/db-size.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { configureLogging } from "../../src/util/log.ts";
import { BACKENDS, freshPostgresDatabase, tempDir } from "../helpers/server.ts";

configureLogging({ level: "error" });

for (const backend of BACKENDS) {
  describe(`hasLoginUsers [${backend}]`, () => {
    let db: Db;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (backend === "postgres") {
        const pg = await freshPostgresDatabase();
        drop = pg.drop;
        db = await openDatabase({ backend, url: pg.url, path: "", max_connections: 2 });
      } else {
        db = await openDatabase({ backend, path: join(tempDir(), "hs.db"), url: "", max_connections: 1 });
      }
    });
    afterAll(async () => {
      await db.close();
      await drop?.();
    });

    test("false until an account that can log in exists", async () => {
      const accounts = new AccountsRepo(db);
      const agree = async (want: boolean) => {
        expect(await hasLoginUsers(db)).toBe(want);
        expect((await serverCounts(db, "size.test")).users > 0).toBe(want);
      };
      await agree(false);
      await accounts.insertUser(db, { userId: "@guest:size.test", passwordHash: null, isAdmin: false, isGuest: true, userType: null, createdTs: 1 });
      await agree(false);
      await accounts.insertUser(db, { userId: "@gone:size.test", passwordHash: "x", isAdmin: false, isGuest: false, userType: null, createdTs: 1 });
      await accounts.markDeactivated(db, "@gone:size.test");
      await agree(false);
      await accounts.insertUser(db, { userId: "@alice:size.test", passwordHash: "x", isAdmin: false, isGuest: false, userType: null, createdTs: 1 });
      await agree(true);
    });
  });
}
