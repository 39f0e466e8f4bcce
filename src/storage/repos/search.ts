// The full-text index of room events (m.room.message bodies, room names and topics): FTS5 on
// SQLite, a tsvector with a GIN index on PostgreSQL (sql/0010_directory_search.*.sql). Callers
// hand in text already folded into words (util/fold.ts), so both engines tokenise the same way:
// a query is a list of word prefixes that must all match.
import type { Db, Queryable } from "../engines/db.ts";
import type { EventRow } from "./rooms.ts";

export type SearchKey = "content.body" | "content.name" | "content.topic";

export interface SearchHit {
  row: EventRow;
  rank: number;
  /** The event's position in the index (its stream_ordering). */
  stream: number;
}

export interface SearchQuery {
  /** Folded words; each must match as a prefix of an indexed word. */
  terms: readonly string[];
  rooms: readonly string[];
  keys?: readonly SearchKey[];
  sender?: string;
  order: "rank" | "recent";
  /** recent: only hits below this stream position. */
  beforeStream?: number;
  /** rank: skip this many hits. */
  offset?: number;
  limit: number;
}

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

export class SearchRepo {
  constructor(private readonly db: Db) {}

  /** Adds (or replaces) the entry of an event. `words` are folded words. */
  async index(q: Queryable, e: { eventId: string; roomId: string; key: SearchKey; stream: number; words: readonly string[] }): Promise<void> {
    const text = e.words.join(" ");
    if (this.db.dialect === "sqlite") {
      await q.run("DELETE FROM event_search WHERE rowid = ?", [e.stream]);
      await q.run("INSERT INTO event_search (rowid, value, event_id, room_id, key) VALUES (?, ?, ?, ?, ?)", [e.stream, text, e.eventId, e.roomId, e.key]);
    } else {
      await q.run(
        `INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector) VALUES (?, ?, ?, ?, to_tsvector('simple', ?))
         ON CONFLICT (event_id) DO UPDATE SET vector = excluded.vector, key = excluded.key, stream_ordering = excluded.stream_ordering`,
        [e.eventId, e.roomId, e.key, e.stream, text],
      );
    }
  }

  /** Removes the entry of an event (redacted). */
  async remove(q: Queryable, eventId: string, stream: number): Promise<void> {
    if (this.db.dialect === "sqlite") await q.run("DELETE FROM event_search WHERE rowid = ? AND event_id = ?", [stream, eventId]);
    else await q.run("DELETE FROM event_search WHERE event_id = ?", [eventId]);
  }

  private matchExpr(terms: readonly string[]): string {
    if (this.db.dialect === "sqlite") return terms.map((t) => `"${t.replace(/"/g, "")}"*`).join(" ");
    return terms.map((t) => `${t.replace(/[^\p{L}\p{N}]/gu, "")}:*`).join(" & ");
  }

  private where(query: SearchQuery, alias: string): { sql: string; params: (string | number)[] } {
    const params: (string | number)[] = [];
    const parts: string[] = [];
    if (this.db.dialect === "sqlite") {
      parts.push("event_search MATCH ?");
    } else {
      parts.push(`${alias}.vector @@ to_tsquery('simple', ?)`);
    }
    params.push(this.matchExpr(query.terms));
    parts.push(`${alias}.room_id IN (${placeholders(query.rooms.length)})`);
    params.push(...query.rooms);
    if (query.keys?.length) {
      parts.push(`${alias}.key IN (${placeholders(query.keys.length)})`);
      params.push(...query.keys);
    }
    return { sql: parts.join(" AND "), params };
  }

  /** An estimate of the number of hits (before visibility checks). */
  async count(query: SearchQuery): Promise<number> {
    if (query.terms.length === 0 || query.rooms.length === 0) return 0;
    const alias = this.db.dialect === "sqlite" ? "event_search" : "s";
    const w = this.where(query, alias);
    let sql = `SELECT COUNT(*) AS n FROM event_search ${alias === "s" ? "s" : ""} WHERE ${w.sql}`;
    const params = [...w.params];
    if (query.sender !== undefined) {
      sql = `SELECT COUNT(*) AS n FROM event_search ${alias === "s" ? "s" : ""} JOIN events e ON e.event_id = ${alias}.event_id WHERE ${w.sql} AND e.sender = ?`;
      params.push(query.sender);
    }
    const r = await this.db.get<{ n: number }>(sql, params);
    return Number(r?.n ?? 0);
  }

  /** One page of hits, best (rank) or newest (recent) first. */
  async search(query: SearchQuery): Promise<SearchHit[]> {
    if (query.terms.length === 0 || query.rooms.length === 0) return [];
    const sqlite = this.db.dialect === "sqlite";
    const alias = sqlite ? "event_search" : "s";
    const streamCol = sqlite ? "event_search.rowid" : "s.stream_ordering";
    const w = this.where(query, alias);
    const params: (string | number)[] = [];
    const score = sqlite ? "-bm25(event_search)" : "ts_rank_cd(s.vector, to_tsquery('simple', ?))";
    if (!sqlite) params.push(this.matchExpr(query.terms));
    params.push(...w.params);
    let extra = "";
    if (query.sender !== undefined) {
      extra += " AND e.sender = ?";
      params.push(query.sender);
    }
    if (query.order === "recent" && query.beforeStream !== undefined) {
      extra += ` AND ${streamCol} < ?`;
      params.push(query.beforeStream);
    }
    const order = query.order === "recent" ? `${streamCol} DESC` : `score DESC, ${streamCol} DESC`;
    params.push(query.limit, query.order === "rank" ? (query.offset ?? 0) : 0);
    const rows = await this.db.all<EventRow & { search_stream: number; score: number }>(
      `SELECT ${streamCol} AS search_stream, ${score} AS score, e.*
       FROM event_search ${sqlite ? "" : "s"} JOIN events e ON e.event_id = ${alias}.event_id
       WHERE ${w.sql}${extra} AND e.redacted_by IS NULL
       ORDER BY ${order} LIMIT ? OFFSET ?`,
      params,
    );
    return rows.map((r) => {
      const { search_stream, score: s, ...row } = r;
      return { row: row as EventRow, rank: Number(s), stream: Number(search_stream) };
    });
  }
}
