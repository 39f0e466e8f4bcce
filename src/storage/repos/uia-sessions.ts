// SQL for user-interactive authentication sessions.
import type { JsonObject } from "../../protocol/events.ts";
import type { Db, Queryable } from "../engines/db.ts";

export interface UiaSession {
  sessionId: string;
  userId: string | null;
  method: string;
  uri: string;
  clientDict: JsonObject;
  serverData: Record<string, unknown>;
  completed: string[];
  createdTs: number;
}

interface Row {
  session_id: string;
  user_id: string | null;
  method: string;
  uri: string;
  client_dict: string;
  server_data: string;
  completed: string;
  created_ts: number;
}

const COLS = "session_id, user_id, method, uri, client_dict, server_data, completed, created_ts";

function fromRow(r: Row): UiaSession {
  return {
    sessionId: r.session_id,
    userId: r.user_id,
    method: r.method,
    uri: r.uri,
    clientDict: JSON.parse(r.client_dict),
    serverData: JSON.parse(r.server_data),
    completed: JSON.parse(r.completed),
    createdTs: Number(r.created_ts),
  };
}

export class UiaSessionsRepo {
  constructor(private readonly db: Db) {}

  async insert(s: UiaSession): Promise<void> {
    await this.db.run(`INSERT INTO uia_sessions (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
      s.sessionId,
      s.userId,
      s.method,
      s.uri,
      JSON.stringify(s.clientDict),
      JSON.stringify(s.serverData),
      JSON.stringify(s.completed),
      s.createdTs,
    ]);
  }

  async find(sessionId: string, q: Queryable = this.db): Promise<UiaSession | undefined> {
    const r = await q.get<Row>(`SELECT ${COLS} FROM uia_sessions WHERE session_id = ?`, [sessionId]);
    return r ? fromRow(r) : undefined;
  }

  /** Outside a transaction when q is undefined. */
  async update(q: Queryable | undefined, s: Pick<UiaSession, "sessionId" | "clientDict" | "serverData" | "completed">): Promise<void> {
    await (q ?? this.db).run("UPDATE uia_sessions SET client_dict = ?, server_data = ?, completed = ? WHERE session_id = ?", [
      JSON.stringify(s.clientDict),
      JSON.stringify(s.serverData),
      JSON.stringify(s.completed),
      s.sessionId,
    ]);
  }

  async delete(q: Queryable, sessionId: string): Promise<void> {
    await q.run("DELETE FROM uia_sessions WHERE session_id = ?", [sessionId]);
  }

  /** Deletes sessions created before `before`; returns them (their server data may need undoing). */
  async deleteExpired(before: number): Promise<UiaSession[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<Row>(`DELETE FROM uia_sessions WHERE created_ts < ? RETURNING ${COLS}`, [before]);
      return rows.map(fromRow);
    });
  }
}
