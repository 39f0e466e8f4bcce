import { expect, test } from "bun:test";
import { clientEventJsonIssue } from "./client-event-json.ts";

const bad = (content: unknown, extra: Record<string, unknown> = {}) => clientEventJsonIssue({ content, ...extra });

test("valid content passes", () => {
  expect(bad({ msgtype: "m.text", body: "hi", n: 9007199254740991, m: -9007199254740991, z: -0 })).toBeNull();
});

test("floats, out-of-range integers, Infinity: M_BAD_JSON naming the path", () => {
  expect(bad({ "m.relates_to": { key: 3.0000000000000004 } })).toMatchObject({ errcode: "M_BAD_JSON", path: 'content["m.relates_to"].key' });
  expect(bad({ info: { mimetype: 1.5 } })?.message).toBe("Invalid JSON at content.info.mimetype: floats are not allowed in canonical JSON");
  expect(bad({ events_default: 2 ** 53 })?.path).toBe("content.events_default");
  expect(bad({ x: [1, -(2 ** 63)] })?.path).toBe("content.x[1]");
  expect(bad({ x: Infinity })?.errcode).toBe("M_BAD_JSON");
});

test("lone surrogates in values, keys, type and state_key", () => {
  expect(bad({ body: "\ud800" })?.path).toBe("content.body");
  expect(bad({ "a\udc00": 1 })?.errcode).toBe("M_BAD_JSON");
  expect(bad({}, { state_key: "\ud800" })?.path).toBe("state_key");
  expect(bad({ ok: "\u{1F600}\uffff\u202e" })).toBeNull();
});

test("nesting past the canonical bound", () => {
  let v: unknown = {};
  for (let i = 0; i < 600; i++) v = { a: v };
  expect(bad(v)?.message).toContain("nesting deeper than");
});

test("over 65,536 bytes: M_TOO_LARGE", () => {
  expect(bad({ body: "x".repeat(65_536) })?.errcode).toBe("M_TOO_LARGE");
  expect(bad({ body: "x".repeat(60_000) })).toBeNull();
});

test("U+0000 anywhere (values, keys, type, state_key): M_BAD_JSON naming the path", () => {
  expect(bad({ "m.relates_to": { key: "a\u0000" } })?.path).toBe('content["m.relates_to"].key');
  expect(bad({ list: ["x", "\u0000"] })?.path).toBe("content.list[1]");
  expect(bad({ ["k\u0000"]: 1 })?.message).toContain("U+0000");
  expect(bad({}, { type: "m.\u0000" })?.path).toBe("type");
  expect(bad({ body: "a literal \\u0000 is fine" })).toBeNull();
});
