// Debian's synadm (the Synapse admin CLI) as a real client of the admin API, on both databases:
// version, users (create/modify, details, list, password, login as, membership, whois, deactivate),
// rooms (join, list, details, members, state, make-admin, delete) and registration tokens.
// synadm is required: .ci/run installs it (apt-get install synadm); without it this test fails.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectError, loginUser, registerUser, TestClient } from "../helpers/client.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const SYNADM = Bun.which("synadm");

describeOnBackends("synadm against hs", (backend) => {
  const ctx = fixture<{ s: TestServer; admin: TestClient; home: string }>(async (ctx) => {
    if (!SYNADM) throw new Error("synadm is not installed: apt-get install -y synadm (Debian's Synapse admin CLI; .ci/run installs it)");
    ctx.s = await startTestServer({ backend });
    ctx.admin = await registerUser(ctx.s, "admin", "adminpw", true);
    ctx.home = tempDir("hs-synadm-");
    mkdirSync(join(ctx.home, ".config"), { recursive: true });
    writeFileSync(
      join(ctx.home, ".config", "synadm.yaml"),
      [
        `user: "${ctx.admin.userId}"`,
        `token: "${ctx.admin.accessToken}"`,
        `base_url: "${ctx.s.url}"`,
        `admin_path: /_synapse/admin`,
        `matrix_path: /_matrix`,
        `timeout: 10`,
        `format: json`,
        `server_discovery: well-known`,
        `homeserver: ${ctx.s.serverName}`,
      ].join("\n") + "\n",
    );
  });

  /** Runs synadm; returns the JSON it printed last (synadm prints prompts and notes around it). */
  const synadm = async (...args: string[]): Promise<any> => {
    const p = Bun.spawn([SYNADM!, "--batch", "-o", "json", ...args], { env: { ...process.env, HOME: ctx.home }, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const json = out.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{") || l.startsWith("[") || l.startsWith('"')).at(-1);
    if (json === undefined) throw new Error(`synadm ${args.join(" ")} printed no JSON (exit ${code}): ${out} ${err}`);
    return JSON.parse(json);
  };

  test("server version, users: create, details, list, password, login as, whois, membership, deactivate", async () => {
    expect((await synadm("version")).server_version).toMatch(/^\d+\.\d+\.\d+/);
    const carol = `@carol:${ctx.s.serverName}`;
    const made = await synadm("user", "modify", carol, "-P", "carolpw", "-n", "Carol");
    expect(made).toMatchObject({ name: carol, displayname: "Carol", admin: false, deactivated: false });
    await loginUser(ctx.s, "carol", "carolpw");
    expect(await synadm("user", "details", carol)).toMatchObject({ name: carol, displayname: "Carol" });
    const list = await synadm("user", "list");
    expect(list.users.map((u: { name: string }) => u.name)).toEqual([ctx.admin.userId, carol]);
    expect(list.total).toBe(2);
    expect((await synadm("user", "search", "carol")).users.map((u: { name: string }) => u.name)).toEqual([carol]);

    expect(await synadm("user", "password", carol, "-p", "carolpw2")).toEqual({});
    const c = await loginUser(ctx.s, "carol", "carolpw2");
    const room = (await c.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id;
    expect((await synadm("user", "membership", carol)).joined_rooms).toEqual([room]);

    const { access_token } = await synadm("user", "login", carol);
    expect((await new TestClient(ctx.s.url, access_token).ok("GET", "/_matrix/client/v3/account/whoami")).user_id).toBe(carol);
    const whois = await synadm("user", "whois", carol);
    expect(whois.user_id).toBe(carol);
    expect(Object.keys(whois.devices)).toContain(c.deviceId!);

    expect(await synadm("user", "deactivate", carol)).toEqual({ id_server_unbind_result: "success" });
    expectError(await new TestClient(ctx.s.url).post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: "carolpw2" }), 403, "M_USER_DEACTIVATED");
    expect((await synadm("user", "details", carol)).deactivated).toBe(true);
    expect((await synadm("user", "list", "-d")).total).toBe(2);
    expect((await synadm("user", "list")).total).toBe(1);
  }, 60000);

  test("rooms: join, list, details, members, state, make-admin, delete; registration tokens", async () => {
    const dave = await registerUser(ctx.s, "dave", "davepw");
    const room = (await ctx.admin.ok("POST", "/_matrix/client/v3/createRoom", { name: "Synadm room", preset: "public_chat", room_alias_name: "synadm" })).room_id;
    // (synadm puts aliases in the URL unescaped, so the room ID it is.)
    expect(await synadm("room", "join", room, dave.userId!)).toEqual({ room_id: room });
    const list = await synadm("room", "list");
    expect(list.rooms.map((r: { room_id: string }) => r.room_id)).toContain(room);
    expect((await synadm("room", "search", "Synadm")).rooms.map((r: { room_id: string }) => r.room_id)).toEqual([room]);
    expect(await synadm("room", "details", room)).toMatchObject({ room_id: room, name: "Synadm room", joined_members: 2, canonical_alias: `#synadm:${ctx.s.serverName}` });
    expect(await synadm("room", "members", room)).toEqual({ members: [ctx.admin.userId, dave.userId].sort(), total: 2 });
    const state = await synadm("room", "state", room);
    expect(state.state.find((e: { type: string }) => e.type === "m.room.name").content.name).toBe("Synadm room");

    expect(await synadm("room", "make-admin", room, "-u", dave.userId!)).toEqual({});
    const pl = await dave.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/m.room.power_levels/`);
    expect(pl.users[dave.userId!]).toBeGreaterThanOrEqual(100);

    const deleted = await synadm("room", "delete", room, "--block");
    expect(deleted).toMatchObject({ failed_to_kick_users: [], local_aliases: [`#synadm:${ctx.s.serverName}`], new_room_id: null });
    expect(deleted.kicked_users.sort()).toEqual([ctx.admin.userId, dave.userId].sort());
    expect((await synadm("room", "details", room)).errcode).toBe("M_NOT_FOUND");
    expectError(await dave.post(`/_matrix/client/v3/join/${encodeURIComponent(room)}`, {}), 403, "M_FORBIDDEN");

    const tok = await synadm("regtok", "new", "-n", "welcome123", "-u", "5");
    expect(tok).toMatchObject({ token: "welcome123", uses_allowed: 5 });
    expect((await synadm("regtok", "list")).registration_tokens.map((t: { token: string }) => t.token)).toContain("welcome123");
  }, 60000);
});
