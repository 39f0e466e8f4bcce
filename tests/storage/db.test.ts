// The Db interface and migrations, on SQLite and (with TEST_POSTGRES_URL) PostgreSQL.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { currentSchemaVersion, migrate, SchemaTooNewError, splitStatements } from "../../src/storage/engines/migrate.ts";
import { MIGRATION_FILES, MIGRATIONS } from "../../src/storage/engines/migrations.ts";
import { rewritePlaceholders } from "../../src/storage/engines/postgres.ts";
import { databaseFixture, describeOnBackends } from "../helpers/suite.ts";
import { configureLogging } from "../../src/util/log.ts";

configureLogging({ level: "error" });

test("the embedded migration list matches the sql/ folder", () => {
  const dir = join(import.meta.dir, "../../sql");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  expect([...MIGRATION_FILES].sort()).toEqual(files);
  const versions = MIGRATIONS.map((m) => m.version);
  expect(versions).toEqual([...versions].sort((a, b) => a - b));
  expect(new Set(versions).size).toBe(versions.length);
  versions.forEach((v, i) => expect(v).toBe(i + 1));
});

test("each migration is one shared file or a .sqlite.sql + .postgres.sql pair, embedded as written", () => {
  const dir = join(import.meta.dir, "../../sql");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql"));
  const dialect = /\.(sqlite|postgres)\.sql$/;
  for (const m of MIGRATIONS) {
    const mine = files.filter((f) => Number(f.slice(0, 4)) === m.version);
    if (mine.length === 1) {
      expect(mine[0]).not.toMatch(dialect);
      expect(m.name).toBe(mine[0]!);
      const text = readFileSync(join(dir, mine[0]!), "utf8");
      expect(m.sqlite).toBe(text);
      expect(m.postgres).toBe(text);
    } else {
      expect(mine.sort()).toEqual([`${m.name}.postgres.sql`, `${m.name}.sqlite.sql`]);
      expect(m.sqlite).toBe(readFileSync(join(dir, `${m.name}.sqlite.sql`), "utf8"));
      expect(m.postgres).toBe(readFileSync(join(dir, `${m.name}.postgres.sql`), "utf8"));
    }
  }
});

test("placeholders are rewritten outside quotes only", () => {
  expect(rewritePlaceholders("SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?")).toBe(
    "SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2",
  );
});

test("scripts split into statements, comments dropped", () => {
  expect(splitStatements("-- hi\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n")).toEqual([
    "CREATE TABLE a (x INT)",
    "CREATE INDEX i ON a (x)",
  ]);
});

describeOnBackends("database", (backend) => {
  const ctx = databaseFixture(backend);

  test("migrations applied up to the latest version, idempotently", async () => {
    expect(await currentSchemaVersion(ctx.db)).toBe(MIGRATIONS.at(-1)!.version);
    expect(await migrate(ctx.db)).toEqual([]);
  });

  test("a database written by a newer hs is refused", async () => {
    await ctx.db.run("INSERT INTO schema_version (version) VALUES (?)", [9999]);
    await expect(migrate(ctx.db)).rejects.toThrow(SchemaTooNewError);
    await expect(migrate(ctx.db)).rejects.toThrow(/written by a newer hs/);
    await ctx.db.run("DELETE FROM schema_version WHERE version = ?", [9999]);
  });

  test("queries, booleans and 64-bit integers round-trip", async () => {
    await ctx.db.run("INSERT INTO counters (name, value) VALUES (?, ?)", ["big", 2 ** 53 - 1]);
    const row = await ctx.db.get<{ value: number }>("SELECT value FROM counters WHERE name = ?", ["big"]);
    expect(row?.value).toBe(2 ** 53 - 1);
    expect(typeof row?.value).toBe("number");
    await ctx.db.run("INSERT INTO server_settings (name, value) VALUES (?, ?)", ["flag", String(true)]);
    expect(await ctx.db.all("SELECT name FROM server_settings WHERE name = ?", ["flag"])).toEqual([{ name: "flag" }]);
    expect(await ctx.db.get("SELECT name FROM server_settings WHERE name = ?", ["absent"])).toBeUndefined();
  });

  test("upsert with ON CONFLICT works on both engines", async () => {
    const up = "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value";
    await ctx.db.run(up, ["c", 1]);
    await ctx.db.run(up, ["c", 5]);
    expect((await ctx.db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'c'"))?.value).toBe(6);
  });

  test("transactions commit, and roll back on error", async () => {
    await ctx.db.transaction(async (tx) => {
      await tx.run("INSERT INTO counters (name, value) VALUES (?, ?)", ["t1", 1]);
    });
    await expect(
      ctx.db.transaction(async (tx) => {
        await tx.run("INSERT INTO counters (name, value) VALUES (?, ?)", ["t2", 1]);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await ctx.db.get("SELECT name FROM counters WHERE name = 't1'")).toEqual({ name: "t1" });
    expect(await ctx.db.get("SELECT name FROM counters WHERE name = 't2'")).toBeUndefined();
  });

  test("concurrent transactions are serialized without lost updates", async () => {
    await ctx.db.run("INSERT INTO counters (name, value) VALUES ('inc', 0)");
    await Promise.all(
      Array.from({ length: 20 }, () =>
        ctx.db.transaction(async (tx) => {
          const r = await tx.get<{ value: number }>("SELECT value FROM counters WHERE name = 'inc'" + (backend === "postgres" ? " FOR UPDATE" : ""));
          await tx.run("UPDATE counters SET value = ? WHERE name = 'inc'", [r!.value + 1]);
        }),
      ),
    );
    expect((await ctx.db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'inc'"))?.value).toBe(20);
  });
});
