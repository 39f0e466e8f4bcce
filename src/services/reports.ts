// Reporting content (spec: client-server-api modules/report_content.md, report_content.yaml) and
// the reports admin API in Synapse's shapes (Synapse docs admin_api/event_reports.md).
//   - events: the reporter must be joined to the room (v1.8) and able to see the event; an unknown,
//     invisible or redacted event is 404 M_NOT_FOUND.
//   - rooms (v1.13): any known room, joined or not; unknown rooms 404.
//   - users (v1.14): any user this server knows (local accounts, or remote users seen in a room).
// Reports are stored for the server admins: GET/DELETE /_synapse/admin/v1/event_reports[/{id}],
// and the same for room_reports and user_reports.
import { stateMapKey } from "../core/state-map.ts";
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { EventReportRow, ReportKind, ReportListQuery, ReportsRepo, RoomReportRow, UserReportRow } from "../storage/repos/reports.ts";

export type { ReportKind };
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { rowToEvent, type RoomEvents } from "./rooms/events.ts";
import type { Visibility } from "./rooms/visibility.ts";

export interface ReportsDeps {
  repo: ReportsRepo;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  visibility: Visibility;
  serverName: string;
  now?: () => number;
}

export class Reports {
  constructor(private readonly d: ReportsDeps) {}

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  async reportEvent(userId: string, roomId: string, eventId: string, reason: string | undefined, score: number | undefined): Promise<void> {
    const notFound = () => new MatrixError("M_NOT_FOUND", "The event was not found or you are not joined to the room.");
    const m = await this.d.roomsRepo.localMembership(userId, roomId);
    if (m?.membership !== "join") throw notFound();
    const row = await this.d.roomsRepo.findEvent(eventId);
    if (!row || row.room_id !== roomId || row.outlier || row.rejected_reason !== null || row.redacted_by !== null) throw notFound();
    if ((await this.d.visibility.filter(userId, [row], { keepIgnored: true })).length === 0) throw notFound();
    await this.d.repo.insertEventReport({ room_id: roomId, event_id: eventId, user_id: userId, reason: reason ?? null, score: score ?? null, received_ts: this.now() });
  }

  async reportRoom(userId: string, roomId: string, reason: string): Promise<void> {
    if (!(await this.d.roomsRepo.findRoom(roomId))) throw new MatrixError("M_NOT_FOUND", "The room was not found.");
    await this.d.repo.insertRoomReport({ room_id: roomId, user_id: userId, reason, received_ts: this.now() });
  }

  async reportUser(userId: string, target: string, reason: string): Promise<void> {
    const local = target.endsWith(`:${this.d.serverName}`);
    const known = await this.d.repo.userKnown(target, local);
    if (!known) throw new MatrixError("M_NOT_FOUND", "The user was not found.");
    await this.d.repo.insertUserReport({ target_user_id: target, user_id: userId, reason, received_ts: this.now() });
  }

  // ------------------------------------------------------------------ admin

  /** Room name and canonical alias as the room has them now (null when unset). */
  private async roomInfo(roomIds: Iterable<string>): Promise<Map<string, { name: string | null; canonical_alias: string | null }>> {
    const out = new Map<string, { name: string | null; canonical_alias: string | null }>();
    for (const roomId of new Set(roomIds)) {
      const st = await this.d.events.currentStateEvents(roomId, [
        ["m.room.name", ""],
        ["m.room.canonical_alias", ""],
      ]);
      const name = st.get(stateMapKey("m.room.name", ""))?.content["name"];
      const alias = st.get(stateMapKey("m.room.canonical_alias", ""))?.content["alias"];
      out.set(roomId, { name: typeof name === "string" ? name : null, canonical_alias: typeof alias === "string" ? alias : null });
    }
    return out;
  }

  private async formatEvent(rows: EventReportRow[], withEvent: boolean): Promise<JsonObject[]> {
    const info = await this.roomInfo(rows.map((r) => r.room_id));
    return rows.map((r) => {
      const out: JsonObject = {
        id: r.id,
        received_ts: r.received_ts,
        room_id: r.room_id,
        name: info.get(r.room_id)?.name ?? null,
        event_id: r.event_id,
        user_id: r.user_id,
        reason: r.reason,
        score: r.score,
        sender: r.sender,
        canonical_alias: info.get(r.room_id)?.canonical_alias ?? null,
      };
      if (withEvent) {
        out.event_json = r.json ? (rowToEvent({ json: r.json, event_id: r.event_id } as never) as unknown as JsonObject) : null;
      }
      return out;
    });
  }

  private async formatRoom(rows: RoomReportRow[]): Promise<JsonObject[]> {
    const info = await this.roomInfo(rows.map((r) => r.room_id));
    return rows.map((r) => ({
      id: r.id,
      received_ts: r.received_ts,
      room_id: r.room_id,
      name: info.get(r.room_id)?.name ?? null,
      canonical_alias: info.get(r.room_id)?.canonical_alias ?? null,
      user_id: r.user_id,
      reason: r.reason,
    }));
  }

  private formatUser(rows: UserReportRow[]): JsonObject[] {
    return rows.map((r) => ({ id: r.id, received_ts: r.received_ts, target_user_id: r.target_user_id, user_id: r.user_id, reason: r.reason }));
  }

  private async format(kind: ReportKind, rows: unknown[], withEvent: boolean): Promise<JsonObject[]> {
    if (kind === "event") return this.formatEvent(rows as EventReportRow[], withEvent);
    if (kind === "room") return this.formatRoom(rows as RoomReportRow[]);
    return this.formatUser(rows as UserReportRow[]);
  }

  /** GET /_synapse/admin/v1/{kind}_reports: `{<kind>_reports, next_token?, total}`. */
  async list(kind: ReportKind, q: ReportListQuery): Promise<JsonObject> {
    const { rows, total } = await this.d.repo.list(kind, q);
    const out: JsonObject = { [`${kind}_reports`]: await this.format(kind, rows, false), total };
    if (q.offset + rows.length < total && rows.length > 0) out.next_token = q.offset + rows.length;
    return out;
  }

  async get(kind: ReportKind, id: number): Promise<JsonObject> {
    const row = await this.d.repo.find(kind, id);
    if (!row) throw new MatrixError("M_NOT_FOUND", `${kind[0]!.toUpperCase()}${kind.slice(1)} report not found`);
    return (await this.format(kind, [row], true))[0]!;
  }

  async delete(kind: ReportKind, id: number): Promise<void> {
    if (!(await this.d.repo.delete(kind, id))) throw new MatrixError("M_NOT_FOUND", `${kind[0]!.toUpperCase()}${kind.slice(1)} report not found`);
  }
}
