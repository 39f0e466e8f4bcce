// `hs admin media ...` on the database and media store of a running server (both databases).
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseBefore } from "../../src/cli/commands/admin-media.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { runHs } from "../helpers/spawn.ts";

test("parseBefore: ages, milliseconds and ISO dates", () => {
  expect(parseBefore("30d", 1_000_000_000_000)).toBe(1_000_000_000_000 - 30 * 86_400_000);
  expect(parseBefore("90m", 10_000_000)).toBe(10_000_000 - 90 * 60_000);
  expect(parseBefore("1700000000000")).toBe(1_700_000_000_000);
  expect(parseBefore("2024-01-01T00:00:00Z")).toBe(Date.UTC(2024, 0, 1));
  expect(() => parseBefore("last week")).toThrow("--before");
});

describeOnBackends("hs admin media", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; cfg: string }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.cfg = join(ctx.s.dir, "cli.toml");
    const db = backend === "postgres" ? `backend = "postgres"\nurl = ${JSON.stringify(ctx.s.config.database.url)}` : `path = ${JSON.stringify(ctx.s.config.database.path)}`;
    writeFileSync(
      ctx.cfg,
      `server_name = ${JSON.stringify(ctx.s.serverName)}\nsigning_key_path = ${JSON.stringify(ctx.s.config.signing_key_path)}\n[database]\n${db}\n[media]\nstore_path = ${JSON.stringify(ctx.s.config.media.store_path)}\n`,
    );
  });

  const upload = async (bytes: number) => {
    const r = await ctx.alice.request("POST", "/_matrix/media/v3/upload", crypto.getRandomValues(new Uint8Array(bytes)), { "Content-Type": "application/octet-stream" });
    return r.body.content_uri as string;
  };
  const status = async (mxc: string) => (await ctx.alice.request("GET", `/_matrix/client/v1/media/download/${mxc.slice(6)}`)).status;
  const hs = (...args: string[]) => runHs(["admin", "media", ...args, "-c", ctx.cfg]);

  test("usage, quarantine, purge by age and size, delete; usage errors", async () => {
    const big = await upload(10_000);
    const small = await upload(100);
    const usage = await hs("usage", "--json");
    expect(usage.code).toBe(0);
    const u = JSON.parse(usage.stdout);
    expect(u.users).toEqual([{ user_id: ctx.alice.userId, media_count: 2, media_length: 10_100 }]);
    expect(u.disk_bytes).toBeGreaterThanOrEqual(10_100);

    expect((await hs("quarantine", big)).code).toBe(0);
    expect(await status(big)).toBe(404);
    expect((await hs("unquarantine", big)).code).toBe(0);
    expect(await status(big)).toBe(200);

    const purge = await hs("purge", "--before", "0s", "--local", "--size-gt", "1000", "--json");
    expect(purge.code).toBe(0);
    expect(JSON.parse(purge.stdout)).toMatchObject({ local: { deleted: 1, files_removed: 1 } });
    expect(await status(big)).toBe(404);
    expect(await status(small)).toBe(200);

    const del = await hs("delete", small, `mxc://${ctx.s.serverName}/nothingHere`);
    expect(del.code).toBe(1);
    expect(del.stdout).toContain(`deleted: ${small}`);
    expect(del.stdout).toContain("not found");
    expect(await status(small)).toBe(404);

    expect((await hs("purge")).code).toBe(2);
    expect((await hs("purge", "--before", "someday")).code).toBe(2);
    expect((await hs("delete")).code).toBe(2);
    expect((await hs("frobnicate")).code).toBe(2);
  }, 30000);
});
