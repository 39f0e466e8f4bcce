// The spec's child ordering (client-server-api modules/spaces.md "Ordering of children within a
// space"), with its own example.
import { expect, test } from "bun:test";
import type { JsonObject, JsonValue } from "../../protocol/events.ts";
import { orderChildren } from "./spaces.ts";

const c = (state_key: string, origin_server_ts: number, order?: JsonValue) => ({
  state_key,
  origin_server_ts,
  content: (order === undefined ? { via: ["example.org"] } : { order, via: ["example.org"] }) as JsonObject,
});

test("the spec's example", () => {
  const children = [c("!b:example.org", 1640341000000, " "), c("!a:example.org", 1640141000000, "aaaa"), c("!c:example.org", 1640841000000, "first"), c("!e:example.org", 1640641000000), c("!d:example.org", 1640741000000)];
  expect(orderChildren(children).map((x) => x.state_key)).toEqual(["!b:example.org", "!a:example.org", "!c:example.org", "!e:example.org", "!d:example.org"]);
});

test("ties: same order → timestamp → room ID; invalid orders count as none", () => {
  const children = [c("!z:x", 5, "same"), c("!y:x", 5, "same"), c("!x:x", 1, "same"), c("!w:x", 0, "x".repeat(51)), c("!v:x", 0, "\u00e9"), c("!u:x", 0, 7), c("!t:x", 0)];
  expect(orderChildren(children).map((x) => x.state_key)).toEqual(["!x:x", "!y:x", "!z:x", "!t:x", "!u:x", "!v:x", "!w:x"]);
});
