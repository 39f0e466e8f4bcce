// Group commit (src/storage/engines/group-commit.ts), on SQLite and (with TEST_POSTGRES_URL)
// PostgreSQL: jobs submitted together share one transaction, a failing job takes only its own
// writes back, and no job is answered before its batch is committed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Db } from "../../src/storage/engines/db.ts";
import { GroupCommit } from "../../src/storage/engines/group-commit.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { configureLogging } from "../../src/util/log.ts";
import { BACKENDS, freshPostgresDatabase, tempDir } from "../helpers/server.ts";

configureLogging({ level: "error" });

for (const backend of BACKENDS) {
  describe(`group commit on ${backend}`, () => {
    let db: Db;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (backend === "postgres") {
        const pg = await freshPostgresDatabase();
        drop = pg.drop;
        db = await openDatabase({ backend: "postgres", url: pg.url } as never);
      } else db = await openDatabase({ backend: "sqlite", path: join(tempDir(), "gc.db") } as never);
      await db.exec("CREATE TABLE gc (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    });
    afterAll(async () => {
      await db.close();
      await drop?.();
    });

    test("jobs submitted together: one batch, in order; a failing job is rolled back alone; answers after the commit", async () => {
      const gc = new GroupCommit(db);
      const written: string[] = [];
      const jobs = ["a", "b", "dup", "c"].map((k) =>
        gc.run(
          async (tx) => {
            await tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", [k === "dup" ? "a" : k, written.length]);
            // A second statement of the failing job, after its first one failed, never lands.
            return k;
          },
          (k) => written.push(k),
        ),
      );
      const outcomes = await Promise.allSettled(jobs);
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
      expect(written).toEqual(["a", "b", "c"]);
      expect(gc.stats.batches).toBe(1);
      expect(gc.stats.jobs).toBe(3);
      const rows = await db.all<{ k: string; v: number }>("SELECT k, v FROM gc ORDER BY k");
      expect(rows.map((r) => [r.k, Number(r.v)])).toEqual([["a", 0], ["b", 1], ["c", 2]]);
    });

    test("a job's partial writes are rolled back with it", async () => {
      const gc = new GroupCommit(db);
      const bad = gc.run(async (tx) => {
        await tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", ["partial", 1]);
        throw new Error("refused");
      });
      const good = gc.run(async (tx) => tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", ["kept", 1]));
      await expect(bad).rejects.toThrow("refused");
      expect(await good).toBe(1);
      expect(await db.get("SELECT k FROM gc WHERE k = ?", ["partial"])).toBeUndefined();
      expect(await db.get("SELECT k FROM gc WHERE k = ?", ["kept"])).toBeDefined();
    });

    test("written before the commit, answered after it: other readers see the job's writes only once it resolves", async () => {
      const gc = new GroupCommit(db);
      let seenWhenWritten: Promise<unknown> | undefined;
      const p = gc.run(
        async (tx) => tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", ["visible", 1]),
        () => {
          // SQLite's reader connection runs the read at once (PostgreSQL's could run after the COMMIT).
          if (backend === "sqlite") seenWhenWritten = db.get("SELECT k FROM gc WHERE k = ?", ["visible"]);
        },
      );
      await p;
      if (backend === "sqlite") expect(await seenWhenWritten).toBeUndefined();
      expect(await db.get("SELECT k FROM gc WHERE k = ?", ["visible"])).toBeDefined();
    });

    test("a failed commit rejects every job of the batch", async () => {
      const gc = new GroupCommit(db);
      // A deferred check that fails at COMMIT is not portable; a failing final statement is: the
      // batch's transaction fails after both jobs' writes were in.
      const failing: Db = { ...db, transaction: (fn) => db.transaction(async (tx) => { await fn(tx); throw new Error("commit failed"); }) };
      const gc2 = new GroupCommit(failing);
      const a = gc2.run(async (tx) => tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", ["lost1", 1]));
      const b = gc2.run(async (tx) => tx.run("INSERT INTO gc (k, v) VALUES (?, ?)", ["lost2", 1]));
      const outcomes = await Promise.allSettled([a, b]);
      expect(outcomes.map((o) => (o.status === "rejected" ? (o.reason as Error).message : "fulfilled"))).toEqual(["commit failed", "commit failed"]);
      expect(await db.get("SELECT k FROM gc WHERE k IN (?, ?)", ["lost1", "lost2"])).toBeUndefined();
      expect(gc.stats.batches).toBe(0);
    });
  });
}
