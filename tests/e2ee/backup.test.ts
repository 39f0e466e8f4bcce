// Server-side key backups over HTTP: /room_keys/version CRUD, /room_keys/keys at the three levels,
// the spec's replacement rule, etag and count, and M_WRONG_ROOM_KEYS_VERSION.
import { expect, test } from "bun:test";
import { expectError, registerUser, type TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";

const KB = "client-server/key_backup";
const ALG = "m.megolm_backup.v1.curve25519-aes-sha2";
const enc = encodeURIComponent;
const ROOM = "!room:example.org";
const ROOM2 = "!other:example.org";

const key = (first: number, forwarded: number, verified: boolean, tag: string) => ({
  first_message_index: first,
  forwarded_count: forwarded,
  is_verified: verified,
  session_data: { ephemeral: "e", ciphertext: tag, mac: "m" },
});

async function newBackup(c: TestClient, authData: Record<string, unknown> = { public_key: "abc" }): Promise<string> {
  const r = await c.ok("POST", "/_matrix/client/v3/room_keys/version", { algorithm: ALG, auth_data: authData });
  assertMatchesSpec(KB, "POST", "/room_keys/version", 200, r);
  return r.version;
}

describeOnBackends("key backup", (backend) => {
  const ctx = serverFixture({ backend });

  test("versions: create, get (latest and by number), update auth_data, delete", async () => {
    const alice = await registerUser(ctx.s, "kbalice");
    expectError(await alice.get("/_matrix/client/v3/room_keys/version"), 404, "M_NOT_FOUND");
    const v1 = await newBackup(alice);
    const v2 = await newBackup(alice, { public_key: "def" });
    expect(Number(v2)).toBeGreaterThan(Number(v1));
    const latest = await alice.ok("GET", "/_matrix/client/v3/room_keys/version");
    assertMatchesSpec(KB, "GET", "/room_keys/version", 200, latest);
    expect(latest).toEqual({ algorithm: ALG, auth_data: { public_key: "def" }, count: 0, etag: expect.any(String), version: v2 });
    const old = await alice.ok("GET", `/_matrix/client/v3/room_keys/version/${v1}`);
    assertMatchesSpec(KB, "GET", "/room_keys/version/{version}", 200, old);
    expect(old.auth_data).toEqual({ public_key: "abc" });

    const upd = await alice.put(`/_matrix/client/v3/room_keys/version/${v2}`, { algorithm: ALG, auth_data: { public_key: "def", signatures: { x: 1 } }, version: v2 });
    expect(upd.status).toBe(200);
    assertMatchesSpec(KB, "PUT", "/room_keys/version/{version}", 200, upd.body);
    expect((await alice.ok("GET", `/_matrix/client/v3/room_keys/version/${v2}`)).auth_data.signatures).toEqual({ x: 1 });
    expectError(await alice.put(`/_matrix/client/v3/room_keys/version/${v2}`, { algorithm: "other", auth_data: {} }), 400, "M_INVALID_PARAM");
    expectError(await alice.put(`/_matrix/client/v3/room_keys/version/${v2}`, { algorithm: ALG, auth_data: {}, version: v1 }), 400, "M_INVALID_PARAM");
    expectError(await alice.put(`/_matrix/client/v3/room_keys/version/999`, { algorithm: ALG, auth_data: {} }), 404, "M_NOT_FOUND");

    // Deleting the latest makes the previous one current again; deleting twice is fine.
    const del = await alice.delete(`/_matrix/client/v3/room_keys/version/${v2}`);
    expect(del.status).toBe(200);
    assertMatchesSpec(KB, "DELETE", "/room_keys/version/{version}", 200, del.body);
    expect((await alice.delete(`/_matrix/client/v3/room_keys/version/${v2}`)).status).toBe(200);
    expectError(await alice.get(`/_matrix/client/v3/room_keys/version/${v2}`), 404, "M_NOT_FOUND");
    expect((await alice.ok("GET", "/_matrix/client/v3/room_keys/version")).version).toBe(v1);
    // A new version never reuses a deleted number.
    expect(Number(await newBackup(alice))).toBeGreaterThan(Number(v2));
    expectError(await alice.delete("/_matrix/client/v3/room_keys/version/12345"), 404, "M_NOT_FOUND");
    expectError(await alice.get("/_matrix/client/v3/room_keys/version/notanumber"), 404, "M_NOT_FOUND");
    // Backups are per user.
    const bob = await registerUser(ctx.s, "kbbob");
    expectError(await bob.get(`/_matrix/client/v3/room_keys/version/${v1}`), 404, "M_NOT_FOUND");
    // Bad bodies.
    expectError(await alice.post("/_matrix/client/v3/room_keys/version", { auth_data: {} }), 400, "M_MISSING_PARAM");
    expectError(await alice.post("/_matrix/client/v3/room_keys/version", { algorithm: ALG }), 400, "M_MISSING_PARAM");
    expectError(await alice.post("/_matrix/client/v3/room_keys/version", { algorithm: ALG, auth_data: "x" }), 400, "M_BAD_JSON");
    expectError(await alice.post("/_matrix/client/v3/room_keys/version", { algorithm: "m.megolm_backup.v1", auth_data: null }), 400, "M_MISSING_PARAM");
  });

  test("an algorithm hs does not know keeps its auth_data as given, of any JSON type", async () => {
    const dave = await registerUser(ctx.s, "kbdave");
    const { version } = await dave.ok("POST", "/_matrix/client/v3/room_keys/version", { algorithm: "m.megolm_backup.v1", auth_data: "anopaquestring" });
    const got = await dave.ok("GET", `/_matrix/client/v3/room_keys/version/${version}`);
    expect(got).toMatchObject({ algorithm: "m.megolm_backup.v1", auth_data: "anopaquestring", version });
    await dave.ok("PUT", `/_matrix/client/v3/room_keys/version/${version}`, { algorithm: "m.megolm_backup.v1", auth_data: ["a", 1], version });
    expect((await dave.ok("GET", "/_matrix/client/v3/room_keys/version")).auth_data).toEqual(["a", 1]);
    // Its keys' session_data is opaque too; the spec's algorithm still needs an object.
    const keyUrl = `/_matrix/client/v3/room_keys/keys/${enc("!r:localhost")}/s1`;
    await dave.ok("PUT", `${keyUrl}?version=${version}`, { ...key(0, 0, false, "x"), session_data: "opaque" });
    expect((await dave.ok("GET", `${keyUrl}?version=${version}`)).session_data).toBe("opaque");
    const v2 = await newBackup(dave);
    expectError(await dave.put(`${keyUrl}?version=${v2}`, { ...key(0, 0, false, "x"), session_data: "opaque" }), 400, "M_BAD_JSON");
    // The algorithm still cannot change, and the spec's algorithm still needs an object.
    expectError(await dave.put(`/_matrix/client/v3/room_keys/version/${version}`, { algorithm: ALG, auth_data: {}, version }), 400, "M_INVALID_PARAM");
  });

  test("keys at three levels; count and etag; the spec's replacement rule", async () => {
    const carol = await registerUser(ctx.s, "kbcarol");
    const v = await newBackup(carol);
    const base = `/_matrix/client/v3/room_keys/keys`;
    // Session level.
    const r1 = await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(5, 1, false, "a"));
    assertMatchesSpec(KB, "PUT", "/room_keys/keys/{roomId}/{sessionId}", 200, r1);
    expect(r1.count).toBe(1);
    // Room level.
    const r2 = await carol.ok("PUT", `${base}/${enc(ROOM)}?version=${v}`, { sessions: { s2: key(0, 0, false, "b") } });
    assertMatchesSpec(KB, "PUT", "/room_keys/keys/{roomId}", 200, r2);
    expect(r2.count).toBe(2);
    expect(r2.etag).not.toBe(r1.etag);
    // Everything.
    const r3 = await carol.ok("PUT", `${base}?version=${v}`, { rooms: { [ROOM2]: { sessions: { s3: key(0, 0, true, "c") } } } });
    assertMatchesSpec(KB, "PUT", "/room_keys/keys", 200, r3);
    expect(r3.count).toBe(3);

    // Replacement: a worse key is ignored (etag unchanged), a better one replaces.
    const worse = await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(9, 0, false, "worse"));
    expect(worse.etag).toBe(r3.etag);
    const lowerIndex = await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(2, 5, false, "lower-index"));
    expect(lowerIndex.etag).not.toBe(r3.etag);
    await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(2, 3, false, "fewer-forwards"));
    await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(2, 3, false, "equal"));
    await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(40, 40, true, "verified"));
    await carol.ok("PUT", `${base}/${enc(ROOM)}/s1?version=${v}`, key(0, 0, false, "unverified"));
    const one = await carol.ok("GET", `${base}/${enc(ROOM)}/s1?version=${v}`);
    assertMatchesSpec(KB, "GET", "/room_keys/keys/{roomId}/{sessionId}", 200, one);
    expect(one).toEqual(key(40, 40, true, "verified"));

    const room = await carol.ok("GET", `${base}/${enc(ROOM)}?version=${v}`);
    assertMatchesSpec(KB, "GET", "/room_keys/keys/{roomId}", 200, room);
    expect(Object.keys(room.sessions).sort()).toEqual(["s1", "s2"]);
    expect(await carol.ok("GET", `${base}/${enc("!empty:example.org")}?version=${v}`)).toEqual({ sessions: {} });
    const all = await carol.ok("GET", `${base}?version=${v}`);
    assertMatchesSpec(KB, "GET", "/room_keys/keys", 200, all);
    expect(Object.keys(all.rooms).sort()).toEqual([ROOM, ROOM2].sort());
    const info = await carol.ok("GET", `/_matrix/client/v3/room_keys/version/${v}`);
    expect(info.count).toBe(3);
    expectError(await carol.get(`${base}/${enc(ROOM)}/nosuch?version=${v}`), 404, "M_NOT_FOUND");

    // Deleting at each level.
    const d1 = await carol.ok("DELETE", `${base}/${enc(ROOM)}/s1?version=${v}`);
    assertMatchesSpec(KB, "DELETE", "/room_keys/keys/{roomId}/{sessionId}", 200, d1);
    expect(d1.count).toBe(2);
    const d2 = await carol.ok("DELETE", `${base}/${enc(ROOM)}?version=${v}`);
    assertMatchesSpec(KB, "DELETE", "/room_keys/keys/{roomId}", 200, d2);
    expect(d2.count).toBe(1);
    const d3 = await carol.ok("DELETE", `${base}?version=${v}`);
    assertMatchesSpec(KB, "DELETE", "/room_keys/keys", 200, d3);
    expect(d3.count).toBe(0);
    expect(await carol.ok("GET", `${base}?version=${v}`)).toEqual({ rooms: {} });
  });

  test("only the current version takes keys: 403 M_WRONG_ROOM_KEYS_VERSION with current_version; 404 without a backup", async () => {
    const dan = await registerUser(ctx.s, "kbdan");
    const base = `/_matrix/client/v3/room_keys/keys`;
    expectError(await dan.put(`${base}/${enc(ROOM)}/s?version=1`, key(0, 0, false, "x")), 404, "M_NOT_FOUND");
    const v1 = await newBackup(dan);
    const v2 = await newBackup(dan);
    const wrong = await dan.put(`${base}/${enc(ROOM)}/s?version=${v1}`, key(0, 0, false, "x"));
    expectError(wrong, 403, "M_WRONG_ROOM_KEYS_VERSION");
    expect(wrong.body.current_version).toBe(v2);
    expectError(await dan.put(`${base}?version=${v1}`, { rooms: {} }), 403, "M_WRONG_ROOM_KEYS_VERSION");
    expectError(await dan.put(`${base}/${enc(ROOM)}?version=77`, { sessions: {} }), 403, "M_WRONG_ROOM_KEYS_VERSION");
    // Old versions can still be read; unknown ones cannot.
    expect(await dan.ok("GET", `${base}?version=${v1}`)).toEqual({ rooms: {} });
    expectError(await dan.get(`${base}?version=77`), 404, "M_NOT_FOUND");
    expectError(await dan.delete(`${base}?version=77`), 404, "M_NOT_FOUND");
    // Keys of a deleted version are gone with it.
    await dan.ok("PUT", `${base}/${enc(ROOM)}/s?version=${v2}`, key(0, 0, false, "x"));
    await dan.ok("DELETE", `/_matrix/client/v3/room_keys/version/${v2}`);
    expectError(await dan.get(`${base}?version=${v2}`), 404, "M_NOT_FOUND");
    // Bad requests.
    expectError(await dan.get(base), 400, "M_MISSING_PARAM");
    expectError(await dan.put(`${base}/${enc(ROOM)}/s?version=${v1}`, { first_message_index: 0 }), 400, "M_MISSING_PARAM");
    expectError(await dan.put(`${base}/${enc(ROOM)}/s?version=${v1}`, { ...key(0, 0, false, "x"), is_verified: "no" }), 400, "M_BAD_JSON");
    expectError(await dan.put(`${base}?version=${v1}`, {}), 400, "M_MISSING_PARAM");
    expectError(await dan.put(`${base}?version=${v1}`, { rooms: { notaroom: { sessions: {} } } }), 400, "M_INVALID_PARAM");
    expectError(await dan.put(`${base}/notaroom/s?version=${v1}`, key(0, 0, false, "x")), 400, "M_INVALID_PARAM");
  });

  test("a room ID is only a key here: any !opaque_id is taken, even of a room this server does not know", async () => {
    const erin = await registerUser(ctx.s, "kberin");
    const v = await newBackup(erin);
    const base = `/_matrix/client/v3/room_keys/keys`;
    expectError(await erin.get(`${base}/${enc("!notaroom")}/notasession?version=${v}`), 404, "M_NOT_FOUND");
    await erin.ok("PUT", `${base}/${enc("!abcd")}/1234?version=${v}`, key(3, 0, false, "k"));
    expect((await erin.ok("GET", `${base}/${enc("!abcd")}/1234?version=${v}`)).first_message_index).toBe(3);
    expect(Object.keys((await erin.ok("GET", `${base}?version=${v}`)).rooms)).toEqual(["!abcd"]);
  });
});
