// Small checks for JSON request bodies, giving the spec's error codes: a body that is not an
// object → M_NOT_JSON, a missing required key → M_MISSING_PARAM, a key of the wrong type → M_BAD_JSON.
import { MatrixError, badJson, missingParam } from "../protocol/errors.ts";
import { isJsonObject, type JsonObject } from "../protocol/events.ts";

export { isJsonObject, type JsonObject };

/** The body as a JSON object (undefined/empty bodies count as {}). */
export function jsonBody(body: unknown): JsonObject {
  if (body === undefined) return {};
  if (!isJsonObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
  return body;
}

export function optString(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badJson(`'${key}' must be a string`);
  return v;
}

export function reqString(o: JsonObject, key: string): string {
  const v = optString(o, key);
  if (v === undefined) throw missingParam(`Missing '${key}'`);
  return v;
}

export function optBool(o: JsonObject, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badJson(`'${key}' must be a boolean`);
  return v;
}

export function optInt(o: JsonObject, key: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw badJson(`'${key}' must be an integer`);
  return v;
}

/**
 * Longest search term accepted, in UTF-16 code units (user directory, /search, room directory
 * filters, admin listings). A longer one is refused with 400 M_INVALID_PARAM before it reaches a query.
 */
export const MAX_SEARCH_TERM_LENGTH = 1000;

/** `term` unchanged, or 400 M_INVALID_PARAM naming `field` when it is longer than MAX_SEARCH_TERM_LENGTH. */
export function boundedSearchTerm<T extends string | undefined>(term: T, field: string): T {
  if (term !== undefined && term.length > MAX_SEARCH_TERM_LENGTH) {
    throw new MatrixError("M_INVALID_PARAM", `'${field}' is longer than ${MAX_SEARCH_TERM_LENGTH} characters`);
  }
  return term;
}

/** The body without `auth` (the UIA client dict). */
export function withoutAuth(o: JsonObject): JsonObject {
  const { auth: _auth, ...rest } = o;
  return rest;
}
