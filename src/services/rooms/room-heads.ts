// What every local send reads of its room, kept between sends (issue 23: a send read the auth
// state, the policy server's state, the sender's membership, the forward extremities and the
// room's state group from the database each time — on PostgreSQL each a round trip under the
// room lock).
//
// A room's head: current-state event IDs by key (null: known to be absent), the forward
// extremities, and the current state group. Coherence:
//   - readers fill it only through `fill` with the token they took *before* reading the database;
//     a fill is dropped when the room changed since (so a read that overlapped a commit is never
//     kept);
//   - every writer of the room's current state or extremities either calls `changed` after its
//     commit (forget the room: remote events, state resolution, purges) or `committed` (the local
//     send path, under the room lock, as soon as its event is written into a group-commit batch:
//     writes through what it changed; RoomEvents makes database reads of what a head lacks wait
//     until the room's written events are durable). Both bump the token first. A fill that slipped
//     in before the bump is then overwritten by the write-through, which is idempotent on pre- and
//     post-commit values alike.
import { Lru } from "../../util/lru.ts";

export interface RoomHead {
  /** Current-state event ID by state-map key (type\0state_key); null: no such state. */
  state: Map<string, string | null>;
  /** All forward extremities (undefined: not known). */
  extremities?: string[];
  /** rooms.current_state_group (undefined: not known). */
  group?: number | null;
}

export class RoomHeads {
  private readonly heads = new Lru<string, RoomHead>(5000, "room_heads");
  private readonly tokens = new Map<string, number>();

  get(roomId: string): RoomHead | undefined {
    return this.heads.get(roomId);
  }

  /** Take before reading the database; pass to `fill`. */
  token(roomId: string): number {
    return this.tokens.get(roomId) ?? 0;
  }

  /** Records what was read, unless the room changed since `token` was taken. */
  fill(roomId: string, token: number, f: (h: RoomHead) => void): void {
    if (token !== this.token(roomId)) return;
    let h = this.heads.get(roomId);
    if (!h) this.heads.set(roomId, (h = { state: new Map() }));
    f(h);
  }

  /** A commit changed the room's state or extremities in ways not written through: forget it. */
  changed(roomId: string): void {
    this.bump(roomId);
    this.heads.delete(roomId);
  }

  /**
   * The local send path committed an event (under the room lock): `f` applies what it wrote to the
   * room's head (a fresh one when none is kept). `f` must give the same result on the head as it
   * was before the commit and as it is after it.
   */
  committed(roomId: string, f: (h: RoomHead) => void): void {
    this.bump(roomId);
    let h = this.heads.get(roomId);
    if (!h) this.heads.set(roomId, (h = { state: new Map() }));
    f(h);
  }

  private bump(roomId: string): void {
    this.tokens.set(roomId, this.token(roomId) + 1);
  }
}
