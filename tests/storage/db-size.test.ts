// hasLoginUsers (the first start's "next steps" check) answers as serverCounts' user count would,
// without counting rows: guests and deactivated accounts do not count.
import { expect, test } from "bun:test";
import { AccountsRepo } from "../../src/storage/repos/accounts.ts";
import type { Db } from "../../src/storage/engines/db.ts";
import { hasLoginUsers, serverCounts } from "../../src/storage/engines/db-size.ts";
import { configureLogging } from "../../src/util/log.ts";
import { openTestDatabase } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

configureLogging({ level: "error" });

describeOnBackends("hasLoginUsers", (backend) => {
  const ctx = fixture<{ db: Db }>(
    async (ctx) => {
      ctx.db = await openTestDatabase(backend, 2);
    },
    { teardown: (ctx) => ctx.db?.close() },
  );

  test("false until an account that can log in exists", async () => {
    const accounts = new AccountsRepo(ctx.db);
    const agree = async (want: boolean) => {
      expect(await hasLoginUsers(ctx.db)).toBe(want);
      expect((await serverCounts(ctx.db, "size.test")).users > 0).toBe(want);
    };
    await agree(false);
    await accounts.insertUser(ctx.db, { userId: "@guest:size.test", passwordHash: null, isAdmin: false, isGuest: true, userType: null, createdTs: 1 });
    await agree(false);
    await accounts.insertUser(ctx.db, { userId: "@gone:size.test", passwordHash: "x", isAdmin: false, isGuest: false, userType: null, createdTs: 1 });
    await accounts.markDeactivated(ctx.db, "@gone:size.test");
    await agree(false);
    await accounts.insertUser(ctx.db, { userId: "@alice:size.test", passwordHash: "x", isAdmin: false, isGuest: false, userType: null, createdTs: 1 });
    await agree(true);
  });
});
