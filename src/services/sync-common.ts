// Pieces shared by the classic /sync (sync.ts) and simplified sliding sync (sliding-sync/): reading
// a room's timeline as a user may see it, room state at a stream position, the stripped state of
// invites and knocks, a user's membership history, and m.receipt contents.
import { stateMapKey } from "../core/state-map.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { ReceiptRow } from "../storage/repos/receipts.ts";
import type { EventRow, RoomsRepo, StateFilter } from "../storage/repos/rooms.ts";
import type { SyncRepo } from "../storage/repos/sync.ts";
import { rowToEvent, type RoomEvents } from "./rooms/events.ts";
import { applyRoomEventFilter, type RoomEventFilter } from "./rooms/filters.ts";
import type { Visibility } from "./rooms/visibility.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

/** Most events scanned per room to fill a filtered timeline before calling it limited. */
const MAX_TIMELINE_SCAN = 1000;

/** The state shown for invites and knocks (client-server-api "Stripped state"). */
export const STRIPPED_STATE_TYPES = ["m.room.create", "m.room.name", "m.room.avatar", "m.room.topic", "m.room.join_rules", "m.room.canonical_alias", "m.room.encryption"];

export type StrippedEvent = { type: string; state_key: string; content: JsonObject; sender: string };

export interface Timeline {
  /** Oldest first. */
  rows: EventRow[];
  /** More visible events exist in the range than were returned (or the scan gave up). */
  limited: boolean;
  /** The upper bound the timeline was read to. */
  to?: number;
}


/**
 * The newest `limit` visible events of a room in (from, to] (oldest first) and whether there are
 * more. `joinedSince`: the user is joined since this stream position, so later events are visible
 * without consulting history visibility.
 */
export async function readTimeline(
  d: { repo: RoomsRepo; visibility: Visibility },
  userId: string,
  roomId: string,
  fromExclusive: number | undefined,
  toInclusive: number,
  limit: number,
  filter: RoomEventFilter | undefined,
  joinedSince: number | undefined,
): Promise<Timeline> {
  const want = limit + 1;
  const batchSize = Math.min(Math.max(want * 2, 20), 200);
  const collected: EventRow[] = [];
  let cursor = toInclusive;
  let scanned = 0;
  let exhausted = false;
  while (collected.length < want) {
    const batch = await d.repo.roomEventsByStream(roomId, fromExclusive ?? Number.MIN_SAFE_INTEGER, cursor, batchSize, true);
    scanned += batch.length;
    if (batch.length > 0) {
      cursor = Number(batch[batch.length - 1]!.stream_ordering) - 1;
      collected.push(...(await visibleRows(d, userId, roomId, applyRoomEventFilter(batch, filter), joinedSince)));
    }
    if (batch.length < batchSize) {
      exhausted = true;
      break;
    }
    if (scanned >= MAX_TIMELINE_SCAN) break;
  }
  // Read to the first event this server has of the room: when older history exists on other
  // servers (e.g. after a remote join) the timeline is still limited, so clients paginate back
  // (which backfills).
  const limited = collected.length > limit || !exhausted || (fromExclusive === undefined && (await d.repo.hasBackwardExtremities(roomId)));
  return { rows: collected.slice(0, limit).reverse(), limited, to: toInclusive };
}

async function visibleRows(
  d: { repo: RoomsRepo; visibility: Visibility },
  userId: string,
  roomId: string,
  rows: EventRow[],
  joinedSince: number | undefined,
): Promise<EventRow[]> {
  const { visibility } = d;
  if (joinedSince === undefined) return visibility.filter(userId, rows);
  // Rows are newest first: those after the user's join come first and are all visible (but
  // for the events of users they ignore).
  const i = rows.findIndex((r) => Number(r.stream_ordering) <= joinedSince);
  if (i < 0) return visibility.withoutIgnored(userId, rows);
  const older = rows.slice(i);
  const shown = new Set((await visibility.filter(userId, older)).map((r) => r.event_id));
  // Events of the room's current state are shown to a joined member even when sent while they
  // could not see the room (as Synapse): they know that state anyway, and clients that build the
  // room from the timeline (matrix-ios-sdk#341) would otherwise miss e.g. a member's join.
  const hidden = older.filter((r) => !shown.has(r.event_id) && r.state_key !== null && r.rejected_reason === null);
  if (hidden.length) {
    const current = await d.repo.currentState(roomId, { keys: hidden.map((r) => [r.type, r.state_key!] as [string, string]) });
    const currentIds = new Set(current.values());
    for (const r of hidden) if (currentIds.has(r.event_id)) shown.add(r.event_id);
  }
  return [...(await visibility.withoutIgnored(userId, rows.slice(0, i))), ...older.filter((r) => shown.has(r.event_id))];
}

// ------------------------------------------------------------------ state

/** Whether a state filter selects (type, state_key). */
export function stateFilterIncludes(f: StateFilter, type: string, stateKey: string): boolean {
  if (f.keys) return f.keys.some(([t, s]) => t === type && s === stateKey);
  if (f.types) return f.types.includes(type);
  if (f.notTypes) return !f.notTypes.includes(type);
  return true;
}

/** State after the last timeline event at or before a stream position. */
export async function stateAtStream(repo: RoomsRepo, roomId: string, stream: number, filter: StateFilter): Promise<Map<string, string>> {
  const row = await repo.lastEventAtOrBefore(roomId, stream);
  if (!row || row.state_group === null) return new Map();
  return repo.stateOfGroup(Number(row.state_group), filter);
}

/** State before a timeline event (its state group with its own key rolled back). */
export async function stateBeforeEvent(repo: RoomsRepo, roomId: string, row: EventRow, filter: StateFilter): Promise<Map<string, string>> {
  if (row.state_group === null) return stateAtStream(repo, roomId, Number(row.stream_ordering) - 1, filter);
  const map = await repo.stateOfGroup(Number(row.state_group), filter);
  if (row.state_key !== null && stateFilterIncludes(filter, row.type, row.state_key)) {
    const k = stateMapKey(row.type, row.state_key);
    if (row.replaces_state) map.set(k, row.replaces_state);
    else map.delete(k);
  }
  return map;
}

/** State after a timeline event. */
export async function stateAfterEvent(repo: RoomsRepo, roomId: string, row: EventRow, filter: StateFilter): Promise<Map<string, string>> {
  if (row.state_group === null) return stateAtStream(repo, roomId, Number(row.stream_ordering), filter);
  return repo.stateOfGroup(Number(row.state_group), filter);
}

// ------------------------------------------------------------------ memberships

/**
 * A user's memberships in a room walking back from their current member event: the one in force
 * at `sinceStream` (undefined: none, or `sinceStream` is undefined) and those that came after it,
 * newest first.
 */
export async function membershipHistory(repo: RoomsRepo, memberEventId: string, sinceStream: number | undefined): Promise<{ atSince?: string; after: string[] }> {
  const after: string[] = [];
  let id: string | null = memberEventId;
  for (let i = 0; i < 100 && id; i++) {
    const row: EventRow | undefined = await repo.findEvent(id);
    if (!row) break;
    const membership = String(rowToEvent(row).content["membership"] ?? "");
    if (sinceStream !== undefined && Number(row.stream_ordering) <= sinceStream) return { atSince: membership, after };
    after.push(membership);
    id = row.replaces_state;
  }
  return { after };
}

/**
 * The stripped state of an invite or knock (its member event last): from the room's state at the
 * member event, or for a room this server is not in, the stripped state that came with it.
 */
export async function strippedStateFor(
  d: { repo: RoomsRepo; syncRepo: SyncRepo; events: RoomEvents },
  memberEventId: string,
  roomId: string,
  userId: string,
): Promise<StrippedEvent[]> {
  const row = await d.repo.findEvent(memberEventId);
  if (!row) return [];
  const ev = rowToEvent(row);
  const strip = (e: { type: string; state_key?: string; content: JsonObject; sender: string }): StrippedEvent => ({
    type: e.type,
    state_key: e.state_key ?? "",
    content: e.content,
    sender: e.sender,
  });
  if (row.state_group === null) {
    // A room this server is not in (an invite or knock over federation): the stripped state that
    // came with it, pruned to the stripped-state fields (spec v1.16), and the event itself.
    const remote = (await d.syncRepo.remoteInviteState(roomId, userId)) ?? [];
    const out: StrippedEvent[] = [];
    for (const e of remote) {
      if (!isObject(e) || typeof e.type !== "string" || typeof e.sender !== "string" || !isObject(e.content)) continue;
      const sk = typeof e.state_key === "string" ? e.state_key : "";
      if (e.type === ev.type && sk === ev.state_key) continue;
      out.push({ type: e.type, state_key: sk, content: e.content as JsonObject, sender: e.sender });
    }
    out.push(strip(ev));
    return out;
  }
  const keys: Array<[string, string]> = STRIPPED_STATE_TYPES.map((t) => [t, ""] as [string, string]);
  keys.push(["m.room.member", userId]);
  if (ev.sender !== userId) keys.push(["m.room.member", ev.sender]);
  const ids = await d.repo.stateOfGroup(Number(row.state_group), { keys });
  const evs = await d.events.loadEvents([...ids.values()]);
  const out: StrippedEvent[] = [];
  for (const id of ids.values()) {
    const e = evs.get(id);
    if (e) out.push(strip(e));
  }
  return out;
}

// ------------------------------------------------------------------ receipts

/**
 * The content of an m.receipt event for some receipt rows of one room (`{event_id: {type: {user:
 * {ts, thread_id?}}}}`); `accept` drops rows (another user's private receipt, ignored senders).
 */
export function receiptContent(rows: readonly ReceiptRow[], accept: (r: ReceiptRow) => boolean = () => true): Record<string, Record<string, Record<string, Record<string, unknown>>>> {
  const content: Record<string, Record<string, Record<string, Record<string, unknown>>>> = {};
  for (const r of rows) {
    if (!accept(r)) continue;
    const byType = (content[r.event_id] ??= {});
    const byUser = (byType[r.receipt_type] ??= {});
    const data: Record<string, unknown> = { ts: r.ts };
    if (r.thread_id !== "") data.thread_id = r.thread_id;
    byUser[r.user_id] = data;
  }
  return content;
}
