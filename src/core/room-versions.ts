// The room-version table. Every module that behaves differently per room version asks this table
// for a named property; nothing else in the code base compares version strings.
// Spec: content/rooms/_index.md and content/rooms/v1.md … v12.md.

/** How event IDs are formed and how `prev_events`/`auth_events` are encoded. */
export type EventFormat =
  | "v1" // rooms v1–v2: `$random:server` IDs carried in the event, refs are [id, {hashes}] pairs
  | "v2" // room v3: ID is the reference hash, standard unpadded base64; refs are plain ID strings
  | "v3" // rooms v4–v10: ID is the reference hash, URL-safe unpadded base64
  | "v4"; // rooms v11+ (v11 drops create.creator and moves redacts into content; same ID encoding as v3)

export type StateResAlgorithm = "v1" | "v2" | "v2.1";

/** Which redaction algorithm (what survives a redaction) applies. */
export type RedactionAlgorithm = "v1" | "v6" | "v8" | "v9" | "v11";

/** Which family of authorization rules applies. Finer differences are separate flags below. */
export type AuthRulesVariant = "v1" | "v3" | "v6" | "v7" | "v8" | "v10" | "v11" | "v12";

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  readonly eventFormat: EventFormat;
  readonly stateRes: StateResAlgorithm;
  readonly redaction: RedactionAlgorithm;
  readonly authRules: AuthRulesVariant;
  /** v1–v2: event IDs are chosen by the origin and carried in the `event_id` field. */
  readonly eventIdInEvent: boolean;
  /** v3+: event IDs are reference hashes (v3 standard base64, v4+ URL-safe). */
  readonly eventIdUrlSafe: boolean;
  /** v1–v2: redactions of events from other servers need no further checks by domain (v3+ do). */
  readonly redactionCheckedByDomain: boolean;
  /** v5+: signing keys must be valid at the event's origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v6+: canonical JSON is strict (integer range, no floats) for events. */
  readonly strictCanonicalJson: boolean;
  /** v1–v5: m.room.aliases has special auth rules (sender domain = state key). */
  readonly specialCaseAliasesAuth: boolean;
  /** v6+: `notifications` power levels are checked when a power_levels event changes them. */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7+: the `knock` membership and join rule. */
  readonly knockAllowed: boolean;
  /** v8+: the `restricted` join rule and `join_authorised_via_users_server`. */
  readonly restrictedJoinAllowed: boolean;
  /** v10+: the `knock_restricted` join rule. */
  readonly knockRestrictedAllowed: boolean;
  /** v10+: power level values must be JSON integers (no strings, no floats). */
  readonly integerPowerLevels: boolean;
  /** v11+: `m.room.create` has no `creator`; the sender is the creator. */
  readonly implicitRoomCreator: boolean;
  /** v11+: `redacts` is a content property of `m.room.redaction`. */
  readonly redactsInContent: boolean;
  /** v12+: room IDs are `!` + the create event's reference hash, and create events carry no room_id. */
  readonly roomIdFromCreateEvent: boolean;
  /** v12+: creators (sender + additional_creators) have infinite power and are absent from power levels. */
  readonly privilegedCreators: boolean;
}

const base = {
  stable: true,
  eventIdInEvent: false,
  eventIdUrlSafe: true,
  redactionCheckedByDomain: true,
  enforceKeyValidity: true,
  strictCanonicalJson: true,
  specialCaseAliasesAuth: false,
  limitNotificationsPowerLevels: true,
  knockAllowed: true,
  restrictedJoinAllowed: true,
  knockRestrictedAllowed: true,
  integerPowerLevels: true,
  implicitRoomCreator: true,
  redactsInContent: true,
  roomIdFromCreateEvent: true,
  privilegedCreators: true,
} as const;

const v1: RoomVersion = {
  ...base,
  id: "1",
  eventFormat: "v1",
  stateRes: "v1",
  redaction: "v1",
  authRules: "v1",
  eventIdInEvent: true,
  eventIdUrlSafe: false,
  redactionCheckedByDomain: false,
  enforceKeyValidity: false,
  strictCanonicalJson: false,
  specialCaseAliasesAuth: true,
  limitNotificationsPowerLevels: false,
  knockAllowed: false,
  restrictedJoinAllowed: false,
  knockRestrictedAllowed: false,
  integerPowerLevels: false,
  implicitRoomCreator: false,
  redactsInContent: false,
  roomIdFromCreateEvent: false,
  privilegedCreators: false,
};
const v2: RoomVersion = { ...v1, id: "2", stateRes: "v2" };
const v3: RoomVersion = {
  ...v2,
  id: "3",
  eventFormat: "v2",
  authRules: "v3",
  eventIdInEvent: false,
  redactionCheckedByDomain: true,
};
const v4: RoomVersion = { ...v3, id: "4", eventFormat: "v3", eventIdUrlSafe: true };
const v5: RoomVersion = { ...v4, id: "5", enforceKeyValidity: true };
const v6: RoomVersion = {
  ...v5,
  id: "6",
  authRules: "v6",
  redaction: "v6",
  strictCanonicalJson: true,
  specialCaseAliasesAuth: false,
  limitNotificationsPowerLevels: true,
};
const v7: RoomVersion = { ...v6, id: "7", authRules: "v7", knockAllowed: true };
const v8: RoomVersion = { ...v7, id: "8", authRules: "v8", redaction: "v8", restrictedJoinAllowed: true };
const v9: RoomVersion = { ...v8, id: "9", redaction: "v9" };
const v10: RoomVersion = {
  ...v9,
  id: "10",
  authRules: "v10",
  knockRestrictedAllowed: true,
  integerPowerLevels: true,
};
const v11: RoomVersion = {
  ...v10,
  id: "11",
  eventFormat: "v4",
  authRules: "v11",
  redaction: "v11",
  implicitRoomCreator: true,
  redactsInContent: true,
};
const v12: RoomVersion = {
  ...v11,
  id: "12",
  stateRes: "v2.1",
  authRules: "v12",
  roomIdFromCreateEvent: true,
  privilegedCreators: true,
};

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12].map((v) => [v.id, v]),
);

export const DEFAULT_ROOM_VERSION = "12";

/** The room version, or undefined when this server does not know it. */
export function findRoomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}

/** The room version; throws when unknown (callers that accept input should use findRoomVersion). */
export function getRoomVersion(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (!v) throw new Error(`unknown room version ${JSON.stringify(id)}`);
  return v;
}

/** `m.room_versions` capability / federation version listing. */
export function roomVersionsCapability(defaultVersion: string = DEFAULT_ROOM_VERSION): { default: string; available: Record<string, "stable" | "unstable"> } {
  const available: Record<string, "stable" | "unstable"> = {};
  for (const v of ROOM_VERSIONS.values()) available[v.id] = v.stable ? "stable" : "unstable";
  return { default: defaultVersion, available };
}
