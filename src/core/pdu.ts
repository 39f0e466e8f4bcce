// Building and checking PDUs: content hashes and signatures on outgoing events, signature and hash
// checks on received ones, and per-room-version format and size checks.
// Spec: content/server-server-api.md "Signing Events" ("Adding hashes and signatures to outgoing
// events", "Validating hashes and signatures on received events") and "Checks performed on receipt of
// a PDU"; client-server-api/_index.md "Size limits"; the PDU schemas of each room version
// (data/api/server-server/definitions/pdu_v1/v3/v4/v6/v11/v12.yaml).
//
// Every function takes events in their federation (wire) form. In room versions 3+ a top-level
// `event_id` is not part of the event: the signing and hashing functions ignore it, and checkPduFormat
// refuses received events that carry one.

import type { JsonRecord } from "../protocol/events.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { CanonicalJsonError, canonicalJson, utf8Length } from "./canonical-json.ts";
import { checkContentHash, computeContentHashBase64 } from "./hashes.ts";
import { redactEvent } from "./redaction.ts";
import type { RoomVersion } from "./room-versions.ts";
import {
  addSignature,
  checkEntitySignature,
  checkSignatureOnContent,
  signatureKeyIds,
  signedContent,
  type SigningKey,
  type Signatures,
  type VerifyKeyInput,
  type VerifyKeyLookup,
} from "./signing.ts";
import { isValidEventId, isValidRoomId, isValidUserId, parseEventId, parseUserId, MAX_ID_BYTES } from "../protocol/ids.ts";


/** "The complete event MUST NOT be larger than 65536 bytes" (canonical JSON, federation format). */
export const MAX_PDU_BYTES = 65536;
/** Size limit for `state_key` and `type` (and, via the ID limits, sender, room_id, event_id). */
export const MAX_PDU_KEY_BYTES = MAX_ID_BYTES;
/** PDU schemas: prev_events "Must contain less than or equal to 20 events" (enforced by auth rules). */
export const MAX_PREV_EVENTS = 20;
/** PDU schemas: auth_events "Must contain less than or equal to 10 events" (enforced by auth rules). */
export const MAX_AUTH_EVENTS = 10;

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The event as it is hashed and signed: without a (local-only) `event_id` in room versions 3+. */
function wireForm(event: Readonly<JsonRecord>, roomVersion: RoomVersion): Readonly<JsonRecord> {
  if (roomVersion.eventIdInEvent || !Object.hasOwn(event, "event_id")) return event;
  const { event_id: _ignored, ...rest } = event;
  return rest;
}

function canonicalOptions(roomVersion: RoomVersion) {
  return { lenient: !roomVersion.strictCanonicalJson };
}

// ---------------------------------------------------------------------------------------------------
// Policy servers (server-server-api "Policy Servers", v1.18)

/** The key ID of a policy server's signature on events; always this for ed25519. */
export const POLICY_SERVER_KEY_ID = "ed25519:policy_server";

/** A room's policy server from its m.room.policy content: `via` and the ed25519 key, if valid. */
export function policyServerOf(content: unknown): { via: string; ed25519: string } | undefined {
  if (!isRecord(content) || typeof content.via !== "string" || content.via === "") return undefined;
  const keys = content.public_keys;
  if (!isRecord(keys) || typeof keys.ed25519 !== "string") return undefined;
  return { via: content.via, ed25519: keys.ed25519 };
}

/** Every event needs the policy server's signature except the m.room.policy state event itself. */
export function needsPolicySignature(event: Readonly<JsonRecord>): boolean {
  return !(event.type === "m.room.policy" && event.state_key === "");
}

/** Whether `event` carries a valid signature of the policy server `via` with its room-state key. */
export function hasValidPolicySignature(event: Readonly<JsonRecord>, roomVersion: RoomVersion, via: string, ed25519: string): boolean {
  const redacted = redactEvent(wireForm(event, roomVersion), roomVersion);
  const withSignatures = { ...redacted, signatures: event.signatures };
  let content: string;
  try {
    content = signedContent(redacted, canonicalOptions(roomVersion));
  } catch {
    return false;
  }
  return checkSignatureOnContent(withSignatures, content, via, POLICY_SERVER_KEY_ID, ed25519).ok;
}

/** A copy of `event` with the policy server's signatures (as POST /_matrix/policy/v1/sign returns them) added. */
export function withPolicySignature<T extends JsonRecord>(event: T, via: string, signatures: Record<string, unknown>): T {
  const sigs = isRecord(event.signatures) ? { ...event.signatures } : {};
  sigs[via] = { ...(isRecord(sigs[via]) ? sigs[via] : {}), ...signatures };
  return { ...event, signatures: sigs };
}

// ---------------------------------------------------------------------------------------------------
// Outgoing events

/** A copy of `event` with `hashes.sha256` set to its content hash (other hash algorithms are kept). */
export function addContentHash<T extends JsonRecord>(event: T, roomVersion: RoomVersion): T & { hashes: { sha256: string } } {
  const sha256 = computeContentHashBase64(event, roomVersion);
  const hashes = isRecord(event.hashes) ? { ...event.hashes, sha256 } : { sha256 };
  return { ...event, hashes };
}

/**
 * The signature `serverName` would put on `event`: the redacted event, without `signatures` and
 * `unsigned`, in canonical JSON, signed with `key`. Returned as unpadded Base64.
 */
export function computeEventSignature(event: Readonly<JsonRecord>, roomVersion: RoomVersion, key: SigningKey): string {
  const redacted = redactEvent(wireForm(event, roomVersion), roomVersion);
  return encodeBase64(key.sign(signedContent(redacted, canonicalOptions(roomVersion))));
}

/**
 * A copy of `event` with `serverName`'s signature added (existing signatures are kept). Use this alone
 * to co-sign an event that is already hashed (e.g. a restricted join or an invite from another server).
 */
export function signEvent<T extends JsonRecord>(
  event: T,
  roomVersion: RoomVersion,
  serverName: string,
  key: SigningKey,
): T & { signatures: Signatures } {
  const sig = computeEventSignature(event, roomVersion, key);
  return { ...event, signatures: addSignature(event.signatures, serverName, key.keyId, sig) };
}

/**
 * "Adding hashes and signatures to outgoing events": compute the content hash into `hashes.sha256`,
 * then sign the redacted event and copy the signature into `signatures[serverName][key.keyId]`.
 * Returns a new object; `unsigned` is kept and covered by neither. The input is not modified.
 */
export function hashAndSignEvent<T extends JsonRecord>(
  event: T,
  roomVersion: RoomVersion,
  serverName: string,
  key: SigningKey,
): T & { hashes: { sha256: string }; signatures: Signatures } {
  return signEvent(addContentHash(event, roomVersion), roomVersion, serverName, key);
}

// ---------------------------------------------------------------------------------------------------
// Received events: signatures and hashes

/**
 * The servers whose signatures a received event needs ("Validating hashes and signatures on
 * received events"):
 *  - the sender's server — except for invites made from a third-party invite (membership `invite` with
 *    `content.third_party_invite`): "the sender must already match the 3rd party invite, and the server
 *    which actually sends the event may be a different server". The auth rules check the invite's
 *    `signed` block instead. (Synapse exempts them in every room version; so do we.)
 *  - rooms 1–2: the server named in the event ID, if different ("Room versions 1 and 2 also require
 *    that a signature is present from the domain in the event_id");
 *  - rooms 8+ (`restrictedJoinAllowed`): for `join` memberships carrying
 *    `content.join_authorised_via_users_server`, that user's server (auth rule 4.2 of v8 onwards makes
 *    an unsigned one fail; like Synapse we check it with the other signatures).
 * `problems` lists fields that make the set impossible to determine (e.g. a malformed sender); an
 * event with problems fails verification.
 */
export function requiredSignatureServers(
  event: Readonly<JsonRecord>,
  roomVersion: RoomVersion,
): { servers: string[]; problems: string[] } {
  const servers = new Set<string>();
  const problems: string[] = [];
  const content = isRecord(event.content) ? event.content : {};
  const isThirdPartyInvite =
    event.type === "m.room.member" && content.membership === "invite" && Object.hasOwn(content, "third_party_invite");
  if (!isThirdPartyInvite) {
    const sender = typeof event.sender === "string" ? parseUserId(event.sender) : null;
    if (sender === null) problems.push("sender is not a valid user ID");
    else servers.add(sender.serverName);
  }
  if (roomVersion.eventIdInEvent) {
    const id = typeof event.event_id === "string" ? parseEventId(event.event_id, "domain") : null;
    if (id === null || id.serverName === null) problems.push("event_id is not a valid event ID with a server name");
    else servers.add(id.serverName);
  }
  if (
    roomVersion.restrictedJoinAllowed &&
    event.type === "m.room.member" &&
    content.membership === "join" &&
    Object.hasOwn(content, "join_authorised_via_users_server")
  ) {
    const via = content.join_authorised_via_users_server;
    const user = typeof via === "string" ? parseUserId(via) : null;
    if (user === null) problems.push("content.join_authorised_via_users_server is not a valid user ID");
    else servers.add(user.serverName);
  }
  return { servers: [...servers], problems };
}

export interface SignatureKeyRequest {
  readonly serverName: string;
  /** ed25519 key IDs of that server's signatures on the event. */
  readonly keyIds: readonly string[];
  /** Keys must be valid at least until this time (origin_server_ts in rooms 5+, else 0). */
  readonly minimumValidUntilTs: number;
}

/** Which keys verifying `event` will need — to fetch them (in bulk) before verifyEventSignatures. */
export function signatureKeyRequests(event: Readonly<JsonRecord>, roomVersion: RoomVersion): SignatureKeyRequest[] {
  const minimumValidUntilTs = minimumValidUntil(event, roomVersion);
  return requiredSignatureServers(event, roomVersion).servers.map((serverName) => ({
    serverName,
    keyIds: signatureKeyIds(event, serverName),
    minimumValidUntilTs,
  }));
}

function minimumValidUntil(event: Readonly<JsonRecord>, roomVersion: RoomVersion): number {
  // Room versions 5+ ("Signing key validity period"): keys must be valid at origin_server_ts.
  return roomVersion.enforceKeyValidity && typeof event.origin_server_ts === "number" ? event.origin_server_ts : 0;
}

export type EventVerification =
  | {
      /** Signatures are missing or invalid: drop the event. */
      readonly ok: false;
      readonly requiredServers: readonly string[];
      readonly failures: readonly { readonly server: string; readonly reason: string }[];
    }
  | {
      readonly ok: true;
      readonly requiredServers: readonly string[];
      /** False when `hashes.sha256` does not match: the event must be used in its redacted form. */
      readonly contentHashValid: boolean;
      /** The event to process further: the input if the hash matched, else its redacted copy. */
      readonly event: JsonRecord;
    };

/**
 * Signature and hash checks on a received event (steps 2 and 3 of "Checks performed on receipt of a
 * PDU"). The event is redacted and each required server's signatures on it are checked with the
 * appendix algorithm "Checking for a Signature" (signing.ts checkEntitySignature): unknown or expired
 * keys are skipped, at least one known key must have signed, and every signature from a known key
 * must verify. Then the content hash is compared.
 *
 * `lookup` is synchronous; use signatureKeyRequests to fetch keys beforehand, or
 * verifyEventSignaturesAsync. Run checkPduFormat first: a malformed event may throw
 * CanonicalJsonError here.
 */
export function verifyEventSignatures(
  event: Readonly<JsonRecord>,
  roomVersion: RoomVersion,
  lookup: VerifyKeyLookup,
): EventVerification {
  const { servers, problems } = requiredSignatureServers(event, roomVersion);
  const failures: { server: string; reason: string }[] = problems.map((reason) => ({ server: "", reason }));
  if (failures.length === 0 && servers.length > 0) {
    const wire = wireForm(event, roomVersion);
    const redacted = redactEvent(wire, roomVersion);
    const content = Buffer.from(signedContent(redacted, canonicalOptions(roomVersion)), "utf8");
    const minTs = minimumValidUntil(event, roomVersion);
    for (const server of servers) {
      const r = checkEntitySignature(event, content, server, lookup, minTs);
      if (!r.ok) failures.push({ server, reason: r.reason });
    }
  }
  if (failures.length > 0) return { ok: false, requiredServers: servers, failures };
  const wire = wireForm(event, roomVersion);
  if (checkContentHash(wire, roomVersion)) {
    return { ok: true, requiredServers: servers, contentHashValid: true, event: { ...wire } };
  }
  return { ok: true, requiredServers: servers, contentHashValid: false, event: redactEvent(wire, roomVersion) };
}

/** verifyEventSignatures with an asynchronous key lookup (keys are resolved first, in parallel). */
export async function verifyEventSignaturesAsync(
  event: Readonly<JsonRecord>,
  roomVersion: RoomVersion,
  lookup: (serverName: string, keyId: string, minimumValidUntilTs: number) => Promise<VerifyKeyInput | undefined | null>,
): Promise<EventVerification> {
  const found = new Map<string, VerifyKeyInput>();
  await Promise.all(
    signatureKeyRequests(event, roomVersion).flatMap((req) =>
      req.keyIds.map(async (keyId) => {
        const k = await lookup(req.serverName, keyId, req.minimumValidUntilTs);
        if (k !== undefined && k !== null) found.set(`${req.serverName}\u0000${keyId}`, k);
      }),
    ),
  );
  return verifyEventSignatures(event, roomVersion, (server, keyId) => found.get(`${server}\u0000${keyId}`));
}

// ---------------------------------------------------------------------------------------------------
// Format and size checks

export interface PduIssue {
  /** `format`: the event does not match its room version's event format (drop it). `size`: it breaks a
   *  size limit (Synapse rejects those; servers must never create them). */
  readonly kind: "format" | "size";
  /** Dotted path of the offending field ("" for the whole event). */
  readonly field: string;
  readonly problem: string;
}

function issue(field: string, problem: string): PduIssue {
  return { kind: "format", field, problem };
}

function isInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v);
}

/**
 * Checks the shape of a received PDU against its room version's event format (step 1 of "Checks
 * performed on receipt of a PDU": invalid events are dropped). Returns all issues; empty means valid.
 *  - required: `type`, `sender` (a user ID, historical grammar), `content` (object), `origin_server_ts`
 *    and `depth` (non-negative integers), `hashes.sha256` (Base64 string), `signatures` (object of
 *    objects of strings); `state_key` a string when present, `unsigned` an object when present;
 *  - `room_id`: rooms 1–11 `!opaque:server`; rooms 12+ `!<hash>`, and absent from m.room.create;
 *  - `event_id`: rooms 1–2 required, `$opaque:server`; rooms 3+ absent (IDs are computed);
 *  - `prev_events`/`auth_events`: rooms 1–2 `[event_id, {hashes}]` pairs; 3+ event ID strings in the
 *    room version's form (`$` + 43 Base64 characters; URL-safe from room 4);
 *  - `redacts` a string when present (top-level before room 11, in content from room 11);
 *  - the whole event is valid canonical JSON (strict in rooms 6+: integers in range, no floats).
 * The per-list limits (20 prev_events, 10 auth_events) are left to the auth rules, which reject.
 */
export function checkPduFormat(event: unknown, roomVersion: RoomVersion): PduIssue[] {
  if (!isRecord(event)) return [issue("", "not a JSON object")];
  const out: PduIssue[] = [];
  const e = event;

  if (typeof e.type !== "string") out.push(issue("type", "must be a string"));
  if (typeof e.sender !== "string" || !isValidUserId(e.sender)) out.push(issue("sender", "must be a valid user ID"));
  if (!isRecord(e.content)) out.push(issue("content", "must be an object"));
  if (!isInteger(e.origin_server_ts)) out.push(issue("origin_server_ts", "must be an integer"));
  if (!isInteger(e.depth) || e.depth < 0) out.push(issue("depth", "must be a non-negative integer"));
  if (Object.hasOwn(e, "state_key") && typeof e.state_key !== "string") out.push(issue("state_key", "must be a string"));
  if (Object.hasOwn(e, "unsigned") && !isRecord(e.unsigned)) out.push(issue("unsigned", "must be an object"));

  if (!isRecord(e.hashes)) out.push(issue("hashes", "must be an object"));
  else if (typeof e.hashes.sha256 !== "string") out.push(issue("hashes.sha256", "must be a string"));
  else {
    try {
      decodeBase64(e.hashes.sha256, "any");
    } catch {
      out.push(issue("hashes.sha256", "must be base64"));
    }
  }

  if (!isRecord(e.signatures)) out.push(issue("signatures", "must be an object"));
  else {
    for (const [server, byKey] of Object.entries(e.signatures)) {
      if (!isRecord(byKey) || !Object.values(byKey).every((s) => typeof s === "string")) {
        out.push(issue(`signatures.${server}`, "must be an object of strings"));
      }
    }
  }

  // room_id
  if (roomVersion.roomIdFromCreateEvent && e.type === "m.room.create") {
    if (Object.hasOwn(e, "room_id")) out.push(issue("room_id", "must be absent from m.room.create in this room version"));
  } else if (typeof e.room_id !== "string") {
    out.push(issue("room_id", "must be a string"));
  } else if (!isValidRoomId(e.room_id, roomVersion.roomIdFromCreateEvent ? "hash" : "domain")) {
    out.push(issue("room_id", "is not a valid room ID for this room version"));
  }

  // event_id
  if (roomVersion.eventIdInEvent) {
    if (typeof e.event_id !== "string" || !isValidEventId(e.event_id, "domain")) {
      out.push(issue("event_id", "must be an event ID of the form $opaque:server"));
    }
  } else if (Object.hasOwn(e, "event_id")) {
    out.push(issue("event_id", "must be absent: event IDs are computed in this room version"));
  }

  // prev_events / auth_events
  const idForm = roomVersion.eventIdInEvent ? "domain" : roomVersion.eventIdUrlSafe ? "base64url" : "base64";
  for (const field of ["prev_events", "auth_events"] as const) {
    const refs = e[field];
    if (!Array.isArray(refs)) {
      out.push(issue(field, "must be an array"));
      continue;
    }
    refs.forEach((ref: unknown, i) => {
      if (roomVersion.eventIdInEvent) {
        if (!Array.isArray(ref) || ref.length !== 2 || typeof ref[0] !== "string" || !isRecord(ref[1])) {
          out.push(issue(`${field}[${i}]`, "must be an [event_id, {hashes}] pair"));
        } else if (!isValidEventId(ref[0], idForm)) {
          out.push(issue(`${field}[${i}]`, "is not a valid event ID"));
        }
      } else if (typeof ref !== "string" || !isValidEventId(ref, idForm)) {
        out.push(issue(`${field}[${i}]`, "is not a valid event ID for this room version"));
      }
    });
  }

  // redacts
  if (!roomVersion.redactsInContent) {
    if (Object.hasOwn(e, "redacts") && typeof e.redacts !== "string") out.push(issue("redacts", "must be a string"));
  } else if (e.type === "m.room.redaction" && isRecord(e.content) && Object.hasOwn(e.content, "redacts")) {
    if (typeof e.content.redacts !== "string") out.push(issue("content.redacts", "must be a string"));
  }

  // Canonical JSON (strict from room version 6: v6-canonical-json.md).
  try {
    canonicalJson(e, canonicalOptions(roomVersion));
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err;
    out.push(issue(err.path, err.message));
  }
  return out;
}

/**
 * Size limits (client-server-api "Size limits"): the whole event ≤ 65536 bytes of canonical JSON in
 * federation format, signatures included; `sender`, `room_id`, `event_id` ≤ 255 bytes (their ID
 * limits), `state_key` and `type` ≤ 255 bytes. Measured on the event as given.
 */
export function checkPduSize(event: Readonly<JsonRecord>, roomVersion: RoomVersion): PduIssue[] {
  const out: PduIssue[] = [];
  for (const field of ["sender", "room_id", "event_id", "state_key", "type"] as const) {
    const v = event[field];
    if (typeof v === "string" && utf8Length(v) > MAX_PDU_KEY_BYTES) {
      out.push({ kind: "size", field, problem: `longer than ${MAX_PDU_KEY_BYTES} bytes` });
    }
  }
  let json: string | undefined;
  try {
    json = canonicalJson(event, canonicalOptions(roomVersion));
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err; // reported by checkPduFormat
  }
  if (json !== undefined && utf8Length(json) > MAX_PDU_BYTES) {
    out.push({ kind: "size", field: "", problem: `event larger than ${MAX_PDU_BYTES} bytes of canonical JSON` });
  }
  return out;
}

/** checkPduFormat followed by checkPduSize (when the format is valid). */
export function checkPdu(event: unknown, roomVersion: RoomVersion): PduIssue[] {
  const issues = checkPduFormat(event, roomVersion);
  if (issues.length > 0) return issues;
  return checkPduSize(event as JsonRecord, roomVersion);
}

/** Raised by assertValidPdu; carries every issue found. */
export class PduError extends Error {
  override name = "PduError";
  constructor(readonly issues: readonly PduIssue[]) {
    super(issues.map((i) => (i.field ? `${i.field}: ${i.problem}` : i.problem)).join("; "));
  }
}

/** Throws PduError unless checkPdu finds nothing. */
export function assertValidPdu(event: unknown, roomVersion: RoomVersion): asserts event is JsonRecord {
  const issues = checkPdu(event, roomVersion);
  if (issues.length > 0) throw new PduError(issues);
}
