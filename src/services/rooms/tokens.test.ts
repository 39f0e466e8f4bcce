import { expect, test } from "bun:test";
import { decodeToken, encodeStreamToken, encodeTopoToken } from "./tokens.ts";

test("tokens round-trip and bad tokens are M_INVALID_PARAM", () => {
  expect(decodeToken(encodeStreamToken(42, 3))).toEqual({ kind: "stream", stream: 42, typing: 3 });
  expect(decodeToken("s7")).toEqual({ kind: "stream", stream: 7, typing: 0 });
  expect(decodeToken(encodeTopoToken({ depth: 5, stream: 9 }))).toEqual({ kind: "topo", depth: 5, stream: 9 });
  for (const bad of ["", "x1", "s", "t1", "s-1_0", "t1_2_3", "s1_2x"]) {
    expect(() => decodeToken(bad)).toThrow(expect.objectContaining({ errcode: "M_INVALID_PARAM" }));
  }
});

test("Synapse's sync and pagination tokens (servers moved with hs import-synapse) are read by their event positions", () => {
  expect(decodeToken("s72_3_0_1_1_1_1_2_0")).toEqual({ kind: "stream", stream: 72, typing: 0 });
  expect(decodeToken("t12-345_3_0_1_1_1_1_2_0")).toEqual({ kind: "topo", depth: 12, stream: 345 });
  for (const bad of ["s72_3_x", "t12-345", "t12--3_0_0", "m72~1.3_0_0"]) {
    expect(() => decodeToken(bad)).toThrow(expect.objectContaining({ errcode: "M_INVALID_PARAM" }));
  }
});

test("topological tokens of backfilled events (negative stream positions) round-trip", () => {
  // Backfilled events get stream positions below 0 (RoomEvents.persistBackfilled).
  for (const p of [{ depth: 85, stream: -21 }, { depth: 1, stream: -1 }, { depth: 0, stream: -123456 }]) {
    expect(decodeToken(encodeTopoToken(p))).toEqual({ kind: "topo", ...p });
  }
  expect(decodeToken("t85_-21")).toEqual({ kind: "topo", depth: 85, stream: -21 });
  for (const bad of ["t-1_2", "t1_--2", "t1_-", "s1_-2"]) {
    expect(() => decodeToken(bad)).toThrow(expect.objectContaining({ errcode: "M_INVALID_PARAM" }));
  }
});
