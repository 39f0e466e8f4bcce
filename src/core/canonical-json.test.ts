import { describe, expect, test } from "bun:test";
import {
  CanonicalJsonError,
  canonicalJson,
  canonicalJsonBytes,
  canonicalJsonLenient,
  canonicalJsonProblem,
  compareCodePoints,
  pythonFloatRepr,
} from "./canonical-json.ts";
import { CANONICAL_JSON_VECTORS } from "./test-vectors.ts";
import { oracleBytes, runOracle, type OracleRequest } from "./testing/python-oracle.ts";
import { Rng, plant, randomFloat, randomInvalidNumber, randomJson, randomObject } from "./testing/random-json.ts";

describe("canonical JSON: appendix examples", () => {
  for (const [input, expected] of CANONICAL_JSON_VECTORS) {
    test(expected, () => {
      expect(canonicalJson(JSON.parse(input))).toBe(expected);
      expect(Buffer.from(canonicalJsonBytes(JSON.parse(input))).toString("utf8")).toBe(expected);
    });
  }
});

describe("canonical JSON: encoding details", () => {
  test("escapes exactly the grammar's escapes", () => {
    const s = "\u0000\u0001\b\t\n\u000b\f\r\u001e\u001f \"\\/\u007f\u0080\u2028\u2029\u{1f600}";
    expect(canonicalJson(s)).toBe('"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001e\\u001f \\"\\\\/\u007f\u0080\u2028\u2029\u{1f600}"');
  });

  test("sorts keys by code point, not by UTF-16 unit", () => {
    // U+FFFF < U+1F600 by code point; by UTF-16 unit 0xFFFF > 0xD83D.
    const o = { "\u{1f600}": 1, "\uffff": 2, "\ue000": 3, a: 4, "": 5 };
    expect(canonicalJson(o)).toBe('{"":5,"a":4,"\ue000":3,"\uffff":2,"\u{1f600}":1}');
    expect(["\u{1f600}", "\uffff", "a"].sort(compareCodePoints)).toEqual(["a", "\uffff", "\u{1f600}"]);
    expect(compareCodePoints("\u{10000}", "\u{10ffff}")).toBeLessThan(0);
    expect(compareCodePoints("ab", "a")).toBeGreaterThan(0);
  });

  test("integer-like keys are sorted as strings", () => {
    expect(canonicalJson({ 10: "a", 9: "b", 1: "c" })).toBe('{"1":"c","10":"a","9":"b"}');
  });

  test("integer range and -0", () => {
    expect(canonicalJson([2 ** 53 - 1, -(2 ** 53 - 1), -0, 0])).toBe("[9007199254740991,-9007199254740991,0,0]");
    expect(canonicalJson(123n)).toBe("123");
    for (const bad of [2 ** 53, -(2 ** 53), 1e21, 2n ** 53n]) {
      expect(() => canonicalJson({ a: bad })).toThrow(CanonicalJsonError);
    }
  });

  test("floats and non-finite numbers are rejected with the path", () => {
    expect(() => canonicalJson({ a: [0, { b: 1.5 }] })).toThrow("floats are not allowed in canonical JSON at a[1].b");
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(() => canonicalJson(bad)).toThrow(CanonicalJsonError);
      expect(() => canonicalJsonLenient(bad)).toThrow(CanonicalJsonError);
    }
    expect(canonicalJsonProblem({ x: 0.5 })).toContain("float");
    expect(canonicalJsonProblem({ x: 5 })).toBeNull();
  });

  test("lone surrogates are rejected in values and keys", () => {
    expect(() => canonicalJson("\ud800")).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ "\udc00": 1 })).toThrow(CanonicalJsonError);
    expect(() => canonicalJsonLenient(["a\ud83d"])).toThrow(CanonicalJsonError);
  });

  test("non-JSON values are rejected; undefined members are omitted", () => {
    expect(() => canonicalJson(new Date(0))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(new Uint8Array(1))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson([undefined])).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson(Object.create(null))).toBe("{}");
  });

  test("cycles and excessive depth are reported, not a stack overflow", () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => canonicalJson(o)).toThrow(CanonicalJsonError);
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(CanonicalJsonError);
  });

  test("lenient mode writes out-of-range integers and floats like Python", () => {
    expect(canonicalJsonLenient([2 ** 53, 1e21, -(2 ** 64)])).toBe("[9007199254740992,1000000000000000000000,-18446744073709551616]");
    expect(canonicalJson({ a: 0.5 }, { lenient: true })).toBe('{"a":0.5}');
    const cases: [number, string][] = [
      [0.1, "0.1"],
      [1e-5, "1e-05"],
      [1e-4, "0.0001"],
      [1.5e-7, "1.5e-07"],
      [-2.5e-10, "-2.5e-10"],
      [123.456, "123.456"],
      [1e15 + 0.5, "1000000000000000.5"],
      [5e-324, "5e-324"],
      [50.57, "50.57"],
    ];
    for (const [x, s] of cases) expect(pythonFloatRepr(x)).toBe(s);
  });
});

describe("canonical JSON: differential against Python canonicaljson", () => {
  test("thousands of random valid values match byte for byte (strict and lenient)", async () => {
    const rng = new Rng(0xc0ffee);
    const values: unknown[] = [];
    for (let i = 0; i < 3000; i++) values.push(i % 3 === 0 ? randomObject(rng, 5) : randomJson(rng, 5));
    const reqs: OracleRequest[] = values.flatMap((value) => [
      { op: "canonical", value, strict: true },
      { op: "canonical", value, strict: false },
    ]);
    const res = await runOracle(reqs);
    let checked = 0;
    values.forEach((v, i) => {
      const ours = canonicalJsonBytes(v);
      expect({ i, bytes: Buffer.from(ours).toString("base64") }).toEqual({ i, bytes: Buffer.from(oracleBytes(res[2 * i]!)).toString("base64") });
      expect(canonicalJsonLenient(v)).toBe(canonicalJson(v));
      expect(Buffer.from(oracleBytes(res[2 * i + 1]!))).toEqual(Buffer.from(ours));
      checked++;
    });
    expect(checked).toBe(3000);
  });

  test("invalid numbers: both reject in strict mode, lenient output matches", async () => {
    const rng = new Rng(42);
    const values: unknown[] = [];
    for (let i = 0; i < 1500; i++) values.push(plant(rng, randomObject(rng, 3), randomInvalidNumber(rng)));
    for (let i = 0; i < 500; i++) values.push(plant(rng, randomJson(rng, 3), randomFloat(rng)));
    const res = await runOracle(values.flatMap((value) => [
      { op: "canonical", value, strict: true },
      { op: "canonical", value, strict: false },
    ]));
    values.forEach((v, i) => {
      expect(() => canonicalJson(v)).toThrow(CanonicalJsonError);
      expect({ i, python: res[2 * i]!.error !== undefined }).toEqual({ i, python: true });
      const lenient = canonicalJsonLenient(v);
      expect({ i, lenient }).toEqual({ i, lenient: Buffer.from(oracleBytes(res[2 * i + 1]!)).toString("utf8") });
    });
  });

  test("lone surrogates: both reject", async () => {
    const rng = new Rng(7);
    const values: unknown[] = [];
    for (let i = 0; i < 300; i++) {
      const bad = rng.pick(["\ud800", "x\udfff", "\ud83d", "\ude00a"]);
      values.push(rng.bool() ? plant(rng, randomObject(rng, 3), bad) : { [bad]: 1, ok: randomJson(rng, 2) });
    }
    const res = await runOracle(values.map((value) => ({ op: "canonical", value, strict: false })));
    values.forEach((v, i) => {
      expect(() => canonicalJsonLenient(v)).toThrow(CanonicalJsonError);
      expect({ i, python: res[i]!.error !== undefined }).toEqual({ i, python: true });
    });
  });
});
