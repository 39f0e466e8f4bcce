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
