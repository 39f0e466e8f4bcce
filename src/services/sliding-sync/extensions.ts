// Sliding sync extensions (MSC3885 to_device, MSC3884 e2ee, MSC3959 account_data, MSC3960
// receipts, MSC3961 typing, MSC4360 threads), as Synapse serves them.
//
// The room-scoped ones (account_data, receipts, typing, threads) cover the rooms of the
// response's lists (`lists`, default every list) and subscriptions (`rooms`, default all). Like
// room data, account data and receipts remember per room and connection how far they were sent,
// so a room that comes back into range gets what it missed and nothing twice.
import type { JsonObject } from "../../protocol/events.ts";
import type { AccountDataRepo } from "../../storage/repos/account-data.ts";
import type { ReceiptRow } from "../../storage/repos/receipts.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import type { SlidingSyncRepo } from "../../storage/repos/sliding-sync.ts";
import type { RoomEvents } from "../rooms/events.ts";
import { toClientEvents } from "../rooms/format.ts";
import type { Visibility } from "../rooms/visibility.ts";
import { receiptContent } from "../sync-common.ts";
import type { Typing } from "../typing.ts";
import type { RoomSent } from "./connections.ts";
import type { Extensions, RoomScopedExtension } from "./request.ts";
import type { Membership } from "./room-lists.ts";

/** What the E2EE module offers (services/e2ee): keys, device lists, the to-device inbox. */
export interface E2eePort {
  oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>>;
  unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]>;
  deviceListChanges(userId: string, fromExclusive: number, toInclusive: number): Promise<{ changed: string[]; left: string[] }>;
  toDeviceForSync(userId: string, deviceId: string, since: number | undefined, to: number): Promise<Array<{ sender: string; type: string; content: unknown }>>;
}

export type AccountDataView = (userId: string, stored: JsonObject | undefined) => Promise<JsonObject | undefined>;

export interface ExtensionDeps {
  repo: RoomsRepo;
  ssRepo: SlidingSyncRepo;
  events: RoomEvents;
  visibility: Visibility;
  accountData: AccountDataRepo;
  accountDataViews?: ReadonlyMap<string, AccountDataView>;
  typing: Typing;
  e2ee?: E2eePort;
}

/** A room of the response as the extensions see it. */
export interface ExtensionRoom {
  m: Membership;
  /** Sent in this response as initial (or with an expanded timeline). */
  fresh: boolean;
  /** Timeline event IDs in this response. */
  timelineEventIds: string[];
}

export interface ExtensionInput {
  userId: string;
  deviceId: string | null;
  req: Extensions;
  from: number | undefined;
  fromTyping: number | undefined;
  to: number;
  prevOtkSignature: string | undefined;
  /** Room IDs in each list's ranges. */
  listRooms: ReadonlyMap<string, readonly string[]>;
  /** Rooms of the response (lists and subscriptions). */
  rooms: ReadonlyMap<string, ExtensionRoom>;
  /** Per-room connection records (read and updated: receiptsUpTo, accountDataUpTo). */
  record(roomId: string): RoomSent | undefined;
  update(roomId: string, patch: Partial<RoomSent>): void;
}

export interface ExtensionOutput {
  body: Record<string, unknown>;
  news: boolean;
  otkSignature?: string;
}

const isPrivateOfOther = (userId: string) => (r: ReceiptRow) => !(r.receipt_type === "m.read.private" && r.user_id !== userId);

export class SlidingSyncExtensions {
  constructor(private readonly d: ExtensionDeps) {}

  /** The rooms a room-scoped extension covers. */
  private scope(ext: RoomScopedExtension | { lists?: string[]; rooms?: string[] }, inp: ExtensionInput): string[] {
    const out = new Set<string>();
    const lists = ext.lists ?? ["*"];
    const rooms = ext.rooms ?? ["*"];
    for (const l of lists) {
      if (l === "*") for (const ids of inp.listRooms.values()) for (const id of ids) out.add(id);
      else for (const id of inp.listRooms.get(l) ?? []) out.add(id);
    }
    for (const r of rooms) {
      if (r === "*") for (const id of inp.rooms.keys()) out.add(id);
      else if (inp.rooms.has(r)) out.add(r);
    }
    return [...out];
  }

  async compute(inp: ExtensionInput): Promise<ExtensionOutput> {
    const out: ExtensionOutput = { body: {}, news: false };
    const { req } = inp;
    const tasks: Array<Promise<void>> = [];
    if (req.toDevice?.enabled) tasks.push(this.toDevice(inp, out));
    if (req.e2ee?.enabled) tasks.push(this.e2ee(inp, out));
    if (req.accountData?.enabled) tasks.push(this.accountData(inp, out, req.accountData));
    if (req.receipts?.enabled) tasks.push(this.receipts(inp, out, req.receipts));
    if (req.typing?.enabled) this.typing(inp, out, req.typing);
    if (req.threads?.enabled) tasks.push(this.threads(inp, out, req.threads));
    await Promise.all(tasks);
    return out;
  }

  // ------------------------------------------------------------------ to_device (MSC3885)

  private async toDevice(inp: ExtensionInput, out: ExtensionOutput): Promise<void> {
    const next = String(inp.to);
    if (inp.deviceId === null || !this.d.e2ee) {
      out.body.to_device = { next_batch: next, events: [] };
      return;
    }
    const since = inp.req.toDevice?.since !== undefined ? Number(inp.req.toDevice.since) : undefined;
    const events = await this.d.e2ee.toDeviceForSync(inp.userId, inp.deviceId, since, inp.to);
    out.body.to_device = { next_batch: next, events };
    if (events.length) out.news = true;
  }

  // ------------------------------------------------------------------ e2ee (MSC3884)

  private async e2ee(inp: ExtensionInput, out: ExtensionOutput): Promise<void> {
    const body: Record<string, unknown> = { device_one_time_keys_count: {}, device_unused_fallback_key_types: [] };
    const e = this.d.e2ee;
    if (e && inp.deviceId !== null) {
      body.device_one_time_keys_count = await e.oneTimeKeyCounts(inp.userId, inp.deviceId);
      body.device_unused_fallback_key_types = await e.unusedFallbackKeyTypes(inp.userId, inp.deviceId);
    }
    if (e && inp.from !== undefined) {
      const lists = await e.deviceListChanges(inp.userId, inp.from, inp.to);
      body.device_lists = lists;
      if (lists.changed.length || lists.left.length) out.news = true;
    }
    out.otkSignature = JSON.stringify([body.device_one_time_keys_count, body.device_unused_fallback_key_types]);
    if (inp.from !== undefined && inp.prevOtkSignature !== undefined && out.otkSignature !== inp.prevOtkSignature) out.news = true;
    out.body.e2ee = body;
  }

  // ------------------------------------------------------------------ account_data (MSC3959)

  private async accountData(inp: ExtensionInput, out: ExtensionOutput, ext: RoomScopedExtension): Promise<void> {
    const rooms = this.scope(ext, inp);
    // One read covering what every room (and the global data) still needs.
    let lower: number | undefined = inp.from;
    for (const id of rooms) {
      const upTo = inp.record(id)?.accountDataUpTo;
      if (upTo === undefined) lower = undefined;
      else if (lower !== undefined && upTo < lower) lower = upTo;
      if (lower === undefined) break;
    }
    const rows = await this.d.accountData.list(inp.userId, lower, inp.to);
    const global: Array<{ type: string; content: JsonObject }> = [];
    const byRoom: Record<string, Array<{ type: string; content: JsonObject }>> = {};
    const wanted = new Set(rooms);
    for (const r of rows) {
      if (r.room_id === "") {
        if (inp.from === undefined || r.stream_id > inp.from) global.push({ type: r.type, content: JSON.parse(r.content) as JsonObject });
        continue;
      }
      if (!wanted.has(r.room_id)) continue;
      const upTo = inp.record(r.room_id)?.accountDataUpTo;
      if (upTo !== undefined && r.stream_id <= upTo) continue;
      (byRoom[r.room_id] ??= []).push({ type: r.type, content: JSON.parse(r.content) as JsonObject });
    }
    // Server-managed types (m.push_rules) as the server computes them; always there initially.
    for (const [type, view] of this.d.accountDataViews ?? []) {
      const i = global.findIndex((e) => e.type === type);
      if (i < 0 && inp.from !== undefined) continue;
      const content = await view(inp.userId, i >= 0 ? global[i]!.content : undefined);
      if (i >= 0) global.splice(i, 1);
      if (content) global.push({ type, content });
    }
    for (const id of rooms) inp.update(id, { accountDataUpTo: inp.to });
    out.body.account_data = { global, rooms: byRoom };
    if (global.length || Object.keys(byRoom).length) out.news = true;
  }

  // ------------------------------------------------------------------ receipts (MSC3960)

  private async receipts(inp: ExtensionInput, out: ExtensionOutput, ext: RoomScopedExtension): Promise<void> {
    // Not for invites and knocks: the user is not in those rooms yet.
    const rooms = this.scope(ext, inp).filter((id) => {
      const m = inp.rooms.get(id)?.m;
      return m === undefined || (m.membership !== "invite" && m.membership !== "knock");
    });
    const byRoom = new Map<string, ReceiptRow[]>();
    const add = (rows: ReceiptRow[]) => {
      for (const r of rows) {
        let l = byRoom.get(r.room_id);
        if (!l) byRoom.set(r.room_id, (l = []));
        l.push(r);
      }
    };
    const fresh: string[] = [];
    const live: string[] = [];
    const behind: Array<[string, number]> = [];
    for (const id of rooms) {
      const room = inp.rooms.get(id);
      const upTo = inp.record(id)?.receiptsUpTo;
      if (inp.from === undefined || upTo === undefined || room?.fresh) fresh.push(id);
      else if (upTo >= inp.from) live.push(id);
      else behind.push([id, upTo]);
    }
    // Rooms new to the connection: receipts on the events sent, and the user's own.
    if (fresh.length) {
      add(await this.d.ssRepo.receiptsOfUser(inp.userId, fresh, inp.to));
      for (const id of fresh) {
        const ids = inp.rooms.get(id)?.timelineEventIds ?? [];
        if (ids.length) add((await this.d.ssRepo.receiptsOnEvents(id, ids, inp.to)).filter((r) => r.user_id !== inp.userId));
      }
    }
    // Rooms up to date at `from`: one read of everything since.
    if (live.length && inp.from !== undefined && inp.to > inp.from) {
      const set = new Set(live);
      add((await this.d.ssRepo.receiptsAllBetween(inp.from, inp.to)).filter((r) => set.has(r.room_id)));
    }
    // Rooms that were out of range for a while: since they were last sent.
    for (const [id, upTo] of behind) add(await this.d.ssRepo.receiptsBetween(id, upTo, inp.to));
    const body: Record<string, unknown> = {};
    const accept = isPrivateOfOther(inp.userId);
    for (const [id, rows] of byRoom) {
      // Left rooms: nothing after the user's leave.
      const m = inp.rooms.get(id)?.m;
      const visible = m && m.membership !== "join" ? rows.filter((r) => r.stream_id <= m.stream) : rows;
      const content = receiptContent(visible, accept);
      if (Object.keys(content).length) body[id] = { type: "m.receipt", content };
    }
    for (const id of rooms) inp.update(id, { receiptsUpTo: inp.to });
    out.body.receipts = { rooms: body };
    if (Object.keys(body).length) out.news = true;
  }

  // ------------------------------------------------------------------ typing (MSC3961)

  private typing(inp: ExtensionInput, out: ExtensionOutput, ext: RoomScopedExtension): void {
    const body: Record<string, unknown> = {};
    for (const id of this.scope(ext, inp)) {
      const room = inp.rooms.get(id);
      if (room && room.m.membership !== "join") continue;
      const users = this.d.typing.typingUsers(id);
      const changed = inp.fromTyping !== undefined && this.d.typing.changedSince(id, inp.fromTyping);
      const fresh = inp.from === undefined || room?.fresh === true;
      if (changed || (fresh && users.length > 0)) body[id] = { type: "m.typing", content: { user_ids: users } };
    }
    out.body.typing = { rooms: body };
    if (Object.keys(body).length) out.news = true;
  }

  // ------------------------------------------------------------------ threads (MSC4360)

  private async threads(inp: ExtensionInput, out: ExtensionOutput, ext: { limit: number; includeRoots: boolean }): Promise<void> {
    const rooms = this.scope({}, inp).filter((id) => {
      const m = inp.rooms.get(id)?.m;
      return m !== undefined && m.membership !== "invite" && m.membership !== "knock";
    });
    if (rooms.length === 0 || ext.limit === 0) return;
    const rows = await this.d.ssRepo.threadUpdates(rooms, inp.from, inp.to, ext.limit);
    const inTimeline = new Set<string>();
    if (!ext.includeRoots) for (const r of inp.rooms.values()) for (const id of r.timelineEventIds) inTimeline.add(id);
    const candidates = rows.filter((r) => {
      const m = inp.rooms.get(r.room_id)!.m;
      if (m.membership !== "join" && r.latest_stream > m.stream) return false;
      return !inTimeline.has(r.latest_event_id);
    });
    if (candidates.length === 0) return;
    // Only threads whose latest event the user may see.
    const latest = await this.d.repo.getEvents(candidates.map((r) => r.latest_event_id));
    const visible = new Set((await this.d.visibility.filter(inp.userId, [...latest.values()])).map((r) => r.event_id));
    const shown = candidates.filter((r) => visible.has(r.latest_event_id));
    if (shown.length === 0) return;
    let roots = new Map<string, Record<string, unknown>>();
    if (ext.includeRoots) {
      const rootRows = [...(await this.d.repo.getEvents(shown.map((r) => r.thread_id))).values()];
      const visibleRoots = await this.d.visibility.filter(inp.userId, rootRows);
      const formatted = await toClientEvents(this.d.events, visibleRoots, { userId: inp.userId, deviceId: inp.deviceId ?? undefined }, { withRoomId: true, bundle: true });
      roots = new Map(formatted.map((e) => [e.event_id, e as unknown as Record<string, unknown>]));
    }
    const updates: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const r of shown) {
      const u: Record<string, unknown> = {};
      const root = roots.get(r.thread_id);
      if (root) u.thread_root = root;
      (updates[r.room_id] ??= {})[r.thread_id] = u;
    }
    out.body.threads = { updates };
    out.news = true;
  }
}
