// The interfaces shared by the state resolution algorithms (state-res.ts: v2 and v2.1;
// state-res-v1.ts: v1), in a file of their own so that neither algorithm imports the other's types.
import type { RoomEvent } from "../protocol/events.ts";
import type { AuthCheckOptions } from "./auth-rules.ts";

/** Where state resolution gets events from: a database, a cache, or a map in tests. */
export interface EventSource {
  /**
   * Loads events by ID; IDs it does not know are simply absent from the result. Rejected events
   * must be returned too (rejection is reported through `ResolveOptions.isRejected`).
   */
  getEvents(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>>;
  /**
   * Optional: the auth chain difference of the state sets — the IDs in some but not all of the
   * sets' auth chains, where a set's auth chain is the union of the auth chains of its events
   * *including the events themselves*. Without it, auth chains are walked through `getEvents`.
   */
  getAuthChainDifference?(stateSets: ReadonlyArray<ReadonlySet<string>>): Promise<Iterable<string>>;
  /**
   * Optional (v2.1): the conflicted state subgraph — every event on an auth-event path between
   * two events of `conflicted`, the conflicted events included.
   */
  getConflictedSubgraph?(conflicted: ReadonlySet<string>): Promise<Iterable<string>>;
}

export interface ResolveOptions {
  /** Events rejected on receipt: excluded from the iterative auth checks and their auth state. */
  readonly isRejected?: (eventId: string) => boolean;
  /** Passed to the auth rules (third-party invite verification, v12 expected create event...). */
  readonly auth?: AuthCheckOptions;
  /** When given, every event of the full conflicted set must be in this room (else it throws). */
  readonly roomId?: string;
}
