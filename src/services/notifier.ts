// Wakes waiting /sync long-polls. A waiter names its user and the rooms it is in; whoever
// persists something relevant notifies the room or the user. Shutdown wakes everyone.
//
// `notifyRoom(roomId, at)` is the one entry point for "something happened at stream position P in
// room R" (local writes today; a cross-process wake-up bus can feed it the same way). When the
// writer says that what happened at P was only a new timeline event (`at.timelineEvent`: a
// non-state, non-redaction event of a local sender, with nothing else written at P), the position
// is remembered in a short log: a woken /sync whose whole range is such positions answers from
// memory (Sync's fan-out path) instead of recomputing everything per waiter. Positions written by
// another process are never in this process's log: their ranges are computed in full.
//
// With several processes (share()), every notification also travels over the cluster bus with
// the highest stream position its sender knew of, so that a long-poll waiting on another process
// wakes within milliseconds and waits there until that position is visible.
import type { ClusterBus } from "./cluster/bus.ts";

/** A stream position that held only a new timeline event. */
export interface TimelinePosition {
  pos: number;
  roomId: string;
  eventId: string;
}

/** Positions remembered in the log (older ones fall back to the full computation). */
const LOG_SIZE = 4096;
/** Longest range (in positions) the fan-out path looks at. */
const MAX_RANGE = 512;

interface Waiter {
  userId: string;
  rooms: ReadonlySet<string>;
  wake: () => void;
}

export class Notifier {
  private readonly byUser = new Map<string, Set<Waiter>>();
  private readonly byRoom = new Map<string, Set<Waiter>>();
  private closed = false;
  private count = 0;
  private readonly log = new Map<number, TimelinePosition>();

  private publish?: (msg: WakeMessage) => void;

  /** `maxWaiters`: beyond this many waiting long-polls, new ones just wait out their timeout un-notified. */
  constructor(private readonly maxWaiters = 20_000) {}

  /**
   * Forwards notifications to the other processes on the bus. `stream` is the shared stream:
   * `lastAllocated()` (the highest position this process knows of) travels with each message,
   * `heardOf` records one announced by another process. A notification for a position that is not
   * visible yet (a lower one is still being written somewhere) is given again once the stream
   * has advanced past it, for waiters that registered in between.
   */
  share(bus: ClusterBus, stream: { lastAllocated(): number; current(): number; heardOf(pos: number): void; onAdvance(fn: (pos: number) => void): unknown }): void {
    const ch = bus.channel<WakeMessage>("wake");
    const deferred: WakeMessage[] = [];
    const deliver = (m: WakeMessage) => {
      if (m.u !== undefined) this.wakeUser(m.u);
      if (m.r !== undefined) this.wakeRoom(m.r);
    };
    const later = (m: WakeMessage) => {
      if (typeof m.p !== "number" || m.p <= stream.current()) return;
      deferred.push(m);
      if (deferred.length > 10_000) deferred.shift();
    };
    stream.onAdvance((v) => {
      while (deferred.length > 0 && (deferred[0]!.p ?? 0) <= v) deliver(deferred.shift()!);
      // Positions do not arrive in order: look at the rest too.
      for (let i = deferred.length - 1; i >= 0; i--) if ((deferred[i]!.p ?? 0) <= v) deliver(deferred.splice(i, 1)[0]!);
    });
    ch.subscribe((m, origin) => {
      if (origin === "local") return later(m);
      if (typeof m.p === "number") stream.heardOf(m.p);
      deliver(m);
      later(m);
    });
    this.publish = (m) => ch.publish({ ...m, p: stream.lastAllocated() });
  }

  private add(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
    let s = map.get(key);
    if (!s) map.set(key, (s = new Set()));
    s.add(w);
  }

  private remove(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
    const s = map.get(key);
    if (!s) return;
    s.delete(w);
    if (s.size === 0) map.delete(key);
  }

  /**
   * Resolves true when notified, false on timeout. `abort` ends the wait early (client gone).
   * Call it only after checking that nothing new is there yet; notifications between that check
   * and the call are caught by `changedSince` (a cheap re-check the caller provides).
   */
  wait(userId: string, rooms: Iterable<string>, timeoutMs: number, abort?: AbortSignal): Promise<boolean> {
    if (this.closed || timeoutMs <= 0) return Promise.resolve(false);
    if (this.count >= this.maxWaiters) {
      // Over the limit: no registration (no wake-up fan-out); the client polls again after its timeout.
      return new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), Math.min(timeoutMs, 30_000));
        abort?.addEventListener("abort", () => (clearTimeout(t), resolve(false)), { once: true });
      });
    }
    this.count++;
    return new Promise<boolean>((resolve) => {
      const roomSet = new Set(rooms);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let done = false;
      const finish = (notified: boolean) => {
        if (done) return;
        done = true;
        this.count--;
        clearTimeout(timer);
        this.remove(this.byUser, userId, w);
        for (const r of roomSet) this.remove(this.byRoom, r, w);
        abort?.removeEventListener("abort", onAbort);
        resolve(notified);
      };
      const onAbort = () => finish(false);
      const w: Waiter = { userId, rooms: roomSet, wake: () => finish(true) };
      this.add(this.byUser, userId, w);
      for (const r of roomSet) this.add(this.byRoom, r, w);
      timer = setTimeout(() => finish(false), timeoutMs);
      abort?.addEventListener("abort", onAbort, { once: true });
    });
  }

  notifyUser(userId: string): void {
    this.wakeUser(userId);
    this.publish?.({ u: userId });
  }

  /**
   * Something happened in a room: wakes its waiters, here and (share()) in the other processes.
   * `at.pos`: the stream position it was written at (visible once the position is);
   * `at.timelineEvent`: it was only this new timeline event.
   */
  notifyRoom(roomId: string, at?: { pos: number; timelineEvent?: string }): void {
    if (at?.timelineEvent !== undefined) {
      this.log.set(at.pos, { pos: at.pos, roomId, eventId: at.timelineEvent });
      if (this.log.size > LOG_SIZE) for (const k of this.log.keys()) if ((this.log.delete(k), this.log.size <= LOG_SIZE)) break;
    } else if (at) this.log.delete(at.pos);
    this.wakeRoom(roomId);
    this.publish?.({ r: roomId });
  }

  private wakeUser(userId: string): void {
    for (const w of [...(this.byUser.get(userId) ?? [])]) w.wake();
  }

  /** Wakes this process's waiters of a room only (the other processes were told otherwise). */
  notifyRoomHere(roomId: string): void {
    this.wakeRoom(roomId);
  }

  private wakeRoom(roomId: string): void {
    for (const w of [...(this.byRoom.get(roomId) ?? [])]) w.wake();
  }

  /**
   * The positions in (from, to] when every one of them held only a new timeline event (in position
   * order); undefined when any did not, or is not known to have (then compute in full).
   */
  timelineOnly(from: number, to: number): TimelinePosition[] | undefined {
    if (to - from > MAX_RANGE || to < from) return undefined;
    const out: TimelinePosition[] = [];
    for (let p = from + 1; p <= to; p++) {
      const e = this.log.get(p);
      if (!e) return undefined;
      out.push(e);
    }
    return out;
  }

  /** Wakes every waiter and refuses new waits (server shutdown). */
  close(): void {
    this.closed = true;
    for (const set of this.byUser.values()) for (const w of [...set]) w.wake();
  }

  get waiting(): number {
    let n = 0;
    for (const s of this.byUser.values()) n += s.size;
    return n;
  }
}

/** A notification on the bus: a user or a room, and the sender's highest known stream position. */
interface WakeMessage {
  u?: string;
  r?: string;
  p?: number;
}
