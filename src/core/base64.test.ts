import { describe, expect, test } from "bun:test";
import { Base64Error, decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url, isValidBase64 } from "./base64.ts";
import { BASE64_VECTORS } from "./test-vectors.ts";
import { Rng } from "./testing/random-json.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

describe("unpadded base64", () => {
  test("appendix examples", () => {
    for (const [input, encoded] of BASE64_VECTORS) {
      expect(encodeBase64(ascii(input))).toBe(encoded);
      expect(Buffer.from(decodeBase64(encoded)).toString("latin1")).toBe(input);
    }
  });

  test("decoding accepts padded and unpadded input", () => {
    expect(Buffer.from(decodeBase64("Zg==")).toString()).toBe("f");
    expect(Buffer.from(decodeBase64("Zm8=")).toString()).toBe("fo");
    expect(Buffer.from(decodeBase64("Zm9v")).toString()).toBe("foo");
    expect(Buffer.from(decodeBase64Url("Zg==")).toString()).toBe("f");
  });

  test("URL-safe alphabet", () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xbf]);
    expect(encodeBase64(bytes)).toBe("+/+/");
    expect(encodeBase64Url(bytes)).toBe("-_-_");
    expect(decodeBase64Url("-_-_")).toEqual(bytes);
    expect(decodeBase64("-_-_", "any")).toEqual(bytes);
    expect(decodeBase64("+/+/", "any")).toEqual(bytes);
    expect(() => decodeBase64("-_-_")).toThrow(Base64Error);
    expect(() => decodeBase64Url("+/+/")).toThrow(Base64Error);
  });

  test("rejects malformed input", () => {
    for (const bad of ["Z", "Zm9vY", "Zg=", "Zg===", "Z===", "=", "Zm9v=", "Zm 9v", "Zm9v\n", "Zm*v", "Zg==Zg", "é"]) {
      expect(() => decodeBase64(bad, "any")).toThrow(Base64Error);
      expect(isValidBase64(bad, "any")).toBe(false);
    }
  });

  test("tolerates non-zero unused trailing bits", () => {
    expect(Buffer.from(decodeBase64("Zh")).toString()).toBe("f");
  });

  test("round-trips random bytes and agrees with Buffer", () => {
    const rng = new Rng(99);
    for (let i = 0; i < 2000; i++) {
      const bytes = rng.bytes(rng.int(0, 70));
      const std = encodeBase64(bytes);
      const url = encodeBase64Url(bytes);
      expect(std).toBe(Buffer.from(bytes).toString("base64").replace(/=+$/, ""));
      expect(url).toBe(Buffer.from(bytes).toString("base64url"));
      expect(decodeBase64(std)).toEqual(bytes);
      expect(decodeBase64Url(url)).toEqual(bytes);
      expect(decodeBase64(Buffer.from(bytes).toString("base64"))).toEqual(bytes);
    }
  });
});
