// State resolution over the database: the core algorithm (src/core/state-res.ts) with events
// loaded from storage, rejected events excluded, and auth chains walked through the
// event_auth_edges index.
import { resolveState, type EventSource } from "../../core/state-res.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import { refIds, type RoomEvent } from "../../protocol/events.ts";
import type { EventRow, RoomsRepo } from "../../storage/repos/rooms.ts";
import type { RoomEvents } from "./events.ts";

/** How many rejected events stateAfterEvents walks through to their prev_events. */
const MAX_REJECTED_WALK = 50;

export class StateResolver {
  constructor(
    private readonly repo: RoomsRepo,
    private readonly events: RoomEvents,
  ) {}

  /** Resolves several room states (maps of type\0state_key → event ID) with the room version's algorithm. */
  async resolve(roomId: string, rv: RoomVersion, stateSets: ReadonlyArray<ReadonlyMap<string, string>>): Promise<Map<string, string>> {
    if (stateSets.length === 0) return new Map();
    if (stateSets.length === 1) return new Map(stateSets[0]);
    const rejected = new Set<string>();
    const events = this.events;
    const repo = this.repo;
    const source: EventSource = {
      async getEvents(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>> {
        const rows = await repo.getEvents(ids);
        for (const r of rows.values()) if (r.rejected_reason !== null) rejected.add(r.event_id);
        return events.loadEvents(ids);
      },
    };
    return resolveState(rv, stateSets, source, { isRejected: (id) => rejected.has(id), roomId });
  }

  /** The state after each of several events, resolved together (the state before an event with these prev_events). */
  async stateAfterEvents(roomId: string, rv: RoomVersion, eventIds: readonly string[]): Promise<{ group?: number; map?: Map<string, string> } | undefined> {
    const { ids, rows } = await this.throughRejected(eventIds);
    if (ids.length === 0) return undefined;
    const groups = new Set<number>();
    for (const id of ids) {
      const r = rows.get(id);
      // Backfilled history (negative stream positions) carries an approximate state group, good
      // for visibility but not for resolving state: treat its state as unknown (fetched instead).
      if (!r || r.state_group === null || r.outlier || Number(r.stream_ordering) < 0) return undefined;
      groups.add(Number(r.state_group));
    }
    if (groups.size === 1) return { group: [...groups][0]! };
    const sets = await Promise.all([...groups].map((g) => this.repo.stateOfGroup(g)));
    return { map: await this.resolve(roomId, rv, sets) };
  }

  /**
   * A rejected event changes no state ("Rejection" in server-server-api.md: the state is calculated
   * as normal, except not updating with the rejected event): the state after it is the state after
   * its prev_events. Replaces the rejected events among `eventIds` (stored in the timeline without
   * a state group) by their prev_events, walking at most MAX_REJECTED_WALK of them.
   */
  private async throughRejected(eventIds: readonly string[]): Promise<{ ids: string[]; rows: Map<string, EventRow> }> {
    let ids = [...new Set(eventIds)];
    let rows = await this.repo.getEvents(ids);
    const walked = new Set<string>();
    for (;;) {
      const rejected = ids.filter((id) => {
        const r = rows.get(id);
        return r !== undefined && r.rejected_reason !== null && r.state_group === null && r.outlier === 0;
      });
      if (rejected.length === 0 || walked.size + rejected.length > MAX_REJECTED_WALK) return { ids, rows };
      const evs = await this.events.loadEvents(rejected);
      const next = new Set(ids.filter((id) => !rejected.includes(id)));
      for (const id of rejected) {
        walked.add(id);
        const ev = evs.get(id);
        if (!ev) return { ids, rows };
        for (const p of refIds(ev.prev_events)) if (!walked.has(p)) next.add(p);
      }
      ids = [...next];
      rows = await this.repo.getEvents(ids);
    }
  }
}
