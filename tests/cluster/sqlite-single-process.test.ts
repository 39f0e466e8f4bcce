// SQLite serves one hs process: a second `hs serve` on the same database is refused with a clear
// message while the first keeps working, and the lock of a killed process does not block.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startHomeserver } from "../../src/homeserver.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

test("a second server on the same SQLite database is refused; the first keeps answering", async () => {
  const err = await startHomeserver(server.config).then(
    async (hs) => {
      await hs.stop(100);
      return undefined;
    },
    (e: Error) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect(err!.message).toContain("already served by another hs process");
  expect(err!.message).toContain(server.config.database.path);
  const res = await fetch(`${server.url}/_matrix/client/versions`);
  expect(res.status).toBe(200);
});

test("a second `hs serve` process exits with the message", async () => {
  const cfg = join(server.dir, "second.toml");
  writeFileSync(
    cfg,
    `server_name = "localhost"\n[database]\nbackend = "sqlite"\npath = ${JSON.stringify(server.config.database.path)}\n[[listeners]]\nbind_address = "127.0.0.1"\nport = 0\n`,
  );
  const p = Bun.spawn([process.execPath, join(import.meta.dir, "../../bin/hs.ts"), "serve", "--config", cfg], { stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  const stderr = await new Response(p.stderr).text();
  expect(code).not.toBe(0);
  expect(stderr).toContain("already served by another hs process");
  expect(stderr).toContain("PostgreSQL");
});

test("the lock of a process killed with SIGKILL does not block", async () => {
  const path = join(server.dir, "other.db");
  const script = `import { acquireServeLock } from ${JSON.stringify(join(import.meta.dir, "../../src/storage/engines/sqlite-lock.ts"))};
acquireServeLock(${JSON.stringify(path)}); console.log("locked"); setInterval(() => {}, 1000);`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe" });
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("locked");
  const { acquireServeLock, SqliteInUseError } = await import("../../src/storage/engines/sqlite-lock.ts");
  expect(() => acquireServeLock(path)).toThrow(SqliteInUseError);
  child.kill("SIGKILL");
  await child.exited;
  const lock = acquireServeLock(path);
  lock.release();
});
