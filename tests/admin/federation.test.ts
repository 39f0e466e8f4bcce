// Synapse's federation admin API (destinations, their health, shared rooms, reset_connection) and
// hs's server overview (/_hs/admin/v1/server), on both databases, with two servers over TLS and an
// unreachable destination.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

const BASE = "/_synapse/admin/v1/federation/destinations";
const DEAD = "127.0.0.1:1"; // nothing listens there

describeOnBackends("federation admin API and server overview", (backend) => {
  let roomId = "";
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; admin: TestClient; alice: TestClient; bob: TestClient }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, config: { federation: { retry_min_interval_ms: 60_000 } } })) as [FederatingServer, FederatingServer];
    ctx.admin = await registerUser(ctx.hs1, "admin", "password", true);
    ctx.alice = await registerUser(ctx.hs1, "alice");
    ctx.bob = await registerUser(ctx.hs2, "bob");
    roomId = await createRoom(ctx.alice, { preset: "public_chat" });
    await ctx.bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    await send(ctx.alice, roomId, "hello over there");
    // A destination that cannot be reached.
    await ctx.hs1.hs.services.roomFederation.sender.sendEdu("m.typing", { room_id: roomId, user_id: ctx.alice.userId, typing: false }, [DEAD]);
  }, { timeout: 60000 });

  test("admins only", async () => {
    for (const [method, path] of [
      ["GET", BASE],
      ["GET", `${BASE}/${enc(ctx.hs2.serverName)}`],
      ["GET", `${BASE}/${enc(ctx.hs2.serverName)}/rooms`],
      ["POST", `${BASE}/${enc(DEAD)}/reset_connection`],
      ["GET", "/_hs/admin/v1/server"],
    ] as const) {
      expectError(await ctx.alice.request(method, path, method === "POST" ? {} : undefined), 403, "M_FORBIDDEN");
    }
  });

  test("destinations with their health: a healthy one after a transaction went through, a failing one backing off", async () => {
    const healthy = await eventually(async () => {
      const r = await ctx.admin.ok("GET", `${BASE}/${enc(ctx.hs2.serverName)}`).catch(() => undefined);
      return r?.last_success_ts ? r : undefined;
    }, 15000, "a successful transaction to hs2");
    expect(healthy).toMatchObject({ destination: ctx.hs2.serverName, retry_last_ts: 0, retry_interval: 0, failure_ts: null, last_successful_stream_ordering: null });
    const failing = await eventually(async () => {
      const r = await ctx.admin.ok("GET", `${BASE}/${enc(DEAD)}`).catch(() => undefined);
      return r?.failure_ts ? r : undefined;
    }, 15000, "a failed transaction to the dead server");
    expect(failing.retry_interval).toBeGreaterThanOrEqual(60_000);
    expect(failing.retry_last_ts).toBeGreaterThanOrEqual(failing.failure_ts);

    const all = await ctx.admin.ok("GET", BASE);
    expect(all.total).toBe(2);
    expect(all.destinations.map((d: any) => d.destination)).toEqual([DEAD, ctx.hs2.serverName].sort());
    const byFailure = await ctx.admin.ok("GET", `${BASE}?order_by=failure_ts&dir=b`);
    expect(byFailure.destinations[0].destination).toBe(DEAD);
    const page = await ctx.admin.ok("GET", `${BASE}?limit=1`);
    expect(page.destinations).toHaveLength(1);
    expect(page.next_token).toBe("1");
    expect((await ctx.admin.ok("GET", `${BASE}?destination=127.0.0`)).destinations.map((d: any) => d.destination)).toEqual([DEAD]);
    expectError(await ctx.admin.request("GET", `${BASE}?order_by=nope`), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.request("GET", `${BASE}?dir=sideways`), 400, "M_INVALID_PARAM");
    expectError(await ctx.admin.request("GET", `${BASE}/${enc("unknown.example.org")}`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.request("GET", `${BASE}/${enc("not a server")}`), 400, "M_INVALID_PARAM");
  });

  test("rooms shared with a destination", async () => {
    const r = await ctx.admin.ok("GET", `${BASE}/${enc(ctx.hs2.serverName)}/rooms`);
    expect(r.total).toBe(1);
    expect(r.rooms[0].room_id).toBe(roomId);
    expect(r.rooms[0].stream_ordering).toBeGreaterThan(0);
    expect((await ctx.admin.ok("GET", `${BASE}/${enc(DEAD)}/rooms`)).rooms).toEqual([]);
  });

  test("reset_connection retries a failing destination at once; a healthy one needs none", async () => {
    const before = (await ctx.admin.ok("GET", `${BASE}/${enc(DEAD)}`)).retry_last_ts;
    expect(await ctx.admin.ok("POST", `${BASE}/${enc(DEAD)}/reset_connection`, {})).toEqual({});
    // The queued typing notification was tried again (and failed again: a new attempt time).
    await eventually(async () => {
      const r = await ctx.admin.ok("GET", `${BASE}/${enc(DEAD)}`);
      return r.failure_ts && r.retry_last_ts > before ? true : undefined;
    }, 15000, "a new attempt");
    const again = await ctx.admin.request("POST", `${BASE}/${enc(ctx.hs2.serverName)}/reset_connection`, {});
    expect(again.status).toBe(400);
    expectError(await ctx.admin.request("POST", `${BASE}/${enc("unknown.example.org")}/reset_connection`, {}), 404, "M_NOT_FOUND");
  });

  test("server overview: version, uptime, database engine and size, counts", async () => {
    const o = await ctx.admin.ok("GET", "/_hs/admin/v1/server");
    expect(o.server_name).toBe(ctx.hs1.serverName);
    expect(typeof o.server_version).toBe("string");
    expect(o.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(o.started_ts).toBeLessThanOrEqual(Date.now());
    expect(o.database.engine).toBe(backend);
    expect(o.database.size_bytes).toBeGreaterThan(0);
    expect(o.users).toBe(2); // admin and alice
    expect(o.rooms).toBe(1);
    expect(o.events).toBeGreaterThan(5);
    expect(o.local_media).toEqual({ files: 0, bytes: 0 });
  });
});
