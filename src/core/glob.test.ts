import { describe, expect, test } from "bun:test";
import { compileGlob, globMatch } from "./glob.ts";

const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));

describe("glob", () => {
  test("every printable ASCII character compiles and matches itself literally, in every mode", () => {
    for (const ch of printable) {
      for (const caseInsensitive of [false, true]) {
        for (const wordBoundary of [false, true]) {
          const re = compileGlob(`a${ch}b`, { caseInsensitive, wordBoundary });
          expect(re.test(`a${ch}b`)).toBe(true);
          if (ch !== "*" && ch !== "?") expect(re.test("axyb")).toBe(false);
        }
        // As in a user ID or a server name.
        expect(globMatch(`@${ch}-x:s`, `@${ch}-x:s`, { caseInsensitive })).toBe(true);
      }
    }
  });

  test("pairs of printable characters (all 9025) compile", () => {
    for (const a of printable) for (const b of printable) expect(() => compileGlob(a + b, { caseInsensitive: true })).not.toThrow();
  });

  test("wildcards", () => {
    expect(globMatch("*.example.org", "matrix.example.org")).toBe(true);
    expect(globMatch("*.example.org", "example.org")).toBe(false);
    expect(globMatch("h?", "hs")).toBe(true);
    expect(globMatch("h?", "h")).toBe(false);
    expect(globMatch("x*", "x\ny")).toBe(true);
    expect(globMatch("a-b", "A-B", { caseInsensitive: true })).toBe(true);
    expect(globMatch("a-b", "A-B")).toBe(false);
    // Filters know only `*`: `?` is literal there.
    expect(globMatch("m.room.?", "m.room.x", { questionMark: false })).toBe(false);
    expect(globMatch("m.room.?", "m.room.?", { questionMark: false })).toBe(true);
    expect(globMatch("m.room.*", "m.room.member", { questionMark: false })).toBe(true);
  });

  test("non-ASCII and astral characters are literal", () => {
    expect(globMatch("café*", "CAFÉ au lait", { caseInsensitive: true })).toBe(true);
    expect(globMatch("😀?", "😀x")).toBe(true);
  });

  test("word boundary", () => {
    expect(globMatch("cake", "I like CAKE!", { caseInsensitive: true, wordBoundary: true })).toBe(true);
    expect(globMatch("cake", "cakes", { caseInsensitive: true, wordBoundary: true })).toBe(false);
    expect(globMatch("@alice-bob:x", "hi @alice-bob:x!", { wordBoundary: true })).toBe(true);
  });
});
