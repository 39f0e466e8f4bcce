// matrix-nio (Debian's python3-matrix-nio 0.20, which uses the /_matrix/client/r0 paths) logs in,
// syncs, creates a room, invites, joins, sends and receives against hs without patches
// (tests/clients/matrix-nio.py drives it). Skipped with one line when the package is not installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { registerUser } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const PYTHON = "/usr/bin/python3";
const haveNio = existsSync(PYTHON) && Bun.spawnSync([PYTHON, "-c", "import nio"]).exitCode === 0;
if (!haveNio) console.log("skip: matrix-nio tests (apt-get install python3-matrix-nio)");

describe.skipIf(!haveNio)("matrix-nio (r0 client)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.stop());

  test("logs in, syncs, creates a room, invites, joins, sends and receives", async () => {
    const alice = await registerUser(s, "nio_alice");
    const bob = await registerUser(s, "nio_bob");
    const proc = Bun.spawn([PYTHON, join(import.meta.dir, "matrix-nio.py"), s.url, alice.userId!, bob.userId!, "password"], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`matrix-nio failed (${code}): ${out}\n${err.slice(-2000)}`);
    const result = JSON.parse(out.trim().split("\n").pop()!);
    expect(result.ok).toBe(true);
    expect(result.members).toEqual([alice.userId, bob.userId].sort());
  }, 60_000);
});
