import { expect, test } from "bun:test";
import { STABLE_ROOM_VERSIONS } from "../protocol/versions.ts";
import { ROOM_VERSIONS } from "./room-versions.ts";

test("the stable room versions the config accepts are exactly those with rules here", () => {
  expect([...ROOM_VERSIONS.values()].filter((v) => v.stable).map((v) => v.id)).toEqual([...STABLE_ROOM_VERSIONS]);
});
