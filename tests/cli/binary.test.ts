// The compiled binary, driven as a user would: generate-config, serve, /versions, the embedded web
// client, register-user, login, SIGTERM. The arm64 build gets the same smoke test under qemu (Cortex-A53, a Raspberry Pi 3)
// when qemu-aarch64-static and the arm64 C library (libc6-arm64-cross) are installed.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
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

/** Uploads an image and asks for a 96x96 thumbnail: sharp embedded in the binary (or, where it cannot load, the original). */
async function thumbnailCheck(url: string, token: string, expectSharp: boolean): Promise<void> {
  const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#0088ff" } }).png().toBuffer();
  const up = await fetch(`${url}/_matrix/media/v3/upload`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" }, body: png });
  expect(up.status).toBe(200);
  const mxc = ((await up.json()).content_uri as string).slice("mxc://".length);
  const th = await fetch(`${url}/_matrix/client/v1/media/thumbnail/${mxc}?width=96&height=96&method=crop`, { headers: { Authorization: `Bearer ${token}` } });
  expect(th.status).toBe(200);
  const meta = await sharp(Buffer.from(await th.arrayBuffer())).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(expectSharp ? ["png", 96, 96] : ["png", 400, 300]);
}

async function smoke(binary: string, prefix: string[], timeoutMs: number, expectSharp = true) {
  const dir = tempDir("hs-bin-");
  const port = freePort();
  const gen = await runHs(["generate-config", "--server-name", "smoke.test", "--config-path", "hs.toml", "--data-dir", "data", "--port", String(port), "--public-baseurl", `http://127.0.0.1:${port}/`], { cwd: dir, binary, prefix });
  expect(gen.stderr).toContain("wrote");
  expect(gen.code).toBe(0);
  // Keep the compiled binary away from the repo's bunfig/.env: it must not autoload them.
  writeFileSync(join(dir, ".env"), "HS_CONFIG=/nonexistent.toml\n");
  const url = `http://127.0.0.1:${port}`;
  const s = await startServe(join(dir, "hs.toml"), { binary, prefix, url, timeoutMs, cwd: dir, env: { HS_NATIVE_DIR: join(dir, "native") } });
  try {
    expect(s.firstStatus).toBe(200);
    const versions = await (await fetch(`${url}/_matrix/client/versions`)).json();
    expect(versions.versions).toContain("v1.1");
    // The web client is embedded: served from the binary with no files beside it.
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const asset = await fetch(`${url}${js}`, { headers: { "Accept-Encoding": "br" } });
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("content-encoding")).toBe("br");

    const reg = await runHs(["register-user", "--config", "hs.toml", "--user", "alice", "--password", "wonderland", "--no-admin"], { cwd: dir, binary, prefix });
    expect(reg.stdout + reg.stderr).toContain("@alice:smoke.test");
    expect(reg.code).toBe(0);
    const login = await fetch(`${url}/_matrix/client/v3/login`, {
      method: "POST",
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
    });
    expect(login.status).toBe(200);
    const session = await login.json();
    expect(session.user_id).toBe("@alice:smoke.test");
    await thumbnailCheck(url, session.access_token, expectSharp);
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
    // sharp's addon needs the arm64 libstdc++ (Debian's libstdc++6-arm64-cross); without it the
    // binary still serves, with originals instead of thumbnails.
    await smoke(join(ROOT, "dist/hs-linux-arm64"), [QEMU, "-cpu", "cortex-a53", "-L", ARM_SYSROOT], 60000, existsSync(join(ARM_SYSROOT, "lib/libstdc++.so.6")));
  }, 240000);
});
