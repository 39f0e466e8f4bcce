// hs backup while the server runs and writes, then hs restore into a new directory (both
// databases): users, rooms, messages, media and the signing key come back; what happened after the
// backup does not; damaged archives, another server's archive and existing data are refused.
import { expect, test } from "bun:test";
import { readFileSync, truncateSync, copyFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { loginUser, registerUser, TestClient } from "../helpers/client.ts";
import { configuredServer, type ConfiguredServer } from "../helpers/ops.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { runHs } from "../helpers/spawn.ts";

const enc = encodeURIComponent;

describeOnBackends("hs backup and hs restore", (backend) => {
  const ctx = fixture<{ a: ConfiguredServer; b: ConfiguredServer }>(async (ctx) => {
    ctx.a = await configuredServer(backend, { serverName: "backup.test" });
    ctx.b = await configuredServer(backend, { serverName: "backup.test" });
    await ctx.a.start();
  }, { teardown: async (ctx) => {
    await ctx.a.cleanup();
    await ctx.b.cleanup();
  } });

  test("a backup taken under load restores to a working server", async () => {
    const alice = await registerUser(ctx.a, "alice", "alicepw");
    const room = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { name: "Family" })).room_id;
    for (let i = 0; i < 5; i++) await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/pre${i}`, { msgtype: "m.text", body: `before ${i}` });
    const bytes = crypto.getRandomValues(new Uint8Array(200_000));
    const up = await fetch(`${ctx.a.url}/_matrix/media/v3/upload?filename=photo.bin`, { method: "POST", headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "application/octet-stream" }, body: bytes });
    expect(up.status).toBe(200);
    const mxc = (await up.json()).content_uri as string;
    const keyBefore = await new TestClient(ctx.a.url).ok("GET", "/_matrix/key/v2/server");

    // Messages keep arriving while the backup runs.
    let writing = true;
    let sent = 0;
    const writer = (async () => {
      while (writing) await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/during${sent++}`, { msgtype: "m.text", body: "during" });
    })();
    const archive = join(ctx.a.dir, "backup.tar.gz");
    const r = await runHs(["backup", "-c", ctx.a.configPath, "--output", archive]);
    writing = false;
    await writer;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Backup of backup.test written to ${archive}`);
    expect(r.stdout).toContain("1 media files");
    expect(sent).toBeGreaterThan(0);
    await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/after`, { msgtype: "m.text", body: "after the backup" });
    expect((await runHs(["backup", "-c", ctx.a.configPath, "-o", archive])).code).toBe(1); // never overwrites
    await ctx.a.stop();

    // Damaged archives are refused before anything changes.
    const cut = join(ctx.b.dir, "cut.tar.gz");
    copyFileSync(archive, cut);
    truncateSync(cut, Math.floor(statSync(archive).size / 2));
    const damaged = await runHs(["restore", "-c", ctx.b.configPath, "-i", cut]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain("not a readable hs backup");
    const other = await configuredServer(backend, { serverName: "elsewhere.test" });
    const wrongServer = await runHs(["restore", "-c", other.configPath, "-i", archive]);
    await other.cleanup();
    expect(wrongServer.code).toBe(1);
    expect(wrongServer.stderr).toContain("the backup is of backup.test, but this config is for elsewhere.test");

    const restored = await runHs(["restore", "-c", ctx.b.configPath, "--input", archive]);
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    expect((await runHs(["db", "check", "-c", ctx.b.configPath])).code).toBe(0);
    // A second restore over the data is refused without --force.
    const again = await runHs(["restore", "-c", ctx.b.configPath, "--input", archive]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists|not empty/);

    await ctx.b.start();
    const alice2 = await loginUser(ctx.b, "alice", "alicepw");
    const msgs = await alice2.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=1000`);
    const bodies = (msgs.chunk as Array<{ content: { body?: string } }>).map((e) => e.content.body).filter(Boolean);
    for (let i = 0; i < 5; i++) expect(bodies).toContain(`before ${i}`);
    expect(bodies).not.toContain("after the backup");
    const media = await fetch(`${ctx.b.url}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, { headers: { Authorization: `Bearer ${alice2.accessToken}` } });
    expect(media.status).toBe(200);
    expect(new Uint8Array(await media.arrayBuffer())).toEqual(bytes);
    const keyAfter = await new TestClient(ctx.b.url).ok("GET", "/_matrix/key/v2/server");
    expect(Object.keys(keyAfter.verify_keys)).toEqual(Object.keys(keyBefore.verify_keys));
    expect(readFileSync(join(ctx.b.dir, "data", "signing.key"), "utf8")).toBe(readFileSync(join(ctx.a.dir, "data", "signing.key"), "utf8"));
    // The restored server keeps working.
    await alice2.ok("PUT", `/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/restored`, { msgtype: "m.text", body: "restored" });
    await ctx.b.stop();

    // --force replaces the data (the old SQLite file is kept aside).
    const forced = await runHs(["restore", "-c", ctx.b.configPath, "--input", archive, "--force"]);
    expect(forced.code).toBe(0);
  }, 60000);
});
