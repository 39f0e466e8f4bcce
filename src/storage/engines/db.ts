// The one database interface the rest of hs sees. SQL is written once with `?` placeholders;
// adapters (sqlite.ts, postgres.ts) rewrite and run it. Booleans are stored as 0/1 integers and
// 64-bit integers come back as JS numbers on both engines.

export type SqlParam = string | number | bigint | boolean | null | Uint8Array;
export type Row = Record<string, unknown>;

export interface Queryable {
  /** All rows. */
  all<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** Runs a statement; resolves to the number of rows changed. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /**
   * Inside a transaction only: runs fn in a savepoint, whose writes are rolled back alone when fn
   * throws (the transaction goes on).
   */
  savepoint?<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

/** Db.transaction as a function: what services receive to group repository calls atomically. */
export type Transaction = <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>;

/**
 * PostgreSQL LISTEN/NOTIFY (absent on SQLite): one dedicated connection, re-established after a
 * loss. Messages sent while it was down are lost: `onConnect` runs after every (re)connection so
 * that the listener can resynchronise.
 */
export interface DbPubSub {
  /** Listens on `channel`; resolves once LISTEN is in place, to a function that stops listening. */
  listen(channel: string, onMessage: (payload: string) => void, onConnect: () => void): Promise<() => Promise<void>>;
  /** pg_notify(channel, payload); payloads are limited to 8000 bytes by PostgreSQL. */
  notify(channel: string, payload: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly dialect: "sqlite" | "postgres";
  /** LISTEN/NOTIFY between processes sharing this database (PostgreSQL only). */
  readonly pubsub?: DbPubSub;
  /**
   * PostgreSQL only: single statements whose commit need not wait for the disk (a small pool with
   * synchronous_commit = off), for bookkeeping that a crash may lose because whatever depends on
   * it commits durably later (WAL is flushed in order): stream allocation, NOTIFY.
   */
  readonly relaxed?: Queryable;
  /**
   * Runs fn inside one transaction: committed when fn resolves, rolled back when it throws.
   * Transactions are serialized on SQLite (one writer); do no network I/O inside one.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a multi-statement script (migrations). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

export function normalizeParams(params: readonly SqlParam[] | undefined): SqlParam[] {
  if (!params) return [];
  return params.map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p));
}

/**
 * Awaits statements issued together — pipelined on one PostgreSQL connection (one round trip for
 * all), run in issue order on SQLite. Unlike Promise.all, every statement has finished before it
 * returns or throws (the first error): nothing still runs once a transaction rolls back.
 */
export async function settleAll<T>(pending: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(pending);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
