// Matrix standard errors: `{"errcode": ..., "error": ...}` with the spec's HTTP status per code.
// Spec: content/client-server-api/_index.md "Standard error response".

/**
 * Every errcode hs sends, with its HTTP status when the thrower names none (the spec's status where
 * it gives one). A code not in this table cannot be thrown: add it here, with its status.
 */
export const ERRCODE_STATUS = {
  M_FORBIDDEN: 403,
  M_UNKNOWN_TOKEN: 401,
  M_MISSING_TOKEN: 401,
  M_USER_LIMIT_EXCEEDED: 403,
  M_USER_LOCKED: 401,
  M_USER_SUSPENDED: 403,
  M_BAD_JSON: 400,
  M_NOT_JSON: 400,
  M_NOT_FOUND: 404,
  M_LIMIT_EXCEEDED: 429,
  M_UNRECOGNIZED: 404,
  M_UNKNOWN: 400,
  M_UNAUTHORIZED: 401,
  M_USER_DEACTIVATED: 403,
  M_USER_IN_USE: 400,
  M_INVALID_USERNAME: 400,
  M_ROOM_IN_USE: 400,
  M_INVALID_ROOM_STATE: 400,
  M_THREEPID_IN_USE: 400,
  M_THREEPID_NOT_FOUND: 400,
  M_THREEPID_AUTH_FAILED: 401,
  M_THREEPID_DENIED: 403,
  M_SERVER_NOT_TRUSTED: 403,
  M_UNSUPPORTED_ROOM_VERSION: 400,
  M_INCOMPATIBLE_ROOM_VERSION: 400,
  M_BAD_STATE: 400,
  M_GUEST_ACCESS_FORBIDDEN: 403,
  M_CAPTCHA_NEEDED: 400,
  M_CAPTCHA_INVALID: 400,
  M_MISSING_PARAM: 400,
  M_INVALID_PARAM: 400,
  M_TOO_LARGE: 413,
  M_EXCLUSIVE: 400,
  M_RESOURCE_LIMIT_EXCEEDED: 403,
  M_CANNOT_LEAVE_SERVER_NOTICE_ROOM: 403,
  M_THREEPID_MEDIUM_NOT_SUPPORTED: 400,
  M_WEAK_PASSWORD: 400,
  M_PASSWORD_TOO_SHORT: 400,
  M_NOT_YET_UPLOADED: 504,
  M_CANNOT_OVERWRITE_MEDIA: 409,
  M_UNKNOWN_POS: 400,
  M_UNABLE_TO_AUTHORISE_JOIN: 400,
  M_UNABLE_TO_GRANT_JOIN: 400,
  M_INVALID_SIGNATURE: 400,
  M_SERVER_NOT_FOUND: 404,
  M_DUPLICATE_ANNOTATION: 400,
  M_INVITE_BLOCKED: 403,
  M_BAD_ALIAS: 400,
  M_UNKNOWN_DEVICE: 400,
  M_KEY_TOO_LARGE: 400,
  M_PROFILE_TOO_LARGE: 400,
  M_WRONG_ROOM_KEYS_VERSION: 403,
  // Application service ping (MSC2659 / v1.7 "Pinging"): the appservice's answer or its absence.
  M_URL_NOT_SET: 400,
  M_BAD_STATUS: 502,
  M_CONNECTION_FAILED: 502,
  M_CONNECTION_TIMEOUT: 504,
} as const satisfies Record<string, number>;

/** A Matrix error code hs may send (see ERRCODE_STATUS). */
export type ErrCode = keyof typeof ERRCODE_STATUS;

const DEFAULT_STATUS: Readonly<Record<string, number>> = ERRCODE_STATUS;

export class MatrixError extends Error {
  readonly errcode: ErrCode;
  readonly status: number;
  readonly extra: Record<string, unknown>;

  constructor(errcode: ErrCode, message: string, extra: Record<string, unknown> = {}, status?: number) {
    super(message);
    this.name = "MatrixError";
    this.errcode = errcode;
    this.status = status ?? DEFAULT_STATUS[errcode] ?? 400;
    this.extra = extra;
  }

  /**
   * An error another server (or service) answered with, passed on as it came: its errcode may be
   * one hs never sends itself.
   */
  static relayed(errcode: string, message: string, extra: Record<string, unknown> = {}, status?: number): MatrixError {
    const e = new MatrixError("M_UNKNOWN", message, extra, status ?? DEFAULT_STATUS[errcode] ?? 400);
    (e as { errcode: string }).errcode = errcode; // relayed verbatim: may be outside ErrCode
    return e;
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

// Shorthands for the errors thrown most often.
export const forbidden = (msg: string) => new MatrixError("M_FORBIDDEN", msg);
export const notFound = (msg: string) => new MatrixError("M_NOT_FOUND", msg);
export const badJson = (msg: string) => new MatrixError("M_BAD_JSON", msg);
export const invalidParam = (msg: string) => new MatrixError("M_INVALID_PARAM", msg);
export const missingParam = (msg: string) => new MatrixError("M_MISSING_PARAM", msg);
export const unrecognized = (msg = "Unrecognized request", status = 404) =>
  new MatrixError("M_UNRECOGNIZED", msg, {}, status);
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError("M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: retryAfterMs });
