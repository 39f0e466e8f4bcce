// SQL for event relationships (event_relations), threads, and the one-time indexing of events
// stored before relations were tracked (relations_backfill). Tables from 0011_relations_reports.sql.
import type { Db, Queryable, SqlParam } from "../engines/db.ts";
import type { EventRow } from "./rooms.ts";
import { chunks } from "./rooms.ts";

export interface RelationRow {
  event_id: string;
  room_id: string;
  relates_to_id: string;
  rel_type: string;
  event_type: string;
  sender: string;
  aggregation_key: string | null;
  thread_id: string;
  depth: number;
  stream_ordering: number;
  origin_server_ts: number;
}

export interface ThreadRow {
  room_id: string;
  thread_id: string;
  latest_event_id: string;
  latest_depth: number;
  latest_stream: number;
}

const REL_COLS = "event_id, room_id, relates_to_id, rel_type, event_type, sender, aggregation_key, thread_id, depth, stream_ordering, origin_server_ts";
const placeholders = (n: number) => Array(n).fill("?").join(", ");

function normRel(r: RelationRow): RelationRow {
  r.depth = Number(r.depth);
  r.stream_ordering = Number(r.stream_ordering);
  r.origin_server_ts = Number(r.origin_server_ts);
  return r;
}

function normThread(r: ThreadRow): ThreadRow {
  r.latest_depth = Number(r.latest_depth);
  r.latest_stream = Number(r.latest_stream);
  return r;
}

/** Filters on child events: relation type, event type, senders to leave out. */
export interface ChildFilter {
  relType?: string;
  eventType?: string;
  notSenders?: readonly string[];
}

function childWhere(f: ChildFilter, alias = ""): { sql: string; params: SqlParam[] } {
  let sql = "";
  const params: SqlParam[] = [];
  if (f.relType !== undefined) {
    sql += ` AND ${alias}rel_type = ?`;
    params.push(f.relType);
  }
  if (f.eventType !== undefined) {
    sql += ` AND ${alias}event_type = ?`;
    params.push(f.eventType);
  }
  if (f.notSenders?.length) {
    sql += ` AND ${alias}sender NOT IN (${placeholders(f.notSenders.length)})`;
    params.push(...f.notSenders);
  }
  return { sql, params };
}

/** How deep `recurse` follows relations of relations (the spec asks for at least 3). */
export const RECURSION_DEPTH = 3;

export class RelationsRepo {
  constructor(private readonly db: Db) {}

  // ---- writing (inside the event's transaction)

  async insert(q: Queryable, r: RelationRow): Promise<void> {
    await q.run(`INSERT INTO event_relations (${REL_COLS}) VALUES (${placeholders(11)}) ON CONFLICT (event_id) DO NOTHING`, [
      r.event_id,
      r.room_id,
      r.relates_to_id,
      r.rel_type,
      r.event_type,
      r.sender,
      r.aggregation_key,
      r.thread_id,
      r.depth,
      r.stream_ordering,
      r.origin_server_ts,
    ]);
  }

  async find(eventId: string, q: Queryable = this.db): Promise<RelationRow | undefined> {
    const r = await q.get<RelationRow>(`SELECT ${REL_COLS} FROM event_relations WHERE event_id = ?`, [eventId]);
    return r ? normRel(r) : undefined;
  }

  /** Removes a child's relation (it was redacted); returns the removed row. */
  async delete(q: Queryable, eventId: string): Promise<RelationRow | undefined> {
    const r = await this.find(eventId, q);
    if (r) await q.run("DELETE FROM event_relations WHERE event_id = ?", [eventId]);
    return r;
  }

  /** The thread a child event was filed under ('main' or a root), when it has a relation in this room. */
  async threadOf(eventId: string, roomId: string, q: Queryable = this.db): Promise<string | undefined> {
    const r = await q.get<{ thread_id: string }>("SELECT thread_id FROM event_relations WHERE event_id = ? AND room_id = ?", [eventId, roomId]);
    return r?.thread_id;
  }

  /** Whether `sender` already annotated `parent` (in `roomId`) with this event type and key. */
  async hasAnnotation(roomId: string, parentId: string, sender: string, eventType: string, key: string, q: Queryable = this.db): Promise<boolean> {
    const r = await q.get(
      "SELECT 1 AS x FROM event_relations WHERE relates_to_id = ? AND room_id = ? AND rel_type = 'm.annotation' AND sender = ? AND event_type = ? AND aggregation_key = ?",
      [parentId, roomId, sender, eventType, key],
    );
    return r !== undefined;
  }

  /** Makes `child` the latest event of its thread when it is newer than the current one. */
  async bumpThread(q: Queryable, roomId: string, threadId: string, child: { event_id: string; depth: number; stream_ordering: number }): Promise<void> {
    await q.run(
      `INSERT INTO threads (room_id, thread_id, latest_event_id, latest_depth, latest_stream) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (room_id, thread_id) DO UPDATE SET latest_event_id = excluded.latest_event_id, latest_depth = excluded.latest_depth,
         latest_stream = excluded.latest_stream
       WHERE threads.latest_depth < excluded.latest_depth
          OR (threads.latest_depth = excluded.latest_depth AND threads.latest_stream < excluded.latest_stream)`,
      [roomId, threadId, child.event_id, child.depth, child.stream_ordering],
    );
  }

  /** Recomputes a thread's latest event from its remaining children (after a redaction). */
  async refreshThread(q: Queryable, roomId: string, threadId: string): Promise<void> {
    const latest = await q.get<{ event_id: string; depth: number; stream_ordering: number }>(
      `SELECT event_id, depth, stream_ordering FROM event_relations WHERE relates_to_id = ? AND room_id = ? AND rel_type = 'm.thread'
       ORDER BY depth DESC, stream_ordering DESC LIMIT 1`,
      [threadId, roomId],
    );
    if (!latest) {
      await q.run("DELETE FROM threads WHERE room_id = ? AND thread_id = ?", [roomId, threadId]);
      return;
    }
    await q.run("UPDATE threads SET latest_event_id = ?, latest_depth = ?, latest_stream = ? WHERE room_id = ? AND thread_id = ?", [
      latest.event_id,
      Number(latest.depth),
      Number(latest.stream_ordering),
      roomId,
      threadId,
    ]);
  }

  // ---- relations API

  /**
   * Children of `parentId` in a room, in topological order around a gap: `b` (before the gap,
   * newest first) or `f` (from the gap on, oldest first). With `recurse`, children of matching
   * children too, up to RECURSION_DEPTH levels. `limit` rows at most.
   */
  async children(
    roomId: string,
    parentId: string,
    f: ChildFilter,
    page: { dir: "b" | "f"; from?: { depth: number; stream: number }; limit: number; recurse: boolean },
  ): Promise<RelationRow[]> {
    const cols = REL_COLS.split(", ").map((c) => `c.${c}`).join(", ");
    const params: SqlParam[] = [];
    let sql: string;
    if (page.recurse) {
      const w1 = childWhere(f);
      const w2 = childWhere(f, "r.");
      sql = `WITH RECURSIVE rel (event_id, lvl) AS (
          SELECT event_id, 1 FROM event_relations WHERE relates_to_id = ? AND room_id = ?${w1.sql}
          UNION
          SELECT r.event_id, rel.lvl + 1 FROM event_relations r JOIN rel ON r.relates_to_id = rel.event_id
          WHERE rel.lvl < ? AND r.room_id = ?${w2.sql}
        )
        SELECT ${cols} FROM event_relations c WHERE c.event_id IN (SELECT event_id FROM rel)`;
      params.push(parentId, roomId, ...w1.params, RECURSION_DEPTH, roomId, ...w2.params);
    } else {
      const w = childWhere(f, "c.");
      sql = `SELECT ${cols} FROM event_relations c WHERE c.relates_to_id = ? AND c.room_id = ?${w.sql}`;
      params.push(parentId, roomId, ...w.params);
    }
    if (page.from) {
      sql +=
        page.dir === "b"
          ? " AND (c.depth < ? OR (c.depth = ? AND c.stream_ordering < ?))"
          : " AND (c.depth > ? OR (c.depth = ? AND c.stream_ordering >= ?))";
      params.push(page.from.depth, page.from.depth, page.from.stream);
    }
    const order = page.dir === "b" ? "DESC" : "ASC";
    sql += ` ORDER BY c.depth ${order}, c.stream_ordering ${order} LIMIT ?`;
    params.push(page.limit);
    const rows = await this.db.all<RelationRow>(sql, params);
    return rows.map(normRel);
  }

  // ---- bundled aggregations (batched over many parents)

  /**
   * Per thread root: the number of thread children and whether `userId` sent one. `parents` maps
   * each parent to its room: children in another room do not count (the relationship is invalid).
   */
  async threadSummaries(parents: ReadonlyMap<string, string>, userId: string, notSenders: readonly string[]): Promise<Map<string, { count: number; participated: boolean }>> {
    const out = new Map<string, { count: number; participated: boolean }>();
    const w = childWhere({ notSenders });
    for (const part of chunks([...parents.keys()], 300)) {
      const rows = await this.db.all<{ relates_to_id: string; room_id: string; n: number; mine: number }>(
        `SELECT relates_to_id, room_id, COUNT(*) AS n, MAX(CASE WHEN sender = ? THEN 1 ELSE 0 END) AS mine FROM event_relations
         WHERE relates_to_id IN (${placeholders(part.length)}) AND rel_type = 'm.thread'${w.sql} GROUP BY relates_to_id, room_id`,
        [userId, ...part, ...w.params],
      );
      for (const r of rows) if (parents.get(r.relates_to_id) === r.room_id) out.set(r.relates_to_id, { count: Number(r.n), participated: Number(r.mine) === 1 });
    }
    return out;
  }

  /** Per thread root (mapped to its room): the topologically latest thread child in that room not sent by `notSenders`. */
  async latestThreadEvents(parents: ReadonlyMap<string, string>, notSenders: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const w = childWhere({ notSenders });
    for (const part of chunks([...parents.keys()], 300)) {
      const rows = await this.db.all<{ relates_to_id: string; room_id: string; event_id: string }>(
        `SELECT relates_to_id, room_id, event_id FROM (
           SELECT relates_to_id, room_id, event_id,
                  ROW_NUMBER() OVER (PARTITION BY relates_to_id, room_id ORDER BY depth DESC, stream_ordering DESC) AS rn
           FROM event_relations WHERE relates_to_id IN (${placeholders(part.length)}) AND rel_type = 'm.thread'${w.sql}
         ) t WHERE rn = 1`,
        [...part, ...w.params],
      );
      for (const r of rows) if (parents.get(r.relates_to_id) === r.room_id) out.set(r.relates_to_id, r.event_id);
    }
    return out;
  }

  /** Children of some parents with the given relation types (m.replace, m.reference), oldest first. */
  async childrenOfTypes(parentIds: readonly string[], relTypes: readonly string[], notSenders: readonly string[]): Promise<RelationRow[]> {
    const out: RelationRow[] = [];
    const w = childWhere({ notSenders });
    for (const part of chunks(parentIds, 300)) {
      const rows = await this.db.all<RelationRow>(
        `SELECT ${REL_COLS} FROM event_relations WHERE relates_to_id IN (${placeholders(part.length)}) AND rel_type IN (${placeholders(relTypes.length)})${w.sql}
         ORDER BY depth, stream_ordering`,
        [...part, ...relTypes, ...w.params],
      );
      for (const r of rows) out.push(normRel(r));
    }
    return out;
  }

  // ---- threads list

  /**
   * Threads of a room by latest activity, newest first, before a position. `participant`: only
   * threads whose root or some thread child `participant` sent.
   */
  async listThreads(roomId: string, opts: { before?: { depth: number; stream: number }; limit: number; participant?: string }): Promise<ThreadRow[]> {
    const params: SqlParam[] = [roomId];
    let where = "t.room_id = ?";
    if (opts.before) {
      where += " AND (t.latest_depth < ? OR (t.latest_depth = ? AND t.latest_stream < ?))";
      params.push(opts.before.depth, opts.before.depth, opts.before.stream);
    }
    if (opts.participant !== undefined) {
      where += ` AND (EXISTS (SELECT 1 FROM events e WHERE e.event_id = t.thread_id AND e.sender = ?)
                  OR EXISTS (SELECT 1 FROM event_relations r WHERE r.relates_to_id = t.thread_id AND r.rel_type = 'm.thread' AND r.sender = ?))`;
      params.push(opts.participant, opts.participant);
    }
    params.push(opts.limit);
    const rows = await this.db.all<ThreadRow>(
      `SELECT t.room_id, t.thread_id, t.latest_event_id, t.latest_depth, t.latest_stream FROM threads t WHERE ${where}
       ORDER BY t.latest_depth DESC, t.latest_stream DESC LIMIT ?`,
      params,
    );
    return rows.map(normThread);
  }

  // ---- indexing events stored before 0011

  async backfillDone(): Promise<boolean> {
    const r = await this.db.get<{ done: number }>("SELECT done FROM relations_backfill");
    return r === undefined || Number(r.done) === 1;
  }

  async markBackfillDone(): Promise<void> {
    await this.db.run("UPDATE relations_backfill SET done = 1");
  }

  /** Timeline events after a stream position whose JSON mentions a relation, oldest first. */
  candidateEvents(afterStream: number, limit: number): Promise<EventRow[]> {
    return this.db.all<EventRow>(
      `SELECT * FROM events WHERE stream_ordering > ? AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 AND redacted_by IS NULL
         AND json LIKE '%"rel_type"%' ORDER BY stream_ordering LIMIT ?`,
      [afterStream, limit],
    );
  }
}
