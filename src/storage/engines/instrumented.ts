// Times every database call in one place: a Db wrapper reporting each query's duration (seconds)
// with a stable name for the statement (queryName: verb, table and a short hash of the SQL with its
// placeholder lists collapsed) and the operation (all, get, run, transaction, exec; tx_* inside
// transactions).
import type { Db, Queryable, SqlParam } from "./db.ts";

export type QueryObserver = (op: string, seconds: number, query: string) => void;

const names = new Map<string, string>();
/** Distinct statement names kept; statements beyond it (SQL built at run time) share one label. */
const MAX_NAMES = 4000;

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0").slice(0, 6);
}

/**
 * A stable, bounded name for a SQL statement, e.g. "select_events_3fa2c1": the verb, the first
 * table it reads or writes, and a hash of the normalised text (whitespace, IN-lists of
 * placeholders and numbered parameters collapsed, so a list of 3 or 30 ids is one statement).
 */
export function queryName(sql: string): string {
  const cached = names.get(sql);
  if (cached) return cached;
  const norm = sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\$\d+/g, "?")
    .replace(/\?(\s*,\s*\?)*/g, "?…")
    .replace(/\(\s*\?…\s*\)(\s*,\s*\(\s*\?…\s*\))*/g, "(?…)…")
    .replace(/\s+/g, " ")
    .trim();
  const verb = (/^\s*(\w+)/.exec(norm)?.[1] ?? "sql").toLowerCase();
  const table =
    /\b(?:from|into|update|table(?: if not exists)?|join)\s+"?([A-Za-z_][\w]*)/i.exec(verb === "with" ? norm.replace(/^with .*?\)\s*(select|insert|update|delete)/i, "$1") : norm)?.[1]?.toLowerCase() ?? "";
  const name = `${verb}${table ? `_${table}` : ""}_${fnv1a(norm)}`;
  if (names.size < MAX_NAMES) names.set(sql, name);
  else return "other";
  return name;
}

function timed<T>(observe: QueryObserver, op: string, query: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const done = () => observe(op, (performance.now() - start) / 1000, query);
  const p = run();
  p.then(done, done);
  return p;
}

function timedQueryable(q: Queryable, observe: QueryObserver, prefix: string): Queryable {
  const savepoint = q.savepoint?.bind(q);
  return {
    ...(savepoint ? { savepoint: <T>(fn: (tx: Queryable) => Promise<T>) => savepoint((inner) => fn(timedQueryable(inner, observe, prefix))) } : {}),
    all: <T>(sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}all`, queryName(sql), () => q.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}get`, queryName(sql), () => q.get<T>(sql, params)),
    run: (sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}run`, queryName(sql), () => q.run(sql, params)),
  };
}

export function instrumentDb(db: Db, observe: QueryObserver): Db {
  const base = timedQueryable(db, observe, "");
  return {
    dialect: db.dialect,
    ...(db.pubsub ? { pubsub: db.pubsub } : {}),
    ...(db.relaxed ? { relaxed: timedQueryable(db.relaxed, observe, "relaxed_") } : {}),
    ...base,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => timed(observe, "transaction", "transaction", () => db.transaction((tx) => fn(timedQueryable(tx, observe, "tx_")))),
    exec: (script: string) => timed(observe, "exec", "exec", () => db.exec(script)),
    close: () => db.close(),
  };
}
