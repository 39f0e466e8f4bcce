// Canonical JSON. Spec: content/appendices.md "Canonical JSON" (and its "Grammar" and "Examples"),
// room-version fragments v1-canonical-json.md / v6-canonical-json.md.
//
// The encoding is the shortest UTF-8 JSON with object keys sorted by Unicode code point:
// - no insignificant whitespace;
// - strings escape only `"`, `\` and U+0000–U+001F (`\b \t \n \f \r` by name, the rest as `\u00xx` with
//   lower-case hex); everything else, including U+007F, U+2028/U+2029 and astral characters, is emitted
//   as raw UTF-8. This is exactly what `JSON.stringify` does for a well-formed string (used when a
//   string needs escaping; strings that need none are quoted directly). Lone surrogates cannot be
//   encoded as UTF-8 at all and are rejected (the Python reference fails on them too);
// - keys are sorted by code point. JavaScript compares strings by UTF-16 code unit, which disagrees with
//   code-point order only when one key has a surrogate (an astral character) where the other has a
//   character in U+E000–U+FFFF; a slower comparator is used only for objects with such keys;
// - numbers must be integers in [-(2^53)+1, 2^53-1], written without exponent, fraction or `-0`.
//   Non-integers, NaN and ±Infinity are rejected (`CanonicalJsonError`). A JS number such as `1e10` is the
//   integer 10000000000 (the appendix example turns `-0, 1e10` into `0, 10000000000`).
//
// Lenient mode (room versions 1–5, where `strictCanonicalJson` is false: "Servers MUST NOT strictly
// enforce the JSON format ... Servers SHOULD be capable of handling JSON which is considered invalid by
// these restrictions where possible") additionally accepts integers outside the range and non-integer
// numbers, formatting them the way the reference implementation (Python canonicaljson/simplejson, i.e.
// Synapse) does, so that hashes and signatures made by Synapse on such events still verify:
// - integers of any magnitude are written as plain decimal digits (Python `int`);
// - non-integers are written like Python's `repr(float)`: shortest round-trip digits, fixed notation when
//   the decimal exponent is in [-4, 16), otherwise `d.ddde-XX` (sign always, at least two digits).
// Known limit: `JSON.parse` cannot tell `1.0` or `1e20` (Python floats) from `1` or `100000000000000000000`
// (Python ints), nor keep integers beyond 2^53 exact; such events may fail their hash check here. Pass
// `bigint` values (e.g. from a lossless parser) to keep large integers exact.

/** Raised when a value cannot be encoded as canonical JSON. `path` points at the offending value. */
export class CanonicalJsonError extends Error {
  override name = "CanonicalJsonError";
  constructor(
    /** What is wrong, without the path. */
    readonly reason: string,
    readonly path: string,
  ) {
    super(path === "" ? reason : `${reason} at ${path}`);
  }
}

export interface CanonicalJsonOptions {
  /** Lenient mode for room versions 1–5 (see the header comment). Default: strict. */
  readonly lenient?: boolean;
}

/** Largest magnitude allowed for integers in strict canonical JSON: 2^53 - 1. */
export const CANONICAL_JSON_MAX_INT = Number.MAX_SAFE_INTEGER;
/** Smallest integer allowed in strict canonical JSON: -(2^53) + 1. */
export const CANONICAL_JSON_MIN_INT = -Number.MAX_SAFE_INTEGER;
const MAX_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_BIGINT = -MAX_BIGINT;

/**
 * Nesting deeper than this is rejected. It bounds the recursion (no stack overflow on hostile input,
 * cycles are reported instead of looping). The Python reference stops at its recursion limit (~1000).
 */
export const CANONICAL_JSON_MAX_DEPTH = 512;

const SURROGATE = /[\uD800-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE_OR_SURROGATE = /[\u0000-\u001f"\\\uD800-\uDFFF]/;

/** Strict canonical JSON of `value` as a string. Throws CanonicalJsonError. */
export function canonicalJson(value: unknown, options?: CanonicalJsonOptions): string {
  return encode(value, options?.lenient === true, 0, null, "");
}

/** Lenient canonical JSON (room versions 1–5). */
export function canonicalJsonLenient(value: unknown): string {
  return encode(value, true, 0, null, "");
}

/** Canonical JSON as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown, options?: CanonicalJsonOptions): Uint8Array {
  return UTF8.encode(canonicalJson(value, options));
}
const UTF8 = new TextEncoder();

/** UTF-8 length in bytes of a JS string (without allocating the bytes). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/**
 * Checks that `value` is valid strict canonical JSON input (integers in range, no floats, no lone
 * surrogates, only JSON types); returns the first problem, or null. Use it to answer M_BAD_JSON on the
 * client API for room versions 6+.
 */
export function canonicalJsonProblem(value: unknown, options?: CanonicalJsonOptions): string | null {
  try {
    canonicalJson(value, options);
    return null;
  } catch (e) {
    if (e instanceof CanonicalJsonError) return e.message;
    throw e;
  }
}

// `path` is built lazily: `parentPath` + `key` are only joined when an error is raised.
function encode(value: unknown, lenient: boolean, depth: number, parent: PathNode | null, key: string | number): string {
  switch (typeof value) {
    case "string":
      return encodeString(value, parent, key);
    case "number":
      return encodeNumber(value, lenient, parent, key);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      if (!lenient && (value > MAX_BIGINT || value < MIN_BIGINT)) {
        throw new CanonicalJsonError("integer out of range [-(2^53)+1, 2^53-1]", pathOf(parent, key));
      }
      return value.toString();
    case "object": {
      if (value === null) return "null";
      if (depth >= CANONICAL_JSON_MAX_DEPTH) {
        throw new CanonicalJsonError(`nesting deeper than ${CANONICAL_JSON_MAX_DEPTH} (or a cycle)`, pathOf(parent, key));
      }
      const here: PathNode = { parent, key };
      if (Array.isArray(value)) return encodeArray(value, lenient, depth + 1, here);
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalJsonError(`not a JSON value (${describe(value)})`, pathOf(parent, key));
      }
      return encodeObject(value as Record<string, unknown>, lenient, depth + 1, here);
    }
    default:
      throw new CanonicalJsonError(`not a JSON value (${typeof value})`, pathOf(parent, key));
  }
}

function encodeString(s: string, parent: PathNode | null, key: string | number): string {
  // Fast path: nothing to escape and no surrogates, so JSON.stringify(s) would be `"` + s + `"`.
  if (!NEEDS_ESCAPE_OR_SURROGATE.test(s)) return '"' + s + '"';
  // Strings without surrogates are always well-formed; isWellFormed is only needed when one is present.
  if (SURROGATE.test(s) && !s.isWellFormed()) {
    throw new CanonicalJsonError("string contains a lone surrogate (not encodable as UTF-8)", pathOf(parent, key));
  }
  return JSON.stringify(s);
}

function encodeNumber(n: number, lenient: boolean, parent: PathNode | null, key: string | number): string {
  if (Number.isSafeInteger(n)) return n === 0 ? "0" : String(n); // -0 becomes 0
  if (!Number.isFinite(n)) throw new CanonicalJsonError(`${n} is not a JSON number`, pathOf(parent, key));
  if (!lenient) {
    if (Number.isInteger(n)) {
      throw new CanonicalJsonError("integer out of range [-(2^53)+1, 2^53-1]", pathOf(parent, key));
    }
    throw new CanonicalJsonError("floats are not allowed in canonical JSON", pathOf(parent, key));
  }
  if (Number.isInteger(n)) return BigInt(n).toString();
  return pythonFloatRepr(n);
}

function encodeArray(a: readonly unknown[], lenient: boolean, depth: number, here: PathNode): string {
  const n = a.length;
  if (n === 0) return "[]";
  let out = "[" + encodeElement(a[0], lenient, depth, here, 0);
  for (let i = 1; i < n; i++) out += "," + encodeElement(a[i], lenient, depth, here, i);
  return out + "]";
}

function encodeElement(v: unknown, lenient: boolean, depth: number, here: PathNode, i: number): string {
  // JSON.stringify would write `null` for undefined array slots, silently changing what is hashed.
  if (v === undefined) throw new CanonicalJsonError("undefined is not a JSON value", pathOf(here, i));
  return encode(v, lenient, depth, here, i);
}

function encodeObject(o: Record<string, unknown>, lenient: boolean, depth: number, here: PathNode): string {
  const keys = Object.keys(o);
  const n = keys.length;
  if (n === 0) return "{}";
  let needCodePointSort = false;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    if (SURROGATE.test(k)) {
      if (!k.isWellFormed()) {
        throw new CanonicalJsonError("key contains a lone surrogate (not encodable as UTF-8)", pathOf(here, k));
      }
      needCodePointSort = true;
    }
  }
  if (n > 1) {
    if (needCodePointSort) keys.sort(compareCodePoints);
    else keys.sort(); // default sort: by UTF-16 code unit, equal to code-point order for BMP-only keys
  }
  let out = "{";
  let first = true;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const v = o[k];
    // Members whose value is undefined are absent in JSON (as with JSON.stringify, and as on the wire).
    if (v === undefined) continue;
    out += (first ? "" : ",") + encodeString(k, here, k) + ":" + encode(v, lenient, depth, here, k);
    first = false;
  }
  return out + "}";
}

/**
 * Orders two well-formed strings by Unicode code point. Compares UTF-16 units and, at the first
 * difference, maps surrogates (D800–DFFF) above E000–FFFF so that astral characters sort last, as their
 * code points (≥ 0x10000) do. Exported for modules that must order keys the way canonical JSON does.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
        y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/**
 * Python's `repr(float)` for a finite non-integer double (what simplejson, hence Synapse, emits).
 * Python and ECMAScript both choose the shortest digit string that round-trips; they differ only in
 * layout: Python uses fixed notation when -4 <= exponent < 16, otherwise `<digits>e<sign><2+ digits>`.
 */
export function pythonFloatRepr(x: number): string {
  const [mant, expStr] = x.toExponential().split("e") as [string, string];
  const exp = Number(expStr); // x = d.ddd × 10^exp
  const neg = mant.startsWith("-");
  const digits = (neg ? mant.slice(1) : mant).replace(".", "");
  const sign = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    const e = Math.abs(exp);
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" + e : e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${"0".repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

interface PathNode {
  readonly parent: PathNode | null;
  readonly key: string | number;
}

function pathOf(parent: PathNode | null, key: string | number): string {
  const parts: (string | number)[] = [key];
  for (let p = parent; p !== null; p = p.parent) parts.push(p.key);
  parts.reverse();
  let s = "";
  // parts[0] is the root's placeholder key.
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    s += typeof part === "number" ? `[${part}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return s.startsWith(".") ? s.slice(1) : s;
}

function describe(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" ? name : "object";
}
