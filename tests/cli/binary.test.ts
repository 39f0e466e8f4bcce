// The compiled binary, driven as a user would: generate-config, serve, /versions, register-user,
// login, SIGTERM. The arm64 build gets the same smoke test under qemu (Cortex-A53, a Raspberry Pi 3)
// when qemu-aarch64-static and the arm64 C library (libc6-arm64-cross) are installed.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/server.ts";
import { BUN, freePort, ROOT, runHs, startServe } from "../helpers/spawn.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM_SYSROOT = "/usr/aarch64-linux-gnu";
const canEmulateArm = existsSync(QEMU) && existsSync(join(ARM_SYSROOT, "lib/ld-linux-aarch64.so.1"));

async function build(target: string, out: string): Promise<void> {
  const p = Bun.spawn([BUN, "scripts/build.ts", target], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`build ${target} failed: ${await new Response(p.stderr).text()}`);
  expect(existsSync(out)).toBe(true);
}

async function smoke(binary: string, prefix: string[], timeoutMs: number) {
  const dir = tempDir("hs-bin-");
  const port = freePort();
  const gen = await runHs(["generate-config", "--server-name", "smoke.test", "--config-path", "hs.toml", "--data-dir", "data", "--port", String(port), "--public-baseurl", `http://127.0.0.1:${port}/`], { cwd: dir, binary, prefix });
  expect(gen.stderr).toContain("wrote");
  expect(gen.code).toBe(0);
  // Keep the compiled binary away from the repo's bunfig/.env: it must not autoload them.
  writeFileSync(join(dir, ".env"), "HS_CONFIG=/nonexistent.toml\n");
  const url = `http://127.0.0.1:${port}`;
  const s = await startServe(join(dir, "hs.toml"), { binary, prefix, url, timeoutMs, cwd: dir });
  try {
    expect(s.firstStatus).toBe(200);
    const versions = await (await fetch(`${url}/_matrix/client/versions`)).json();
    expect(versions.versions).toContain("v1.1");

    const reg = await runHs(["register-user", "--config", "hs.toml", "--user", "alice", "--password", "wonderland", "--no-admin"], { cwd: dir, binary, prefix });
    expect(reg.stdout + reg.stderr).toContain("@alice:smoke.test");
    expect(reg.code).toBe(0);
    const login = await fetch(`${url}/_matrix/client/v3/login`, {
      method: "POST",
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
    });
    expect(login.status).toBe(200);
    expect((await login.json()).user_id).toBe("@alice:smoke.test");
  } finally {
    s.proc.kill("SIGTERM");
  }
  expect(await s.proc.exited).toBe(0);
}

describe("compiled binary", () => {
  beforeAll(() => build("native", join(ROOT, "dist/hs")), 120000);

  test("x64/native: generate-config, serve, register-user, login, SIGTERM", () => smoke(join(ROOT, "dist/hs"), [], 20000), 60000);

  test.if(canEmulateArm)("arm64 under qemu (cortex-a53): the same smoke test", async () => {
    await build("linux-arm64", join(ROOT, "dist/hs-linux-arm64"));
    await smoke(join(ROOT, "dist/hs-linux-arm64"), [QEMU, "-cpu", "cortex-a53", "-L", ARM_SYSROOT], 60000);
  }, 240000);
});
