// hasLoginUsers (the first start's "next steps" check) answers as serverCounts' user count would,
// without counting rows: guests and deactivated accounts do not count.
import { expect, test } from "bun:test";
import { AccountsRepo } from "../../src/storage/repos/accounts.ts";
import { hasLoginUsers, serverCounts } from "../../src/storage/engines/db-size.ts";
import { configureLogging } from "../../src/util/log.ts";
import { databaseFixture, describeOnBackends } from "../helpers/suite.ts";

configureLogging({ level: "error" });

describeOnBackends("hasLoginUsers", (backend) => {
  const ctx = databaseFixture(backend, 2);

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
