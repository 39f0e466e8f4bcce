// Effective power levels of a room: the content of `m.room.power_levels` with the spec's defaults,
// room creators (v1–v11: 100 when there is no power levels event; v12+: infinite, always), and the
// lenient value parsing of old room versions (fragments v1-stringy-power-levels and
// v1-floaty-power-levels) versus integer-only values from room version 10.
// Spec: data/event-schemas/schema/m.room.power_levels.yaml, server-server-api "Definitions".

import type { JsonObject, JsonValue, Pdu } from "../protocol/events.ts";
import { isValidUserId } from "../protocol/ids.ts";
import type { RoomVersion } from "./room-versions.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

/** The power level a v12+ room creator has: higher than any integer. */
export const CREATOR_POWER_LEVEL = Number.POSITIVE_INFINITY;

/** The named integer-valued properties of the power levels content. */
export const NAMED_LEVELS = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"] as const;
export type NamedLevel = (typeof NAMED_LEVELS)[number];

/** Defaults of the named levels when absent (or when there is no power levels event). */
export const NAMED_LEVEL_DEFAULTS: Readonly<Record<NamedLevel, number>> = {
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  redact: 50,
  kick: 50,
  invite: 0,
};

/** Default level of a `notifications` key when absent (the spec defines `room`: 50). */
export const DEFAULT_NOTIFICATIONS_LEVEL = 50;

export interface PowerLevels {
  /** Whether an m.room.power_levels event exists (false: everything is defaulted). */
  readonly present: boolean;
  readonly users: ReadonlyMap<string, number>;
  readonly usersDefault: number;
  readonly events: ReadonlyMap<string, number>;
  readonly eventsDefault: number;
  readonly stateDefault: number;
  readonly ban: number;
  readonly kick: number;
  readonly redact: number;
  readonly invite: number;
  readonly notifications: ReadonlyMap<string, number>;
  /** Room creators as the room version defines them (see `roomCreators`). */
  readonly creators: ReadonlySet<string>;
  /** v12+: creators have infinite power regardless of the power levels event. */
  readonly privilegedCreators: boolean;
}

const STRINGY_INT = /^\s*[+-]?[0-9]+\s*$/;

/**
 * Parses one power level value as the room version allows it; undefined when the value is not
 * acceptable. v10+: JSON integers only. v1–v9: integers and strings holding a base-10 integer
 * (optional sign, leading zeros and surrounding whitespace). v1–v5 (no canonical JSON): also
 * finite floats, truncated at the decimal point.
 */
export function parsePowerLevelValue(value: unknown, rv: RoomVersion): number | undefined {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value + 0; // + 0 turns -0 into 0
    // Floats: v1–v5 only (v6+ events are canonical JSON, which has no floats). Exponent applied
    // by JSON parsing already; truncate at the decimal point. Infinity (from e.g. 1e400) is out.
    if (rv.strictCanonicalJson || rv.integerPowerLevels || !Number.isFinite(value)) return undefined;
    return Math.trunc(value) + 0;
  }
  if (typeof value === "string" && !rv.integerPowerLevels) {
    if (!STRINGY_INT.test(value)) return undefined;
    const n = Number.parseInt(value.trim(), 10);
    return Number.isFinite(n) ? n + 0 : undefined;
  }
  return undefined;
}

const encoder = new TextEncoder();


/**
 * A user ID as the power levels `users` rule accepts it: `@localpart:server` with a non-empty
 * localpart and server part, at most 255 bytes — as lenient as the reference implementation
 * (which only splits at the colon), so that old rooms' power levels events stay valid.
 * (v12 `additional_creators` use src/protocol/ids.ts `isValidUserId`, the sender's validation.)
 */
export function isValidUserIdForAuth(s: unknown): s is string {
  if (typeof s !== "string" || s.length < 3 || s.charCodeAt(0) !== 0x40 /* @ */) return false;
  const colon = s.indexOf(":");
  if (colon < 2 || colon === s.length - 1) return false; // non-empty localpart and server name
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: skip the encoding for short IDs.
  return s.length <= 85 || encoder.encode(s).length <= 255;
}

/** The server part of a user, room (pre-v12) or event (v1–v2) ID: everything after the first `:`. */
export function domainOf(id: string): string {
  const i = id.indexOf(":");
  return i < 0 ? "" : id.slice(i + 1);
}

/**
 * The room creators. v12+ (`privilegedCreators`): the create event's sender plus every valid
 * string in `content.additional_creators`. v11 (`implicitRoomCreator`): the sender. v1–v10: the
 * `content.creator` property.
 */
export function roomCreators(create: Pick<Pdu, "sender" | "content"> | undefined, rv: RoomVersion): ReadonlySet<string> {
  const out = new Set<string>();
  if (!create) return out;
  if (rv.privilegedCreators) {
    out.add(create.sender);
    const extra = create.content["additional_creators"];
    if (Array.isArray(extra)) for (const u of extra) if (typeof u === "string" && isValidUserId(u)) out.add(u);
  } else if (rv.implicitRoomCreator) {
    out.add(create.sender);
  } else {
    const c = create.content["creator"];
    if (typeof c === "string") out.add(c);
  }
  return out;
}

function levelMap(v: JsonValue | undefined, rv: RoomVersion): Map<string, number> {
  const m = new Map<string, number>();
  if (!isObject(v)) return m;
  for (const k of Object.keys(v)) {
    const n = parsePowerLevelValue(v[k], rv);
    if (n !== undefined) m.set(k, n);
  }
  return m;
}

// Parsed power levels are cached per content object: state resolution and auth checks look at
// the same power levels event thousands of times.
const cache = new WeakMap<object, Array<{ create: object | undefined; rv: RoomVersion; pl: PowerLevels }>>();
const NO_CONTENT = {};

/**
 * The effective power levels given the content of the current `m.room.power_levels` event (or
 * undefined when there is none) and the room's `m.room.create` event (needed for creators).
 * Unparsable values fall back to their defaults; rejecting such events is the auth rules' job.
 */
export function effectivePowerLevels(
  content: JsonObject | undefined,
  create: Pick<Pdu, "sender" | "content"> | undefined,
  rv: RoomVersion,
): PowerLevels {
  const cacheKey = content ?? create ?? NO_CONTENT;
  let entries = cache.get(cacheKey);
  if (entries) {
    for (const e of entries) if (e.create === create && e.rv === rv) return e.pl;
  } else {
    entries = [];
    cache.set(cacheKey, entries);
  }
  const named = (name: NamedLevel): number => {
    const v = content ? parsePowerLevelValue(content[name], rv) : undefined;
    return v ?? NAMED_LEVEL_DEFAULTS[name];
  };
  const pl: PowerLevels = {
    present: content !== undefined,
    users: levelMap(content?.["users"], rv),
    usersDefault: named("users_default"),
    events: levelMap(content?.["events"], rv),
    eventsDefault: named("events_default"),
    stateDefault: named("state_default"),
    ban: named("ban"),
    kick: named("kick"),
    redact: named("redact"),
    invite: named("invite"),
    notifications: levelMap(content?.["notifications"], rv),
    creators: roomCreators(create, rv),
    privilegedCreators: rv.privilegedCreators,
  };
  if (entries.length > 8) entries.shift();
  entries.push({ create, rv, pl });
  return pl;
}

/** Effective power levels from the events themselves (either may be absent). */
export function powerLevelsFromEvents(
  powerLevelsEvent: Pick<Pdu, "content"> | undefined,
  createEvent: Pick<Pdu, "sender" | "content"> | undefined,
  rv: RoomVersion,
): PowerLevels {
  return effectivePowerLevels(powerLevelsEvent?.content, createEvent, rv);
}

/** A user's power level. */
export function userLevel(pl: PowerLevels, userId: string): number {
  if (pl.privilegedCreators && pl.creators.has(userId)) return CREATOR_POWER_LEVEL;
  if (!pl.present) return pl.creators.has(userId) ? 100 : 0;
  return pl.users.get(userId) ?? pl.usersDefault;
}

/** The required power level to send an event of this type (state or not). */
export function eventLevel(pl: PowerLevels, type: string, isState: boolean): number {
  return pl.events.get(type) ?? (isState ? pl.stateDefault : pl.eventsDefault);
}

/** The power level required for a notification key such as `room`. */
export function notificationsLevel(pl: PowerLevels, key: string): number {
  return pl.notifications.get(key) ?? DEFAULT_NOTIFICATIONS_LEVEL;
}

/**
 * Structural validation of a new power levels content (auth rules 9.1 in v1–v9, 10.1–10.3 in
 * v10–v11, 10.1–10.3 in v12). Returns a rejection reason, or undefined when valid.
 * Rule v12 10.4 (creators in `users`) needs the create event and lives in auth-rules.ts.
 */
export function validatePowerLevelsContent(content: JsonObject, rv: RoomVersion): string | undefined {
  if (rv.integerPowerLevels) {
    for (const name of NAMED_LEVELS) {
      if (name in content && !Number.isInteger(content[name])) return `power levels: "${name}" is not an integer`;
    }
    for (const name of ["events", "notifications"] as const) {
      if (!(name in content)) continue;
      const v = content[name];
      if (!isObject(v)) return `power levels: "${name}" is not an object`;
      for (const k of Object.keys(v)) {
        if (!Number.isInteger(v[k])) return `power levels: "${name}"."${k}" is not an integer`;
      }
    }
  }
  if ("users" in content) {
    const users = content["users"];
    if (!isObject(users)) return `power levels: "users" is not an object`;
    for (const k of Object.keys(users)) {
      if (!isValidUserIdForAuth(k)) return `power levels: "users" key ${JSON.stringify(k)} is not a valid user ID`;
      if (parsePowerLevelValue(users[k], rv) === undefined) {
        return `power levels: "users"."${k}" is not an integer`;
      }
    }
  }
  return undefined;
}
