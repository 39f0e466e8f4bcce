// Unpadded Base64, standard and URL-safe alphabets.
// Spec: content/appendices.md "Unpadded Base64" and "URL-safe unpadded Base64".
//
// Encoding always omits `=` padding. Decoding accepts input with or without padding ("implementations
// SHOULD accept input with or without padding characters wherever possible"), but is otherwise strict:
// characters outside the alphabet, whitespace, misplaced or excess padding, and impossible lengths
// (length ≡ 1 mod 4) are errors. Non-zero unused trailing bits are tolerated (RFC 4648 §3.5 lets decoders
// choose; the Python reference, unpaddedbase64, tolerates them too).

/** Raised when a string is not valid (unpadded or padded) Base64. */
export class Base64Error extends Error {
  override name = "Base64Error";
}

/** Which alphabet `decodeBase64` accepts. `any` accepts both `+/` and `-_` (never whitespace). */
export type Base64Alphabet = "standard" | "url" | "any";

const STANDARD_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_RE = /^[A-Za-z0-9_-]*={0,2}$/;
const ANY_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Standard unpadded Base64 (`+`, `/`). */
export function encodeBase64(bytes: Uint8Array): string {
  return bytes.toBase64({ omitPadding: true });
}

/** URL-safe unpadded Base64 (`-`, `_`). */
export function encodeBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * Decode Base64 with or without padding. `alphabet` defaults to `standard`; `any` accepts either
 * alphabet (the Python reference implementation does the same). Throws Base64Error on invalid input.
 */
export function decodeBase64(s: string, alphabet: Base64Alphabet = "standard"): Uint8Array {
  const re = alphabet === "standard" ? STANDARD_RE : alphabet === "url" ? URL_RE : ANY_RE;
  if (!re.test(s)) throw new Base64Error("invalid base64: unexpected character");
  let body = s;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  if (pad > 0) {
    // Padding is only valid when it completes the final quantum exactly.
    if (s.length % 4 !== 0) throw new Base64Error("invalid base64: bad padding");
    body = s.slice(0, s.length - pad);
    if (body.length % 4 !== 4 - pad) throw new Base64Error("invalid base64: bad padding");
  }
  if (body.length % 4 === 1) throw new Base64Error("invalid base64: impossible length");
  if (alphabet === "any" && (body.includes("-") || body.includes("_"))) {
    body = body.replaceAll("-", "+").replaceAll("_", "/");
  }
  // The body is now validated; the native decoder handles missing padding ("loose" mode).
  return Uint8Array.fromBase64(body, { alphabet: alphabet === "url" ? "base64url" : "base64" });
}

/** URL-safe Base64 decoding (padded or not). */
export function decodeBase64Url(s: string): Uint8Array {
  return decodeBase64(s, "url");
}

/** True when `s` decodes as Base64 in the given alphabet. */
export function isValidBase64(s: string, alphabet: Base64Alphabet = "standard"): boolean {
  try {
    decodeBase64(s, alphabet);
    return true;
  } catch {
    return false;
  }
}
