// Path and query parameters of client endpoints, with the spec's errors: a malformed value is
// 400 M_INVALID_PARAM, a missing required one 400 M_MISSING_PARAM.
import { MatrixError } from "../../protocol/errors.ts";
import { isValidEventId, isValidRoomId, isValidUserId } from "../../protocol/ids.ts";

export const queryOf = (request: Request): URLSearchParams => new URL(request.url).searchParams;

export function roomIdParam(v: string | undefined): string {
  if (!v || !isValidRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
  return v;
}

export function eventIdParam(v: string | undefined): string {
  if (!v || !isValidEventId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
  return v;
}

export function userIdParam(v: string | undefined | null, name = "user ID"): string {
  if (v === undefined || v === null || v === "") throw new MatrixError("M_MISSING_PARAM", `Missing ${name}`);
  if (!isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", `Invalid ${name}`);
  return v;
}

/** An integer query parameter ≥ min; undefined when absent. */
export function intQuery(q: URLSearchParams, name: string, min = 0): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d{1,16}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be an integer`);
  const n = Number(v);
  if (n < min || !Number.isSafeInteger(n)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be at least ${min}`);
  return n;
}

/** A boolean query parameter ("true"/"false"); undefined when absent. */
export function boolQuery(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (v !== "true" && v !== "false") throw new MatrixError("M_INVALID_PARAM", `'${name}' must be true or false`);
  return v === "true";
}

/** `dir`: "b" or "f" (default when absent). */
export function dirQuery(q: URLSearchParams, def: "b" | "f"): "b" | "f" {
  const v = q.get("dir");
  if (v === null) return def;
  if (v !== "b" && v !== "f") throw new MatrixError("M_INVALID_PARAM", "'dir' must be 'b' or 'f'");
  return v;
}

/** An optional string query parameter ("" counts as absent). */
export function strQuery(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null || v === "" ? undefined : v;
}
