// Registration tokens (spec: "Token-authenticated registration", v1.2), managed as in Synapse's
// admin API: a token has an optional number of allowed uses and an optional expiry time; `pending`
// counts registrations in progress that passed the token stage, `completed` those that finished.
// Used by the admin API, `hs admin tokens` (offline on the database) and the m.login.registration_token
// UIA stage.
import { invalidParam, notFound } from "../protocol/errors.ts";
import type { Queryable } from "../storage/engines/db.ts";
import { RegistrationTokensRepo, type RegistrationToken } from "../storage/repos/registration-tokens.ts";
import type { Repositories } from "../storage/repos/index.ts";
import { randomString } from "../util/random.ts";
import type { StageChecker } from "./uia.ts";

export type { RegistrationToken };

/** The characters a token may contain (the spec's opaque identifier grammar). */
export const TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
const TOKEN_RE = /^[A-Za-z0-9._~-]{1,64}$/;

export interface NewTokenRequest {
  token?: unknown;
  length?: unknown;
  uses_allowed?: unknown;
  expiry_time?: unknown;
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

export class RegistrationTokens {
  readonly store: RegistrationTokensRepo;

  /** The UIA stage m.login.registration_token: reserves one use of the token for this registration session. */
  readonly uiaStage: StageChecker = async (authDict) => {
    if (typeof authDict.token !== "string") return { ok: false, errcode: "M_MISSING_PARAM", error: "Missing 'token'" };
    if (!(await this.reserve(authDict.token))) return { ok: false, errcode: "M_UNAUTHORIZED", error: "Invalid registration token" };
    return { ok: true, serverData: { registration_token: authDict.token } };
  };

  /** A registration session expired: the use it reserved goes back to the token. */
  readonly uiaSessionExpired = async (data: Record<string, unknown>): Promise<void> => {
    if (typeof data.registration_token === "string") await this.release(data.registration_token);
  };

  constructor(storage: Pick<Repositories, "registrationTokens">, private readonly now: () => number = Date.now) {
    this.store = storage.registrationTokens;
  }

  list(valid?: boolean): Promise<RegistrationToken[]> {
    return this.store.list(valid, this.now());
  }

  async get(token: string): Promise<RegistrationToken> {
    const t = await this.store.find(token);
    if (!t) throw notFound(`No such registration token: ${token}`);
    return t;
  }

  private checkUses(v: unknown): number | null {
    if (v === null || v === undefined) return null;
    if (!isInt(v) || v < 0) throw invalidParam("uses_allowed must be a non-negative integer or null");
    return v;
  }

  private checkExpiry(v: unknown): number | null {
    if (v === null || v === undefined) return null;
    if (!isInt(v)) throw invalidParam("expiry_time must be an integer or null");
    if (v < this.now()) throw invalidParam("expiry_time must not be in the past");
    return v;
  }

  /** Creates a token (Synapse's POST /registration_tokens/new rules); M_INVALID_PARAM on bad input. */
  async create(req: NewTokenRequest): Promise<RegistrationToken> {
    let token: string | undefined;
    let length = 16;
    if (req.token !== undefined) {
      if (typeof req.token !== "string") throw invalidParam("token must be a string");
      if (req.token.length === 0 || req.token.length > 64) throw invalidParam("token must not be empty and must not be longer than 64 characters");
      if (!TOKEN_RE.test(req.token)) throw invalidParam("token must consist only of characters matched by the regex [A-Za-z0-9._~-]");
      token = req.token;
    } else if (req.length !== undefined) {
      if (!isInt(req.length)) throw invalidParam("length must be an integer");
      if (req.length <= 0 || req.length > 64) throw invalidParam("length must be greater than zero and not greater than 64");
      length = req.length;
    }
    const uses_allowed = this.checkUses(req.uses_allowed);
    const expiry_time = this.checkExpiry(req.expiry_time);
    if (token !== undefined) {
      if (!(await this.store.insert({ token, uses_allowed, expiry_time }, this.now()))) throw invalidParam(`Token already exists: ${token}`);
    } else {
      // Short generated tokens can collide: retry with fresh ones.
      for (let attempt = 0; ; attempt++) {
        // Starts with a letter or digit, so that a command line never mistakes it for a flag.
        const candidate = randomString(1, TOKEN_ALPHABET.slice(0, 62)) + randomString(length - 1, TOKEN_ALPHABET);
        if (await this.store.insert({ token: candidate, uses_allowed, expiry_time }, this.now())) {
          token = candidate;
          break;
        }
        if (attempt > 20) throw invalidParam("could not generate an unused token of this length");
      }
    }
    return { token, uses_allowed, pending: 0, completed: 0, expiry_time };
  }

  /** Updates uses_allowed and/or expiry_time (keys present in `req`); 404 M_NOT_FOUND when unknown. */
  async update(token: string, req: { uses_allowed?: unknown; expiry_time?: unknown }): Promise<RegistrationToken> {
    const attrs: { uses_allowed?: number | null; expiry_time?: number | null } = {};
    if ("uses_allowed" in req) attrs.uses_allowed = this.checkUses(req.uses_allowed);
    if ("expiry_time" in req) attrs.expiry_time = this.checkExpiry(req.expiry_time);
    const t = await this.store.update(token, attrs);
    if (!t) throw notFound(`No such registration token: ${token}`);
    return t;
  }

  async delete(token: string): Promise<void> {
    if (!(await this.store.delete(token))) throw notFound(`No such registration token: ${token}`);
  }

  /** Whether the token could be used to register now (GET .../validity). */
  async isValid(token: string): Promise<boolean> {
    const t = await this.store.find(token);
    if (!t) return false;
    if (t.expiry_time !== null && t.expiry_time <= this.now()) return false;
    return t.uses_allowed === null || t.pending + t.completed < t.uses_allowed;
  }

  /** Reserves a use for a registration in progress; false when the token cannot be used. */
  reserve(token: string): Promise<boolean> {
    if (!TOKEN_RE.test(token)) return Promise.resolve(false);
    return this.store.reserve(token, this.now());
  }

  /** The reserved use was spent by a successful registration (inside its transaction). */
  complete(tx: Queryable, token: string): Promise<void> {
    return this.store.complete(tx, token);
  }

  /** The reserved use was abandoned. */
  release(token: string): Promise<void> {
    return this.store.release(token);
  }
}

/**
 * What a registration token needs when the server cannot use it (said by `hs admin tokens create`
 * and the admin console): undefined when registration is token-only, as tokens expect.
 */
export function registrationTokenNotice(mode: "closed" | "token" | "open"): string | undefined {
  if (mode === "closed")
    return 'Registration is closed on this server ([registration] mode = "closed"), so nobody can sign up with a token yet: set mode = "token" in homeserver.toml and restart hs.';
  if (mode === "open")
    return 'Registration is open ([registration] mode = "open"): anyone can sign up without a token. Set mode = "token" in homeserver.toml (and restart hs) to require one.';
  return undefined;
}
