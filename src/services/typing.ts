// Typing notifications (spec: client-server-api modules/typing_notifications.md, typing.yaml).
// Kept in memory only: who types where, until when. Every change bumps a serial that /sync tokens
// carry as their second part (`s<stream>_<typing>`), so a sync knows which rooms' typing lists
// changed since its token. Local changes are announced to `hooks` (federation sends EDUs there);
// remote ones arrive through `applyRemote`.
import { MatrixError } from "../protocol/errors.ts";
import type { Notifier } from "./notifier.ts";
import type { BusChannel, ClusterBus } from "./cluster/bus.ts";
import type { PolicedRequester } from "./rooms/sending-policy.ts";

/** Timeout when the client sends none, and the longest one honoured. */
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;
export const MAX_TYPING_TIMEOUT_MS = 120_000;

export interface TypingChange {
  roomId: string;
  userId: string;
  typing: boolean;
  /** How long the user types, for typing = true (already capped). */
  timeoutMs?: number;
}

export type TypingHook = (change: TypingChange) => void;

interface RoomTyping {
  users: Map<string, { expires: number; timer: ReturnType<typeof setTimeout> }>;
  /** The serial of the last change in this room. */
  serial: number;
}

export interface TypingDeps {
  notifier: Notifier;
  /** Whether a user is joined to a room (only joined members may type). */
  isJoined: (userId: string, roomId: string) => Promise<boolean>;
  now?: () => number;
}

export class Typing {
  /** Local typing changes, for federation. */
  readonly hooks: TypingHook[] = [];
  /** Typing changes from other servers (application services); never sent back out. */
  readonly remoteHooks: TypingHook[] = [];
  private serial = 0;
  private readonly rooms = new Map<string, RoomTyping>();
  private closed = false;

  constructor(private readonly d: TypingDeps) {}

  /**
   * PUT /rooms/{roomId}/typing/{userId} for the requester. Sending policy: a shadow-banned
   * requester's typing is accepted and shown to nobody (as Synapse does).
   */
  async setTyping(who: Pick<PolicedRequester, "userId" | "isShadowBanned">, roomId: string, userId: string, typing: boolean, timeoutMs?: number): Promise<void> {
    if (who.isShadowBanned) return;
    if (who.userId !== userId) throw new MatrixError("M_FORBIDDEN", "Cannot set another user's typing state");
    if (!(await this.d.isJoined(userId, roomId))) throw new MatrixError("M_FORBIDDEN", "You are not joined to this room");
    const t = typing ? Math.max(0, Math.min(timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS, MAX_TYPING_TIMEOUT_MS)) : undefined;
    this.apply(roomId, userId, typing, t);
    // Hooks see refreshes too (nothing changes for /sync, but remote servers' timers need them).
    for (const h of this.hooks) h({ roomId, userId, typing, timeoutMs: t });
  }

  /** A typing change from another server (the federation hooks do not run; remoteHooks do). */
  applyRemote(roomId: string, userId: string, typing: boolean, timeoutMs = DEFAULT_TYPING_TIMEOUT_MS): void {
    const t = Math.min(timeoutMs, MAX_TYPING_TIMEOUT_MS);
    if (this.apply(roomId, userId, typing, t)) for (const h of this.remoteHooks) h({ roomId, userId, typing, timeoutMs: typing ? t : undefined });
  }

  /** Removes a user from a room's typing list (e.g. when they leave). */
  stop(roomId: string, userId: string): void {
    this.apply(roomId, userId, false, undefined);
  }

  /** Returns whether the visible typing list changed. */
  private apply(roomId: string, userId: string, typing: boolean, timeoutMs: number | undefined): boolean {
    if (this.closed) return false;
    let room = this.rooms.get(roomId);
    const existing = room?.users.get(userId);
    if (!typing) {
      if (!room || !existing) return false;
      clearTimeout(existing.timer);
      room.users.delete(userId);
      // The room's entry stays (with its serial) even when empty: syncs compare against it.
      this.bump(roomId, room);
      this.announce(roomId, userId, undefined);
      return true;
    }
    if (!room) this.rooms.set(roomId, (room = { users: new Map(), serial: 0 }));
    const now = (this.d.now ?? Date.now)();
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => this.expire(roomId, userId), timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS);
    (timer as { unref?: () => void }).unref?.();
    room.users.set(userId, { expires: now + (timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS), timer });
    if (existing) {
      // A refresh: nothing changes for /sync here, but the other processes' timers need it.
      this.announce(roomId, userId, timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS);
      return false;
    }
    this.bump(roomId, room);
    this.announce(roomId, userId, timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS);
    return true;
  }

  private expire(roomId: string, userId: string): void {
    const room = this.rooms.get(roomId);
    if (!room?.users.has(userId)) return;
    room.users.delete(userId);
    this.bump(roomId, room);
  }

  private bump(roomId: string, room: RoomTyping): void {
    // Several processes (replicate()): serials follow the clock, so that every process's tokens compare.
    room.serial = this.serial = this.replica ? Math.max(this.serial + 1, Date.now()) : this.serial + 1;
    this.d.notifier.notifyRoom(roomId);
  }

  private replica?: BusChannel<TypingReplica>;

  /**
   * Several processes (docs/SCALING.md): every change is applied by every process, with the serial
   * its origin gave it, so that /sync tokens handed out by any process compare.
   */
  replicate(bus: ClusterBus): void {
    const ch = (this.replica = bus.channel<TypingReplica>("typing"));
    ch.subscribe((m, origin) => {
      if (origin === "local" || this.closed) return;
      let room = this.rooms.get(m.r);
      if (!room) this.rooms.set(m.r, (room = { users: new Map(), serial: 0 }));
      const existing = room.users.get(m.u);
      if (existing) clearTimeout(existing.timer);
      if (m.t !== undefined) {
        const timer = setTimeout(() => this.expire(m.r, m.u), m.t);
        (timer as { unref?: () => void }).unref?.();
        room.users.set(m.u, { expires: (this.d.now ?? Date.now)() + m.t, timer });
      } else room.users.delete(m.u);
      room.serial = Math.max(room.serial, m.s);
      this.serial = Math.max(this.serial, m.s);
      this.d.notifier.notifyRoomHere(m.r);
    });
  }

  private announce(roomId: string, userId: string, timeoutMs: number | undefined): void {
    const room = this.rooms.get(roomId);
    if (this.replica && room) this.replica.publish({ r: roomId, u: userId, t: timeoutMs, s: room.serial });
  }

  /** The current serial (the typing part of a sync token). */
  current(): number {
    return this.serial;
  }

  /** Whether anyone typed in the room since the server started (its list may be empty now). */
  hasActivity(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Who is typing in a room now. */
  typingUsers(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.users.keys() ?? [])];
  }

  /**
   * Whether a room's typing list changed after `serial`. A serial above the current one comes
   * from before a restart: everything counts as changed then.
   */
  changedSince(roomId: string, serial: number): boolean {
    if (serial > this.serial) return true;
    return (this.rooms.get(roomId)?.serial ?? 0) > serial;
  }

  /** Rooms whose typing list changed after `serial`, among `roomIds`. */
  roomsChangedSince(serial: number, roomIds: Iterable<string>): string[] {
    const out: string[] = [];
    for (const r of roomIds) if (this.changedSince(r, serial)) out.push(r);
    return out;
  }

  close(): void {
    this.closed = true;
    for (const room of this.rooms.values()) for (const u of room.users.values()) clearTimeout(u.timer);
    this.rooms.clear();
  }
}

/** A typing change sent to the other processes: room, user, timeout (absent: stopped), serial. */
interface TypingReplica {
  r: string;
  u: string;
  t?: number;
  s: number;
}
