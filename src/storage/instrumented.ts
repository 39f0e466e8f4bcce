// Times every database call in one place: a Db wrapper reporting each query's duration (seconds)
// by operation (all, get, run, transaction, and queries inside transactions as tx_*).
import type { Db, Queryable, SqlParam } from "./db.ts";

export type QueryObserver = (op: string, seconds: number) => void;

function timed<T>(observe: QueryObserver, op: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const done = () => observe(op, (performance.now() - start) / 1000);
  const p = run();
  p.then(done, done);
  return p;
}

function timedQueryable(q: Queryable, observe: QueryObserver, prefix: string): Queryable {
  return {
    all: <T>(sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}all`, () => q.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}get`, () => q.get<T>(sql, params)),
    run: (sql: string, params?: readonly SqlParam[]) => timed(observe, `${prefix}run`, () => q.run(sql, params)),
  };
}

export function instrumentDb(db: Db, observe: QueryObserver): Db {
  const base = timedQueryable(db, observe, "");
  return {
    dialect: db.dialect,
    ...base,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => timed(observe, "transaction", () => db.transaction((tx) => fn(timedQueryable(tx, observe, "tx_")))),
    exec: (script: string) => timed(observe, "exec", () => db.exec(script)),
    close: () => db.close(),
  };
}
