// SQL for registration tokens (Synapse's model: uses_allowed, pending, completed, expiry_time).
import type { Db, Queryable } from "../engines/db.ts";

export interface RegistrationToken {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

interface Row {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

const COLS = "token, uses_allowed, pending, completed, expiry_time";
const toToken = (r: Row): RegistrationToken => ({
  token: r.token,
  uses_allowed: r.uses_allowed === null ? null : Number(r.uses_allowed),
  pending: Number(r.pending),
  completed: Number(r.completed),
  expiry_time: r.expiry_time === null ? null : Number(r.expiry_time),
});

/** SQL condition: the token can still be used at time ? (one parameter). */
const VALID = "(uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > ?)";

export class RegistrationTokensRepo {
  constructor(private readonly db: Db) {}

  /** All tokens, or only the valid (true) / invalid (false) ones at `now`. */
  async list(valid: boolean | undefined, now: number): Promise<RegistrationToken[]> {
    const where = valid === undefined ? "" : valid ? ` WHERE ${VALID}` : ` WHERE NOT (${VALID})`;
    const rows = await this.db.all<Row>(`SELECT ${COLS} FROM registration_tokens${where} ORDER BY created_ts, token`, valid === undefined ? [] : [now]);
    return rows.map(toToken);
  }

  async find(token: string, q: Queryable = this.db): Promise<RegistrationToken | undefined> {
    const r = await q.get<Row>(`SELECT ${COLS} FROM registration_tokens WHERE token = ?`, [token]);
    return r && toToken(r);
  }

  /** False when the token already exists. */
  async insert(t: { token: string; uses_allowed: number | null; expiry_time: number | null }, now: number): Promise<boolean> {
    const n = await this.db.run(
      `INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_time, created_ts) VALUES (?, ?, 0, 0, ?, ?)
       ON CONFLICT (token) DO NOTHING`,
      [t.token, t.uses_allowed, t.expiry_time, now],
    );
    return n === 1;
  }

  /** Updates the given attributes; undefined when the token does not exist. */
  async update(token: string, attrs: { uses_allowed?: number | null; expiry_time?: number | null }): Promise<RegistrationToken | undefined> {
    return this.db.transaction(async (tx) => {
      const sets: string[] = [];
      const params: (number | null)[] = [];
      if ("uses_allowed" in attrs) {
        sets.push("uses_allowed = ?");
        params.push(attrs.uses_allowed ?? null);
      }
      if ("expiry_time" in attrs) {
        sets.push("expiry_time = ?");
        params.push(attrs.expiry_time ?? null);
      }
      if (sets.length > 0) await tx.run(`UPDATE registration_tokens SET ${sets.join(", ")} WHERE token = ?`, [...params, token]);
      return this.find(token, tx);
    });
  }

  /** True when deleted. */
  async delete(token: string): Promise<boolean> {
    return (await this.db.run("DELETE FROM registration_tokens WHERE token = ?", [token])) === 1;
  }

  /** Reserves one use of a valid token (pending + 1); false when unknown or no longer valid. */
  async reserve(token: string, now: number): Promise<boolean> {
    const n = await this.db.run(`UPDATE registration_tokens SET pending = pending + 1 WHERE token = ? AND ${VALID}`, [token, now]);
    return n === 1;
  }

  /** A reserved use was spent on a registration (pending - 1, completed + 1). */
  async complete(q: Queryable, token: string): Promise<void> {
    await q.run("UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 WHERE token = ? AND pending > 0", [token]);
  }

  /** A reserved use was abandoned (its session expired). */
  async release(token: string): Promise<void> {
    await this.db.run("UPDATE registration_tokens SET pending = pending - 1 WHERE token = ? AND pending > 0", [token]);
  }
}
