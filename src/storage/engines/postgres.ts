// PostgreSQL adapter on postgres.js. Rewrites `?` placeholders to `$n`, parses int8 as numbers,
// and takes a unix-socket directory from the URL's `host` query parameter (libpq style), which
// postgres.js itself ignores.
import postgres from "postgres";
import { normalizeParams, type Db, type DbPubSub, type Queryable, type SqlParam } from "./db.ts";

/** `?` → `$1, $2, …`, leaving quoted strings and identifiers alone. */
export function rewritePlaceholders(sql: string): string {
  let out = "";
  let n = 0;
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === "?") {
      out += `$${++n}`;
    } else out += ch;
  }
  return out;
}

const cache = new Map<string, string>();
function pg(sql: string): string {
  let r = cache.get(sql);
  if (r === undefined) {
    r = rewritePlaceholders(sql);
    if (cache.size < 5000) cache.set(sql, r);
  }
  return r;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- postgres.js's custom-type generics
type Sql = postgres.Sql<any> | postgres.TransactionSql<any>;

function queryable(sql: Sql, inTransaction = false): Queryable {
  const q = (text: string, params?: readonly SqlParam[]) =>
    sql.unsafe(pg(text), normalizeParams(params) as never[], { prepare: true });
  return {
    async all<T>(text: string, params?: readonly SqlParam[]) {
      return [...(await q(text, params))] as T[];
    },
    async get<T>(text: string, params?: readonly SqlParam[]) {
      const rows = await q(text, params);
      return rows[0] as T | undefined;
    },
    async run(text: string, params?: readonly SqlParam[]) {
      return (await q(text, params)).count;
    },
    // postgres.js fails a transaction in which any query failed, unless it failed in a savepoint scope.
    ...(inTransaction
      ? { savepoint: <T>(fn: (tx: Queryable) => Promise<T>) => (sql as postgres.TransactionSql).savepoint((sp) => fn(queryable(sp, true))) as Promise<T> }
      : {}),
  };
}

/** Errors meaning the server went away (restart, failover, network): the statement did not run. */
const CONNECTION_LOST = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EPIPE", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"]);

export function isConnectionLost(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && CONNECTION_LOST.has(code);
}

/** How long a request waits for PostgreSQL to come back before the error reaches the client. */
export const RECONNECT_WAIT_MS = 30_000;

/**
 * Runs fn, retrying with back-off while PostgreSQL is unreachable (a restart underneath a running
 * server): requests wait for the database instead of failing, up to RECONNECT_WAIT_MS.
 */
export async function retryOnConnectionLoss<T>(fn: () => Promise<T>, waitMs = RECONNECT_WAIT_MS, closed: () => boolean = () => false): Promise<T> {
  const deadline = Date.now() + waitMs;
  let delay = 50;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      // Our own pool closing (shutdown) ends the wait: nothing will come back.
      if (!isConnectionLost(e) || closed() || Date.now() + delay > deadline) throw e;
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 1000);
    }
  }
}

export function openPostgres(url: string, maxConnections = 10): Db {
  const u = new URL(url);
  const socketDir = u.searchParams.get("host");
  u.searchParams.delete("host");
  const options = {
    onnotice: () => {},
    ...(socketDir ? { host: socketDir } : {}),
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => x.toString(),
        parse: (x: string) => Number(x),
      },
    },
  };
  const sql = postgres(u.toString(), { ...options, max: maxConnections });
  // Opened on first use (only several-process bookkeeping uses it).
  let relaxedSql: ReturnType<typeof postgres> | undefined;
  const relaxedPool = () => (relaxedSql ??= postgres(u.toString(), { ...options, max: 2, connection: { synchronous_commit: "off" } }));
  const base = queryable(sql);
  // Once closing, new queries fail at once instead of reaching a pool that is shutting down (a query
  // queued on a closing connection makes postgres.js write to a socket it has already dropped, an
  // error no caller can catch).
  let closed = false;
  const open = <T>(fn: () => Promise<T>): Promise<T> => (closed ? Promise.reject(new Error("the database is closed")) : retryOnConnectionLoss(fn, RECONNECT_WAIT_MS, () => closed));
  const pubsub: DbPubSub = {
    async listen(channel, onMessage, onConnect) {
      if (closed) throw new Error("the database is closed");
      // postgres.js keeps one extra connection for every LISTEN and re-issues them after a reconnect,
      // calling onlisten each time.
      const l = await sql.listen(channel, onMessage, onConnect);
      return async () => {
        if (!closed) await l.unlisten().catch(() => {});
      };
    },
    async notify(channel, payload) {
      await open(() => relaxedPool().notify(channel, payload));
    },
  };
  const relaxedBase: Queryable = {
    all: (text, params) => queryable(relaxedPool()).all(text, params),
    get: (text, params) => queryable(relaxedPool()).get(text, params),
    run: (text, params) => queryable(relaxedPool()).run(text, params),
  };
  const relaxed: Queryable = {
    all: (text, params) => open(() => relaxedBase.all(text, params)),
    get: (text, params) => open(() => relaxedBase.get(text, params)),
    run: (text, params) => open(() => relaxedBase.run(text, params)),
  };
  return {
    dialect: "postgres",
    pubsub,
    relaxed,
    all: (text, params) => open(() => base.all(text, params)),
    get: (text, params) => open(() => base.get(text, params)),
    run: (text, params) => open(() => base.run(text, params)),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      // A transaction cut off by a lost connection was rolled back by the server: run it again.
      return open(async () => (await sql.begin((tx) => fn(queryable(tx, true)))) as T);
    },
    async exec(script: string) {
      if (closed) throw new Error("the database is closed");
      await sql.unsafe(script);
    },
    async close() {
      closed = true;
      await Promise.all([sql.end({ timeout: 5 }), relaxedSql?.end({ timeout: 5 })]);
    },
  };
}
