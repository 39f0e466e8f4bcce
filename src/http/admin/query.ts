// Query parameters of the Synapse admin API, with Synapse's errors: booleans are "true"/"false",
// integers are non-negative decimal strings; anything else is 400 M_INVALID_PARAM.
import { MatrixError } from "../../protocol/errors.ts";

export type Query = Record<string, string | undefined>;

export function queryBool(q: Query, name: string): boolean | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (v !== "true" && v !== "false") throw new MatrixError("M_INVALID_PARAM", `Boolean query parameter '${name}' must be one of ['true', 'false']`);
  return v === "true";
}

export function queryInt(q: Query, name: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  const min = opts.min ?? 0;
  if (!/^[0-9]{1,15}$/.test(v) || Number(v) < min || (opts.max !== undefined && Number(v) > opts.max)) {
    throw new MatrixError("M_INVALID_PARAM", `Query parameter '${name}' must be a string representing an integer ≥ ${min}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ""}`);
  }
  return Number(v);
}

/** Every value of a repeated query parameter (Elysia keeps only the last). */
export function queryAll(request: Request, name: string): string[] {
  return new URL(request.url).searchParams.getAll(name);
}
