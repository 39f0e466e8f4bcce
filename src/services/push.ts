// Push actions and unread notification counts (spec: client-server-api modules/push.md
// "Receiving notifications", "Marking notifications as read", "Server behaviour"; modules/receipts.md
// "Threaded read receipts").
//
// When an event is persisted, `hook` (registered on RoomEvents effect inTransaction (services/event-effects.ts)) evaluates the
// push rules of every local joined member except the sender — and of a local invitee — and writes
// the notifying results to event_push_actions in the same transaction, so the counts change in the
// same /sync as the event. A user's own event marks earlier notifications in its thread as read.
// Counts are the actions after the user's read position: the furthest of their m.read and
// m.read.private receipts (unthreaded, or for the event's thread) and their own latest event.
import { actionEffects, effectiveRuleset, evaluatePushRules, type PushContext, type Ruleset } from "../core/push-rules.ts";
import { effectivePowerLevels, notificationsLevel, userLevel } from "../core/power-levels.ts";
import type { RoomVersion } from "../core/room-versions.ts";
import { stateMapKey } from "../core/state-map.ts";
import type { JsonObject, RoomEvent } from "../protocol/events.ts";
import { settleAll, type Queryable } from "../storage/engines/db.ts";
import type { PushActionRow, PushActionsRepo } from "../storage/repos/push-actions.ts";
import type { ReceiptsRepo } from "../storage/repos/receipts.ts";
import type { RelationsRepo } from "../storage/repos/relations.ts";
import { Lru } from "../util/lru.ts";
import type { AccountData } from "./account-data.ts";
import type { RoomEvents } from "./rooms/events.ts";
import { MAIN_THREAD, threadOfEvent } from "./rooms/threads.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

export { MAIN_THREAD };

export interface Counts {
  notification_count: number;
  highlight_count: number;
}

export interface RoomUnread {
  /** All threads together. */
  total: Counts;
  /** The main timeline only. */
  main: Counts;
  /** Per thread root (only threads with something unread). */
  threads: Map<string, Counts>;
}

export interface PushDeps {
  repo: PushActionsRepo;
  receipts: ReceiptsRepo;
  events: RoomEvents;
  accountData: AccountData;
  /** The relations index: an event's thread is decided from it (src/services/rooms/threads.ts). */
  relations: RelationsRepo;
  serverName: string;
}

interface CachedRules {
  rules: Ruleset;
  /** Some enabled rule has contains_display_name. */
  needsName: boolean;
  needsPowerLevels: boolean;
}


function usesDisplayName(rules: Ruleset): boolean {
  for (const list of Object.values(rules)) {
    for (const r of list) if (r.enabled && r.conditions?.some((c) => c.kind === "contains_display_name")) return true;
  }
  return false;
}

export class PushActions {
  private readonly rulesCache = new Lru<string, CachedRules>(10000, "push_rules");
  /** Joined member count per room (for room_member_count), dropped on every membership change. */
  private readonly memberCounts = new Lru<string, number>(10000, "room_member_counts");
  /** Which of some users ignore a sender: their events never notify them (set by the composition root). */
  private ignoring: (userIds: readonly string[], sender: string) => Promise<ReadonlySet<string>> = async () => new Set();

  constructor(private readonly d: PushDeps) {
    d.accountData.onChange.push((userId, roomId, type) => {
      if (roomId === "" && type === "m.push_rules") this.rulesCache.delete(userId);
    });
  }

  /** A room's membership changed: its member count is read again. */
  forgetMemberCount(roomId: string): void {
    this.memberCounts.delete(roomId);
  }

  private isLocal(userId: string): boolean {
    return userId.endsWith(`:${this.d.serverName}`);
  }

  setIgnoredUsers(fn: (userIds: readonly string[], sender: string) => Promise<ReadonlySet<string>>): void {
    this.ignoring = fn;
  }

  /** The thread an event belongs to: a thread root's event ID, or "main" (rooms/threads.ts). */
  async threadOf(ev: Pick<RoomEvent, "content" | "room_id">, q?: Queryable): Promise<string> {
    const roomId = ev.room_id;
    return threadOfEvent(ev.content, async (parentId) => (roomId ? this.d.relations.threadOf(parentId, roomId, q) : undefined));
  }

  private async rulesFor(userId: string, q: Queryable): Promise<CachedRules> {
    let hit = this.rulesCache.get(userId);
    if (!hit) {
      const rules = effectiveRuleset(userId, await this.d.accountData.get(userId, "", "m.push_rules", q));
      hit = { rules, needsName: usesDisplayName(rules), needsPowerLevels: customRulesNeedPowerLevels(rules) };
      this.rulesCache.set(userId, hit);
    }
    return hit;
  }

  /** RoomEvents effect inTransaction (services/event-effects.ts): push actions for the event's local recipients. */
  readonly hook = async (q: Queryable, ev: RoomEvent, stream: number, rv: RoomVersion): Promise<void> => {
    const roomId = ev.room_id;
    if (!roomId) return; // a v12 create event: nobody else is in the room yet
    const threadId = await this.threadOf(ev, q);
    if (ev.type === "m.room.member") this.forgetMemberCount(roomId);
    // Issued together (one round trip on PostgreSQL).
    const [members] = await settleAll<unknown>([
      this.d.repo.localJoinedMembers(q, roomId),
      ...(this.isLocal(ev.sender) ? [this.d.repo.upsertSentPosition(q, ev.sender, roomId, threadId, stream)] : []),
    ]) as [Awaited<ReturnType<PushActionsRepo["localJoinedMembers"]>>];
    const memberEvent = new Map(members.map((m) => [m.user_id, m.event_id]));
    const recipients = members.map((m) => m.user_id).filter((u) => u !== ev.sender);
    if (ev.type === "m.room.member" && ev.content["membership"] === "invite" && typeof ev.state_key === "string") {
      if (ev.state_key !== ev.sender && this.isLocal(ev.state_key) && !recipients.includes(ev.state_key)) recipients.push(ev.state_key);
    }
    if (recipients.length === 0) return;
    let memberCount = this.memberCounts.get(roomId);
    if (memberCount === undefined) {
      memberCount = await this.d.repo.joinedCount(q, roomId);
      this.memberCounts.set(roomId, memberCount);
    }
    const joinedCount = memberCount;

    let senderLevel: number | undefined;
    let pl: ReturnType<typeof effectivePowerLevels> | undefined;
    const powerLevels = async () => {
      if (!pl) {
        const state = await this.d.events.currentStateEvents(roomId, [["m.room.create", ""], ["m.room.power_levels", ""]], q);
        pl = effectivePowerLevels(state.get(stateMapKey("m.room.power_levels", ""))?.content, state.get(stateMapKey("m.room.create", "")), rv);
        senderLevel = userLevel(pl, ev.sender);
      }
      return pl;
    };
    // Conditions are synchronous: power levels are read up front, but only when a rule could ask
    // (room mentions, or user rules with sender_notification_permission).
    const mentionsRoom = isObject(ev.content["m.mentions"]) && (ev.content["m.mentions"] as JsonObject).room === true;

    const rows: PushActionRow[] = [];
    // Events of ignored users notify nobody who ignores them (one lookup for all recipients).
    const ignoring = await this.ignoring(recipients, ev.sender);
    for (const userId of recipients) {
      if (ignoring.has(userId)) continue;
      const { rules, needsName, needsPowerLevels } = await this.rulesFor(userId, q);
      let displayName: string | undefined;
      if (needsName && typeof ev.content["body"] === "string" && memberEvent.has(userId)) {
        const m = (await this.d.events.loadEvents([memberEvent.get(userId)!], q)).get(memberEvent.get(userId)!);
        displayName = typeof m?.content["displayname"] === "string" ? (m.content["displayname"] as string) : undefined;
      }
      if (mentionsRoom || needsPowerLevels) await powerLevels();
      const ctx: PushContext = {
        userId,
        memberCount: () => joinedCount,
        displayName: () => displayName,
        senderPowerLevel: () => senderLevel ?? 0,
        notificationLevel: (key) => (pl ? notificationsLevel(pl, key) : 50),
      };
      const match = evaluatePushRules(rules, ev, ctx);
      if (!match) continue;
      const { notify, highlight } = actionEffects(match.actions);
      if (!notify && !highlight) continue;
      rows.push({
        room_id: roomId,
        event_id: ev.event_id,
        user_id: userId,
        stream_ordering: stream,
        thread_id: threadId,
        notify: notify ? 1 : 0,
        highlight: highlight ? 1 : 0,
        actions: JSON.stringify(match.actions),
      });
    }
    if (rows.length) await this.d.repo.insert(q, rows);
  };

  /** Pending unreadInRoom calls per room, answered together. */
  private readonly unreadBatches = new Map<string, Map<string, Array<(u: RoomUnread | undefined, e?: unknown) => void>>>();

  /**
   * One user's unread counts in one room, as `unreadCounts` gives them; the calls for one room made
   * in the same turn of the event loop (e.g. every /sync woken by a message) share three queries.
   */
  unreadInRoom(userId: string, roomId: string): Promise<RoomUnread | undefined> {
    return new Promise((resolve, reject) => {
      let batch = this.unreadBatches.get(roomId);
      if (!batch) {
        this.unreadBatches.set(roomId, (batch = new Map()));
        setImmediate(() => {
          this.unreadBatches.delete(roomId);
          this.unreadForUsers(roomId, [...batch!.keys()]).then(
            (res) => {
              for (const [u, cbs] of batch!) for (const cb of cbs) cb(res.get(u));
            },
            (e) => {
              for (const cbs of batch!.values()) for (const cb of cbs) cb(undefined, e);
            },
          );
        });
      }
      let cbs = batch.get(userId);
      if (!cbs) batch.set(userId, (cbs = []));
      cbs.push((u, e) => (e ? reject(e) : resolve(u)));
    });
  }

  /** Unread counts of some users in one room (three queries whatever the number of users). */
  private async unreadForUsers(roomId: string, userIds: readonly string[]): Promise<Map<string, RoomUnread>> {
    const reads = new Map<string, Array<{ thread_id: string; pos: number }>>();
    const add = (userId: string, threadId: string, pos: number) => {
      let l = reads.get(userId);
      if (!l) reads.set(userId, (l = []));
      l.push({ thread_id: threadId, pos });
    };
    for (const r of await this.d.receipts.readReceiptsInRoom(roomId, userIds)) add(r.user_id, r.thread_id, r.event_stream_ordering);
    for (const s of await this.d.repo.sentPositionsInRoom(roomId, userIds)) add(s.user_id, s.thread_id, s.stream_ordering);
    const bases = new Map<string, number>();
    const threads = new Map<string, Map<string, number>>();
    for (const u of userIds) {
      const { base, perThread } = readPositions(reads.get(u) ?? []);
      bases.set(u, base);
      if (perThread) threads.set(u, perThread);
    }
    const lowest = Math.min(...bases.values());
    const rows = await this.d.repo.listAfterInRoom(roomId, userIds, Number.isFinite(lowest) ? lowest : Number.MIN_SAFE_INTEGER);
    const byUser = new Map<string, typeof rows>();
    for (const r of rows) {
      let l = byUser.get(r.user_id);
      if (!l) byUser.set(r.user_id, (l = []));
      l.push(r);
    }
    const out = new Map<string, RoomUnread>();
    for (const u of userIds) out.set(u, countUnread(byUser.get(u) ?? [], bases.get(u)!, threads.get(u)));
    return out;
  }

  /** Unread counts of a user in some rooms. */
  async unreadCounts(userId: string, roomIds: readonly string[]): Promise<Map<string, RoomUnread>> {
    const out = new Map<string, RoomUnread>();
    if (roomIds.length === 0) return out;
    // Read positions: unthreaded receipts apply to every thread; threaded ones and own events to theirs.
    const unthreaded = new Map<string, number>();
    const threaded = new Map<string, Map<string, number>>();
    const bump = (roomId: string, threadId: string, pos: number) => {
      if (threadId === "") {
        unthreaded.set(roomId, Math.max(unthreaded.get(roomId) ?? -Infinity, pos));
        return;
      }
      let m = threaded.get(roomId);
      if (!m) threaded.set(roomId, (m = new Map()));
      m.set(threadId, Math.max(m.get(threadId) ?? -Infinity, pos));
    };
    for (const r of await this.d.receipts.readReceiptsOf(userId, roomIds)) bump(r.room_id, r.thread_id, r.event_stream_ordering);
    for (const s of await this.d.repo.sentPositions(userId, roomIds)) bump(s.room_id, s.thread_id, s.stream_ordering);
    const one = async (roomId: string) => {
      const base = unthreaded.get(roomId) ?? -Infinity;
      const perThread = threaded.get(roomId);
      const rows = await this.d.repo.listAfter(userId, roomId, Number.isFinite(base) ? base : Number.MIN_SAFE_INTEGER);
      out.set(roomId, countUnread(rows, base, perThread));
    };
    // A few rooms at a time: PostgreSQL answers them in parallel.
    for (let i = 0; i < roomIds.length; i += 8) await Promise.all(roomIds.slice(i, i + 8).map(one));
    return out;
  }
}

const zero = (): Counts => ({ notification_count: 0, highlight_count: 0 });

/** A user's read positions in a room: unthreaded receipts apply to every thread; threaded ones and own events to theirs. */
function readPositions(reads: ReadonlyArray<{ thread_id: string; pos: number }>): { base: number; perThread?: Map<string, number> } {
  let base = -Infinity;
  let perThread: Map<string, number> | undefined;
  for (const r of reads) {
    if (r.thread_id === "") base = Math.max(base, r.pos);
    else (perThread ??= new Map()).set(r.thread_id, Math.max(perThread.get(r.thread_id) ?? -Infinity, r.pos));
  }
  return { base, perThread };
}

/** Counts the push actions after the read positions. */
function countUnread(rows: ReadonlyArray<{ thread_id: string; stream_ordering: number; notify: number; highlight: number }>, base: number, perThread: Map<string, number> | undefined): RoomUnread {
      const res: RoomUnread = { total: zero(), main: zero(), threads: new Map() };
      for (const row of rows) {
        const readTo = Math.max(base, perThread?.get(row.thread_id) ?? -Infinity);
        if (row.stream_ordering <= readTo) continue;
        const add = (c: Counts) => {
          if (row.notify) c.notification_count++;
          if (row.highlight) c.highlight_count++;
        };
        add(res.total);
        if (row.thread_id === MAIN_THREAD) add(res.main);
        else {
          let c = res.threads.get(row.thread_id);
          if (!c) res.threads.set(row.thread_id, (c = zero()));
          add(c);
        }
      }
  return res;
}

/** Whether a user-defined rule looks at power levels (the default one only for room mentions). */
function customRulesNeedPowerLevels(rules: Ruleset): boolean {
  for (const list of Object.values(rules)) {
    for (const r of list) {
      if (r.default) continue;
      if (r.enabled && r.conditions?.some((c) => c.kind === "sender_notification_permission")) return true;
    }
  }
  return false;
}
