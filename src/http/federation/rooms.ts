// Server-Server API endpoints for rooms: transactions, joins/leaves/knocks/invites, history and
// state, and queries. Spec: data/api/server-server/{transactions,joins-v1,joins-v2,leaving-v1,
// leaving-v2,knocks,invites-v1,invites-v2,backfill,events,event_auth,query}.yaml.
// Every handler first authenticates the origin server (X-Matrix) and checks room ACLs.
import { MatrixError } from "../../protocol/errors.ts";
import { isValidEventId, isValidRoomId, isValidUserId, parseRoomAlias } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { assertServerAllowedInRoom, authenticateServer } from "./auth.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const F = "/_matrix/federation";


function roomIdParam(v: string | undefined): string {
  if (!v || !isValidRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
  return v;
}

function eventIdParam(v: string | undefined): string {
  if (!v || !isValidEventId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid event ID");
  return v;
}

function userIdParam(v: string | undefined): string {
  if (!v || !isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
  return v;
}

export function federationRoomRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const fed = () => svc.roomFederation;
  const query = (r: Request) => new URL(r.url).searchParams;
  /** Authenticates the origin; for room endpoints also applies the room's server ACL. */
  const origin = async (request: Request, body: unknown, roomId?: string) => {
    const o = await authenticateServer(svc, request, body);
    if (roomId) await assertServerAllowedInRoom(svc, roomId, o);
    return o;
  };

  route({ method: "PUT", path: `${F}/v1/send/:txnId`, api: "server-server", access: "server", params: { txnId: param.raw } }, async ({ who: o, request, params, body }) => {
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().serve.receiveTransaction(o, params.txnId ?? "", body);
  });

  // ---- joins, leaves, knocks
  for (const m of ["join", "leave", "knock"] as const) {
    app.get(`${F}/v1/make_${m}/:roomId/:userId`, async ({ request, params }) => {
      const roomId = roomIdParam(params.roomId);
      const o = await origin(request, undefined, roomId);
      const ver = query(request).getAll("ver");
      return fed().membership.makeMembership(o, roomId, userIdParam(params.userId), m, m === "join" && ver.length === 0 ? ["1"] : ver);
    });
  }
  const sendMembership = async (request: Request, params: Record<string, string | undefined>, body: unknown, m: "join" | "leave" | "knock") => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, body, roomId);
    return fed().membership.sendMembership(o, roomId, eventIdParam(params.eventId), body, m, {
      omitMembers: query(request).get("omit_members") === "true",
    });
  };
  app.put(`${F}/v2/send_join/:roomId/:eventId`, ({ request, params, body }) => sendMembership(request, params, body, "join"));
  // v1 answers with [200, body] (deprecated, still used by old servers).
  app.put(`${F}/v1/send_join/:roomId/:eventId`, async ({ request, params, body }) => {
    const r = await sendMembership(request, params, body, "join");
    return [200, r];
  });
  app.put(`${F}/v2/send_leave/:roomId/:eventId`, ({ request, params, body }) => sendMembership(request, params, body, "leave"));
  app.put(`${F}/v1/send_leave/:roomId/:eventId`, async ({ request, params, body }) => [200, await sendMembership(request, params, body, "leave")]);
  app.put(`${F}/v1/send_knock/:roomId/:eventId`, ({ request, params, body }) => sendMembership(request, params, body, "knock"));

  app.put(`${F}/v2/invite/:roomId/:eventId`, async ({ request, params, body }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, body, roomId);
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().membership.receiveInvite(o, roomId, eventIdParam(params.eventId), body);
  });
  app.put(`${F}/v1/invite/:roomId/:eventId`, async ({ request, params, body }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, body, roomId);
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    const unsigned = isObject(body.unsigned) ? body.unsigned : {};
    const r = await fed().membership.receiveInvite(o, roomId, eventIdParam(params.eventId), {
      event: body,
      room_version: "1",
      invite_room_state: unsigned.invite_room_state,
    });
    return [200, r];
  });

  // ---- history and state
  app.get(`${F}/v1/backfill/:roomId`, async ({ request, params }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, undefined, roomId);
    const q = query(request);
    const limit = Number(q.get("limit") ?? "10");
    if (!Number.isInteger(limit) || limit < 1) throw new MatrixError("M_INVALID_PARAM", "Invalid limit");
    const v = q.getAll("v");
    if (v.length === 0) throw new MatrixError("M_MISSING_PARAM", "Missing 'v'");
    return fed().serve.backfill(o, roomId, v, limit);
  });
  app.post(`${F}/v1/get_missing_events/:roomId`, async ({ request, params, body }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, body, roomId);
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().serve.missingEvents(o, roomId, body);
  });
  for (const idsOnly of [true, false]) {
    app.get(`${F}/v1/${idsOnly ? "state_ids" : "state"}/:roomId`, async ({ request, params }) => {
      const roomId = roomIdParam(params.roomId);
      const o = await origin(request, undefined, roomId);
      const eventId = query(request).get("event_id");
      if (!eventId) throw new MatrixError("M_MISSING_PARAM", "Missing 'event_id'");
      return fed().serve.stateAt(o, roomId, eventIdParam(eventId), idsOnly);
    });
  }
  route({ method: "GET", path: `${F}/v1/event/:eventId`, api: "server-server", access: "server", params: { eventId: param.raw } }, async ({ who: o, request, params }) => {
    return fed().serve.event(o, eventIdParam(params.eventId));
  });
  app.get(`${F}/v1/event_auth/:roomId/:eventId`, async ({ request, params }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, undefined, roomId);
    return fed().serve.eventAuth(o, roomId, eventIdParam(params.eventId));
  });
  app.get(`${F}/v1/timestamp_to_event/:roomId`, async ({ request, params }) => {
    const roomId = roomIdParam(params.roomId);
    const o = await origin(request, undefined, roomId);
    const q = query(request);
    const ts = Number(q.get("ts"));
    const dir = q.get("dir");
    if (!Number.isSafeInteger(ts)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'ts'");
    if (dir !== "b" && dir !== "f") throw new MatrixError("M_INVALID_PARAM", "'dir' must be 'b' or 'f'");
    return fed().serve.timestampToEvent(o, roomId, ts, dir);
  });

  // ---- queries
  route({ method: "GET", path: `${F}/v1/query/directory`, api: "server-server", access: "server" }, async ({ request }) => {
    const alias = query(request).get("room_alias");
    if (!alias) throw new MatrixError("M_MISSING_PARAM", "Missing 'room_alias'");
    const parsed = parseRoomAlias(alias);
    if (!parsed) throw new MatrixError("M_INVALID_PARAM", "Invalid room alias");
    if (parsed.serverName !== svc.config.server_name) throw new MatrixError("M_NOT_FOUND", "Room alias not found");
    const roomId = await svc.rooms.resolveRoom(alias);
    return { room_id: roomId, servers: await fed().membership.serversInRoom(roomId) };
  });
  route({ method: "GET", path: `${F}/v1/query/profile`, api: "server-server", access: "server" }, async ({ request }) => {
    const q = query(request);
    const userId = userIdParam(q.get("user_id") ?? undefined);
    const field = q.get("field");
    if (!userId.endsWith(`:${svc.config.server_name}`)) throw new MatrixError("M_NOT_FOUND", "Not a user of this server");
    // An unset field of an existing user is 200 without it; 404 only for unknown users.
    if (field) return svc.profiles.getLocalFieldProfile(userId, field);
    return svc.profiles.getProfile(userId);
  });
}
