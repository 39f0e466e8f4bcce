// bun:sqlite adapter: WAL, busy timeout, one writer connection serialized by a mutex and one
// reader connection, so that reads outside a transaction see only committed data.
import { Database } from "bun:sqlite";
import { Mutex } from "../../util/mutex.ts";
import { normalizeParams, type Db, type Queryable, type SqlParam } from "./db.ts";

function open(path: string, readonly: boolean): Database {
  const db = new Database(path, { create: !readonly, readonly, strict: true });
  db.exec("PRAGMA busy_timeout = 10000");
  if (!readonly) {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON");
  }
  db.exec("PRAGMA synchronous = NORMAL");
  return db;
}

let savepoints = 0;

function queryable(conn: Database, inTransaction = false): Queryable {
  const savepoint = async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
    const name = `sp${++savepoints}`;
    conn.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(self);
      conn.exec(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (e) {
      if (conn.inTransaction) {
        conn.exec(`ROLLBACK TO SAVEPOINT ${name}`);
        conn.exec(`RELEASE SAVEPOINT ${name}`);
      }
      throw e;
    }
  };
  const self: Queryable = {
    async all<T>(sql: string, params?: readonly SqlParam[]) {
      return conn.query(sql).all(...(normalizeParams(params) as never[])) as T[];
    },
    async get<T>(sql: string, params?: readonly SqlParam[]) {
      return (conn.query(sql).get(...(normalizeParams(params) as never[])) ?? undefined) as T | undefined;
    },
    async run(sql: string, params?: readonly SqlParam[]) {
      return conn.query(sql).run(...(normalizeParams(params) as never[])).changes;
    },
    ...(inTransaction ? { savepoint } : {}),
  };
  return self;
}

export function openSqlite(path: string): Db {
  const writer = open(path, false);
  const memory = path === ":memory:";
  const reader = memory ? writer : open(path, true);
  const w = queryable(writer);
  const wtx = queryable(writer, true);
  const r = queryable(reader);
  const lock = new Mutex();
  let closed = false;

  return {
    dialect: "sqlite",
    all: (sql, params) => r.all(sql, params),
    get: (sql, params) => r.get(sql, params),
    run: (sql, params) => lock.run(() => w.run(sql, params)),
    transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      return lock.run(async () => {
        writer.exec("BEGIN IMMEDIATE");
        try {
          const result = await fn(wtx);
          writer.exec("COMMIT");
          return result;
        } catch (e) {
          if (writer.inTransaction) writer.exec("ROLLBACK");
          throw e;
        }
      });
    },
    exec: (script) => lock.run(() => void writer.exec(script)),
    async close() {
      if (closed) return;
      closed = true;
      await lock.run(() => undefined);
      if (reader !== writer) reader.close();
      writer.close();
    },
  };
}
