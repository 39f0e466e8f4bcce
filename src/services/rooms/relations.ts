// Event relationships: the relations index, the rules for local relations, bundled aggregations,
// GET /relations and GET /threads.
// Spec: client-server-api/_index.md "Forming relationships between events", "Aggregations of child
// events", "Relationships API"; modules/threading.md, event_replacements.md, event_annotations.md,
// reference_relations.md; relations.yaml, threads_list.yaml.
//
// - Indexing: `hook` (RoomEvents effect inTransaction (services/event-effects.ts) and .backfilled) writes one event_relations
//   row per child event in the child's own transaction, with the thread it belongs to
//   (rooms/threads.ts), and keeps each thread's latest event in `threads`. A redaction that applies
//   removes the redacted child's row (the relationship is broken) and refreshes its thread.
// - Local rules (`checkLocal`, RoomEvents effect beforeLocal (services/event-effects.ts), under the room lock): a second
//   identical annotation is M_DUPLICATE_ANNOTATION; a thread off an event that has a relation is
//   400 M_UNKNOWN.
// - Bundled aggregations (`bundle`, used by toClientEvents for every batch it formats): m.thread
//   (latest_event with its own aggregations, count, current_user_participated), m.replace (the
//   most recent valid edit; the content is left as it is, spec v1.7) and m.reference (a chunk of
//   event IDs). m.annotation is not aggregated (spec v1.7). Children of ignored users never count.
//   Two queries per batch (thread summaries; edits and references together), plus the latest
//   thread events when there are threads.
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../../protocol/events.ts";
import type { Queryable, Transaction } from "../../storage/engines/db.ts";
import type { RelationRow, RelationsRepo, ThreadRow } from "../../storage/repos/relations.ts";
import { RECURSION_DEPTH } from "../../storage/repos/relations.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import { logger } from "../../util/log.ts";
import { redactForClient, rowToEvent, type RoomEvents } from "./events.ts";
import { toClientEvents, type ClientEvent, type Viewer } from "./format.ts";
import type { Rooms } from "./rooms.ts";
import { relationOf, threadOfEvent } from "./threads.ts";
import { decodeToken, encodeTopoToken, type TopoPosition } from "./tokens.ts";
import type { Visibility } from "./visibility.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const log = logger("rooms");

export const DEFAULT_RELATIONS_LIMIT = 50;
export const MAX_RELATIONS_LIMIT = 1000;
export const DEFAULT_THREADS_LIMIT = 20;
export const MAX_THREADS_LIMIT = 100;

export interface RelationsDeps {
  transaction: Transaction;
  repo: RelationsRepo;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  visibility: Visibility;
}

export interface RelationsQuery {
  relType?: string;
  eventType?: string;
  from?: string;
  to?: string;
  limit?: number;
  dir?: "b" | "f";
  /** undefined: not given by the client (no recursion_depth in the answer). */
  recurse?: boolean;
}

export interface RelationsPage {
  chunk: ClientEvent[];
  next_batch?: string;
  prev_batch?: string;
  recursion_depth?: number;
}


function redactsOf(ev: RoomEvent, rv: RoomVersion): string | undefined {
  const r = rv.redactsInContent ? ev.content["redacts"] : ev.redacts;
  return typeof r === "string" ? r : undefined;
}

const posOf = (r: { depth: number; stream_ordering: number }): TopoPosition => ({ depth: Number(r.depth), stream: Number(r.stream_ordering) });
const cmp = (a: TopoPosition, b: TopoPosition) => (a.depth !== b.depth ? a.depth - b.depth : a.stream - b.stream);

export class Relations {
  private stopped = false;

  constructor(private readonly d: RelationsDeps) {}

  // ------------------------------------------------------------------ indexing

  /** RoomEvents effect inTransaction (services/event-effects.ts) and .backfilled: index the event's relation; apply redactions. */
  readonly hook = async (q: Queryable, ev: RoomEvent, stream: number, rv: RoomVersion): Promise<void> => {
    if (ev.type === "m.room.redaction") await this.onRedaction(q, ev, rv);
    await this.index(q, ev, stream);
  };

  private async onRedaction(q: Queryable, ev: RoomEvent, rv: RoomVersion): Promise<void> {
    const target = redactsOf(ev, rv);
    if (!target) return;
    // Only a redaction that applied (RoomEvents marked the target) breaks the relationship.
    const row = await this.d.roomsRepo.redactionOf(target, q);
    if (row?.redacted_by !== ev.event_id) return;
    const removed = await this.d.repo.delete(q, target);
    if (removed?.rel_type === "m.thread") await this.d.repo.refreshThread(q, removed.room_id, removed.relates_to_id);
  }

  private async index(q: Queryable, ev: RoomEvent, stream: number): Promise<void> {
    const rel = relationOf(ev.content);
    const roomId = ev.room_id;
    if (!rel || !roomId || rel.eventId === ev.event_id) return;
    const threadId = await threadOfEvent(ev.content, (parentId) => this.d.repo.threadOf(parentId, roomId, q));
    const row: RelationRow = {
      event_id: ev.event_id,
      room_id: roomId,
      relates_to_id: rel.eventId,
      rel_type: rel.relType,
      event_type: ev.type,
      sender: ev.sender,
      aggregation_key: rel.relType === "m.annotation" ? (rel.key ?? null) : null,
      thread_id: threadId,
      depth: Number(ev.depth),
      stream_ordering: stream,
      origin_server_ts: Number(ev.origin_server_ts),
    };
    await this.d.repo.insert(q, row);
    if (rel.relType === "m.thread") await this.d.repo.bumpThread(q, roomId, rel.eventId, row);
  }

  /**
   * Indexes the relations of events stored before relations were tracked (once; runs in the
   * background after start-up, a batch per transaction). Returns how many events were looked at.
   */
  async indexExisting(batch = 500): Promise<number> {
    if (await this.d.repo.backfillDone()) return 0;
    let after = Number.MIN_SAFE_INTEGER;
    let seen = 0;
    for (;;) {
      if (this.stopped) return seen;
      const rows = await this.d.repo.candidateEvents(after, batch);
      if (rows.length === 0) break;
      await this.d.transaction(async (tx) => {
        for (const r of rows) {
          const ev = rowToEvent(r);
          if (!(await this.d.repo.find(ev.event_id, tx))) await this.index(tx, ev, Number(r.stream_ordering));
        }
      });
      seen += rows.length;
      after = Number(rows[rows.length - 1]!.stream_ordering);
    }
    await this.d.repo.markBackfillDone();
    if (seen) log.info("indexed relations of existing events", { events: seen });
    return seen;
  }

  stop(): void {
    this.stopped = true;
  }

  // ------------------------------------------------------------------ local rules

  /** RoomEvents effect beforeLocal (services/event-effects.ts): the server-side rules for relations of local events. */
  readonly checkLocal = async (ev: RoomEvent): Promise<void> => {
    const rel = relationOf(ev.content);
    if (!rel) return;
    if (rel.relType === "m.annotation" && rel.key !== undefined) {
      // modules/event_annotations.md "Avoiding duplicate annotations".
      if (ev.room_id && (await this.d.repo.hasAnnotation(ev.room_id, rel.eventId, ev.sender, ev.type, rel.key))) {
        throw new MatrixError("M_DUPLICATE_ANNOTATION", "You already sent this annotation to that event", {}, 400);
      }
    }
    if (rel.relType === "m.thread") {
      // modules/threading.md "Validation of m.thread relationships".
      const parent = await this.d.events.loadEvent(rel.eventId);
      if (parent && parent.room_id === ev.room_id && relationOf(parent.content)) {
        throw new MatrixError("M_UNKNOWN", "Cannot start a thread from an event with a relation", {}, 400);
      }
    }
  };

  // ------------------------------------------------------------------ bundled aggregations

  /** RoomEvents.bundleAggregations: `unsigned["m.relations"]` per event ID of `rows`. */
  readonly bundle = (rows: readonly EventRow[], viewer: { userId: string }): Promise<Map<string, JsonObject>> => this.aggregate(rows, viewer, true);

  private async aggregate(rows: readonly EventRow[], viewer: { userId: string }, withThreads: boolean): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>();
    // Edits and annotations get no aggregations; state events never do.
    const parents = new Map<string, { row: EventRow; ev: RoomEvent }>();
    for (const row of rows) {
      if (row.state_key !== null) continue;
      const ev = rowToEvent(row);
      const rel = relationOf(ev.content);
      if (rel && (rel.relType === "m.annotation" || rel.relType === "m.replace")) continue;
      parents.set(row.event_id, { row, ev });
    }
    if (parents.size === 0) return out;
    const ids = [...parents.keys()];
    const roomOf = new Map([...parents].map(([id, p]) => [id, p.row.room_id]));
    const ignored = [...(await this.d.visibility.ignored(viewer.userId))];
    const entry = (id: string): JsonObject => {
      let e = out.get(id);
      if (!e) out.set(id, (e = {}));
      return e;
    };

    // m.thread
    if (withThreads) {
      const summaries = await this.d.repo.threadSummaries(roomOf, viewer.userId, ignored);
      if (summaries.size) {
        const latestIds = await this.d.repo.latestThreadEvents(new Map([...summaries.keys()].map((id) => [id, roomOf.get(id)!])), ignored);
        const latestRows = await this.d.roomsRepo.getEvents([...latestIds.values()]);
        const ordered = [...latestRows.values()];
        const formatted = await toClientEvents(this.d.events, ordered, viewer, { bundle: false });
        // The latest event carries its own aggregations (no threads: threads do not nest).
        const nested = await this.aggregate(ordered, viewer, false);
        const byId = new Map(formatted.map((e) => [e.event_id, e]));
        for (const [rootId, s] of summaries) {
          const latest = byId.get(latestIds.get(rootId) ?? "");
          if (!latest) continue;
          const relations = nested.get(latest.event_id);
          if (relations) latest.unsigned = { ...(latest.unsigned ?? {}), "m.relations": relations };
          entry(rootId)["m.thread"] = {
            latest_event: latest as unknown as JsonObject,
            count: s.count,
            current_user_participated: s.participated || parents.get(rootId)?.row.sender === viewer.userId,
          };
        }
      }
    }

    // m.replace and m.reference (one query).
    const children = await this.d.repo.childrenOfTypes(ids, ["m.replace", "m.reference"], ignored);
    const edits = new Map<string, RelationRow[]>();
    for (const c of children) {
      const parent = parents.get(c.relates_to_id)!;
      // A child in another room does not relate to this event (the relationship is invalid).
      if (c.room_id !== parent.row.room_id) continue;
      if (c.rel_type === "m.reference") {
        const e = entry(c.relates_to_id);
        const ref = (e["m.reference"] ??= { chunk: [] }) as { chunk: JsonObject[] };
        ref.chunk.push({ event_id: c.event_id });
      } else if (
        // Valid replacements: same sender and type, of an unredacted event (event_replacements.md).
        parent.row.redacted_by === null &&
        c.sender === parent.row.sender &&
        c.event_type === parent.row.type
      ) {
        let list = edits.get(c.relates_to_id);
        if (!list) edits.set(c.relates_to_id, (list = []));
        list.push(c);
      }
    }
    if (edits.size) {
      const editRows = await this.d.roomsRepo.getEvents([...edits.values()].flat().map((c) => c.event_id));
      const chosen: EventRow[] = [];
      for (const list of edits.values()) {
        // Most recent first: origin_server_ts, then the lexicographically largest event ID.
        list.sort((a, b) => b.origin_server_ts - a.origin_server_ts || (a.event_id < b.event_id ? 1 : a.event_id > b.event_id ? -1 : 0));
        for (const c of list) {
          const r = editRows.get(c.event_id);
          if (!r || r.redacted_by !== null) continue;
          const content = rowToEvent(r).content;
          if (r.type === "m.room.encrypted" || isObject(content["m.new_content"])) {
            chosen.push(r);
            break;
          }
        }
      }
      const formatted = await toClientEvents(this.d.events, chosen, viewer, { bundle: false });
      chosen.forEach((r, i) => {
        const parentId = relationOf(rowToEvent(r).content)!.eventId;
        entry(parentId)["m.replace"] = formatted[i] as unknown as JsonObject;
      });
    }
    return out;
  }

  // ------------------------------------------------------------------ GET /relations

  /** The parent event must be one the user can see: 404 otherwise (relations.yaml). */
  private async requireVisibleParent(viewer: Viewer, roomId: string, eventId: string): Promise<void> {
    try {
      await this.d.rooms.getEvent(viewer, roomId, eventId);
    } catch (e) {
      if (e instanceof MatrixError && (e.errcode === "M_FORBIDDEN" || e.errcode === "M_NOT_FOUND")) {
        throw new MatrixError("M_NOT_FOUND", "Event not found");
      }
      throw e;
    }
  }

  /** Converts a pagination token (ours, /messages or /sync) to a topological gap in the room. */
  private async gapOf(roomId: string, token: string): Promise<TopoPosition> {
    const t = decodeToken(token);
    if (t.kind === "topo") return { depth: t.depth, stream: t.stream };
    const row = await this.d.roomsRepo.lastEventAtOrBefore(roomId, t.stream);
    return row ? { depth: Number(row.depth), stream: Number(row.stream_ordering) + 1 } : { depth: 0, stream: 0 };
  }

  async relations(viewer: Viewer, roomId: string, eventId: string, q: RelationsQuery): Promise<RelationsPage> {
    await this.requireVisibleParent(viewer, roomId, eventId);
    const dir = q.dir ?? "b";
    const limit = Math.min(q.limit ?? DEFAULT_RELATIONS_LIMIT, MAX_RELATIONS_LIMIT);
    const from = q.from !== undefined ? await this.gapOf(roomId, q.from) : undefined;
    const to = q.to !== undefined ? await this.gapOf(roomId, q.to) : undefined;
    const page: RelationsPage = { chunk: [] };
    if (q.from !== undefined) page.prev_batch = q.from;
    if (q.recurse !== undefined) page.recursion_depth = q.recurse ? RECURSION_DEPTH : 1;
    if (limit === 0) return page;

    let rows = await this.d.repo.children(roomId, eventId, { relType: q.relType, eventType: q.eventType }, { dir, from, limit, recurse: q.recurse === true });
    const full = rows.length === limit;
    let reachedTo = false;
    if (to) {
      const kept = rows.filter((r) => (dir === "b" ? cmp(posOf(r), to) >= 0 : cmp(posOf(r), to) < 0));
      reachedTo = kept.length < rows.length;
      rows = kept;
    }
    const evRows = await this.d.roomsRepo.getEvents(rows.map((r) => r.event_id));
    const ordered = rows.map((r) => evRows.get(r.event_id)).filter((r): r is EventRow => r !== undefined && r.room_id === roomId);
    const visible = await this.d.visibility.filter(viewer.userId, ordered);
    page.chunk = await toClientEvents(this.d.events, visible, viewer);
    if (full && !reachedTo && rows.length) {
      const last = posOf(rows[rows.length - 1]!);
      page.next_batch = encodeTopoToken(dir === "b" ? last : { depth: last.depth, stream: last.stream + 1 });
    }
    return page;
  }

  // ------------------------------------------------------------------ GET /threads

  async threads(viewer: Viewer, roomId: string, q: { include: "all" | "participated"; from?: string; limit?: number }): Promise<{ chunk: ClientEvent[]; next_batch?: string }> {
    try {
      await this.d.rooms.readableUpTo(viewer.userId, roomId);
    } catch (e) {
      // threads_list.yaml: 403 for a room the user cannot view, including one that does not exist.
      if (e instanceof MatrixError && e.errcode === "M_NOT_FOUND") throw new MatrixError("M_FORBIDDEN", "You are not allowed to view this room");
      throw e;
    }
    let before: TopoPosition | undefined;
    if (q.from !== undefined) {
      const t = decodeToken(q.from);
      if (t.kind !== "topo") throw new MatrixError("M_INVALID_PARAM", "Unknown pagination token");
      before = { depth: t.depth, stream: t.stream };
    }
    const limit = Math.min(q.limit ?? DEFAULT_THREADS_LIMIT, MAX_THREADS_LIMIT);
    const threads: ThreadRow[] = await this.d.repo.listThreads(roomId, {
      before,
      limit,
      participant: q.include === "participated" ? viewer.userId : undefined,
    });
    const roots = await this.d.roomsRepo.getEvents(threads.map((t) => t.thread_id));
    const ordered = threads
      .map((t) => roots.get(t.thread_id))
      .filter((r): r is EventRow => r !== undefined && r.room_id === roomId && r.outlier === 0 && r.rejected_reason === null);
    // Roots of ignored users are returned redacted (threads_list.yaml).
    const visible = await this.d.visibility.filter(viewer.userId, ordered, { keepIgnored: true });
    const ignored = await this.d.visibility.ignored(viewer.userId);
    const chunk = await toClientEvents(this.d.events, visible, viewer);
    if (ignored.size) {
      const rv = await this.d.events.versionOf(roomId);
      visible.forEach((row, i) => {
        if (ignored.has(row.sender) && row.redacted_by === null) chunk[i]!.content = redactForClient(rowToEvent(row), rv).content;
      });
    }
    const out: { chunk: ClientEvent[]; next_batch?: string } = { chunk };
    if (threads.length === limit) {
      const last = threads[threads.length - 1]!;
      out.next_batch = encodeTopoToken({ depth: last.latest_depth, stream: last.latest_stream });
    }
    return out;
  }
}
