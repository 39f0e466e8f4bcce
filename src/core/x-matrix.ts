// Request authentication between servers: the JSON object a request's signature covers and the
// `Authorization: X-Matrix ...` header. Spec: server-server-api.md "Request Authentication".
//
// Parsing follows RFC 9110 §11.4 leniently, as the spec asks and as Synapse does: scheme and parameter
// names are case-insensitive; spaces and tabs around `=` and commas are allowed; values may be quoted
// (backslash escapes are unescaped) or bare, and bare values may contain colons (`origin=example.org:8448`)
// and Base64 padding. Several Authorization headers arrive joined by commas (Fetch `Headers.get`), so one
// string may hold several credentials; unknown schemes and parameters are ignored.
import { encodeBase64 } from "./base64.ts";
import { canonicalJsonLenient } from "./canonical-json.ts";
import type { SigningKey } from "./signing.ts";

export interface AuthCredentials {
  /** The scheme as sent (compare case-insensitively). */
  scheme: string;
  /** Parameters with lower-cased names; for a repeated name the last value wins. */
  params: Record<string, string>;
}

const WS = new Set([" ", "\t"]);

/**
 * Splits an Authorization header value (possibly several, comma-joined) into credentials. Never
 * throws: malformed pieces are skipped.
 */
export function parseAuthorization(header: string): AuthCredentials[] {
  const out: AuthCredentials[] = [];
  let cur: AuthCredentials | undefined;
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && WS.has(header[i]!)) i++;
  };
  while (i < n) {
    while (i < n && (WS.has(header[i]!) || header[i] === ",")) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !WS.has(header[i]!) && header[i] !== "=" && header[i] !== ",") i++;
    const token = header.slice(start, i);
    skipWs();
    if (header[i] === "=" && token !== "") {
      // A parameter of the current credentials.
      i++;
      skipWs();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote (or end of input)
      } else {
        const vs = i;
        while (i < n && header[i] !== "," && !WS.has(header[i]!)) i++;
        value = header.slice(vs, i);
      }
      if (cur) cur.params[token.toLowerCase()] = value;
      continue;
    }
    if (token === "") {
      i++; // a stray character: skip it
      continue;
    }
    cur = { scheme: token, params: {} };
    out.push(cur);
  }
  return out;
}

export interface XMatrixAuth {
  origin: string;
  /** Absent in requests from servers older than spec v1.3. */
  destination?: string;
  /** The key ID, e.g. `ed25519:abc`. */
  key: string;
  /** Unpadded Base64 signature. */
  sig: string;
}

/**
 * The X-Matrix credentials in an Authorization header value. Credentials missing `origin`, `key` or
 * `sig` are reported in `incomplete` (the caller answers 401).
 */
export function parseXMatrix(header: string): { auths: XMatrixAuth[]; incomplete: number } {
  const auths: XMatrixAuth[] = [];
  let incomplete = 0;
  for (const c of parseAuthorization(header)) {
    if (c.scheme.toLowerCase() !== "x-matrix") continue;
    const p = c.params;
    const sig = p.sig ?? p.signature;
    if (!p.origin || !p.key || !sig) {
      incomplete++;
      continue;
    }
    auths.push({ origin: p.origin, destination: p.destination, key: p.key, sig });
  }
  return { auths, incomplete };
}

function quote(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Formats one X-Matrix credential the way the spec asks senders to (one space, lower-case names). */
export function formatXMatrix(a: XMatrixAuth): string {
  const dest = a.destination !== undefined ? `,destination=${quote(a.destination)}` : "";
  return `X-Matrix origin=${quote(a.origin)}${dest},key=${quote(a.key)},sig=${quote(a.sig)}`;
}

export interface RequestToSign {
  method: string;
  /** Path and query exactly as sent, starting with `/_matrix/`. */
  uri: string;
  origin: string;
  destination: string;
  /** The JSON body; undefined when the request has none. */
  content?: unknown;
}

/** The object whose signature authenticates a request (step 1 of "Request Authentication"). */
export function requestSigningObject(r: RequestToSign): Record<string, unknown> {
  const obj: Record<string, unknown> = { method: r.method, uri: r.uri, origin: r.origin, destination: r.destination };
  if (r.content !== undefined) obj.content = r.content;
  return obj;
}

/**
 * The canonical JSON that a request signature covers. Lenient canonical JSON: transactions may carry
 * events of room versions 1–5 with numbers outside the strict range.
 */
export function requestSignedContent(r: RequestToSign): string {
  return canonicalJsonLenient(requestSigningObject(r));
}

/** Signs a request: the Authorization header value. */
export function signRequest(r: RequestToSign, key: SigningKey): string {
  const sig = encodeBase64(key.sign(requestSignedContent(r)));
  return formatXMatrix({ origin: r.origin, destination: r.destination, key: key.keyId, sig });
}
