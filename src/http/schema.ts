// The parsers endpoint declarations use (src/http/endpoint.ts) for path parameters (`param`), query
// parameters (`query`) and JSON bodies (`body`), with the spec's errors: a malformed value is
// 400 M_INVALID_PARAM, a missing required one 400 M_MISSING_PARAM, a body that is not a JSON object
// 400 M_NOT_JSON. Each parser is a plain function, so a module may write its own beside these.
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import { isValidEventId, isValidRoomId, isValidUserId, type EventId, type RoomId, type UserId } from "../protocol/ids.ts";
import { jsonBody } from "./params.ts";
import type { BodyParser, ParamParser, QueryParser } from "./endpoint.ts";

export const param = {
  /** A room ID (!opaque:server). */
  roomId: ((v) => {
    if (!v || !isValidRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    return v;
  }) as ParamParser<RoomId>,
  /** An event ID ($opaque). */
  eventId: ((v) => {
    if (!v || !isValidEventId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
    return v;
  }) as ParamParser<EventId>,
  /** A user ID (@local:server). */
  userId: ((v) => {
    if (v === undefined || v === "") throw new MatrixError("M_MISSING_PARAM", "Missing user ID");
    if (!isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    return v;
  }) as ParamParser<UserId>,
  /** A non-empty segment of at most 255 characters (event types, transaction IDs, aliases). */
  segment: (what: string): ParamParser<string> => (v) => {
    if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
    if (v.length > 255) throw new MatrixError("M_INVALID_PARAM", `${what} too long`);
    return v;
  },
  /** `segment` when present (routes declared with and without it). */
  optSegment: (what: string): ParamParser<string | undefined> => (v, name) => (v === undefined ? undefined : param.segment(what)(v, name)),
  /** A non-empty segment, any length. */
  nonEmpty: (what: string): ParamParser<string> => (v) => {
    if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
    return v;
  },
  /** The segment as routed (possibly empty, e.g. a state key). */
  raw: ((v) => v ?? "") as ParamParser<string>,
  /** An optional segment (routes declared with and without it). */
  optional: ((v) => v) as ParamParser<string | undefined>,
};

export const query = {
  /** A string ("" counts as absent). */
  str: ((q, name) => {
    const v = q.get(name);
    return v === null || v === "" ? undefined : v;
  }) as QueryParser<string | undefined>,
  /** A string as given ("" kept); undefined when absent. */
  raw: ((q, name) => q.get(name) ?? undefined) as QueryParser<string | undefined>,
  /** Every value of a repeated parameter. */
  all: ((q, name) => q.getAll(name)) as QueryParser<string[]>,
  /** An integer ≥ min; `def` (undefined unless given) when absent or empty. */
  int: <D extends number | undefined = undefined>(opts: { min?: number; def?: D } = {}): QueryParser<number | D> => (q, name) => {
    const v = q.get(name);
    if (v === null || v === "") return opts.def as D;
    if (!/^-?\d{1,16}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be an integer`);
    const n = Number(v);
    const min = opts.min ?? 0;
    if (n < min || !Number.isSafeInteger(n)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be at least ${min}`);
    return n;
  },
  /** A required user ID. */
  userId: ((q, name) => {
    const v = q.get(name);
    if (v === null || v === "") throw new MatrixError("M_MISSING_PARAM", `Missing '${name}'`);
    if (!isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", `Invalid '${name}'`);
    return v;
  }) as QueryParser<UserId>,
  /** An optional room ID. */
  roomId: ((q, name) => {
    const v = q.get(name);
    return v === null ? undefined : param.roomId(v, name);
  }) as QueryParser<RoomId | undefined>,
  /** "true" / "false"; undefined when absent. */
  bool: ((q, name) => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (v !== "true" && v !== "false") throw new MatrixError("M_INVALID_PARAM", `'${name}' must be true or false`);
    return v === "true";
  }) as QueryParser<boolean | undefined>,
  /** "b" or "f": `def` when absent, or 400 M_MISSING_PARAM when def is "required". */
  dir: (def: "b" | "f" | "required"): QueryParser<"b" | "f"> => (q, name) => {
    const v = q.get(name);
    if (v === null) {
      if (def === "required") throw new MatrixError("M_MISSING_PARAM", `Missing '${name}'`);
      return def;
    }
    if (v !== "b" && v !== "f") throw new MatrixError("M_INVALID_PARAM", `'${name}' must be 'b' or 'f'`);
    return v;
  },
};

export const body = {
  /** A JSON object (an absent or empty body counts as {}); anything else is 400 M_NOT_JSON. */
  object: ((b) => jsonBody(b) as JsonObject) as BodyParser<JsonObject>,
  /** Left as sent (the handler checks it, e.g. a signed event or a raw upload). */
  any: ((b) => b) as BodyParser<unknown>,
};
