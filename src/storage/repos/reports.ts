// SQL for content reports (event_reports, room_reports, user_reports from 0011). Report IDs are
// handed out in memory from the highest stored one (hs is one process).
import type { Db, SqlParam } from "../engines/db.ts";

export type ReportKind = "event" | "room" | "user";

export interface EventReportRow {
  id: number;
  received_ts: number;
  room_id: string;
  event_id: string;
  user_id: string;
  reason: string | null;
  score: number | null;
  /** The reported event's sender (null when the event is gone). */
  sender: string | null;
  /** The reported event as stored (null when gone). */
  json: string | null;
}

export interface RoomReportRow {
  id: number;
  received_ts: number;
  room_id: string;
  user_id: string;
  reason: string;
}

export interface UserReportRow {
  id: number;
  received_ts: number;
  target_user_id: string;
  user_id: string;
  reason: string;
}

export interface ReportListQuery {
  offset: number;
  limit: number;
  /** "b": newest first. */
  dir: "b" | "f";
  /** Substring of the reporting user's ID. */
  userId?: string;
  /** Substring of the room ID (event and room reports). */
  roomId?: string;
  /** Exact sender of the reported event (event reports), or reported user (user reports). */
  targetUserId?: string;
}

const TABLES: Record<ReportKind, string> = { event: "event_reports", room: "room_reports", user: "user_reports" };

/** A LIKE pattern matching `s` anywhere, with LIKE's wildcards escaped. */
function contains(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function num<T extends { id: number; received_ts: number }>(r: T): T {
  r.id = Number(r.id);
  r.received_ts = Number(r.received_ts);
  return r;
}

export class ReportsRepo {
  private readonly nextIds = new Map<ReportKind, Promise<{ next: number }>>();

  constructor(private readonly db: Db) {}

  private async allocate(kind: ReportKind): Promise<number> {
    let p = this.nextIds.get(kind);
    if (!p) {
      p = this.db.get<{ m: number | null }>(`SELECT MAX(id) AS m FROM ${TABLES[kind]}`).then((r) => ({ next: Number(r?.m ?? 0) + 1 }));
      this.nextIds.set(kind, p);
    }
    const counter = await p;
    return counter.next++;
  }

  /**
   * Inserts with the next ID; another process on the same database (docs/SCALING.md) may have
   * taken it, in which case the highest ID is read again.
   */
  private async insertWithId(kind: ReportKind, insert: (id: number) => Promise<number>): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const id = await this.allocate(kind);
      if ((await insert(id)) > 0) return id;
      this.nextIds.delete(kind);
      if (attempt >= 10) throw new Error(`cannot allocate a ${kind} report ID`);
    }
  }

  async insertEventReport(r: { room_id: string; event_id: string; user_id: string; reason: string | null; score: number | null; received_ts: number }): Promise<number> {
    return this.insertWithId("event", (id) =>
      this.db.run("INSERT INTO event_reports (id, received_ts, room_id, event_id, user_id, reason, score) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", [
        id,
        r.received_ts,
        r.room_id,
        r.event_id,
        r.user_id,
        r.reason,
        r.score,
      ]),
    );
  }

  async insertRoomReport(r: { room_id: string; user_id: string; reason: string; received_ts: number }): Promise<number> {
    return this.insertWithId("room", (id) =>
      this.db.run("INSERT INTO room_reports (id, received_ts, room_id, user_id, reason) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", [id, r.received_ts, r.room_id, r.user_id, r.reason]),
    );
  }

  async insertUserReport(r: { target_user_id: string; user_id: string; reason: string; received_ts: number }): Promise<number> {
    return this.insertWithId("user", (id) =>
      this.db.run("INSERT INTO user_reports (id, received_ts, target_user_id, user_id, reason) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", [
        id,
        r.received_ts,
        r.target_user_id,
        r.user_id,
        r.reason,
      ]),
    );
  }

  private where(kind: ReportKind, q: ReportListQuery): { sql: string; params: SqlParam[] } {
    const conds: string[] = [];
    const params: SqlParam[] = [];
    if (q.userId !== undefined) {
      conds.push("r.user_id LIKE ? ESCAPE '\\'");
      params.push(contains(q.userId));
    }
    if (q.roomId !== undefined && kind !== "user") {
      conds.push("r.room_id LIKE ? ESCAPE '\\'");
      params.push(contains(q.roomId));
    }
    if (q.targetUserId !== undefined) {
      conds.push(kind === "event" ? "e.sender = ?" : kind === "user" ? "r.target_user_id = ?" : "1 = 0");
      params.push(q.targetUserId);
    }
    return { sql: conds.length ? ` WHERE ${conds.join(" AND ")}` : "", params };
  }

  private from(kind: ReportKind): string {
    return kind === "event" ? "event_reports r LEFT JOIN events e ON e.event_id = r.event_id" : `${TABLES[kind]} r`;
  }

  private cols(kind: ReportKind): string {
    switch (kind) {
      case "event":
        return "r.id, r.received_ts, r.room_id, r.event_id, r.user_id, r.reason, r.score, e.sender AS sender, e.json AS json";
      case "room":
        return "r.id, r.received_ts, r.room_id, r.user_id, r.reason";
      case "user":
        return "r.id, r.received_ts, r.target_user_id, r.user_id, r.reason";
    }
  }

  /** A page of reports (ordered by time received) and how many match in all. */
  async list<K extends ReportKind>(kind: K, q: ReportListQuery): Promise<{ rows: Array<K extends "event" ? EventReportRow : K extends "room" ? RoomReportRow : UserReportRow>; total: number }> {
    const w = this.where(kind, q);
    const total = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${this.from(kind)}${w.sql}`, w.params);
    const order = q.dir === "b" ? "DESC" : "ASC";
    const rows = await this.db.all<EventReportRow & RoomReportRow & UserReportRow>(
      `SELECT ${this.cols(kind)} FROM ${this.from(kind)}${w.sql} ORDER BY r.received_ts ${order}, r.id ${order} LIMIT ? OFFSET ?`,
      [...w.params, q.limit, q.offset],
    );
    return { rows: rows.map((r) => normScore(num(r))) as never, total: Number(total?.n ?? 0) };
  }

  async find<K extends ReportKind>(kind: K, id: number): Promise<(K extends "event" ? EventReportRow : K extends "room" ? RoomReportRow : UserReportRow) | undefined> {
    const r = await this.db.get<EventReportRow & RoomReportRow & UserReportRow>(`SELECT ${this.cols(kind)} FROM ${this.from(kind)} WHERE r.id = ?`, [id]);
    return r ? (normScore(num(r)) as never) : undefined;
  }

  /** Whether a local user has an account (`local`), or a remote user has a member event in a room known here. */
  async userKnown(userId: string, local: boolean): Promise<boolean> {
    const r = local
      ? await this.db.get("SELECT 1 AS x FROM users WHERE user_id = ?", [userId])
      : await this.db.get("SELECT 1 AS x FROM current_state WHERE type = 'm.room.member' AND state_key = ? LIMIT 1", [userId]);
    return r !== undefined;
  }

  async delete(kind: ReportKind, id: number): Promise<boolean> {
    return (await this.db.run(`DELETE FROM ${TABLES[kind]} WHERE id = ?`, [id])) > 0;
  }
}

function normScore<T>(r: T): T {
  const x = r as { score?: number | null };
  if (x.score !== undefined && x.score !== null) x.score = Number(x.score);
  return r;
}
