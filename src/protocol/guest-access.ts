// What guest accounts may call: the spec's Guest Access module ("Client behaviour",
// content/client-server-api/modules/guest_access.md) is the one source of truth. Every endpoint
// that needs an access token answers a guest 403 M_GUEST_ACCESS_FORBIDDEN unless it is listed here
// (src/http/auth.ts asks `guestMayCall` for every authenticated request; endpoints that need no
// token at all are open to everyone, guests included). tests/accounts/guest-access.test.ts parses
// the spec's list and checks it equals GUEST_ENDPOINTS, then calls every route of the app as a guest.
//
// Legacy /_matrix/client/r0 paths are rewritten to v3 before routing (src/http/legacy-paths.ts), so
// only v3 (and v1 for authenticated media) paths appear here.

export interface GuestEndpoint {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** The full path as the spec spells it ({param} for a parameter; other segments are literal). */
  path: string;
}

/** The spec's list, in its order (v1.19). */
export const GUEST_ENDPOINTS: readonly GuestEndpoint[] = [
  // retrieving events and associated media
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/state" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/context/{eventId}" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/event/{eventId}" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/messages" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/members" },
  { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/initialSync" },
  { method: "GET", path: "/_matrix/client/v3/sync" },
  { method: "GET", path: "/_matrix/client/v3/events" },
  { method: "GET", path: "/_matrix/client/v1/media/download/{serverName}/{mediaId}" },
  { method: "GET", path: "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}" },
  { method: "GET", path: "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}" },
  // sending events
  { method: "POST", path: "/_matrix/client/v3/rooms/{roomId}/join" },
  { method: "POST", path: "/_matrix/client/v3/rooms/{roomId}/leave" },
  { method: "PUT", path: "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}" },
  { method: "PUT", path: "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" },
  { method: "PUT", path: "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}" },
  // account maintenance (display name only: the profile service refuses other fields to guests)
  { method: "PUT", path: "/_matrix/client/v3/profile/{userId}/displayname" },
  { method: "DELETE", path: "/_matrix/client/v3/profile/{userId}/displayname" },
  { method: "GET", path: "/_matrix/client/v3/devices" },
  { method: "GET", path: "/_matrix/client/v3/devices/{deviceId}" },
  { method: "PUT", path: "/_matrix/client/v3/devices/{deviceId}" },
  { method: "GET", path: "/_matrix/client/v3/account/whoami" },
  // end-to-end encryption
  { method: "POST", path: "/_matrix/client/v3/keys/upload" },
  { method: "POST", path: "/_matrix/client/v3/keys/query" },
  { method: "POST", path: "/_matrix/client/v3/keys/claim" },
];

/**
 * Paths that are the same operation as a listed endpoint, only addressed differently. Each names
 * the listed endpoint it stands for; nothing else is added to what guests may do.
 */
export const GUEST_SAME_OPERATION: ReadonlyArray<GuestEndpoint & { sameAs: string }> = [
  // Joining by room ID or alias: the spec's join, with the room named by an alias (as Synapse allows).
  { method: "POST", path: "/_matrix/client/v3/join/{roomIdOrAlias}", sameAs: "POST /_matrix/client/v3/rooms/{roomId}/join" },
  // Sending without a transaction ID (the pre-r0 form older clients still use).
  { method: "POST", path: "/_matrix/client/v3/rooms/{roomId}/send/{eventType}", sameAs: "PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}" },
];

/**
 * Endpoints an operator setting opens to guests (default in brackets). The route passes the setting
 * to `authenticate` as `openToGuests`; the walker test knows them from this list.
 */
export const GUEST_BY_SETTING: ReadonlyArray<GuestEndpoint & { setting: string }> = [
  { method: "GET", path: "/_matrix/client/v3/voip/turnServer", setting: "[voip] turn_allow_guests" },
];

/** A spec path template as a regex over concrete (still percent-encoded) paths. */
function templateRegex(path: string): RegExp {
  const parts = path.split("/").map((seg) => {
    // The state key may be empty (".../state/m.room.name/" or ".../state/m.room.name").
    if (seg === "{stateKey}") return "\u0000";
    if (/^\{[^}]+\}$/.test(seg)) return "[^/]+";
    return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/").replace("/\u0000", "(?:/[^/]*)?")}/?$`);
}

const compiled = [...GUEST_ENDPOINTS, ...GUEST_SAME_OPERATION].map((e) => ({ method: e.method, re: templateRegex(e.path) }));

/** Whether a guest may call `method path` (path: the request's pathname, after legacy rewriting). */
export function guestMayCall(method: string, path: string): boolean {
  return compiled.some((e) => e.method === method && e.re.test(path));
}
