// What a client may put into an event (src/core/client-event-json.ts), on every path that builds
// one: values that are valid JSON but not canonical JSON get 400 M_BAD_JSON naming the path, past
// 65,536 bytes 413 M_TOO_LARGE, and nothing is stored. Also the JSON body rules of src/http/app.ts
// (depth bound, duplicate keys: the last wins) and the search-term length bounds.
import { describe, expect, test } from "bun:test";
import { expectError, type TestClient } from "../helpers/client.ts";
import type { TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture, serverWithUsers } from "../helpers/suite.ts";
import { createRoom, enc } from "../helpers/sync.ts";

const HOSTILE: Array<[string, string, string]> = [
  // [label, raw JSON value, path named in the error (below the mutated key)]
  ["a float", "3.0000000000000004", ""],
  ["1.5", "1.5", ""],
  ["an integer below -(2^53)+1", "-9223372036854775809", ""],
  ["an integer above 2^53-1", "18446744073709551616", ""],
  ["1e400 (Infinity)", "1e400", ""],
  ["a lone surrogate", '"\\ud800"', ""],
  ["a lone surrogate in a key", '{"\\udc00":1}', ""],
  ["nesting 600 deep", "[".repeat(600) + "]".repeat(600), ""],
];

describeOnBackends("event JSON from clients", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; roomId: string }>(async (ctx) => {
    [ctx.s, ctx.alice, ctx.bob] = await serverWithUsers({ backend }, "alice", "bob");
    ctx.roomId = await createRoom(ctx.alice, { preset: "public_chat" });
  });

  const raw = (method: string, path: string, body: string) => ctx.alice.request(method, path, body, { "Content-Type": "application/json" });
  const timelineLength = async () => {
    const r = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/messages?dir=b&limit=1000`);
    return r.chunk.length as number;
  };

  for (const [label, value] of HOSTILE) {
    test(`${label} anywhere in the content of /send and /state: 400 M_BAD_JSON naming the path, nothing stored`, async () => {
      const before = await timelineLength();
      const send = await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.room.message/t${Math.random()}`, `{"msgtype":"m.image","body":"x","info":{"mimetype":${value}}}`);
      expectError(send, 400, "M_BAD_JSON");
      expect(send.body.error).toContain("info");
      const reaction = await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.reaction/t${Math.random()}`, `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":${value}}}`);
      expectError(reaction, 400, "M_BAD_JSON");
      expect(reaction.body.error).toContain('["m.relates_to"].key');
      const state = await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.power_levels`, `{"users":{"${ctx.alice.userId}":100},"events_default":${value}}`);
      expectError(state, 400, "M_BAD_JSON");
      expect(await timelineLength()).toBe(before);
    });
  }

  test("createRoom: initial_state, creation_content and power_level_content_override are checked before anything is stored", async () => {
    const rooms = async () => (await ctx.alice.ok("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms.length as number;
    const n = await rooms();
    expectError(await raw("POST", "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"m.room.topic","content":{"topic":1.5}}]}`), 400, "M_BAD_JSON");
    expectError(await raw("POST", "/_matrix/client/v3/createRoom", `{"creation_content":{"x":"\\ud800"}}`), 400, "M_BAD_JSON");
    expectError(await raw("POST", "/_matrix/client/v3/createRoom", `{"power_level_content_override":{"events_default":1.5}}`), 400, "M_BAD_JSON");
    expectError(await raw("POST", "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"m.room.topic","content":{"topic":"${"x".repeat(70_000)}"}}]}`), 413, "M_TOO_LARGE");
    expect(await rooms()).toBe(n);
  });

  test("redaction reasons, membership reasons and profile changes propagated into member events", async () => {
    const ev = (await ctx.alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.room.message/r1`, { msgtype: "m.text", body: "hi" })).event_id;
    expectError(await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/redact/${enc(ev)}/r2`, `{"reason":"\\udfff"}`), 400, "M_BAD_JSON");
    expectError(await raw("POST", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/invite`, `{"user_id":"${ctx.bob.userId}","reason":"\\ud800"}`), 400, "M_BAD_JSON");
    const r = await raw("PUT", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`, `{"displayname":"\\ud800"}`);
    expectError(r, 400, "M_BAD_JSON");
    expect((await ctx.alice.request("GET", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`)).body.displayname).not.toBe("\ud800");
    // Whatever the profile holds, the member event in the room stays valid canonical JSON.
    const member = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/state/m.room.member/${enc(ctx.alice.userId!)}`);
    expect(typeof member.membership).toBe("string");
  });

  test("content over 65,536 bytes: 413 M_TOO_LARGE", async () => {
    expectError(await ctx.alice.put(`/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.room.message/big`, { msgtype: "m.text", body: "x".repeat(66_000) }), 413, "M_TOO_LARGE");
  });

  test("duplicate keys: the last value is the one stored, consistently", async () => {
    const r = await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.room.message/dup`, `{"msgtype":"m.text","body":"first","body":"last","msgtype":"m.notice"}`);
    expect(r.status).toBe(200);
    const ev = await ctx.alice.ok("GET", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/event/${enc(r.body.event_id)}`);
    expect(ev.content).toEqual({ msgtype: "m.notice", body: "last" });
  });

  test("any JSON body nested deeper than 512 levels: 400 M_BAD_JSON naming the path", async () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const r = await raw("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.x`, `{"a":${deep(100_000)}}`);
    expectError(r, 400, "M_BAD_JSON");
    expect(r.body.error).toContain("a[0][0]");
    expect((await raw("PUT", `/_matrix/client/v3/user/${enc(ctx.alice.userId!)}/account_data/m.x`, `{"a":${deep(100)}}`)).status).toBe(200);
  });

  test("NUL (U+0000): never a 5xx; in plain text (device names, report reasons) PostgreSQL cannot store it: 400", async () => {
    const answers = [
      await raw("PUT", `/_matrix/client/v3/devices/${enc(ctx.alice.deviceId!)}`, `{"display_name":"a\\u0000b"}`),
      await raw("POST", `/_matrix/client/v3/users/${enc(ctx.bob.userId!)}/report`, `{"reason":"\\u0000"}`),
      await raw("POST", "/_matrix/client/v3/room_keys/version", `{"algorithm":"a\\u0000b","auth_data":{}}`),
    ];
    for (const r of answers) {
      if (backend === "postgres" && r.status === 400) expectError(r, 400, "M_BAD_JSON");
      else expect(r.status).toBeLessThan(500);
    }
    // In events it is refused on both databases alike (PostgreSQL could not index it).
    const sent = await raw("PUT", `/_matrix/client/v3/rooms/${enc(ctx.roomId)}/send/m.reaction/nul`, `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"a\\u0000b"}}`);
    expectError(sent, 400, "M_BAD_JSON");
    expect(sent.body.error).toContain('["m.relates_to"].key');
    expectError(await raw("PUT", `/_matrix/client/v3/profile/${enc(ctx.alice.userId!)}/displayname`, `{"displayname":"a\\u0000b"}`), 400, "M_BAD_JSON");
  });

  test("search terms longer than 1000 characters: 400 on /user_directory/search, /search and /publicRooms", async () => {
    const long = "a".repeat(70_000);
    expectError(await ctx.alice.post("/_matrix/client/v3/user_directory/search", { search_term: long }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/search", { search_categories: { room_events: { search_term: long } } }), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.post("/_matrix/client/v3/publicRooms", { filter: { generic_search_term: long } }), 400, "M_INVALID_PARAM");
    expect((await ctx.alice.post("/_matrix/client/v3/user_directory/search", { search_term: "a".repeat(1000) })).status).toBe(200);
  });
});

describe("found by the content fuzzer", () => {
  test("inviting a remote user while federation is disabled: 403 M_FORBIDDEN, not a 502", async () => {
    const [s, alice] = await serverWithUsers({ config: { federation: { enabled: false } } }, "alice");
    try {
      const roomId = await createRoom(alice, {});
      const r = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: "@someone:remote.example" });
      expectError(r, 403, "M_FORBIDDEN");
      expect(r.body.error).toContain("federation is disabled");
    } finally {
      await s.stop();
    }
  });
});
