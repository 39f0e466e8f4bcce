// Server-side search: POST /search, category room_events (spec: client-server-api
// modules/search.md, search.yaml).
//
// The index (storage/search.ts) holds m.room.message bodies, room names and topics (with the
// plain-text m.topic), kept by an events hook inside the persisting transaction; an applied
// redaction removes the redacted event's entry. Events are indexed as folded words (case and
// accents ignored), and every word of the search term must match the start of an indexed word.
//
// Results come from the rooms the user is or was in (not forgotten), pass the request's filter and
// the user's history visibility (so nothing after they left, nothing before they may see), newest
// first (`recent`) or best first (`rank`: BM25 on SQLite, ts_rank_cd on PostgreSQL). `next_batch`
// continues after the last result (recent: by stream position; rank: by offset); group tokens do
// the same within one room or sender. `count` is the number of index hits before visibility
// checks (an estimate, as the spec allows). `highlights` are the words of the results that matched.
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../protocol/events.ts";
import type { Queryable } from "../storage/engines/db.ts";
import type { EventRow, RoomsRepo } from "../storage/repos/rooms.ts";
import type { SearchHit, SearchKey, SearchRepo } from "../storage/repos/search.ts";
import { foldText, foldedWords } from "../util/fold.ts";
import type { RoomEvents } from "./rooms/events.ts";
import { applyRoomEventFilter, roomAllowed, type RoomEventFilter } from "./rooms/filters.ts";
import { toClientEvents, type ClientEvent, type Viewer } from "./rooms/format.ts";
import type { Rooms } from "./rooms/rooms.ts";
import { encodeTopoToken } from "./rooms/tokens.ts";
import { plainTopic } from "./directory/summaries.ts";
import type { RoomVersion } from "../core/room-versions.ts";

export type { SearchKey };
export const SEARCH_KEYS: readonly SearchKey[] = ["content.body", "content.name", "content.topic"];
export const DEFAULT_SEARCH_LIMIT = 10;
const MAX_SEARCH_LIMIT = 100;
const MAX_CONTEXT = 100;
/** Hits scanned per request before giving up on filling a page (visibility drops some). */
const MAX_SCAN = 2000;

export interface SearchCriteria {
  searchTerm: string;
  keys?: SearchKey[];
  filter?: RoomEventFilter;
  orderBy: "rank" | "recent";
  eventContext?: { beforeLimit: number; afterLimit: number; includeProfile: boolean };
  includeState: boolean;
  groupBy: Array<"room_id" | "sender">;
}

interface Token {
  /** recent: continue below this stream position. */
  s?: number;
  /** rank: continue after this many hits. */
  o?: number;
  /** Group restrictions. */
  r?: string;
  u?: string;
}

interface SearchResultItem {
  rank: number;
  result: ClientEvent;
  context?: JsonObject;
}

export interface RoomEventsResults {
  count: number;
  highlights: string[];
  results: SearchResultItem[];
  next_batch?: string;
  groups?: Record<string, Record<string, { results: string[]; order: number; next_batch?: string }>>;
  state?: Record<string, ClientEvent[]>;
}

function encodeToken(t: Token): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeToken(s: string): Token {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Token;
    const okNum = (v: unknown) => v === undefined || (typeof v === "number" && Number.isSafeInteger(v));
    const okStr = (v: unknown) => v === undefined || typeof v === "string";
    if (typeof t === "object" && t !== null && okNum(t.s) && okNum(t.o) && okStr(t.r) && okStr(t.u) && (t.o ?? 0) >= 0) return t;
  } catch {
    // fall through
  }
  throw new MatrixError("M_INVALID_PARAM", "Invalid next_batch token");
}

/** The searchable text of an event and its key, or undefined. */
export function searchableText(ev: Pick<RoomEvent, "type" | "state_key" | "content">): { key: SearchKey; text: string } | undefined {
  const c = ev.content ?? {};
  if (ev.type === "m.room.message" && ev.state_key === undefined && typeof c.body === "string") return { key: "content.body", text: c.body };
  if (ev.type === "m.room.name" && ev.state_key === "" && typeof c.name === "string") return { key: "content.name", text: c.name };
  if (ev.type === "m.room.topic" && ev.state_key === "") {
    const parts = new Set<string>();
    if (typeof c.topic === "string") parts.add(c.topic);
    const plain = plainTopic(c);
    if (plain !== undefined) parts.add(plain);
    if (parts.size) return { key: "content.topic", text: [...parts].join("\n") };
  }
  return undefined;
}

export interface SearchDeps {
  repo: SearchRepo;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
}

export class Search {
  constructor(private readonly d: SearchDeps) {}

  /** The events hook (inside the persisting transaction): index new events, unindex redacted ones. */
  readonly onEvent = async (q: Queryable, ev: RoomEvent, stream: number, rv: RoomVersion): Promise<void> => {
    if (ev.type === "m.room.redaction") {
      const target = rv.redactsInContent ? ev.content["redacts"] : ev.redacts;
      if (typeof target !== "string") return;
      const row = await this.d.roomsRepo.redactionOf(target, q);
      if (row && row.redacted_by === ev.event_id) await this.d.repo.remove(q, target, Number(row.stream_ordering));
      return;
    }
    const s = searchableText(ev);
    if (!s || !ev.room_id) return;
    const words = foldedWords(s.text.slice(0, 65536));
    if (words.length === 0) return;
    await this.d.repo.index(q, { eventId: ev.event_id, roomId: ev.room_id, key: s.key, stream, words });
  };

  /** POST /search, category room_events. */
  async searchRoomEvents(viewer: Viewer, c: SearchCriteria, nextBatch?: string): Promise<RoomEventsResults> {
    const token: Token = nextBatch ? decodeToken(nextBatch) : {};
    const limit = Math.max(0, Math.min(c.filter?.limit ?? DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT));
    const terms = [...new Set(foldedWords(c.searchTerm))].slice(0, 20);
    const empty: RoomEventsResults = { count: 0, highlights: [], results: [] };
    if (c.groupBy.length) empty.groups = Object.fromEntries(c.groupBy.map((g) => [g, {}]));
    if (c.includeState) empty.state = {};
    if (terms.length === 0) return empty;

    const memberships = await this.d.roomsRepo.localMemberships(viewer.userId, { memberships: ["join", "leave", "ban"] });
    let rooms = memberships.map((m) => m.room_id).filter((r) => roomAllowed(c.filter, r));
    if (token.r !== undefined) rooms = rooms.filter((r) => r === token.r);
    if (rooms.length === 0) return empty;

    const base = { terms, rooms, keys: c.keys, sender: token.u, order: c.orderBy } as const;
    const count = await this.d.repo.count({ ...base, limit: 0 });
    const picked: SearchHit[] = [];
    let offset = token.o ?? 0;
    let before = token.s;
    let exhausted = false;
    let scanned = 0;
    const batchSize = Math.max(limit * 2, 20);
    while (picked.length < limit && !exhausted && scanned < MAX_SCAN) {
      const hits = await this.d.repo.search({ ...base, limit: batchSize, offset, beforeStream: before });
      if (hits.length < batchSize) exhausted = true;
      scanned += hits.length;
      const passing = new Set(applyRoomEventFilter(hits.map((h) => h.row), c.filter).map((r) => r.event_id));
      const visible = new Set((await this.d.rooms.visibility.filter(viewer.userId, hits.map((h) => h.row).filter((r) => passing.has(r.event_id)))).map((r) => r.event_id));
      for (const h of hits) {
        if (picked.length >= limit) {
          exhausted = false;
          break;
        }
        offset++;
        before = h.stream;
        if (visible.has(h.row.event_id)) picked.push(h);
      }
      if (hits.length === 0) exhausted = true;
    }
    const more = !exhausted;
    const next: Token = c.orderBy === "recent" ? { s: before } : { o: offset };
    if (token.r !== undefined) next.r = token.r;
    if (token.u !== undefined) next.u = token.u;

    const rows = picked.map((h) => h.row);
    const clientEvents = await toClientEvents(this.d.events, rows, viewer);
    const results: SearchResultItem[] = [];
    for (let i = 0; i < picked.length; i++) {
      const item: SearchResultItem = { rank: picked[i]!.rank, result: clientEvents[i]! };
      if (c.eventContext) item.context = await this.context(viewer, rows[i]!, c.eventContext);
      results.push(item);
    }
    const out: RoomEventsResults = { count, highlights: highlights(rows, terms), results };
    if (more) out.next_batch = encodeToken(next);
    if (c.groupBy.length) {
      out.groups = {};
      for (const g of c.groupBy) {
        const groups: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
        let order = 0;
        for (const r of rows) {
          const k = g === "room_id" ? r.room_id : r.sender;
          let entry = groups[k];
          if (!entry) groups[k] = entry = { results: [], order: ++order };
          entry.results.push(r.event_id);
        }
        if (more) for (const [k, entry] of Object.entries(groups)) entry.next_batch = encodeToken(g === "room_id" ? { ...next, r: k } : { ...next, u: k });
        out.groups[g] = groups;
      }
    }
    if (c.includeState) {
      out.state = {};
      for (const roomId of new Set(rows.map((r) => r.room_id))) {
        out.state[roomId] = await this.d.rooms.getState(viewer, roomId).catch(() => []);
      }
    }
    return out;
  }

  /** event_context of one result: events around it, pagination tokens, senders' profiles then. */
  private async context(viewer: Viewer, row: EventRow, opts: { beforeLimit: number; afterLimit: number; includeProfile: boolean }): Promise<JsonObject> {
    const pos = { depth: Number(row.depth), stream: Number(row.stream_ordering) };
    const before = Math.max(0, Math.min(opts.beforeLimit, MAX_CONTEXT));
    const after = Math.max(0, Math.min(opts.afterLimit, MAX_CONTEXT));
    const b = await this.d.rooms.messages(viewer, row.room_id, { from: encodeTopoToken(pos), dir: "b", limit: before, noBackfill: true });
    const f = await this.d.rooms.messages(viewer, row.room_id, { from: encodeTopoToken({ ...pos, stream: pos.stream + 1 }), dir: "f", limit: after, noBackfill: true });
    const ctx: JsonObject = {
      events_before: b.chunk as unknown as JsonObject[],
      events_after: f.chunk as unknown as JsonObject[],
      start: b.end ?? b.start,
      end: f.end ?? f.start,
    };
    if (opts.includeProfile) {
      const senders = [...new Set([row.sender, ...b.chunk.map((e) => e.sender), ...f.chunk.map((e) => e.sender)])];
      const profiles: JsonObject = {};
      if (row.state_group !== null) {
        const ids = await this.d.roomsRepo.stateOfGroup(Number(row.state_group), { keys: senders.map((s) => ["m.room.member", s] as [string, string]) });
        const evs = await this.d.events.loadEvents([...ids.values()]);
        for (const ev of evs.values()) {
          const p: JsonObject = {};
          if (typeof ev.content["displayname"] === "string") p.displayname = ev.content["displayname"];
          if (typeof ev.content["avatar_url"] === "string") p.avatar_url = ev.content["avatar_url"];
          profiles[ev.state_key!] = p;
        }
      }
      ctx.profile_info = profiles;
    }
    return ctx;
  }
}

/** Words of the results that match a search term (as written in the events), and the terms. */
function highlights(rows: EventRow[], terms: string[]): string[] {
  const out = new Set<string>(terms);
  for (const r of rows) {
    const s = searchableText(JSON.parse(r.json) as RoomEvent);
    if (!s) continue;
    for (const word of s.text.match(/[\p{L}\p{N}]+/gu) ?? []) {
      const folded = foldText(word);
      if (terms.some((t) => folded.startsWith(t))) out.add(word);
    }
  }
  return [...out];
}
