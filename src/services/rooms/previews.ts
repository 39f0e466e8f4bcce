// Room previews and the old sync API (spec: client-server-api modules/room_previews.md,
// room_initial_sync.yaml, peeking_events.yaml, old_sync.yaml):
//   - GET /rooms/{roomId}/initialSync: state, latest messages (oldest first), directory visibility,
//     room account data and membership; for members, former members (as the room was when they
//     left) and anyone when the room is world_readable ("peeking"); otherwise 403.
//   - GET /events?room_id=: new events of one room after a stream token, long-polling up to
//     `timeout`; non-members see only events whose history visibility was world_readable.
//   - GET /events (no room_id, deprecated): the same over every room the user is joined to, plus
//     the user's account data changes (global, and per room with room_id: tags), as Synapse has them.
//   - GET /events/{eventId} (deprecated): one event the user may see.
//   - GET /initialSync (deprecated): initialSync of every room the user is joined to or invited
//     to (and left, with archived=true), plus global account data and presence (the user's own and
//     that of everyone sharing a room with them who is not offline; it counts as a sync).
// Events of these deprecated endpoints also carry the legacy `user_id` (withLegacyUserId).
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { isValidEventId } from "../../protocol/ids.ts";
import type { ReceiptsRepo } from "../../storage/repos/receipts.ts";
import type { RoomExtrasRepo } from "../../storage/repos/room-extras.ts";
import { receiptContent } from "../sync-common.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import type { AccountData } from "../account-data.ts";
import type { Notifier } from "../notifier.ts";
import type { StreamAllocator } from "../streams.ts";
import type { RoomEvents } from "./events.ts";
import { toClientEvents, type ClientEvent, type Viewer } from "./format.ts";
import type { Rooms } from "./rooms.ts";
import { decodeToken, encodeStreamToken } from "./tokens.ts";
import { inviteHidden, type Visibility } from "./visibility.ts";

/** Messages per room in initialSync. */
export const INITIAL_SYNC_LIMIT = 10;
/** Most events one /events answer carries. */
export const MAX_EVENTS_CHUNK = 100;
/** Longest /events long-poll honoured (as /sync). */
export const MAX_EVENTS_TIMEOUT_MS = 100_000;
/** No `timeout`: answer at once (as /sync does). */
export const DEFAULT_EVENTS_TIMEOUT_MS = 0;

const MEMBERSHIPS = new Set(["invite", "join", "leave", "ban"]);

/**
 * The deprecated APIs' event format as Synapse serves it (its "client v1" format): `user_id`, the
 * sender, beside `sender`. Older clients of these endpoints read it; the spec's ClientEvent allows
 * extra keys. Not used by /sync, /messages or the other current endpoints.
 */
export function withLegacyUserId<T extends object>(events: T[]): T[] {
  return events.map((e) => {
    const sender = (e as { sender?: unknown }).sender;
    return typeof sender === "string" ? ({ ...e, user_id: sender } as T) : e;
  });
}

export interface RoomPreviewsDeps {
  rooms: Rooms;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  visibility: Visibility;
  repo: RoomExtrasRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  /** The user's account data changes, for the deprecated global /events stream. */
  accountData?: Pick<AccountData, "changes">;
  /** Read receipts (m.receipt events in initialSync, as Synapse). */
  receipts: ReceiptsRepo;
}

export interface RoomInfo {
  room_id: string;
  membership?: string;
  messages?: { chunk: ClientEvent[]; start?: string; end: string };
  state?: ClientEvent[];
  /** Presence of the room's members (as Synapse; not in room_initial_sync.yaml). */
  presence?: object[];
  /** The room's read receipts as m.receipt events (as Synapse; not in room_initial_sync.yaml). */
  receipts?: JsonObject[];
  visibility?: "public" | "private";
  account_data?: JsonObject[];
  invite?: ClientEvent;
}

/** Presence events (with content.user_id) a user sees: of co-members, or of `among` only. */
export type InitialSyncPresence = (userId: string, among?: readonly string[]) => Promise<object[]>;

export class RoomPreviews {
  private closed = false;
  /** The presence module connects it (the composition root does); none without. */
  presence: InitialSyncPresence = async () => [];

  constructor(private readonly d: RoomPreviewsDeps) {}

  /** Ends long-polls (shutdown). */
  close(): void {
    this.closed = true;
  }

  private async requireReadable(userId: string, roomId: string): Promise<void> {
    try {
      await this.d.rooms.readableUpTo(userId, roomId);
    } catch (e) {
      if (e instanceof MatrixError && (e.errcode === "M_NOT_FOUND" || e.errcode === "M_FORBIDDEN")) {
        throw new MatrixError("M_FORBIDDEN", "You aren't a member of the room and weren't previously a member of the room");
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------ initialSync

  async roomInitialSync(viewer: Viewer, roomId: string, limit: number = INITIAL_SYNC_LIMIT): Promise<RoomInfo> {
    await this.requireReadable(viewer.userId, roomId);
    const m = await this.d.roomsRepo.localMembership(viewer.userId, roomId);
    // `end` is a stream position (taken first: nothing is missed), good for /messages and /events.
    const end = encodeStreamToken(this.d.streams.current());
    // `start` is always given (as Synapse): at the start of history it pages to an empty chunk.
    const page = await this.d.rooms.messages(viewer, roomId, { dir: "b", limit, alwaysEnd: true });
    const messages: RoomInfo["messages"] = { chunk: withLegacyUserId([...page.chunk].reverse()), end };
    if (page.end !== undefined) messages.start = page.end;
    const room = await this.d.roomsRepo.findRoom(roomId);
    const state = await this.d.rooms.getState(viewer, roomId);
    // Presence of the room's members, for a member only (a former member sees none).
    const joined = state.filter((e) => e.type === "m.room.member" && e.content["membership"] === "join").map((e) => e.state_key as string);
    const out: RoomInfo = {
      room_id: roomId,
      messages,
      state: withLegacyUserId(state),
      presence: m?.membership === "join" ? await this.presence(viewer.userId, joined) : [],
      receipts: m?.membership === "join" ? await this.receiptEvents(viewer.userId, [roomId]) : [],
      visibility: room && Number(room.is_public) === 1 ? "public" : "private",
      account_data: (await this.d.repo.roomAccountData(viewer.userId, roomId)).map((r) => ({ type: r.type, content: JSON.parse(r.content) as JsonObject })),
    };
    if (m && MEMBERSHIPS.has(m.membership)) out.membership = m.membership;
    return out;
  }

  /** GET /initialSync (deprecated): every room of the user, the end token, global account data. */
  async initialSync(viewer: Viewer, opts: { limit?: number; archived?: boolean }): Promise<{ end: string; rooms: RoomInfo[]; presence: object[]; receipts: JsonObject[]; account_data: JsonObject[] }> {
    const end = encodeStreamToken(this.d.streams.current());
    const wanted = opts.archived ? ["join", "invite", "leave", "ban"] : ["join", "invite"];
    const memberships = await this.d.roomsRepo.localMemberships(viewer.userId, { memberships: wanted });
    const rooms: RoomInfo[] = [];
    const hiddenInvites = await this.d.visibility.hiddenInvites(viewer.userId);
    for (const m of memberships) {
      if (m.membership === "invite") {
        // Invites from ignored users are not shown (ignore_users.md), none while the user blocks
        // invites (invite_permission.md).
        if (hiddenInvites === "all") continue;
        const inv = await this.d.roomsRepo.findEvent(m.event_id);
        if (inviteHidden(hiddenInvites, inv?.sender)) continue;
        const info: RoomInfo = { room_id: m.room_id, membership: "invite" };
        if (inv) info.invite = withLegacyUserId(await toClientEvents(this.d.events, [inv], viewer))[0];
        rooms.push(info);
        continue;
      }
      try {
        rooms.push(await this.roomInitialSync(viewer, m.room_id, opts.limit ?? INITIAL_SYNC_LIMIT));
      } catch (e) {
        // A room that went away under us (e.g. a remote room we only have our membership of).
        if (!(e instanceof MatrixError)) throw e;
        rooms.push({ room_id: m.room_id, membership: m.membership });
      }
    }
    const accountData = (await this.d.repo.roomAccountData(viewer.userId, "")).map((r) => ({ type: r.type, content: JSON.parse(r.content) as JsonObject }));
    const joinedRooms = memberships.filter((m) => m.membership === "join").map((m) => m.room_id);
    const receipts = await this.receiptEvents(viewer.userId, joinedRooms);
    return { end, rooms, presence: await this.presence(viewer.userId), receipts, account_data: accountData };
  }

  /** m.receipt events (with room_id) of these rooms; private receipts only the user's own. */
  private async receiptEvents(userId: string, roomIds: string[]): Promise<JsonObject[]> {
    if (roomIds.length === 0) return [];
    const byRoom = new Map<string, Awaited<ReturnType<ReceiptsRepo["listForRooms"]>>>();
    for (const r of await this.d.receipts.listForRooms(roomIds, this.d.streams.current())) {
      if (r.receipt_type === "m.read.private" && r.user_id !== userId) continue;
      let list = byRoom.get(r.room_id);
      if (!list) byRoom.set(r.room_id, (list = []));
      list.push(r);
    }
    return [...byRoom].map(([roomId, rows]) => ({ type: "m.receipt", room_id: roomId, content: receiptContent(rows) as JsonObject }));
  }

  // ------------------------------------------------------------------ /events

  /**
   * New events after `from` (a sync or /events token; now when absent) in one room (peeking) or in
   * every joined room, waiting up to `timeoutMs` for some to arrive.
   */
  async events(
    viewer: Viewer,
    opts: { roomId?: string; from?: string; timeoutMs?: number; limit?: number; signal?: AbortSignal },
  ): Promise<{ start: string; end: string; chunk: ClientEvent[] }> {
    let from = this.d.streams.current();
    if (opts.from !== undefined) {
      const t = decodeToken(opts.from);
      // A /messages token: the gap after event (depth, stream - 1).
      from = t.kind === "stream" ? t.stream : t.stream - 1;
      await this.d.streams.catchUp(from);
    }
    from = Math.min(from, this.d.streams.current());
    const start = encodeStreamToken(from);
    let rooms: string[];
    if (opts.roomId !== undefined) {
      // Members read their room; others only a world_readable one (room_previews.md "Server behaviour").
      const m = await this.d.roomsRepo.localMembership(viewer.userId, opts.roomId);
      if (m?.membership !== "join") {
        if (!(await this.d.events.roomVersion(opts.roomId)) || (await this.d.rooms.visibility.currentVisibility(opts.roomId)) !== "world_readable") {
          throw new MatrixError("M_FORBIDDEN", "You are not in this room and it cannot be previewed");
        }
      }
      rooms = [opts.roomId];
    } else {
      rooms = (await this.d.roomsRepo.localMemberships(viewer.userId, { memberships: ["join"] })).map((r) => r.room_id);
    }
    const deadline = Date.now() + Math.max(0, Math.min(opts.timeoutMs ?? DEFAULT_EVENTS_TIMEOUT_MS, MAX_EVENTS_TIMEOUT_MS));
    for (;;) {
      const to = this.d.streams.current();
      const { rows, end } = await this.collect(viewer.userId, rooms, from, to, opts.limit);
      const extra: ClientEvent[] = [];
      if (opts.roomId === undefined && this.d.accountData && end > from) {
        for (const a of await this.d.accountData.changes(viewer.userId, from, end)) {
          extra.push((a.roomId === "" ? { type: a.type, content: a.content } : { type: a.type, content: a.content, room_id: a.roomId }) as unknown as ClientEvent);
        }
      }
      if (rows.length || extra.length || Date.now() >= deadline || this.closed || opts.signal?.aborted) {
        return { start, end: encodeStreamToken(end), chunk: [...withLegacyUserId(await toClientEvents(this.d.events, rows, viewer)), ...extra] };
      }
      // Nothing visible in (from, to]: wait for the next change, then look at what came after.
      from = to;
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const woken = this.d.notifier.wait(viewer.userId, rooms, deadline - Date.now(), ac.signal);
      if (this.d.streams.current() !== to) ac.abort(); // committed while we were registering
      const notified = await woken;
      opts.signal?.removeEventListener("abort", onAbort);
      if (notified) await this.d.streams.waitUntil(this.d.streams.lastAllocated(), Math.max(0, deadline - Date.now()));
    }
  }

  /** Visible events of `rooms` in (from, to], oldest first, at most MAX_EVENTS_CHUNK; `end` where the next call starts. */
  private async collect(userId: string, rooms: string[], from: number, to: number, limit = MAX_EVENTS_CHUNK): Promise<{ rows: EventRow[]; end: number }> {
    if (to <= from) return { rows: [], end: to };
    const max = Math.max(1, Math.min(limit, MAX_EVENTS_CHUNK));
    let all = await this.d.repo.eventsInRooms(rooms, from, to, max + 1);
    let end = to;
    if (all.length > max) {
      all = all.slice(0, max);
      end = Number(all[all.length - 1]!.stream_ordering);
    }
    return { rows: await this.d.visibility.filter(userId, all), end };
  }

  /** GET /events/{eventId} (deprecated): an event the user may see, wherever it is. */
  async event(viewer: Viewer, eventId: string): Promise<ClientEvent> {
    if (!isValidEventId(eventId)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
    const row = await this.d.roomsRepo.findEvent(eventId);
    if (!row) throw new MatrixError("M_NOT_FOUND", "Event not found");
    try {
      return withLegacyUserId([await this.d.rooms.getEvent(viewer, row.room_id, eventId)])[0]!;
    } catch (e) {
      if (e instanceof MatrixError && e.errcode === "M_FORBIDDEN") throw new MatrixError("M_NOT_FOUND", "Event not found");
      throw e;
    }
  }
}
