// The redaction algorithm: which parts of an event survive redaction. The same algorithm defines what
// event signatures and reference hashes cover (server-server-api.md "Signing Events").
// Spec: content/rooms/fragments/v1-redactions.md (rooms 1–5), v6-redactions.md (6–7), rooms/v8.md
// "Redactions" (8), v9-redactions.md (9–10), v11-redactions.md (11–12; rooms/v12.md lists it under
// "Unchanged from v11").
//
// Summary of the variants (RoomVersion.redaction):
//   top-level keys kept, all versions: event_id type room_id sender state_key content hashes signatures
//     depth prev_events auth_events origin_server_ts; before v11 also prev_state, membership, origin.
//   content keys kept, by event type:
//     m.room.member           membership; v9+ join_authorised_via_users_server;
//                             v11+ third_party_invite reduced to its `signed` key
//     m.room.create           v1–v10 creator; v11+ the whole content
//     m.room.join_rules       join_rule; v8+ allow
//     m.room.power_levels     ban events events_default kick redact state_default users users_default;
//                             v11+ invite
//     m.room.aliases          aliases (v1 algorithm only, i.e. rooms 1–5)
//     m.room.history_visibility history_visibility
//     m.room.redaction        v11+ redacts
//   Everything else, including `unsigned`, is removed.

import type { JsonRecord } from "../protocol/events.ts";
import type { RedactionAlgorithm, RoomVersion } from "./room-versions.ts";


const TOP_LEVEL_V11 = [
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "auth_events",
  "origin_server_ts",
] as const;
const TOP_LEVEL_V1 = [...TOP_LEVEL_V11, "prev_state", "origin", "membership"] as const;

const POWER_LEVELS_V1 = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

interface Rules {
  readonly topLevel: readonly string[];
  /** Content keys kept per event type; `true` keeps the whole content. */
  readonly content: ReadonlyMap<string, readonly string[] | true>;
  /** v11+: keep `third_party_invite.signed` in m.room.member content. */
  readonly keepThirdPartyInviteSigned: boolean;
}

function rules(topLevel: readonly string[], content: Record<string, readonly string[] | true>, tpi = false): Rules {
  return { topLevel, content: new Map(Object.entries(content)), keepThirdPartyInviteSigned: tpi };
}

const RULES: Record<RedactionAlgorithm, Rules> = {
  v1: rules(TOP_LEVEL_V1, {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": POWER_LEVELS_V1,
    "m.room.aliases": ["aliases"],
    "m.room.history_visibility": ["history_visibility"],
  }),
  // v6: m.room.aliases loses its special case.
  v6: rules(TOP_LEVEL_V1, {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": POWER_LEVELS_V1,
    "m.room.history_visibility": ["history_visibility"],
  }),
  // v8: join rules keep `allow`.
  v8: rules(TOP_LEVEL_V1, {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": POWER_LEVELS_V1,
    "m.room.history_visibility": ["history_visibility"],
  }),
  // v9: member events keep `join_authorised_via_users_server`.
  v9: rules(TOP_LEVEL_V1, {
    "m.room.member": ["membership", "join_authorised_via_users_server"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": POWER_LEVELS_V1,
    "m.room.history_visibility": ["history_visibility"],
  }),
  // v11 (MSC2176, MSC3821, MSC3989): fewer top-level keys; create keeps all content; power levels keep
  // `invite`; redactions keep `redacts`; third_party_invite keeps `signed`.
  v11: rules(
    TOP_LEVEL_V11,
    {
      "m.room.member": ["membership", "join_authorised_via_users_server"],
      "m.room.create": true,
      "m.room.join_rules": ["join_rule", "allow"],
      "m.room.power_levels": [...POWER_LEVELS_V1, "invite"],
      "m.room.history_visibility": ["history_visibility"],
      "m.room.redaction": ["redacts"],
    },
    true,
  ),
};

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The redacted copy of `event` under the room version's redaction algorithm. Never mutates the input;
 * the result is a new top-level object with a new `content` object, but kept nested values (e.g. the
 * `users` map of power levels, `hashes`, `signatures`) are shared with the input — treat them as
 * read-only, or clone before mutating.
 *
 * A missing or non-object `content` becomes `{}`. `unsigned` is always removed (callers that serve
 * redacted events to clients add their own `unsigned`, e.g. `redacted_because`).
 */
export function redactEvent(event: Readonly<JsonRecord>, roomVersion: RoomVersion): JsonRecord {
  return redactWith(event, RULES[roomVersion.redaction]);
}

/** Same as redactEvent, by algorithm name (for callers that only know the algorithm). */
export function redactEventWithAlgorithm(event: Readonly<JsonRecord>, algorithm: RedactionAlgorithm): JsonRecord {
  return redactWith(event, RULES[algorithm]);
}

function redactWith(event: Readonly<JsonRecord>, r: Rules): JsonRecord {
  const out: JsonRecord = {};
  for (const k of r.topLevel) {
    if (k !== "content" && Object.hasOwn(event, k)) out[k] = event[k];
  }
  out.content = redactContent(event.type, event.content, r);
  return out;
}

function redactContent(type: unknown, content: unknown, r: Rules): JsonRecord {
  const src = isRecord(content) ? content : {};
  const keep = typeof type === "string" ? r.content.get(type) : undefined;
  if (keep === true) return { ...src };
  const out: JsonRecord = {};
  if (keep !== undefined) {
    for (const k of keep) if (Object.hasOwn(src, k)) out[k] = src[k];
  }
  if (r.keepThirdPartyInviteSigned && type === "m.room.member") {
    // v11: "allows the `signed` key of the `third_party_invite` key". When third_party_invite is an
    // object it is kept, reduced to `signed` (or to {} without one); other values are dropped. This
    // matches Synapse (synapse/events/utils.py prune_event_dict).
    const tpi = src.third_party_invite;
    if (isRecord(tpi)) out.third_party_invite = Object.hasOwn(tpi, "signed") ? { signed: tpi.signed } : {};
  }
  return out;
}
