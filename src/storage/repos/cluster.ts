// What several hs processes on one PostgreSQL database coordinate through (docs/SCALING.md):
// room write locks (advisory locks) and the shared stream counter with its in-flight positions
// (sql/0021_cluster_streams.sql). On SQLite (one process) none of this is used: writes are
// serialised in the process and stream positions are kept in memory.
import type { Db, Queryable } from "../engines/db.ts";

/** The first key of hs's room advisory locks (the second is hashtext(room_id)). */
const ROOM_LOCK_CLASS = 0x68730001;

export class ClusterRepo {
  constructor(private readonly db: Db) {}

  /** Stream bookkeeping statements: the relaxed pool when there is one (Db.relaxed). */
  private get q(): Queryable {
    return this.db.relaxed ?? this.db;
  }

  /** True when other processes may write the same database. */
  get shared(): boolean {
    return this.db.dialect === "postgres";
  }

  /**
   * Takes this room's write lock until transaction `tx` ends (PostgreSQL: pg_advisory_xact_lock);
   * SQLite serialises write transactions already.
   */
  async lockRoom(tx: Queryable, roomId: string): Promise<void> {
    if (this.db.dialect !== "postgres") return;
    await tx.get("SELECT pg_advisory_xact_lock(?::int4, hashtext(?)) AS locked", [ROOM_LOCK_CLASS, roomId]);
  }

  /** Raises the shared stream counter to at least `pos` (start-up: positions already stored). */
  async seedStreamCounter(pos: number): Promise<void> {
    await this.db.run(
      "INSERT INTO stream_counter (id, pos) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET pos = GREATEST(stream_counter.pos, excluded.pos)",
      [pos],
    );
  }

  /**
   * Hands out `n` consecutive stream positions, each recorded as in flight in the same statement
   * (readers never see the counter past a position without its in-flight row).
   */
  async allocateStreamPositions(n: number): Promise<number[]> {
    // Without waiting for the disk: the event that uses a position commits durably later, and
    // PostgreSQL flushes the WAL in order (a crash cannot keep the event and lose the counter).
    const rows = await this.q.all<{ pos: number }>(
      `WITH c AS (UPDATE stream_counter SET pos = pos + ? WHERE id = 1 RETURNING pos)
       INSERT INTO stream_inflight (pos, backend_pid, created_ms)
       SELECT g, pg_backend_pid(), ? FROM c, generate_series(c.pos - ? + 1, c.pos) AS g
       RETURNING pos`,
      [n, Date.now(), n],
    );
    return rows.map((r) => Number(r.pos)).sort((a, b) => a - b);
  }

  /**
   * Marks positions committed (or abandoned) and answers the position below which every allocated
   * position is finished, from one snapshot.
   */
  async finishStreamPositions(positions: readonly number[]): Promise<number> {
    const list = positions.map(() => "?").join(", ");
    const row = await this.q.get<{ top: number; low: number | null }>(
      `WITH d AS (DELETE FROM stream_inflight WHERE pos IN (${list}) RETURNING pos)
       SELECT (SELECT pos FROM stream_counter WHERE id = 1) AS top,
              (SELECT min(pos) FROM stream_inflight WHERE pos NOT IN (${list})) AS low,
              (SELECT count(*) FROM d) AS n`,
      [...positions, ...positions],
    );
    return upto(row);
  }

  /** The position below which every allocated position is finished. */
  async streamPersistedUpto(): Promise<number> {
    const row = await this.db.get<{ top: number; low: number | null }>(
      "SELECT (SELECT pos FROM stream_counter WHERE id = 1) AS top, (SELECT min(pos) FROM stream_inflight) AS low",
    );
    return upto(row);
  }

  /**
   * Drops in-flight positions older than `minAgeMs` whose allocating connection is gone (its
   * process was killed): nothing will ever commit them. Answers how many.
   */
  async reapStreamPositions(minAgeMs: number): Promise<number> {
    return this.db.run("DELETE FROM stream_inflight WHERE created_ms < ? AND backend_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)", [
      Date.now() - minAgeMs,
    ]);
  }
}

function upto(row: { top: number; low: number | null } | undefined): number {
  const top = Number(row?.top ?? 0);
  return row?.low === null || row?.low === undefined ? top : Math.min(top, Number(row.low) - 1);
}
