// Server-Server API endpoints for rooms: transactions, joins/leaves/knocks/invites, history and
// state, and queries. Spec: data/api/server-server/{transactions,joins-v1,joins-v2,leaving-v1,
// leaving-v2,knocks,invites-v1,invites-v2,backfill,events,event_auth,query}.yaml.
// Every handler first authenticates the origin server (X-Matrix) and checks room ACLs.
import { MatrixError } from "../../protocol/errors.ts";
import { isValidUserId, parseRoomAlias } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const F = "/_matrix/federation";


const eventIdParam = (v: string) => param.eventId(v, "event_id");
/** The query's user ID: 400 M_INVALID_PARAM when missing or malformed (as Synapse). */
function userIdParam(v: string | undefined): string {
  if (!v || !isValidUserId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
  return v;
}

export function federationRoomRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const fed = () => svc.roomFederation;
  const query = (r: Request) => new URL(r.url).searchParams;

  route({ method: "PUT", path: `${F}/v1/send/:txnId`, api: "server-server", access: "server", params: { txnId: param.raw } }, async ({ who: o, request, params, body }) => {
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().serve.receiveTransaction(o, params.txnId ?? "", body);
  });

  // ---- joins, leaves, knocks (the origin must pass the room's server ACL: aclRoom)
  const SS = "server-server" as const;
  const inRoom = { roomId: param.roomId };
  const withEvent = { roomId: param.roomId, eventId: param.eventId };
  for (const m of ["join", "leave", "knock"] as const) {
    route(
      { method: "GET", path: `${F}/v1/make_${m}/:roomId/:userId`, api: SS, access: "server", aclRoom: "roomId", params: { roomId: param.roomId, userId: param.userId } },
      ({ who: o, params, request }) => {
        const ver = query(request).getAll("ver");
        return fed().membership.makeMembership(o, params.roomId, params.userId, m, m === "join" && ver.length === 0 ? ["1"] : ver);
      },
    );
  }
  const sendMembership = (o: string, request: Request, params: { roomId: string; eventId: string }, body: unknown, m: "join" | "leave" | "knock") =>
    fed().membership.sendMembership(o, params.roomId, params.eventId, body, m, { omitMembers: query(request).get("omit_members") === "true" });
  for (const [m, v2, v1] of [
    ["join", "v2/send_join", "v1/send_join"],
    ["leave", "v2/send_leave", "v1/send_leave"],
  ] as const) {
    route({ method: "PUT", path: `${F}/${v2}/:roomId/:eventId`, api: SS, access: "server", aclRoom: "roomId", params: withEvent }, ({ who, request, params, body }) =>
      sendMembership(who, request, params, body, m),
    );
    // v1 answers with [200, body] (deprecated, still used by old servers).
    route({ method: "PUT", path: `${F}/${v1}/:roomId/:eventId`, api: "legacy", access: "server", aclRoom: "roomId", params: withEvent }, async ({ who, request, params, body }) => [
      200,
      await sendMembership(who, request, params, body, m),
    ]);
  }
  route({ method: "PUT", path: `${F}/v1/send_knock/:roomId/:eventId`, api: SS, access: "server", aclRoom: "roomId", params: withEvent }, ({ who, request, params, body }) =>
    sendMembership(who, request, params, body, "knock"),
  );

  route({ method: "PUT", path: `${F}/v2/invite/:roomId/:eventId`, api: SS, access: "server", aclRoom: "roomId", params: withEvent }, ({ who: o, params, body }) => {
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().membership.receiveInvite(o, params.roomId, params.eventId, body);
  });
  route({ method: "PUT", path: `${F}/v1/invite/:roomId/:eventId`, api: SS, access: "server", aclRoom: "roomId", params: withEvent }, async ({ who: o, params, body }) => {
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    const unsigned = isObject(body.unsigned) ? body.unsigned : {};
    const r = await fed().membership.receiveInvite(o, params.roomId, params.eventId, {
      event: body,
      room_version: "1",
      invite_room_state: unsigned.invite_room_state,
    });
    return [200, r];
  });

  // ---- history and state
  route({ method: "GET", path: `${F}/v1/backfill/:roomId`, api: SS, access: "server", aclRoom: "roomId", params: inRoom }, ({ who: o, params, request }) => {
    const q = query(request);
    const limit = Number(q.get("limit") ?? "10");
    if (!Number.isInteger(limit) || limit < 1) throw new MatrixError("M_INVALID_PARAM", "Invalid limit");
    const v = q.getAll("v");
    if (v.length === 0) throw new MatrixError("M_MISSING_PARAM", "Missing 'v'");
    return fed().serve.backfill(o, params.roomId, v, limit);
  });
  route({ method: "POST", path: `${F}/v1/get_missing_events/:roomId`, api: SS, access: "server", aclRoom: "roomId", params: inRoom }, ({ who: o, params, body }) => {
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    return fed().serve.missingEvents(o, params.roomId, body);
  });
  for (const idsOnly of [true, false]) {
    route(
      { method: "GET", path: `${F}/v1/${idsOnly ? "state_ids" : "state"}/:roomId`, api: SS, access: "server", aclRoom: "roomId", params: inRoom },
      ({ who: o, params, request }) => {
        const eventId = query(request).get("event_id");
        if (!eventId) throw new MatrixError("M_MISSING_PARAM", "Missing 'event_id'");
        return fed().serve.stateAt(o, params.roomId, eventIdParam(eventId), idsOnly);
      },
    );
  }
  route({ method: "GET", path: `${F}/v1/event/:eventId`, api: "server-server", access: "server", params: { eventId: param.raw } }, async ({ who: o, request, params }) => {
    return fed().serve.event(o, eventIdParam(params.eventId));
  });
  route({ method: "GET", path: `${F}/v1/event_auth/:roomId/:eventId`, api: SS, access: "server", aclRoom: "roomId", params: withEvent }, ({ who: o, params }) =>
    fed().serve.eventAuth(o, params.roomId, params.eventId),
  );
  route({
    method: "GET", path: `${F}/v1/timestamp_to_event/:roomId`, api: SS, access: "server",
    accessDiffers: "events.yaml gives this federation endpoint the client API's access-token security; servers sign their requests (X-Matrix)", aclRoom: "roomId", params: inRoom,
  }, ({ who: o, params, request }) => {
    const q = query(request);
    const ts = Number(q.get("ts"));
    const dir = q.get("dir");
    if (!Number.isSafeInteger(ts)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'ts'");
    if (dir !== "b" && dir !== "f") throw new MatrixError("M_INVALID_PARAM", "'dir' must be 'b' or 'f'");
    return fed().serve.timestampToEvent(o, params.roomId, ts, dir);
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
