// Room aliases, the published room directory and the user directory.
//   PUT/GET/DELETE /directory/room/{roomAlias}          (directory.yaml)
//   GET            /rooms/{roomId}/aliases              (directory.yaml)
//   GET/PUT        /directory/list/room/{roomId}        (list_public_rooms.yaml)
//   GET/POST       /publicRooms                         (list_public_rooms.yaml)
//   POST           /user_directory/search               (users.yaml)
// Spec: client-server-api "Room aliases", "Published room directory", "User Directory".
import { MatrixError } from "../../protocol/errors.ts";
import { isValidServerName } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { PublicRoomsRequest } from "../../services/directory/room-directory.ts";
import type { App } from "../app.ts";
import { boundedSearchTerm, optBool, optInt, optString, reqString, type JsonObject } from "../params.ts";
import { routes, type QueryParser } from "../endpoint.ts";
import { body, param, query } from "../schema.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const V3 = "/_matrix/client/v3";
const CS = "client-server" as const;

function aliasParam(v: string | undefined): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", "Room alias invalid");
  return v;
}

/** `server`: a server name ("" counts as absent). */
const serverQuery: QueryParser<string | undefined> = (q, n) => {
  const v = query.str(q, n);
  if (v === undefined) return undefined;
  if (!isValidServerName(v)) throw new MatrixError("M_INVALID_PARAM", "'server' is not a valid server name");
  return v;
}

/** The POST /publicRooms body. */
function publicRoomsBody(b: JsonObject): PublicRoomsRequest {
  const req: PublicRoomsRequest = {};
  const limit = optInt(b, "limit");
  if (limit !== undefined) {
    if (limit < 0) throw new MatrixError("M_INVALID_PARAM", "'limit' must not be negative");
    req.limit = limit;
  }
  req.since = optString(b, "since");
  if (b.filter !== undefined && b.filter !== null) {
    if (!isObject(b.filter)) throw new MatrixError("M_BAD_JSON", "'filter' must be an object");
    const f: NonNullable<PublicRoomsRequest["filter"]> = {};
    const term = boundedSearchTerm(optString(b.filter, "generic_search_term"), "filter.generic_search_term");
    if (term !== undefined) f.generic_search_term = term;
    const types = b.filter.room_types;
    if (types !== undefined && types !== null) {
      if (!Array.isArray(types) || types.some((t) => t !== null && typeof t !== "string")) {
        throw new MatrixError("M_BAD_JSON", "'filter.room_types' must be a list of strings or null");
      }
      f.room_types = types as Array<string | null>;
    }
    req.filter = f;
  }
  if (optBool(b, "include_all_networks") === true) req.includeAllNetworks = true;
  const instance = optString(b, "third_party_instance_id");
  if (instance !== undefined) {
    if (req.includeAllNetworks) throw new MatrixError("M_INVALID_PARAM", "Cannot use third_party_instance_id with include_all_networks");
    req.thirdPartyInstanceId = instance;
  }
  return req;
}

export function directoryRoutes(app: App, svc: Services): void {
  const dir = () => svc.roomDirectory;
  const route = routes(app, svc);
  const alias = { roomAlias: aliasParam };

  // ---- aliases
  route({ method: "PUT", path: `${V3}/directory/room/:roomAlias`, api: CS, access: "user", suspended: "refuse", params: alias, body: body.object }, async ({ who, params, body }) => {
    const roomId = reqString(body, "room_id");
    await dir().createAlias(who, params.roomAlias, roomId);
    return {};
  });
  route({ method: "GET", path: `${V3}/directory/room/:roomAlias`, api: CS, access: "none", params: alias }, ({ params }) => dir().resolveAlias(params.roomAlias));
  route({ method: "DELETE", path: `${V3}/directory/room/:roomAlias`, api: CS, access: "user", params: alias }, async ({ who, params }) => {
    await dir().deleteAlias(who, params.roomAlias);
    return {};
  });
  route({ method: "GET", path: `${V3}/rooms/:roomId/aliases`, api: CS, access: "user", params: { roomId: param.roomId } }, async ({ who, params }) => ({
    aliases: await dir().localAliases(who, params.roomId),
  }));

  // ---- published rooms
  route({ method: "GET", path: `${V3}/directory/list/room/:roomId`, api: CS, access: "none", params: { roomId: param.roomId } }, async ({ params }) => ({
    visibility: await dir().visibility(params.roomId),
  }));
  route(
    { method: "PUT", path: `${V3}/directory/list/room/:roomId`, api: CS, access: "user", suspended: "refuse", params: { roomId: param.roomId }, body: body.object },
    async ({ who, params, body }) => {
      const v = optString(body, "visibility") ?? "public";
      if (v !== "public" && v !== "private") throw new MatrixError("M_INVALID_PARAM", "'visibility' must be public or private");
      await dir().setVisibility(who, params.roomId, v);
      return {};
    },
  );
  // /publicRooms needs a token unless [room_directory] public_rooms_without_auth (read at start).
  const publicAccess = svc.config.room_directory.public_rooms_without_auth ? "optional" : "user";
  route(
    {
      method: "GET", path: `${V3}/publicRooms`, api: CS, access: publicAccess,
      accessDiffers: "the spec needs no token for GET /publicRooms; hs (as Synapse) asks for one unless [room_directory] public_rooms_without_auth",
      query: { limit: query.int(), since: query.str, third_party_instance_id: query.str, server: serverQuery },
    },
    ({ query }) => {
      const req: PublicRoomsRequest = { limit: query.limit, since: query.since };
      if (query.third_party_instance_id !== undefined) req.thirdPartyInstanceId = query.third_party_instance_id;
      return dir().publicRooms(req, query.server, "GET");
    },
  );
  route(
    {
      method: "POST", path: `${V3}/publicRooms`, api: CS, access: publicAccess,
      accessDiffers: publicAccess === "user" ? undefined : "[room_directory] public_rooms_without_auth lets anyone list the published rooms",
      query: { server: serverQuery }, body: body.object,
    },
    ({ query, body }) => dir().publicRooms(publicRoomsBody(body), query.server, "POST"),
  );

  // ---- users
  route({ method: "POST", path: `${V3}/user_directory/search`, api: CS, access: "user", body: body.object }, ({ who, body }) => {
    const term = boundedSearchTerm(reqString(body, "search_term"), "search_term");
    return svc.userDirectory.search(who.userId, term, optInt(body, "limit"));
  });
}
