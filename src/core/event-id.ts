// Event IDs and (room version 12+) room IDs derived from events.
// Spec: content/rooms/fragments/v1-event-ids.md (rooms 1–2: `$opaque:domain`, chosen by the origin and
// carried in the event), rooms/v3.md "Event IDs" (`$` + reference hash in standard unpadded Base64),
// rooms/fragments/v4-event-ids.md (rooms 4+: URL-safe unpadded Base64), rooms/v12.md and
// appendices.md "Room IDs" (rooms 12+: the room ID is the create event's ID with sigil `!`).

import type { JsonRecord } from "../protocol/events.ts";
import { encodeBase64, encodeBase64Url } from "./base64.ts";
import { computeReferenceHash } from "./hashes.ts";
import type { RoomVersion } from "./room-versions.ts";


/** Raised when an event ID cannot be determined (a v1/v2 event without a string `event_id`). */
export class EventIdError extends Error {
  override name = "EventIdError";
}

/**
 * The event's ID. Rooms 1–2: the `event_id` carried in the event (throws EventIdError if absent).
 * Rooms 3+: `$` + the reference hash, standard Base64 in room 3 and URL-safe from room 4
 * (`eventIdUrlSafe`). Any `event_id` carried by a v3+ event is ignored (see hashes.ts).
 */
export function computeEventId(event: Readonly<JsonRecord>, roomVersion: RoomVersion): string {
  if (roomVersion.eventIdInEvent) {
    const id = event.event_id;
    if (typeof id !== "string") throw new EventIdError("events in room versions 1 and 2 must carry an event_id");
    return id;
  }
  const hash = computeReferenceHash(event, roomVersion);
  return "$" + (roomVersion.eventIdUrlSafe ? encodeBase64Url(hash) : encodeBase64(hash));
}

/**
 * The room ID of a room version 12+ room, from its `m.room.create` event: `!` + the URL-safe
 * reference hash, i.e. the create event's ID with `!` instead of `$`. The create event carries no
 * `room_id` (rooms/v12.md auth rule 1.2), so it must be fully built, hashed and signed first.
 */
export function roomIdFromCreateEvent(createEvent: Readonly<JsonRecord>, roomVersion: RoomVersion): string {
  if (!roomVersion.roomIdFromCreateEvent) {
    throw new EventIdError(`room version ${roomVersion.id} does not derive room IDs from the create event`);
  }
  return "!" + computeEventId(createEvent, roomVersion).slice(1);
}

/** In room versions 12+, the create event ID that a room ID stands for (`!x` → `$x`). */
export function createEventIdOfRoom(roomId: string, roomVersion: RoomVersion): string {
  if (!roomVersion.roomIdFromCreateEvent) {
    throw new EventIdError(`room version ${roomVersion.id} does not derive room IDs from the create event`);
  }
  if (!roomId.startsWith("!")) throw new EventIdError(`not a room ID: ${JSON.stringify(roomId)}`);
  return "$" + roomId.slice(1);
}

/** A shallow copy of `event` with its `event_id` set (computed for v3+), as RoomEvent consumers expect. */
export function withEventId<T extends JsonRecord>(event: T, roomVersion: RoomVersion): T & { event_id: string } {
  return { ...event, event_id: computeEventId(event, roomVersion) };
}
