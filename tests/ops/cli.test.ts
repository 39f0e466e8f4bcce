// The offline administration commands against a real database (both engines), with the server
// running in this process: hs admin users, hs admin rooms, hs db check, hs db vacuum. Usage errors
// exit 2 with one line; failures exit 1 with one line.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient } from "../helpers/client.ts";
import { configuredServer, type ConfiguredServer } from "../helpers/ops.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { runHs } from "../helpers/spawn.ts";

const oneLine = (s: string) => expect(s.trim().split("\n")).toHaveLength(1);

test("--help for every new command; usage errors exit 2 with one line", async () => {
  for (const c of [["admin"], ["db"], ["backup"], ["restore"], ["port-db"]]) {
    const r = await runHs([...c, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: hs ${c[0]}`);
  }
  // `hs admin --help` lists the subcommands; `hs admin <subcommand> --help` their full usage.
  const help = (await runHs(["admin", "--help"])).stdout;
  for (const t of ["tokens", "users", "rooms", "media"]) expect(help).toMatch(new RegExp(`\n  ${t} +`));
  const topicHelp = (await Promise.all(["users", "rooms", "tokens"].map((t) => runHs(["admin", t, "--help"])))).map((r) => r.stdout).join("\n");
  for (const s of ["admin users list", "admin users reset-password", "admin users deactivate", "admin users set-admin", "admin users lock", "admin users suspend", "admin rooms list", "admin rooms purge", "admin tokens create"]) expect(topicHelp).toContain(s);
  for (const args of [
    ["admin", "users"],
    ["admin", "users", "frobnicate"],
    ["admin", "users", "deactivate"],
    ["admin", "users", "list", "--erase"],
    ["admin", "users", "list", "--limit", "lots"],
    ["admin", "rooms", "purge"],
    ["admin", "rooms", "purge", "not-a-room"],
    ["admin", "nosuch"],
    ["db"],
    ["db", "shrink"],
    ["backup"],
    ["restore"],
    ["port-db", "--from", "sqlite:x.db"],
    ["port-db", "--from", "x.db", "--to", "postgres:postgres://h/db"],
    ["port-db", "--from", "sqlite:x.db", "--to", "mysql://h/db"],
  ]) {
    const r = await runHs([...args, "-c", "/nonexistent/hs.toml"]);
    if (r.code !== 2) throw new Error(`${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/^hs /);
  }
}, 60000);

describeOnBackends("hs admin and hs db on the database", (backend) => {
  const ctx = fixture<{ s: ConfiguredServer }>(async (ctx) => {
    ctx.s = await configuredServer(backend);
    await ctx.s.start();
  }, { teardown: (ctx) => ctx.s.cleanup() });
  const hs = (...args: string[]) => runHs([...args, "-c", ctx.s.configPath]);

  test("users: list, set-admin, lock, suspend, reset-password, deactivate; the running server follows", async () => {
    const alice = await registerUser(ctx.s, "alice", "alicepw");
    const bob = await registerUser(ctx.s, "bob", "bobpw");
    const room = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "Shared" })).room_id;
    await bob.ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, {});

    const list = await hs("admin", "users", "list", "--json");
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).users.map((u: { name: string }) => u.name)).toEqual(["@alice:ops.test", "@bob:ops.test"]);
    expect((await hs("admin", "users", "list")).stdout).toContain("@bob:ops.test\tbob\t-");

    expect((await hs("admin", "users", "set-admin", "alice")).code).toBe(0);
    expect((await hs("admin", "users", "list", "--admins", "--json")).stdout).toContain("@alice:ops.test");
    // The server's token cache may hold the old flag for a while; a new login sees it at once.
    const alice2 = await loginUser(ctx.s, "alice", "alicepw");
    expect((await alice2.get("/_synapse/admin/v2/users")).status).toBe(200);

    // Lock and suspend on the database; the admin API (which reads the database) shows them.
    expect((await hs("admin", "users", "suspend", "bob")).stdout).toContain("@bob:ops.test is now suspended");
    expect((await hs("admin", "users", "lock", "bob")).code).toBe(0);
    expect(await alice2.ok("GET", `/_synapse/admin/v2/users/${encodeURIComponent("@bob:ops.test")}`)).toMatchObject({ locked: true, suspended: true });
    expect((await hs("admin", "users", "list")).stdout).toContain("locked,suspended");
    expectError(await new TestClient(ctx.s.url).post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "bobpw" }), 401, "M_USER_LOCKED");
    expect((await hs("admin", "users", "lock", "bob", "--revoke")).stdout).toContain("no longer locked");
    expect((await hs("admin", "users", "suspend", "bob", "--revoke")).code).toBe(0);
    expect(await alice2.ok("GET", `/_synapse/admin/v2/users/${encodeURIComponent("@bob:ops.test")}`)).toMatchObject({ locked: false, suspended: false });
    expect((await hs("admin", "users", "lock", "@nobody:ops.test")).code).toBe(1);

    const reset = await hs("admin", "users", "reset-password", "@bob:ops.test", "--password", "newbobpw");
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain("1 session(s) logged out");
    await loginUser(ctx.s, "bob", "newbobpw");
    expectError(await new TestClient(ctx.s.url).post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "bobpw" }), 403, "M_FORBIDDEN");
    // The password can come from stdin too (prompted twice).
    expect((await runHs(["admin", "users", "reset-password", "bob", "--keep-devices", "-c", ctx.s.configPath], { stdin: "third\nthird\n" })).code).toBe(0);
    await loginUser(ctx.s, "bob", "third");
    expect((await runHs(["admin", "users", "reset-password", "bob", "-c", ctx.s.configPath], { stdin: "a\nb\n" })).code).toBe(1);

    // Deactivation on the database: no login at once; the server removes devices and memberships.
    const d = await hs("admin", "users", "deactivate", "bob", "--erase");
    expect(d.code).toBe(0);
    expectError(await new TestClient(ctx.s.url).post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "third" }), 403, "M_USER_DEACTIVATED");
    await ctx.s.stop();
    await ctx.s.start();
    const admin = await loginUser(ctx.s, "alice", "alicepw");
    const deadline = Date.now() + 10000;
    for (;;) {
      const members = (await admin.ok("GET", `/_synapse/admin/v1/rooms/${encodeURIComponent(room)}/members`)).members;
      const devices = (await admin.ok("GET", `/_synapse/admin/v2/users/${encodeURIComponent("@bob:ops.test")}/devices`)).total;
      if (!members.includes("@bob:ops.test") && devices === 0) break;
      if (Date.now() > deadline) throw new Error("bob was not removed from the room and his devices");
      await Bun.sleep(25);
    }
    expect(await admin.ok("GET", `/_synapse/admin/v2/users/${encodeURIComponent("@bob:ops.test")}`)).toMatchObject({ deactivated: true, erased: true });
    const listed = JSON.parse((await hs("admin", "users", "list", "--json", "--deactivated")).stdout);
    expect(listed.users.find((u: { name: string }) => u.name === "@bob:ops.test").deactivated).toBe(true);

    for (const args of [["admin", "users", "deactivate", "@nobody:ops.test"], ["admin", "users", "set-admin", "@x:other.server"]]) {
      const r = await hs(...args);
      expect(r.code).toBe(1);
      oneLine(r.stderr);
    }
  }, 30000);

  test("rooms: list and purge (refused while the server runs or users are joined)", async () => {
    const carol = await registerUser(ctx.s, "carol", "pw");
    const room = (await carol.ok("POST", "/_matrix/client/v3/createRoom", { name: "Ephemeral" })).room_id;
    await carol.ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/x1`, { msgtype: "m.text", body: "hello" });
    const list = JSON.parse((await hs("admin", "rooms", "list", "--json", "--search", "Ephemeral")).stdout);
    expect(list.rooms).toEqual([expect.objectContaining({ room_id: room, name: "Ephemeral", joined_members: 1, joined_local_members: 1 })]);
    expect((await hs("admin", "rooms", "list")).stdout).toContain(room);

    // Joined users: refused without --force (they would lose the room without leaving).
    await ctx.s.stop();
    const refused = await hs("admin", "rooms", "purge", room);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("still joined");
    const purged = await hs("admin", "rooms", "purge", room, "--force", "--block");
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain(`Purged ${room}`);
    expect((await hs("admin", "rooms", "purge", room)).code).toBe(1);
    await ctx.s.start();
    const admin = await loginUser(ctx.s, "alice", "alicepw");
    expectError(await admin.get(`/_synapse/admin/v1/rooms/${encodeURIComponent(room)}`), 404, "M_NOT_FOUND");
    expect(await admin.ok("GET", `/_synapse/admin/v1/rooms/${encodeURIComponent(room)}/block`)).toMatchObject({ block: true });
    expect((await (await loginUser(ctx.s, "carol", "pw")).ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms).not.toContain(room);
  }, 30000);

  test("db check finds broken invariants; db vacuum", async () => {
    const ok = await hs("db", "check");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("Database OK");
    expect(JSON.parse((await hs("db", "check", "--json")).stdout)).toMatchObject({ ok: true, problems: [] });
    // Break one invariant: a device of a user that does not exist.
    await ctx.s.hs!.db.run("INSERT INTO devices (user_id, device_id, created_ts) VALUES ('@ghost:ops.test', 'GHOST', 0)");
    const bad = await hs("db", "check");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("PROBLEM: 1 devices of users that do not exist (e.g. @ghost:ops.test)");
    await ctx.s.hs!.db.run("DELETE FROM devices WHERE user_id = '@ghost:ops.test'");
    const v = await hs("db", "vacuum");
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^Vacuumed in [0-9.]+ s: /);
    expect((await hs("db", "check")).code).toBe(0);
  }, 30000);
});
