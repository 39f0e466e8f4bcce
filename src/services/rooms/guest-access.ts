// Guests in rooms (spec: client-server-api modules/guest_access.md, "Server behaviour"): a guest
// may join a room only when its m.room.guest_access state event says `can_join`, and when that
// stops being so, the server sets its guests' membership to `leave`.
//   - Joining a room this server is in: its current state decides.
//   - Joining a room on another server: only the state that came with an invite can say (guests
//     are a local notion; the resident server does not know); without `can_join` there, refused.
//   - A guest_access event (local or received over federation) that is not `can_join` makes every
//     local guest joined to the room leave, as themselves.
import { MatrixError } from "../../protocol/errors.ts";
import type { RoomEvent } from "../../protocol/events.ts";
import { isJsonObject } from "../../protocol/events.ts";
import { log } from "../../util/log.ts";
import type { RoomEvents } from "./events.ts";

export interface GuestAccessDeps {
  events: RoomEvents;
  /** Whether a local user is a guest. */
  isGuest: (userId: string) => Promise<boolean>;
  /** The room's joined members (current state). */
  joinedMembers: (roomId: string) => Promise<string[]>;
  /** The stripped state that came with a remote invite to this user, if any. */
  inviteState: (roomId: string, userId: string) => Promise<unknown[] | undefined>;
  /** Whether this server has the room's state (some local user is or was in it). */
  hasRoom: (roomId: string) => Promise<boolean>;
  /** Makes a user leave a room (their own leave event). */
  leave: (userId: string, roomId: string) => Promise<void>;
}

const forbidden = () => new MatrixError("M_FORBIDDEN", "Guest access is not allowed in this room");

export class GuestAccess {
  constructor(private readonly d: GuestAccessDeps) {}

  /** Rooms.join's check: refuses a guest unless the room lets guests join. */
  readonly checkJoin = async (roomId: string, userId: string): Promise<void> => {
    if (!this.d.events.isLocalUser(userId) || !(await this.d.isGuest(userId))) return;
    if (await this.d.hasRoom(roomId)) {
      const ev = await this.d.events.currentStateEvent(roomId, "m.room.guest_access", "");
      if (ev?.content["guest_access"] !== "can_join") throw forbidden();
      return;
    }
    const stripped = (await this.d.inviteState(roomId, userId)) ?? [];
    const ga = stripped.find((e) => isJsonObject(e) && e.type === "m.room.guest_access" && (e.state_key ?? "") === "");
    if (!isJsonObject(ga) || !isJsonObject(ga.content) || ga.content.guest_access !== "can_join") throw forbidden();
  };

  /** RoomEvents effect afterPersist (services/event-effects.ts): guest access revoked → the room's local guests leave. */
  readonly onEvent = (ev: RoomEvent): void => {
    const roomId = ev.room_id;
    if (ev.type !== "m.room.guest_access" || ev.state_key !== "" || ev.content["guest_access"] === "can_join" || roomId === undefined) return;
    void this.kickGuests(roomId).catch((e) => log.warn("could not remove guests after guest access was revoked", { room_id: roomId, error: String(e) }));
  };

  private async kickGuests(roomId: string): Promise<void> {
    // The event may not have become current state (e.g. an old event received late).
    const current = await this.d.events.currentStateEvent(roomId, "m.room.guest_access", "");
    if (current?.content["guest_access"] === "can_join") return;
    for (const userId of await this.d.joinedMembers(roomId)) {
      if (!this.d.events.isLocalUser(userId) || !(await this.d.isGuest(userId))) continue;
      await this.d.leave(userId, roomId);
    }
  }
}
