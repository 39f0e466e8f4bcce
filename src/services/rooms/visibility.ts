// History visibility: which events a user may see (client-server API "History visibility").
// For each event, the room's m.room.history_visibility and the user's membership are read from
// the event's state group — only those two keys, never the whole room state.
//   1. world_readable → visible;  2. the user was joined → visible;
//   3. shared, and the user joined at some point after the event → visible;
//   4. invited, and the user was invited → visible;  5. otherwise hidden.
// A user always sees their own membership events.
// Ignored users (modules/ignore_users.md): the non-state events of users in the viewer's
// m.ignored_user_list are never shown; `withoutIgnored` is that one filter, applied by `filter`
// and by /sync for the events it shows without consulting history visibility.
// Invites a user is not shown (/sync, sliding sync, /initialSync): those of ignored users, and all
// of them while the user blocks invites (modules/invite_permission.md) — `hiddenInvites` and
// `inviteHidden`, the one rule those endpoints apply.
import { memberKey, stateMapKey } from "../../core/state-map.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import type { RoomEvents } from "./events.ts";

const HV_KEY = stateMapKey("m.room.history_visibility", "");

/** The users a user ignores (m.ignored_user_list). */
export type IgnoredUsersOf = (userId: string) => Promise<ReadonlySet<string>>;

/** Whether a user blocks all invites (m.invite_permission_config). */
export type InvitesBlocked = (userId: string) => Promise<boolean>;

/** The invites a user is not shown: all of them, or those sent by these users. */
export type HiddenInvites = "all" | ReadonlySet<string>;

/** Whether an invite sent by `sender` (null: unknown) is hidden. */
export function inviteHidden(hidden: HiddenInvites, sender: string | null | undefined): boolean {
  return hidden === "all" || (sender != null && hidden.has(sender));
}

/** A history_visibility value; absent or not understood means "shared" (history_visibility.md). */
export function knownVisibility(v: unknown): string {
  return v === "world_readable" || v === "shared" || v === "invited" || v === "joined" ? v : "shared";
}

export class Visibility {
  private ignoredOf: IgnoredUsersOf = async () => new Set();
  private invitesBlocked: InvitesBlocked = async () => false;

  constructor(
    private readonly repo: RoomsRepo,
    private readonly events: RoomEvents,
  ) {}

  /** Connects the ignored-users lists (the composition root does). */
  setIgnoredUsers(fn: IgnoredUsersOf): void {
    this.ignoredOf = fn;
  }

  /** Connects the invite permission settings (the composition root does). */
  setInvitesBlocked(fn: InvitesBlocked): void {
    this.invitesBlocked = fn;
  }

  /** The users `userId` ignores. */
  ignored(userId: string): Promise<ReadonlySet<string>> {
    return this.ignoredOf(userId);
  }

  /**
   * The invites not shown to `userId` over /sync and the like: all while they block invites,
   * else those of the users they ignore (cached settings, nothing read per room).
   */
  async hiddenInvites(userId: string): Promise<HiddenInvites> {
    return (await this.invitesBlocked(userId)) ? "all" : this.ignoredOf(userId);
  }

  /** `rows` without the non-state events of users that `userId` ignores. */
  async withoutIgnored<R extends { sender: string; state_key: string | null }>(userId: string, rows: readonly R[]): Promise<R[]> {
    if (rows.length === 0) return [];
    const ignored = await this.ignoredOf(userId);
    if (ignored.size === 0) return [...rows];
    return rows.filter((r) => r.state_key !== null || !ignored.has(r.sender));
  }

  /**
   * The events among `rows` that `userId` may see, in the same order. `keepIgnored`: also events
   * of ignored users (the threads list shows their roots redacted instead).
   */
  async filter(userId: string, rows0: readonly EventRow[], opts: { keepIgnored?: boolean } = {}): Promise<EventRow[]> {
    const rows = opts.keepIgnored ? rows0 : await this.withoutIgnored(userId, rows0);
    if (rows.length === 0) return [];
    const byGroup = new Map<number, { hv: string; membership: string | undefined }>();
    const current = new Map<string, { membership: string; stream: number } | undefined>();
    const out: EventRow[] = [];
    for (const row of rows) {
      if (row.type === "m.room.member" && row.state_key === userId) {
        out.push(row);
        continue;
      }
      if (row.state_group === null) continue;
      const group = Number(row.state_group);
      let facts = byGroup.get(group);
      if (!facts) {
        const ids = await this.repo.stateOfGroup(group, { keys: [["m.room.history_visibility", ""], ["m.room.member", userId]] });
        const evs = await this.events.loadEvents([...ids.values()]);
        const hvEv = ids.get(HV_KEY) ? evs.get(ids.get(HV_KEY)!) : undefined;
        const memEv = ids.get(memberKey(userId)) ? evs.get(ids.get(memberKey(userId))!) : undefined;
        facts = {
          hv: knownVisibility(hvEv?.content["history_visibility"]),
          membership: memEv?.content["membership"] as string | undefined,
        };
        byGroup.set(group, facts);
      }
      // An m.room.history_visibility event is visible when the visibility before or after it allows it.
      const hvs = [facts.hv];
      if (row.type === "m.room.history_visibility" && row.state_key === "") hvs.push(await this.visibilityBefore(row));
      for (const hv of new Set(hvs)) {
        if (await this.allows(userId, row, hv, facts.membership, current)) {
          out.push(row);
          break;
        }
      }
    }
    return out;
  }

  /** The rules of history_visibility.md for one event under visibility `hv`. */
  private async allows(
    userId: string,
    row: EventRow,
    hv: string,
    membership: string | undefined,
    current: Map<string, { membership: string; stream: number } | undefined>,
  ): Promise<boolean> {
    if (hv === "world_readable" || membership === "join") return true;
    if (hv === "invited" && membership === "invite") return true;
    if (hv !== "shared") return false;
    if (!current.has(row.room_id)) {
      const m = await this.repo.localMembership(userId, row.room_id);
      current.set(row.room_id, m ? { membership: m.membership, stream: Number(m.stream_ordering) } : undefined);
    }
    const m = current.get(row.room_id);
    // Joined now, or left/banned after this event (so they were in the room after it).
    return !!m && (m.membership === "join" || ((m.membership === "leave" || m.membership === "ban") && m.stream > Number(row.stream_ordering) && (await this.wasJoinedAfter(userId, row))));
  }

  /** The history visibility an m.room.history_visibility event replaced ("shared" when none). */
  private async visibilityBefore(row: EventRow): Promise<string> {
    const prev = row.replaces_state ? await this.events.loadEvent(row.replaces_state) : undefined;
    return knownVisibility(prev?.content["history_visibility"]);
  }

  private async wasJoinedAfter(userId: string, row: EventRow): Promise<boolean> {
    // The user's membership just before their current (leave/ban) membership.
    const m = await this.repo.localMembership(userId, row.room_id);
    if (!m) return false;
    const leave = await this.events.loadEvent(m.event_id);
    if (!leave) return false;
    const prior = await this.repo.findEvent(m.event_id);
    if (!prior?.replaces_state) return false;
    const before = await this.events.loadEvent(prior.replaces_state);
    return before?.content["membership"] === "join";
  }

  /** The room's current history visibility. */
  async currentVisibility(roomId: string): Promise<string> {
    const ev = await this.events.currentStateEvent(roomId, "m.room.history_visibility", "");
    return knownVisibility(ev?.content["history_visibility"]);
  }
}
