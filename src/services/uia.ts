// User-Interactive Authentication (spec: client-server-api "User-Interactive Authentication API").
//
// An endpoint protected by UIA calls `authenticate(body.auth, spec)` first: it returns once the
// client has completed every stage of one of `spec.flows`, and otherwise throws a UiaChallenge
// (401 with flows, params, session and completed stages, plus errcode/error after a failed stage).
// Sessions live in the database (uia_sessions), so a restart between two stages does not break a
// registration; they expire after SESSION_LIFETIME_MS. A session is bound to the endpoint (method
// and path) and to the user who started it. After the protected operation succeeded, call
// `finish(sessionId)`: a finished session cannot authorise the operation again (a retry gets 401
// with its completed stages, or what `finishedResult` kept, e.g. registration's user).
//
// Stage types are pluggable (`stages`): m.login.dummy, m.login.password and
// m.login.registration_token are built in; other features may add theirs.
import { MatrixError, type ErrCode } from "../protocol/errors.ts";
import { UiaChallenge, type UiaFlow } from "../protocol/uia.ts";
import type { Queryable } from "../storage/engines/db.ts";
import type { Repositories } from "../storage/repos/index.ts";
import { UiaSessionsRepo, type UiaSession } from "../storage/repos/uia-sessions.ts";
import { log } from "../util/log.ts";
import { randomString } from "../util/random.ts";
import { isJsonObject as isObject, type JsonObject } from "../protocol/events.ts";

export type { UiaFlow };

export const SESSION_LIFETIME_MS = 24 * 60 * 60_000;
const CLEANUP_INTERVAL_MS = 10 * 60_000;

/** What a protected request needs. */
export interface UiaSpec {
  flows: UiaFlow[];
  /** Per-stage parameters sent to the client (the `params` of the 401 answer). */
  params?: Record<string, Record<string, unknown>>;
  method: string;
  /** The endpoint path, e.g. "/_matrix/client/v3/account/password". */
  uri: string;
  /** The authenticated user making the request; undefined for registration. */
  userId?: string;
  /** The request body without `auth`: stored with the session and reused when a later request omits it. */
  clientDict?: JsonObject;
  /** Keys of clientDict that are never stored (passwords). Defaults to password and new_password. */
  secretKeys?: string[];
  /** The client's IP address (rate limiting of failed attempts). */
  ip?: string;
}

/** Result of one stage attempt. */
export type StageResult = { ok: true; serverData?: Record<string, unknown> } | { ok: false; errcode: ErrCode; error: string };

export interface StageContext {
  spec: UiaSpec;
  session: UiaSession;
}

/** Checks the auth dict submitted for one stage type. May throw a MatrixError (e.g. 429). */
export type StageChecker = (auth: Record<string, unknown>, ctx: StageContext) => Promise<StageResult>;

export interface UiaOutcome {
  sessionId: string;
  /** The request parameters: from this request, or those stored when this request had none. */
  clientDict: JsonObject;
  /** Data stage checkers stored on the session (e.g. registration_token). */
  serverData: Record<string, unknown>;
  completed: string[];
}

/** Called with the server data of sessions that expired unfinished (e.g. to release a registration token). */
export type SessionExpiryHook = (serverData: Record<string, unknown>) => Promise<void>;


const DEFAULT_SECRET_KEYS = ["password", "new_password"];
/** serverData key of a finished session: what the protected operation left for retries. */
const FINISHED = "finished";
/** serverData keys of values derived from the request's secrets (keepSecret). */
const SECRET_PREFIX = "secret.";

export class UiaService {
  readonly store: UiaSessionsRepo;
  /** Stage checkers by auth type. */
  readonly stages = new Map<string, StageChecker>();
  /** Run for each session that expires before it was finished. */
  readonly onSessionExpired: SessionExpiryHook[] = [];
  private lastCleanup = 0;

  constructor(
    storage: Pick<Repositories, "uiaSessions">,
    private readonly now: () => number = Date.now,
  ) {
    this.store = storage.uiaSessions;
    this.stages.set("m.login.dummy", async () => ({ ok: true }));
  }

  /** Returns when a flow is complete; throws UiaChallenge (401) or another MatrixError otherwise. */
  async authenticate(auth: unknown, spec: UiaSpec): Promise<UiaOutcome> {
    if (auth !== undefined && auth !== null && !isObject(auth)) throw new MatrixError("M_BAD_JSON", "'auth' must be an object");
    const authDict = isObject(auth) ? auth : undefined;
    await this.cleanup();

    const requestDict = spec.clientDict ?? {};
    const secretKeys = spec.secretKeys ?? DEFAULT_SECRET_KEYS;
    const stored = Object.fromEntries(Object.entries(requestDict).filter(([k]) => !secretKeys.includes(k)));

    let session: UiaSession;
    const sessionId = authDict?.session;
    if (sessionId !== undefined) {
      if (typeof sessionId !== "string") throw new MatrixError("M_BAD_JSON", "'auth.session' must be a string");
      const found = await this.store.find(sessionId);
      if (!found || found.createdTs + SESSION_LIFETIME_MS < this.now()) {
        throw new MatrixError("M_UNKNOWN", `Unknown session ID: ${sessionId}`);
      }
      if (found.method !== spec.method || found.uri !== spec.uri) {
        throw new MatrixError("M_FORBIDDEN", "Requested operation has changed during the UI authentication session.");
      }
      if ((found.userId ?? undefined) !== spec.userId) {
        throw new MatrixError("M_FORBIDDEN", "This authentication session belongs to another user.");
      }
      if (found.serverData[FINISHED] !== undefined) {
        // "Completed stages cannot be retried": a retry of a finished session answers 401 with its
        // completed stages; the same session cannot authorise a different request.
        if (Object.keys(requestDict).length > 0 && JSON.stringify(stored) !== JSON.stringify(found.clientDict)) {
          throw new MatrixError("M_FORBIDDEN", "Requested operation has changed during the UI authentication session.");
        }
        throw new UiaChallenge({ flows: spec.flows, params: spec.params ?? {}, session: found.sessionId, completed: [...found.completed] });
      }
      session = found;
    } else {
      session = {
        sessionId: randomString(24),
        userId: spec.userId ?? null,
        method: spec.method,
        uri: spec.uri,
        clientDict: stored,
        serverData: {},
        completed: [],
        createdTs: this.now(),
      };
      await this.store.insert(session);
    }

    // A request with no parameters of its own continues with those stored in the session.
    const clientDict = Object.keys(requestDict).length === 0 ? session.clientDict : requestDict;
    let dirty = Object.keys(requestDict).length > 0 && JSON.stringify(stored) !== JSON.stringify(session.clientDict);
    if (dirty) session.clientDict = stored;

    const challenge = (failure?: { errcode: ErrCode; error: string }) =>
      new UiaChallenge({ flows: spec.flows, params: spec.params ?? {}, session: session.sessionId, completed: [...session.completed] }, failure);

    const type = authDict?.type;
    if (type !== undefined) {
      if (typeof type !== "string") throw new MatrixError("M_BAD_JSON", "'auth.type' must be a string");
      const offered = spec.flows.some((f) => f.stages.includes(type));
      const checker = this.stages.get(type);
      if (!offered || !checker) {
        if (dirty) await this.save(session);
        throw new MatrixError("M_UNRECOGNIZED", `Unrecognised authentication type: ${type}`, {}, 400);
      }
      // Completed stages cannot be retried: an attempt at one just reports the state.
      if (!session.completed.includes(type)) {
        const next = spec.flows.some(
          (f) => session.completed.every((s, i) => f.stages[i] === s) && f.stages[session.completed.length] === type,
        );
        if (!next) {
          if (dirty) await this.save(session);
          throw challenge({ errcode: "M_FORBIDDEN", error: `Stage ${type} is not the next stage of any flow` });
        }
        let result: StageResult;
        try {
          result = await checker(authDict!, { spec, session });
        } catch (e) {
          if (dirty) await this.save(session);
          throw e;
        }
        if (!result.ok) {
          if (dirty) await this.save(session);
          throw challenge({ errcode: result.errcode, error: result.error });
        }
        session.completed.push(type);
        if (result.serverData) Object.assign(session.serverData, result.serverData);
        dirty = true;
      }
    }
    if (dirty) await this.save(session);

    const done = spec.flows.some((f) => f.stages.length <= session.completed.length && f.stages.every((s, i) => session.completed[i] === s));
    if (!done) throw challenge();
    return { sessionId: session.sessionId, clientDict, serverData: session.serverData, completed: [...session.completed] };
  }

  private async save(session: UiaSession): Promise<void> {
    await this.store.update(undefined, session);
  }

  /**
   * Ends a session after the protected operation succeeded (inside its transaction when given).
   * The session is kept, finished, until it expires: a retry of it is answered from `result` (see
   * `finishedResult`) or with its completed stages, never by running the operation again.
   */
  async finish(sessionId: string, tx?: Queryable, result: Record<string, unknown> = {}): Promise<void> {
    const s = await this.store.find(sessionId, tx);
    if (!s) return;
    // Secrets kept for the operation (keepSecret) are not needed any more.
    const serverData = Object.fromEntries(Object.entries(s.serverData).filter(([k]) => !k.startsWith(SECRET_PREFIX)));
    await this.store.update(tx, { ...s, serverData: { ...serverData, [FINISHED]: result } });
  }

  /**
   * Keeps a value derived from a secret of the request (e.g. registration's password hash) with
   * an unfinished session, so that the request completing the session need not send the secret
   * again. Computed only when the session has none yet; dropped when the session is finished.
   */
  async keepSecret(sessionId: string, name: string, compute: () => Promise<string>): Promise<void> {
    const key = SECRET_PREFIX + name;
    const s = await this.store.find(sessionId);
    if (!s || s.serverData[FINISHED] !== undefined || s.serverData[key] !== undefined) return;
    const value = await compute();
    const now = await this.store.find(sessionId);
    if (!now || now.serverData[FINISHED] !== undefined || now.serverData[key] !== undefined) return;
    await this.store.update(undefined, { ...now, serverData: { ...now.serverData, [key]: value } });
  }

  /** A value kept by `keepSecret`, from an outcome's server data. */
  static keptSecret(serverData: Record<string, unknown>, name: string): string | undefined {
    const v = serverData[SECRET_PREFIX + name];
    return typeof v === "string" ? v : undefined;
  }

  /**
   * What the operation of a finished session left (e.g. the registered user), when this request
   * retries it: same session, endpoint, user and parameters (or none). Undefined otherwise.
   */
  async finishedResult(auth: unknown, spec: Pick<UiaSpec, "method" | "uri" | "userId" | "clientDict" | "secretKeys">): Promise<Record<string, unknown> | undefined> {
    const sessionId = isObject(auth) ? auth.session : undefined;
    if (typeof sessionId !== "string") return undefined;
    const s = await this.store.find(sessionId);
    if (!s || s.createdTs + SESSION_LIFETIME_MS < this.now()) return undefined;
    if (s.method !== spec.method || s.uri !== spec.uri || (s.userId ?? undefined) !== spec.userId) return undefined;
    const result = s.serverData[FINISHED];
    if (!isObject(result)) return undefined;
    const secretKeys = spec.secretKeys ?? DEFAULT_SECRET_KEYS;
    const requestDict = spec.clientDict ?? {};
    const stored = Object.fromEntries(Object.entries(requestDict).filter(([k]) => !secretKeys.includes(k)));
    if (Object.keys(requestDict).length > 0 && JSON.stringify(stored) !== JSON.stringify(s.clientDict)) return undefined;
    return result;
  }

  /** Deletes expired sessions (at most every few minutes), running the expiry hooks. */
  private async cleanup(): Promise<void> {
    const now = this.now();
    if (now - this.lastCleanup < CLEANUP_INTERVAL_MS) return;
    this.lastCleanup = now;
    try {
      const expired = await this.store.deleteExpired(now - SESSION_LIFETIME_MS);
      for (const s of expired) {
        if (s.serverData[FINISHED] !== undefined) continue;
        for (const hook of this.onSessionExpired) await hook(s.serverData);
      }
    } catch (e) {
      log.warn("could not clean up expired UIA sessions", { error: (e as Error).message });
    }
  }
}
