// SHA-256 and the two event hashes. Spec: content/server-server-api.md "Calculating the content hash
// for an event" and "Calculating the reference hash for an event".
//
// Content hash: remove `unsigned`, `signatures` and `hashes`; canonical JSON; SHA-256. It covers the
//   complete, unredacted event and is stored (unpadded Base64) in `hashes.sha256`.
// Reference hash: redact the event; remove `signatures` and `unsigned`; canonical JSON; SHA-256. Room
//   versions 3+ derive event IDs from it (see event-id.ts).
//
// Both use lenient canonical JSON for room versions whose `strictCanonicalJson` is false (1–5).
//
// In room versions 3+ the event ID is not part of the event; a top-level `event_id` there can only be
// local metadata (e.g. a RoomEvent read back from storage), so it is ignored by every version-aware
// function here and in pdu.ts / event-id.ts. Received events that carry one are refused by
// pdu.ts `checkPduFormat`.
//
// Note: Synapse also removes the legacy top-level keys `age_ts`, `outlier` and `destinations` before
// hashing. They never appear in events from conforming servers, and the spec does not remove them, so
// neither do we.

import type { JsonRecord } from "../protocol/events.ts";
import { encodeBase64, decodeBase64 } from "./base64.ts";
import { canonicalJson } from "./canonical-json.ts";
import { redactEvent } from "./redaction.ts";
import type { RoomVersion } from "./room-versions.ts";


/** SHA-256 of bytes, or of a string encoded as UTF-8. */
export function sha256(data: string | Uint8Array): Uint8Array {
  return Bun.SHA256.hash(data) as Uint8Array;
}

/** SHA-256 as unpadded standard Base64. */
export function sha256Base64(data: string | Uint8Array): string {
  return encodeBase64(sha256(data));
}

/** A shallow copy of `event` without the given top-level keys (and without `event_id` in v3+ rooms). */
function without(event: Readonly<JsonRecord>, drop: readonly string[], roomVersion: RoomVersion): JsonRecord {
  const out: JsonRecord = {};
  for (const k in event) {
    if (!Object.hasOwn(event, k) || drop.includes(k)) continue;
    if (k === "event_id" && !roomVersion.eventIdInEvent) continue;
    out[k] = event[k];
  }
  return out;
}

const CONTENT_HASH_DROP = ["unsigned", "signatures", "hashes"] as const;
const REFERENCE_HASH_DROP = ["unsigned", "signatures"] as const;

/** The canonical JSON that the content hash covers. Throws CanonicalJsonError for non-JSON events. */
export function contentHashInput(event: Readonly<JsonRecord>, roomVersion: RoomVersion): string {
  return canonicalJson(without(event, CONTENT_HASH_DROP, roomVersion), { lenient: !roomVersion.strictCanonicalJson });
}

/** The event's content hash (raw SHA-256 bytes). */
export function computeContentHash(event: Readonly<JsonRecord>, roomVersion: RoomVersion): Uint8Array {
  return sha256(contentHashInput(event, roomVersion));
}

/** The content hash as stored in `hashes.sha256`: unpadded standard Base64. */
export function computeContentHashBase64(event: Readonly<JsonRecord>, roomVersion: RoomVersion): string {
  return encodeBase64(computeContentHash(event, roomVersion));
}

/**
 * True when `hashes.sha256` is present, decodes as Base64 and equals the content hash. False when it
 * is missing, malformed or different — per the spec the event must then be used in its redacted form.
 * Throws CanonicalJsonError when the event itself is not encodable.
 */
export function checkContentHash(event: Readonly<JsonRecord>, roomVersion: RoomVersion): boolean {
  const hashes = event.hashes;
  if (typeof hashes !== "object" || hashes === null) return false;
  const claimed = (hashes as JsonRecord).sha256;
  if (typeof claimed !== "string") return false;
  let claimedBytes: Uint8Array;
  try {
    claimedBytes = decodeBase64(claimed, "any");
  } catch {
    return false;
  }
  const actual = computeContentHash(event, roomVersion);
  if (claimedBytes.length !== actual.length) return false;
  for (let i = 0; i < actual.length; i++) if (claimedBytes[i] !== actual[i]) return false;
  return true;
}

/** The canonical JSON that the reference hash covers: the redacted event without signatures/unsigned. */
export function referenceHashInput(event: Readonly<JsonRecord>, roomVersion: RoomVersion): string {
  const redacted = redactEvent(event, roomVersion); // never contains `unsigned`
  return canonicalJson(without(redacted, REFERENCE_HASH_DROP, roomVersion), { lenient: !roomVersion.strictCanonicalJson });
}

/** The event's reference hash (raw SHA-256 bytes). */
export function computeReferenceHash(event: Readonly<JsonRecord>, roomVersion: RoomVersion): Uint8Array {
  return sha256(referenceHashInput(event, roomVersion));
}
