// Read receipts and read markers (spec: client-server-api modules/receipts.md, read_markers.md;
// receipts.yaml, read_markers.yaml).
//   m.read          public, delivered to every member in `m.receipt` ephemeral events
//   m.read.private  delivered to its owner only
//   m.fully_read    the read marker: room account data, never a receipt
// Receipts only move forward: one that points before the current receipt of the same type and
// thread is ignored. Stored receipts are announced to `hooks` (federation sends m.read EDUs).
import { MatrixError } from "../protocol/errors.ts";
import { findServerNameOf, isValidEventId, isValidRoomId } from "../protocol/ids.ts";
import { isJsonObject, type JsonObject } from "../protocol/events.ts";
import type { FederationPort } from "./presence.ts";
import type { Transaction } from "../storage/engines/db.ts";
import type { ReceiptsRepo } from "../storage/repos/receipts.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import type { AccountData } from "./account-data.ts";
import type { Notifier } from "./notifier.ts";
import type { PushActions } from "./push.ts";
import type { StreamAllocator } from "./streams.ts";

export const RECEIPT_TYPES = ["m.read", "m.read.private", "m.fully_read"] as const;
export type ReceiptType = (typeof RECEIPT_TYPES)[number];

export interface StoredReceipt {
  roomId: string;
  userId: string;
  type: "m.read" | "m.read.private";
  eventId: string;
  /** Undefined for unthreaded receipts. */
  threadId?: string;
  ts: number;
  stream: number;
}

export type ReceiptHook = (r: StoredReceipt) => void;

export interface ReceiptsDeps {
  transaction: Transaction;
  repo: ReceiptsRepo;
  roomsRepo: RoomsRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  accountData: AccountData;
  push: PushActions;
  now?: () => number;
}

export class Receipts {
  /** Run after a receipt was stored (not for ignored, older receipts). */
  readonly hooks: ReceiptHook[] = [];
  /** Receipts from other servers (application services); never sent back out. */
  readonly remoteHooks: ReceiptHook[] = [];

  constructor(private readonly d: ReceiptsDeps) {}

  private async requireJoined(userId: string, roomId: string): Promise<void> {
    const m = await this.d.roomsRepo.localMembership(userId, roomId);
    if (m?.membership !== "join") {
      if (!(await this.d.roomsRepo.findRoom(roomId))) throw new MatrixError("M_NOT_FOUND", "Unknown room");
      throw new MatrixError("M_FORBIDDEN", "You are not joined to this room");
    }
  }

  /** An accepted timeline event of the room (404 otherwise). */
  private async roomEvent(roomId: string, eventId: string) {
    if (!isValidEventId(eventId)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
    const row = await this.d.roomsRepo.findEvent(eventId);
    if (!row || row.room_id !== roomId || row.outlier || row.rejected_reason !== null) throw new MatrixError("M_NOT_FOUND", "Event not found in this room");
    return row;
  }

  /** POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. */
  async postReceipt(userId: string, roomId: string, receiptType: string, eventId: string, body: Record<string, unknown>): Promise<void> {
    if (!(RECEIPT_TYPES as readonly string[]).includes(receiptType)) {
      throw new MatrixError("M_INVALID_PARAM", `Receipt type must be one of ${RECEIPT_TYPES.join(", ")}`);
    }
    let threadId: string | undefined;
    if (body.thread_id !== undefined) {
      if (typeof body.thread_id !== "string" || body.thread_id === "") throw new MatrixError("M_INVALID_PARAM", "thread_id field must be a non-empty string");
      if (receiptType === "m.fully_read") throw new MatrixError("M_INVALID_PARAM", "thread_id is not allowed for m.fully_read");
      if (body.thread_id !== "main" && !isValidEventId(body.thread_id)) throw new MatrixError("M_INVALID_PARAM", "thread_id must be 'main' or an event ID");
      threadId = body.thread_id;
    }
    await this.requireJoined(userId, roomId);
    if (receiptType === "m.fully_read") {
      await this.setFullyRead(userId, roomId, eventId);
      return;
    }
    await this.storeReceipt(userId, roomId, receiptType as "m.read" | "m.read.private", eventId, threadId);
  }

  /** POST /rooms/{roomId}/read_markers. */
  async setReadMarkers(userId: string, roomId: string, body: Record<string, unknown>): Promise<void> {
    const ids: Array<[string, string]> = [];
    for (const key of ["m.fully_read", "m.read", "m.read.private"]) {
      const v = body[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== "string") throw new MatrixError("M_BAD_JSON", `'${key}' must be an event ID`);
      ids.push([key, v]);
    }
    await this.requireJoined(userId, roomId);
    for (const [key, eventId] of ids) {
      if (key === "m.fully_read") await this.setFullyRead(userId, roomId, eventId);
      else await this.storeReceipt(userId, roomId, key as "m.read" | "m.read.private", eventId, undefined);
    }
  }

  private async setFullyRead(userId: string, roomId: string, eventId: string): Promise<void> {
    const row = await this.roomEvent(roomId, eventId);
    const cur = await this.d.accountData.get(userId, roomId, "m.fully_read");
    if (typeof cur?.event_id === "string") {
      // The marker only moves forward (as Synapse does).
      const prev = await this.d.roomsRepo.findEvent(cur.event_id);
      if (prev && prev.room_id === roomId && Number(prev.stream_ordering) >= Number(row.stream_ordering)) return;
    }
    await this.d.accountData.set(userId, roomId, "m.fully_read", { event_id: eventId });
  }

  private async storeReceipt(userId: string, roomId: string, type: "m.read" | "m.read.private", eventId: string, threadId: string | undefined): Promise<void> {
    const row = await this.roomEvent(roomId, eventId);
    if (threadId !== undefined) await this.checkThread(roomId, row, threadId);
    const ts = (this.d.now ?? Date.now)();
    const stored = await this.write(roomId, userId, type, eventId, threadId, ts, Number(row.stream_ordering));
    if (stored === undefined) return;
    const r: StoredReceipt = { roomId, userId, type, eventId, ts, stream: stored };
    if (threadId !== undefined) r.threadId = threadId;
    for (const h of this.hooks) h(r);
  }

  /** Stores a receipt unless it points before the current one; wakes /sync. The stream position, or undefined. */
  private async write(
    roomId: string,
    userId: string,
    type: "m.read" | "m.read.private",
    eventId: string,
    threadId: string | undefined,
    ts: number,
    eventStream: number,
  ): Promise<number | undefined> {
    const stored = await this.d.streams.with((pos) =>
      this.d.transaction(async (tx) => {
        const cur = await this.d.repo.find(roomId, type, userId, threadId ?? "", tx);
        if (cur && cur.event_stream_ordering >= eventStream) return undefined;
        await this.d.repo.upsert(tx, {
          room_id: roomId,
          receipt_type: type,
          user_id: userId,
          thread_id: threadId ?? "",
          event_id: eventId,
          ts,
          stream_id: pos,
          event_stream_ordering: eventStream,
        });
        return pos;
      }),
    );
    if (stored === undefined) return undefined;
    if (type === "m.read") this.d.notifier.notifyRoom(roomId);
    else this.d.notifier.notifyUser(userId);
    return stored;
  }

  /**
   * An m.read receipt from another server (m.receipt EDU) for one of its users: stored like a local
   * receipt (only moving forward) so it shows in /sync, without running the hooks (it is not sent
   * back out). Ignored (false) unless the user is joined to the room and the event is one of the
   * room's accepted events.
   */
  async storeRemoteReceipt(r: { roomId: string; userId: string; eventId: string; threadId?: string; ts: number }): Promise<boolean> {
    if (!isValidEventId(r.eventId)) return false;
    if (r.threadId !== undefined && r.threadId !== "main" && !isValidEventId(r.threadId)) return false;
    if ((await this.d.roomsRepo.currentMembership(r.roomId, r.userId)) !== "join") return false;
    const row = await this.d.roomsRepo.findEvent(r.eventId);
    if (!row || row.room_id !== r.roomId || row.outlier || row.rejected_reason !== null) return false;
    const ts = Number.isSafeInteger(r.ts) && r.ts > 0 ? r.ts : (this.d.now ?? Date.now)();
    const stored = await this.write(r.roomId, r.userId, "m.read", r.eventId, r.threadId, ts, Number(row.stream_ordering));
    if (stored === undefined) return false;
    const out: StoredReceipt = { roomId: r.roomId, userId: r.userId, type: "m.read", eventId: r.eventId, ts, stream: stored };
    if (r.threadId !== undefined) out.threadId = r.threadId;
    for (const h of this.remoteHooks) h(out);
    return true;
  }

  /** 400 when the event is not part of the thread the receipt names. */
  private async checkThread(roomId: string, row: { event_id: string; json: string }, threadId: string): Promise<void> {
    const ev = JSON.parse(row.json) as { content?: Record<string, unknown>; room_id?: string };
    const thread = await this.d.push.threadOf({ content: (ev.content ?? {}) as never, room_id: roomId });
    // A thread root belongs to the main timeline and to its own thread.
    if (thread === threadId || (threadId !== "main" && row.event_id === threadId)) return;
    throw new MatrixError("M_INVALID_PARAM", `The event is not in thread ${threadId}`);
  }

  /** Read receipts over federation, outbound: public (m.read) local receipts go to the room's other servers. */
  federate(port: Pick<FederationPort, "otherServers" | "sendEdu">): void {
    this.hooks.push((r) => {
      if (r.type !== "m.read") return;
      void (async () => {
        const dests = await port.otherServers([r.roomId]);
        if (dests.length === 0) return;
        const data: JsonObject = { ts: r.ts };
        if (r.threadId !== undefined) data.thread_id = r.threadId;
        await port.sendEdu("m.receipt", { [r.roomId]: { "m.read": { [r.userId]: { event_ids: [r.eventId], data } } } }, dests);
      })().catch(() => undefined);
    });
  }

  /**
   * An inbound m.receipt EDU (services/edus.ts): the m.read receipts of `origin`'s own users, in
   * rooms where `roomAccepts` (the room's server ACL allows `origin` and it has a member there).
   */
  async receiveEdu(origin: string, content: Record<string, unknown>, checks: { roomAccepts: (roomId: string, origin: string) => Promise<boolean> }): Promise<void> {
    for (const [roomId, byType] of Object.entries(content)) {
      if (!isValidRoomId(roomId) || !isJsonObject(byType) || !isJsonObject(byType["m.read"])) continue;
      if (!(await checks.roomAccepts(roomId, origin))) continue;
      for (const [userId, r] of Object.entries(byType["m.read"])) {
        if (findServerNameOf(userId) !== origin || !isJsonObject(r) || !Array.isArray(r.event_ids)) continue;
        const eventId = r.event_ids[0];
        if (typeof eventId !== "string") continue;
        const data = isJsonObject(r.data) ? r.data : {};
        await this.storeRemoteReceipt({
          roomId,
          userId,
          eventId,
          ts: typeof data.ts === "number" ? data.ts : Date.now(),
          threadId: typeof data.thread_id === "string" ? data.thread_id : undefined,
        });
      }
    }
  }

}
