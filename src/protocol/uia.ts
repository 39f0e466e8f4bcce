// User-interactive authentication wire types (spec: client-server-api "User-Interactive
// Authentication API"; data/api/client-server/definitions/auth_response.yaml).
import { MatrixError, type ErrCode } from "./errors.ts";

export const LOGIN_TYPE_PASSWORD = "m.login.password";
export const LOGIN_TYPE_TOKEN = "m.login.token";
export const LOGIN_TYPE_DUMMY = "m.login.dummy";
export const LOGIN_TYPE_REGISTRATION_TOKEN = "m.login.registration_token";
export const LOGIN_TYPE_APPLICATION_SERVICE = "m.login.application_service";

export interface UiaFlow {
  stages: string[];
}

/** The body of a 401 "more authentication needed" answer. */
export interface AuthResponse {
  flows: UiaFlow[];
  params: Record<string, Record<string, unknown>>;
  session: string;
  completed?: string[];
}

/**
 * A 401 answer asking for (more) user-interactive authentication. Without `error` the body has no
 * errcode (clients such as matrix-js-sdk read an errcode as "the last attempt failed").
 */
export class UiaChallenge extends MatrixError {
  constructor(
    readonly body: AuthResponse,
    readonly failure?: { errcode: ErrCode; error: string },
  ) {
    super(failure?.errcode ?? "M_UNAUTHORIZED", failure?.error ?? "Additional authentication is required", {}, 401);
  }

  override toJSON(): Record<string, unknown> {
    // `completed` is always present, empty at first (as Synapse; some clients expect the key).
    const body: Record<string, unknown> = { ...this.body, completed: this.body.completed ?? [] };
    return this.failure ? { errcode: this.failure.errcode, error: this.failure.error, ...body } : body;
  }
}
