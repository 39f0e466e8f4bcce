// Room endpoints of the Client-Server API: create, membership, sending, state, reading.
// Spec: data/api/client-server/{create_room,joining,inviting,leaving,kicking,banning,knocking,
// room_send,room_state,rooms,message_pagination,event_context,redaction,room_event_by_timestamp,
// list_joined_rooms}.yaml. Each handler validates input, calls one service method, returns JSON.
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import { isValidUserId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { CreateRoomRequest } from "../../services/rooms/rooms.ts";
import { parseRoomEventFilter, type RoomEventFilter } from "../../services/rooms/filters.ts";
import { checkCreateRoomInvite3pid } from "../../services/rooms/third-party-invites.ts";
import type { App } from "../app.ts";
import { optString } from "../params.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";
import { routes, type QueryParser } from "../endpoint.ts";
import { body, param, query } from "../schema.ts";

const V3 = "/_matrix/client/v3";

function userIdField(body: JsonObject): string {
  const v = body.user_id;
  if (v === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'user_id'");
  if (typeof v !== "string" || !isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'user_id'");
  return v;
}

/** `filter`: a RoomEventFilter as JSON. */
const filterQuery: QueryParser<RoomEventFilter | undefined> = (q, name) => {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new MatrixError("M_INVALID_PARAM", "'filter' is not valid JSON");
  }
  return parseRoomEventFilter(parsed, "filter");
};

/** `via` (spec v1.12) and the older `server_name` query parameters, repeated. */
const viaQuery: QueryParser<string[]> = (q) =>
  [...q.getAll("via"), ...q.getAll("server_name")].filter((s) => s.length > 0 && s.length <= 255);

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
  const route = routes(app, svc);
  const CS = "client-server" as const;

  route(
    { method: "POST", path: `${V3}/createRoom`, api: CS, access: "user", suspended: "refuse", rateLimit: "message", body: body.object },
    async ({ who, body }) => {
      // The sending policy (suspension, shadow-ban) is applied by the rooms service, from `who`.
      return { room_id: await rooms.createRoom(who, parseCreateRoom(body)) };
    },
  );

  // ---- membership
  route(
    { method: "POST", path: `${V3}/rooms/:roomId/join`, api: CS, access: "guest", suspended: "refuse", params: { roomId: param.roomId }, body: body.object },
    async ({ who, params, body }) => ({ room_id: await rooms.join(who, params.roomId, { reason: optString(body, "reason"), extra: body }) }),
  );
  route(
    {
      method: "POST", path: `${V3}/join/:roomIdOrAlias`, api: CS, access: "guest", suspended: "refuse",
      // Joining by room ID or alias: the spec's join, with the room named by an alias (as Synapse allows).
      sameOperationAs: "POST /_matrix/client/v3/rooms/{roomId}/join",
      params: { roomIdOrAlias: param.segment("room ID or alias") }, query: { via: viaQuery }, body: body.object,
    },
    async ({ who, params, query, body }) => ({
      room_id: await rooms.join(who, params.roomIdOrAlias, { reason: optString(body, "reason"), via: query.via, extra: body }),
    }),
  );
  route(
    {
      method: "POST", path: `${V3}/knock/:roomIdOrAlias`, api: CS, access: "user", suspended: "refuse",
      params: { roomIdOrAlias: param.segment("room ID or alias") }, query: { via: viaQuery }, body: body.object,
    },
    async ({ who, params, query, body }) => ({ room_id: await rooms.knock(who, params.roomIdOrAlias, optString(body, "reason"), query.via) }),
  );
  route(
    { method: "POST", path: `${V3}/rooms/:roomId/invite`, api: CS, access: "user", suspended: "refuse", params: { roomId: param.roomId }, body: body.object },
    async ({ who, params, body: b }) => {
      // The third-party form (third_party_membership.yaml): refused without an identity server.
      if (b.user_id === undefined && (b.id_server !== undefined || b.medium !== undefined || b.address !== undefined)) {
        await svc.thirdPartyInvites.invite(who.userId, params.roomId, b);
      }
      await rooms.invite(who, params.roomId, userIdField(b), optString(b, "reason"));
      return {};
    },
  );
  route(
    { method: "POST", path: `${V3}/rooms/:roomId/leave`, api: CS, access: "guest", params: { roomId: param.roomId }, body: body.object },
    async ({ who, params, body }) => {
      await rooms.leave(who.userId, params.roomId, optString(body, "reason"));
      return {};
    },
  );
  route({ method: "POST", path: `${V3}/rooms/:roomId/forget`, api: CS, access: "user", params: { roomId: param.roomId } }, async ({ who, params }) => {
    await rooms.forget(who.userId, params.roomId);
    return {};
  });
  for (const action of ["kick", "ban", "unban"] as const) {
    route(
      { method: "POST", path: `${V3}/rooms/:roomId/${action}`, api: CS, access: "user", suspended: "refuse", params: { roomId: param.roomId }, body: body.object },
      async ({ who, params, body }) => {
        await rooms.moderate(who, params.roomId, userIdField(body), action, optString(body, "reason"));
        return {};
      },
    );
  }

  // ---- sending
  // PUT with a transaction ID; POST without one is the legacy form (no deduplication) that
  // older clients still use, as Synapse serves it.
  const sendParams = { roomId: param.roomId, eventType: param.segment("event type"), txnId: param.optSegment("transaction ID") };
  for (const [method, path, api] of [
    ["PUT", `${V3}/rooms/:roomId/send/:eventType/:txnId`, CS],
    ["POST", `${V3}/rooms/:roomId/send/:eventType`, "legacy"],
  ] as const) {
    route(
      {
        method, path, api, access: "guest",
        sameOperationAs: api === "legacy" ? "PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}" : undefined, rateLimit: "message", params: sendParams, body: body.object,
      },
      async ({ who, params, body: content, request }) => {
        const { roomId, eventType: type } = params;
        const txnId = params.txnId;
        const txn = txnId === undefined ? undefined : { deviceId: who.deviceId ?? "", txnId };
        // Suspension (a redaction of one's own event is allowed) and shadow-ban: the rooms service's sending policy.
        return { event_id: await rooms.sendMessage(who, roomId, type, content, txn, tsOverride(who, request)) };
      },
    );
  }
  const stateParams = { roomId: param.roomId, eventType: param.segment("event type"), stateKey: param.optional };
  for (const [path, api] of [
    [`${V3}/rooms/:roomId/state/:eventType/:stateKey`, CS],
    // The state key left out (an empty one): ".../state/m.room.name" as well as ".../state/m.room.name/".
    [`${V3}/rooms/:roomId/state/:eventType`, "legacy"],
  ] as const) {
    route(
      {
        method: "PUT", path, api, access: "guest", rateLimit: "message", params: stateParams, body: body.any,
        sameOperationAs: api === "legacy" ? "PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" : undefined,
      },
      async ({ who, params, body, request }) => {
        const { roomId, eventType: type } = params;
        // Suspension (one's own leave is allowed) and shadow-ban: the rooms service's sending policy.
        return { event_id: await rooms.sendState(who, roomId, type, params.stateKey ?? "", objectBody(body), tsOverride(who, request)) };
      },
    );
  }
  for (const [method, path, api] of [
    ["PUT", `${V3}/rooms/:roomId/redact/:eventId/:txnId`, CS],
    // Without a transaction ID: the legacy form (as Synapse serves it).
    ["POST", `${V3}/rooms/:roomId/redact/:eventId`, "legacy"],
  ] as const) {
    route(
      {
        method, path, api, access: "user", rateLimit: "message", body: body.object,
        params: { roomId: param.roomId, eventId: param.eventId, txnId: param.optSegment("transaction ID") },
      },
      async ({ who, params, body }) => {
        const txnId = params.txnId;
        const txn = txnId === undefined ? undefined : { deviceId: who.deviceId ?? "", txnId };
        return { event_id: await rooms.redact(who, params.roomId, params.eventId, optString(body, "reason"), txn) };
      },
    );
  }

  // ---- reading
  route({ method: "GET", path: `${V3}/joined_rooms`, api: CS, access: "user" }, async ({ who }) => ({ joined_rooms: await rooms.joinedRooms(who.userId) }));
  route({ method: "GET", path: `${V3}/rooms/:roomId/state`, api: CS, access: "guest", params: { roomId: param.roomId } }, ({ who, params }) =>
    rooms.getState(viewer(who), params.roomId),
  );
  for (const [path, api] of [
    [`${V3}/rooms/:roomId/state/:eventType/:stateKey`, CS],
    [`${V3}/rooms/:roomId/state/:eventType`, "legacy"],
  ] as const) {
    route(
      {
        method: "GET", path, api, access: "guest", params: stateParams, query: { format: query.raw },
        sameOperationAs: api === "legacy" ? "GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" : undefined,
      },
      async ({ who, params, query }) => {
        const ev = await rooms.getStateEvent(viewer(who), params.roomId, params.eventType, params.stateKey ?? "");
        return query.format === "event" ? ev : ev.content;
      },
    );
  }
  route(
    { method: "GET", path: `${V3}/rooms/:roomId/event/:eventId`, api: CS, access: "guest", params: { roomId: param.roomId, eventId: param.eventId } },
    ({ who, params }) => rooms.getEvent(viewer(who), params.roomId, params.eventId),
  );
  route(
    {
      method: "GET", path: `${V3}/rooms/:roomId/members`, api: CS, access: "guest", params: { roomId: param.roomId },
      query: { at: query.raw, membership: query.raw, not_membership: query.raw },
    },
    async ({ who, params, query }) => ({
      chunk: await rooms.members(viewer(who), params.roomId, { at: query.at, membership: query.membership, notMembership: query.not_membership }),
    }),
  );
  route({ method: "GET", path: `${V3}/rooms/:roomId/joined_members`, api: CS, access: "user", params: { roomId: param.roomId } }, async ({ who, params }) => ({
    joined: await rooms.joinedMembers(who.userId, params.roomId),
  }));
  route(
    {
      method: "GET", path: `${V3}/rooms/:roomId/messages`, api: CS, access: "guest", params: { roomId: param.roomId },
      query: { from: query.str, to: query.str, dir: query.dir("required"), limit: query.int({ def: 10 }), filter: filterQuery },
    },
    ({ who, params, query }) => rooms.messages(viewer(who), params.roomId, query),
  );
  route(
    {
      method: "GET", path: `${V3}/rooms/:roomId/context/:eventId`, api: CS, access: "guest",
      params: { roomId: param.roomId, eventId: param.eventId }, query: { limit: query.int({ def: 10 }), filter: filterQuery },
    },
    ({ who, params, query }) => rooms.context(viewer(who), params.roomId, params.eventId, Math.min(query.limit, 100), query.filter),
  );
  route(
    {
      method: "GET", path: "/_matrix/client/v1/rooms/:roomId/timestamp_to_event", api: CS, access: "user", params: { roomId: param.roomId },
      query: { ts: requiredTs, dir: query.dir("required") },
    },
    ({ who, params, query }) => rooms.timestampToEvent(viewer(who), params.roomId, query.ts, query.dir),
  );
}

const requiredTs: QueryParser<number> = (q, name) => {
  if (q.get(name) === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'ts'");
  return query.int({ def: 0 })(q, name);
};

/** The request body as a JSON object (it came from JSON.parse, so every value is JSON). */
const objectBody = (b: unknown): JsonObject => body.object(b);

function viewer(who: { userId: string; deviceId: string | null }) {
  return { userId: who.userId, deviceId: who.deviceId ?? undefined };
}
