// Room endpoints of the Client-Server API: create, membership, sending, state, reading.
// Spec: data/api/client-server/{create_room,joining,inviting,leaving,kicking,banning,knocking,
// room_send,room_state,rooms,message_pagination,event_context,redaction,room_event_by_timestamp,
// list_joined_rooms}.yaml. Each handler validates input, calls one service method, returns JSON.
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { isValidEventId, isValidRoomId, isValidUserId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { CreateRoomRequest } from "../../services/rooms/rooms.ts";
import { parseRoomEventFilter, type RoomEventFilter } from "../../services/rooms/filters.ts";
import { checkCreateRoomInvite3pid } from "../../services/rooms/third-party-invites.ts";
import type { App } from "../app.ts";
import { authenticate, type Requester } from "../auth.ts";
import { refuseIfSuspended } from "../../services/auth.ts";
import { jsonBody, optString } from "../params.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const PREFIXES = ["/_matrix/client/v3"];


/** The request body as a JSON object (it came from JSON.parse, so every value is JSON). */
const objectBody = (body: unknown): JsonObject => jsonBody(body) as JsonObject;

function roomIdParam(v: string | undefined): string {
  if (!v || !isValidRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
  return v;
}

function eventIdParam(v: string | undefined): string {
  if (!v || !isValidEventId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
  return v;
}

function nonEmpty(v: string | undefined, what: string): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
  if (v.length > 255) throw new MatrixError("M_INVALID_PARAM", `${what} too long`);
  return v;
}

function userIdField(body: JsonObject): string {
  const v = body.user_id;
  if (v === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'user_id'");
  if (typeof v !== "string" || !isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'user_id'");
  return v;
}

function intParam(v: string | null, def: number, name: string, min = 0): number {
  if (v === null || v === "") return def;
  if (!/^-?\d+$/.test(v)) throw new MatrixError("M_INVALID_PARAM", `'${name}' must be an integer`);
  const n = Number(v);
  if (n < min || !Number.isSafeInteger(n)) throw new MatrixError("M_INVALID_PARAM", `'${name}' out of range`);
  return n;
}

function filterParam(v: string | null): RoomEventFilter | undefined {
  if (v === null || v === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new MatrixError("M_INVALID_PARAM", "'filter' is not valid JSON");
  }
  return parseRoomEventFilter(parsed, "filter");
}

function dirParam(v: string | null, required: boolean): "b" | "f" {
  if (v === null) {
    if (required) throw new MatrixError("M_MISSING_PARAM", "Missing 'dir'");
    return "b";
  }
  if (v !== "b" && v !== "f") throw new MatrixError("M_INVALID_PARAM", "'dir' must be 'b' or 'f'");
  return v;
}

/**
 * Application services' timestamp massaging (application-service-api.md): `ts` sets the event's
 * origin_server_ts on /send and /state. Ignored for other clients (as Synapse does).
 */
function tsOverride(who: { appserviceId?: string }, request: Request): number | undefined {
  if (who.appserviceId === undefined) return undefined;
  const ts = new URL(request.url).searchParams.get("ts");
  if (ts === null) return undefined;
  if (!/^\d{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) throw new MatrixError("M_INVALID_PARAM", "'ts' must be a timestamp in milliseconds");
  return Number(ts);
}

function parseCreateRoom(body: JsonObject): CreateRoomRequest {
  const req: CreateRoomRequest = {};
  const str = (k: keyof CreateRoomRequest) => {
    const v = body[k];
    if (v === undefined) return;
    if (typeof v !== "string") throw new MatrixError("M_BAD_JSON", `'${k}' must be a string`);
    (req as Record<string, unknown>)[k] = v;
  };
  str("room_alias_name");
  str("name");
  str("topic");
  str("room_version");
  if (body.visibility !== undefined) {
    if (body.visibility !== "public" && body.visibility !== "private") throw new MatrixError("M_BAD_JSON", "'visibility' must be public or private");
    req.visibility = body.visibility;
  }
  if (body.preset !== undefined) {
    if (!["private_chat", "public_chat", "trusted_private_chat"].includes(body.preset as string)) throw new MatrixError("M_BAD_JSON", "Unknown 'preset'");
    req.preset = body.preset as CreateRoomRequest["preset"];
  }
  if (body.invite !== undefined) {
    if (!Array.isArray(body.invite) || body.invite.some((u) => typeof u !== "string")) throw new MatrixError("M_BAD_JSON", "'invite' must be a list of user IDs");
    req.invite = body.invite as string[];
  }
  checkCreateRoomInvite3pid(body.invite_3pid);
  if (body.is_direct !== undefined) {
    if (typeof body.is_direct !== "boolean") throw new MatrixError("M_BAD_JSON", "'is_direct' must be a boolean");
    req.is_direct = body.is_direct;
  }
  for (const k of ["creation_content", "power_level_content_override"] as const) {
    if (body[k] !== undefined) {
      if (!isObject(body[k])) throw new MatrixError("M_BAD_JSON", `'${k}' must be an object`);
      req[k] = body[k] as JsonObject;
    }
  }
  if (body.initial_state !== undefined) {
    if (!Array.isArray(body.initial_state)) throw new MatrixError("M_BAD_JSON", "'initial_state' must be a list");
    req.initial_state = body.initial_state.map((s, i) => {
      if (!isObject(s) || typeof s.type !== "string" || !isObject(s.content) || (s.state_key !== undefined && typeof s.state_key !== "string")) {
        throw new MatrixError("M_BAD_JSON", `initial_state[${i}] needs a string 'type', an object 'content' and an optional string 'state_key'`);
      }
      return { type: s.type, state_key: s.state_key as string | undefined, content: s.content };
    });
  }
  return req;
}

export function roomRoutes(app: App, svc: Services): void {
  const { rooms } = svc;
  const query = (request: Request) => new URL(request.url).searchParams;
  /**
   * What a shadow-banned user is told they sent: an event ID nothing stores, the same for a retried
   * transaction (so the client cannot tell).
   */
  const shadowEventId = (who: Requester, key: string) =>
    `$${new Bun.CryptoHasher("sha256").update(`${who.tokenHash}\u0000${key}`).digest("base64url")}`;
  /** A suspended user may redact their own events only (client-server-api "Account suspension"). */
  const refuseSuspendedRedaction = async (who: Requester, roomId: string, eventId: unknown) => {
    if (!who.isSuspended) return;
    const target = typeof eventId === "string" && isValidEventId(eventId) ? await rooms.getEvent(viewer(who), roomId, eventId).catch(() => undefined) : undefined;
    if (target?.sender !== who.userId) refuseIfSuspended(who, "redact other users' events");
  };

  for (const p of PREFIXES) {
    app.post(`${p}/createRoom`, async ({ request, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      svc.ratelimits.consumeMessage(who);
      const req = parseCreateRoom(objectBody(body));
      // A shadow-banned user's room is created, but nobody is invited to it.
      if (who.isShadowBanned) delete req.invite;
      const roomId = await rooms.createRoom(who.userId, req);
      return { room_id: roomId };
    });

    // ---- membership
    app.post(`${p}/rooms/:roomId/join`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = objectBody(body);
      return { room_id: await rooms.join(who.userId, roomIdParam(params.roomId), { reason: optString(b, "reason"), extra: b }) };
    });
    app.post(`${p}/join/:roomIdOrAlias`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = objectBody(body);
      const target = nonEmpty(params.roomIdOrAlias, "room ID or alias");
      return { room_id: await rooms.join(who.userId, target, { reason: optString(b, "reason"), via: viaServers(request), extra: b }) };
    });
    app.post(`${p}/knock/:roomIdOrAlias`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = objectBody(body);
      return { room_id: await rooms.knock(who.userId, nonEmpty(params.roomIdOrAlias, "room ID or alias"), optString(b, "reason"), viaServers(request)) };
    });
    app.post(`${p}/rooms/:roomId/invite`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = objectBody(body);
      // The third-party form (third_party_membership.yaml): refused without an identity server.
      if (b.user_id === undefined && (b.id_server !== undefined || b.medium !== undefined || b.address !== undefined)) {
        await svc.thirdPartyInvites.invite(who.userId, roomIdParam(params.roomId), b);
      }
      if (who.isShadowBanned) return {};
      await rooms.invite(who.userId, roomIdParam(params.roomId), userIdField(b), optString(b, "reason"));
      return {};
    });
    app.post(`${p}/rooms/:roomId/leave`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await rooms.leave(who.userId, roomIdParam(params.roomId), optString(objectBody(body), "reason"));
      return {};
    });
    app.post(`${p}/rooms/:roomId/forget`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      await rooms.forget(who.userId, roomIdParam(params.roomId));
      return {};
    });
    for (const action of ["kick", "ban", "unban"] as const) {
      app.post(`${p}/rooms/:roomId/${action}`, async ({ request, params, body }) => {
        const who = await authenticate(svc, request, { refuseSuspended: true });
        const b = objectBody(body);
        await rooms.moderate(who.userId, roomIdParam(params.roomId), userIdField(b), action, optString(b, "reason"));
        return {};
      });
    }

    // ---- sending
    // PUT with a transaction ID; POST without one is the legacy form (no deduplication) that
    // older clients still use, as Synapse serves it.
    const send = async (request: Request, params: Record<string, string | undefined>, body: unknown) => {
      const who = await authenticate(svc, request);
      const roomId = roomIdParam(params.roomId);
      const type = nonEmpty(params.eventType, "event type");
      const txnId = params.txnId === undefined ? undefined : nonEmpty(params.txnId, "transaction ID");
      const content = objectBody(body);
      if (who.isSuspended) {
        // A suspended user may still redact their own events (a redaction sent through /send).
        if (type !== "m.room.redaction") refuseIfSuspended(who, "send messages");
        await refuseSuspendedRedaction(who, roomId, content.redacts);
      }
      svc.ratelimits.consumeMessage(who);
      if (who.isShadowBanned) return { event_id: shadowEventId(who, `send\u0000${roomId}\u0000${txnId ?? crypto.randomUUID()}`) };
      const txn = txnId === undefined ? undefined : { deviceId: who.deviceId ?? "", txnId };
      const eventId = await rooms.sendMessage(who.userId, roomId, type, content, txn, tsOverride(who, request));
      return { event_id: eventId };
    };
    app.put(`${p}/rooms/:roomId/send/:eventType/:txnId`, ({ request, params, body }) => send(request, params, body));
    app.post(`${p}/rooms/:roomId/send/:eventType`, ({ request, params, body }) => send(request, params, body));
    const putState = async (request: Request, params: Record<string, string | undefined>, body: unknown) => {
      const who = await authenticate(svc, request);
      const roomId = roomIdParam(params.roomId);
      const type = nonEmpty(params.eventType, "event type");
      // A suspended user may leave (or reject an invite); every other state change is refused.
      if (who.isSuspended && !(type === "m.room.member" && params.stateKey === who.userId && isObject(body) && body.membership === "leave")) {
        refuseIfSuspended(who, "change room state");
      }
      svc.ratelimits.consumeMessage(who);
      // Shadow-banned: joins and leaves work; invites and other state go nowhere.
      const membership = type === "m.room.member" && isObject(body) ? body.membership : undefined;
      if (who.isShadowBanned && (type !== "m.room.member" || membership === "invite")) {
        return { event_id: shadowEventId(who, `state\u0000${roomId}\u0000${type}\u0000${params.stateKey ?? ""}\u0000${JSON.stringify(body)}`) };
      }
      const eventId = await rooms.sendState(who.userId, roomId, type, params.stateKey ?? "", objectBody(body), tsOverride(who, request));
      return { event_id: eventId };
    };
    app.put(`${p}/rooms/:roomId/state/:eventType`, ({ request, params, body }) => putState(request, params, body));
    app.put(`${p}/rooms/:roomId/state/:eventType/:stateKey`, ({ request, params, body }) => putState(request, params, body));
    const redact = async (request: Request, params: Record<string, string | undefined>, body: unknown) => {
      const who = await authenticate(svc, request);
      const b = objectBody(body);
      const txnId = params.txnId === undefined ? undefined : nonEmpty(params.txnId, "transaction ID");
      await refuseSuspendedRedaction(who, roomIdParam(params.roomId), eventIdParam(params.eventId));
      svc.ratelimits.consumeMessage(who);
      if (who.isShadowBanned) return { event_id: shadowEventId(who, `redact\u0000${params.roomId}\u0000${txnId ?? crypto.randomUUID()}`) };
      const txn = txnId === undefined ? undefined : { deviceId: who.deviceId ?? "", txnId };
      const eventId = await rooms.redact(who.userId, roomIdParam(params.roomId), eventIdParam(params.eventId), optString(b, "reason"), txn);
      return { event_id: eventId };
    };
    app.put(`${p}/rooms/:roomId/redact/:eventId/:txnId`, ({ request, params, body }) => redact(request, params, body));
    // Without a transaction ID: the legacy form (as Synapse serves it).
    app.post(`${p}/rooms/:roomId/redact/:eventId`, ({ request, params, body }) => redact(request, params, body));

    // ---- reading
    app.get(`${p}/joined_rooms`, async ({ request }) => {
      const who = await authenticate(svc, request);
      return { joined_rooms: await rooms.joinedRooms(who.userId) };
    });
    app.get(`${p}/rooms/:roomId/state`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return rooms.getState(viewer(who), roomIdParam(params.roomId));
    });
    const getState = async (request: Request, params: Record<string, string | undefined>) => {
      const who = await authenticate(svc, request);
      const ev = await rooms.getStateEvent(viewer(who), roomIdParam(params.roomId), nonEmpty(params.eventType, "event type"), params.stateKey ?? "");
      return query(request).get("format") === "event" ? ev : ev.content;
    };
    app.get(`${p}/rooms/:roomId/state/:eventType`, ({ request, params }) => getState(request, params));
    app.get(`${p}/rooms/:roomId/state/:eventType/:stateKey`, ({ request, params }) => getState(request, params));
    app.get(`${p}/rooms/:roomId/event/:eventId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return rooms.getEvent(viewer(who), roomIdParam(params.roomId), eventIdParam(params.eventId));
    });
    app.get(`${p}/rooms/:roomId/members`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      const q = query(request);
      const chunk = await rooms.members(viewer(who), roomIdParam(params.roomId), {
        at: q.get("at") ?? undefined,
        membership: q.get("membership") ?? undefined,
        notMembership: q.get("not_membership") ?? undefined,
      });
      return { chunk };
    });
    app.get(`${p}/rooms/:roomId/joined_members`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return { joined: await rooms.joinedMembers(who.userId, roomIdParam(params.roomId)) };
    });
    app.get(`${p}/rooms/:roomId/messages`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      const q = query(request);
      return rooms.messages(viewer(who), roomIdParam(params.roomId), {
        from: q.get("from") || undefined,
        to: q.get("to") || undefined,
        dir: dirParam(q.get("dir"), true),
        limit: intParam(q.get("limit"), 10, "limit"),
        filter: filterParam(q.get("filter")),
      });
    });
    app.get(`${p}/rooms/:roomId/context/:eventId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      const q = query(request);
      return rooms.context(
        viewer(who),
        roomIdParam(params.roomId),
        eventIdParam(params.eventId),
        Math.min(intParam(q.get("limit"), 10, "limit"), 100),
        filterParam(q.get("filter")),
      );
    });
  }

  app.get("/_matrix/client/v1/rooms/:roomId/timestamp_to_event", async ({ request, params }) => {
    const who = await authenticate(svc, request);
    const q = query(request);
    const ts = q.get("ts");
    if (ts === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'ts'");
    return rooms.timestampToEvent(viewer(who), roomIdParam(params.roomId), intParam(ts, 0, "ts"), dirParam(q.get("dir"), true));
  });
}

/** `via` (spec v1.12) and the older `server_name` query parameters, repeated. */
function viaServers(request: Request): string[] {
  const q = new URL(request.url).searchParams;
  return [...q.getAll("via"), ...q.getAll("server_name")].filter((s) => s.length > 0 && s.length <= 255);
}

function viewer(who: { userId: string; deviceId: string | null }) {
  return { userId: who.userId, deviceId: who.deviceId ?? undefined };
}
