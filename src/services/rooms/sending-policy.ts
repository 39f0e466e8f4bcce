// Sending policy: what a requester's account state does to the events they create, applied where
// events are created (the Rooms service), not in HTTP handlers, so every way to send gets it —
// as Synapse's event creation handler does.
//
//   suspension   (client-server-api "Account suspension") a suspended user may leave (or reject an
//                invite) and redact their own events; any other event is 403 M_USER_SUSPENDED.
//                (Endpoints that only create events — join, invite, createRoom, … — also refuse
//                in their declaration, before the request is parsed.)
//   shadow-ban   (Synapse) what the user sends is accepted but goes nowhere: the answer is a
//                plausible event ID that nothing stores or federates, the same for a retried
//                transaction; joins and leaves still work; invites are dropped. The same holds
//                outside Rooms: typing (services/typing.ts) is shown to nobody; a room upgrade
//                (rooms/upgrade.ts) passes the usual checks, then answers a made-up room ID.
//
// The rate limit stays in the endpoint declaration (route(): rateLimit "message").
import type { JsonObject } from "../../protocol/events.ts";
import { refuseIfSuspended, type Requester } from "../auth.ts";

/**
 * Who creates an event: a requester (a client's or application service's request: the policy
 * applies), or a bare user ID (the server itself acting for a user — admin API, server notices,
 * directory upkeep: no policy).
 */
export type Sender = string | Pick<Requester, "userId" | "deviceId" | "tokenHash" | "isSuspended" | "isShadowBanned" | "appserviceId">;
export type PolicedRequester = Exclude<Sender, string>;

export const senderId = (s: Sender): string => (typeof s === "string" ? s : s.userId);
export const requesterOf = (s: Sender): PolicedRequester | undefined => (typeof s === "string" ? undefined : s);

/** The event ID a shadow-banned requester is told they sent; `key` names the request (its transaction). */
export function shadowEventId(who: PolicedRequester, key: string): string {
  return `$${new Bun.CryptoHasher("sha256").update(`${who.tokenHash}\u0000${key}`).digest("base64url")}`;
}

/** A shadow-banned requester's key for a request without a transaction ID: a fresh one each time. */
export const txnKey = (txnId: string | undefined): string => txnId ?? crypto.randomUUID();

/**
 * Suspension for a state event: only the user's own leave is allowed.
 * Throws 403 M_USER_SUSPENDED otherwise.
 */
export function refuseSuspendedState(who: PolicedRequester, type: string, stateKey: string, content: JsonObject): void {
  if (!who.isSuspended) return;
  if (type === "m.room.member" && stateKey === who.userId && content["membership"] === "leave") return;
  refuseIfSuspended(who, "change room state");
}

/** Whether a shadow-banned requester's state event is dropped: everything but their own join/leave-like membership. */
export function shadowDropsState(type: string, content: JsonObject): boolean {
  return type !== "m.room.member" || content["membership"] === "invite";
}
