// Simplified sliding sync (MSC4186) connections over raw HTTP: discovery in /versions, pos tokens
// and M_UNKNOWN_POS, retries with the same pos, conn_id and devices, long-polls (empty, woken,
// not woken by rooms outside the ranges), and /auth_metadata for a server without OAuth. Both
// databases.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient } from "../helpers/client.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { list, roomIdsOf, ss, ssPath } from "./helpers.ts";

describeOnBackends("sliding sync connections", (backend) => {
  let n = 0;
  const user = (p: string) => registerUser(ctx.s, `${p}${++n}`);
  const ctx = serverFixture({ backend });

  test("/versions advertises org.matrix.simplified_msc3575; /auth_metadata says legacy login", async () => {
    const anon = new TestClient(ctx.s.url);
    const v = await anon.ok("GET", "/_matrix/client/versions");
    expect(v.unstable_features["org.matrix.simplified_msc3575"]).toBe(true);
    for (const path of ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer"]) {
      const r = await anon.request("GET", path);
      expectError(r, 404, "M_UNRECOGNIZED");
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
    }
    // The legacy login the client falls back to.
    const flows = await anon.ok("GET", "/_matrix/client/v3/login");
    expect(flows.flows.map((f: any) => f.type)).toContain("m.login.password");
    expectError(await anon.request("POST", "/_matrix/client/v1/auth_metadata", {}), 405, "M_UNRECOGNIZED");
    expectError(await anon.request("POST", ssPath(), {}), 401, "M_MISSING_TOKEN");
  });

  test("unknown, foreign and superseded positions are M_UNKNOWN_POS", async () => {
    const a = await user("pos");
    await createRoom(a, {});
    const body = { conn_id: "main", lists: { all: list([0, 9]) } };
    const r = await ss(a, body);
    expectError(await a.request("POST", ssPath({ pos: "nonsense" }), body), 400, "M_UNKNOWN_POS");
    expectError(await a.request("POST", ssPath({ pos: `${r.pos}9` }), body), 400, "M_UNKNOWN_POS");
    // Another conn_id, another device of the same user.
    expectError(await a.request("POST", ssPath({ pos: r.pos }), { ...body, conn_id: "other" }), 400, "M_UNKNOWN_POS");
    const a2 = await loginUser(ctx.s, a.userId!);
    expectError(await a2.request("POST", ssPath({ pos: r.pos }), body), 400, "M_UNKNOWN_POS");
    // Starting over on the same conn_id retires the old positions.
    const fresh = await ss(a, body);
    expectError(await a.request("POST", ssPath({ pos: r.pos }), body), 400, "M_UNKNOWN_POS");
    await ss(a, body, { pos: fresh.pos });
    // Logging the device out ends its connections.
    await a2.ok("POST", "/_matrix/client/v3/logout", {});
    const a3 = await loginUser(ctx.s, a.userId!);
    const r3 = await ss(a3, body);
    await a3.ok("POST", "/_matrix/client/v3/logout", {});
    const a4 = new TestClient(ctx.s.url, (await loginUser(ctx.s, a.userId!)).accessToken);
    expectError(await a4.request("POST", ssPath({ pos: r3.pos }), body), 400, "M_UNKNOWN_POS");
  });

  test("a retried pos gets the same rooms again; the next pos moves on", async () => {
    const a = await user("retry");
    const room = await createRoom(a, {});
    const body = { lists: { all: list([0, 9], { timeline_limit: 3 }) } };
    const first = await ss(a, body);
    await send(a, room, "once");
    const lost = await ss(a, body, { pos: first.pos });
    expect(lost.rooms[room].timeline.at(-1).content.body).toBe("once");
    // The client never saw `lost`: it retries with the same pos and gets it again.
    const again = await ss(a, body, { pos: first.pos });
    expect(again.rooms[room].timeline.at(-1).content.body).toBe("once");
    expect(again.pos).not.toBe(first.pos);
    // Moving on from the retry: nothing is repeated.
    const next = await ss(a, body, { pos: again.pos, timeout: 0 });
    expect(next.rooms[room]).toBeUndefined();
    // The pos of the response the client dropped is no longer valid.
    expectError(await a.request("POST", ssPath({ pos: lost.pos }), body), 400, "M_UNKNOWN_POS");
  });

  test("connections (conn_id) are independent", async () => {
    const a = await user("conns");
    const room = await createRoom(a, {});
    const x = await ss(a, { conn_id: "x", lists: { all: list([0, 9]) } });
    const y = await ss(a, { conn_id: "y", lists: { all: list([0, 9]) } });
    expect(x.rooms[room].initial).toBe(true);
    expect(y.rooms[room].initial).toBe(true);
    await send(a, room, "both");
    const x2 = await ss(a, { conn_id: "x", lists: { all: list([0, 9]) } }, { pos: x.pos });
    const y2 = await ss(a, { conn_id: "y", lists: { all: list([0, 9]) } }, { pos: y.pos });
    expect(x2.rooms[room].timeline[0].content.body).toBe("both");
    expect(y2.rooms[room].timeline[0].content.body).toBe("both");
  });

  test("long-polls: empty ones time out, a message wakes them, rooms outside the ranges do not", async () => {
    const a = await user("poll");
    const b = await user("pollb");
    const top = await createRoom(a, { preset: "public_chat" });
    const other = await createRoom(a, { preset: "public_chat" });
    await b.ok("POST", `/_matrix/client/v3/join/${enc(top)}`, {});
    await b.ok("POST", `/_matrix/client/v3/join/${enc(other)}`, {});
    await send(a, top, "top");
    const body = { lists: { one: list([0, 0], { timeline_limit: 1 }) } };
    let r = await ss(a, body);
    expect(roomIdsOf(r, "one")).toEqual([top]);

    // Nothing happens: the long-poll waits out its timeout.
    let started = performance.now();
    r = await ss(a, body, { pos: r.pos, timeout: 400 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    expect(r.rooms).toEqual({});

    // A message in the room outside the range bumps it into the range: the poll answers with it.
    started = performance.now();
    const pending = ss(a, body, { pos: r.pos, timeout: 600 });
    const msg = await send(b, other, "bumped");
    r = await pending;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(roomIdsOf(r, "one")).toEqual([other]);
    expect(r.rooms[other].initial).toBe(true);
    // A reaction in the room now outside the range changes nothing the client asked for.
    started = performance.now();
    const quiet = ss(a, body, { pos: r.pos, timeout: 600 });
    await send(b, top, { "m.relates_to": { rel_type: "m.annotation", event_id: msg, key: "x" } }, "m.reaction");
    r = await quiet;
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    expect(r.rooms).toEqual({});

    // A message in the room in range wakes the poll at once.
    started = performance.now();
    const woken = ss(a, body, { pos: r.pos, timeout: 10_000 });
    await send(b, other, "wake up");
    r = await woken;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(r.rooms[other].timeline.at(-1).content.body).toBe("wake up");
    expect(r.rooms[other].num_live).toBe(1);

    // timeout=0 answers at once; an initial request ignores the timeout.
    started = performance.now();
    await ss(a, body, { pos: r.pos, timeout: 0 });
    await ss(a, body, { timeout: 5000 });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("after a restart positions are unknown (PostgreSQL: stored, they continue); recency comes back from room_recency (and its backfill)", async () => {
    const a = await user("restart");
    const older = await createRoom(a, { name: "older" });
    const newer = await createRoom(a, { name: "newer" });
    await send(a, older, "bump the older one");
    const body = { lists: { all: list([0, 9]) } };
    const r = await ss(a, body);
    expect(roomIdsOf(r, "all")).toEqual([older, newer]);
    // The migration's backfill rebuilds the table from the events (as on an upgraded server).
    const migration = await Bun.file(new URL("../../sql/0014_sliding_sync.sql", import.meta.url)).text();
    const backfill = migration.slice(migration.indexOf("INSERT INTO room_recency")).replace(/;\s*$/, "");
    await ctx.s.restart(async () => {
      const { openDatabase } = await import("../../src/storage/engines/open.ts");
      const db = await openDatabase(ctx.s.config.database);
      await db.run("DELETE FROM room_recency");
      await db.run(backfill);
      await db.close();
    });
    if (backend === "postgres") {
      // Several processes may share a PostgreSQL database: connections are stored there (docs/SCALING.md).
      const again = await a.request("POST", ssPath({ pos: r.pos }), body);
      expect(again.status).toBe(200);
      expect(again.body.rooms).toEqual({});
    } else expectError(await a.request("POST", ssPath({ pos: r.pos }), body), 400, "M_UNKNOWN_POS");
    const fresh = await ss(a, body);
    expect(roomIdsOf(fresh, "all")).toEqual([older, newer]);
    expect(fresh.rooms[older].bump_stamp).toBe(r.rooms[older].bump_stamp);
  });

  test("no lists and no subscriptions: an empty answer with a pos", async () => {
    const a = await user("empty");
    await createRoom(a, {});
    const r = await ss(a, {});
    expect(r.rooms).toEqual({});
    expect(r.lists).toBeUndefined();
    expect(r.extensions).toEqual({});
  });
});
