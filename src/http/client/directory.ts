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
import { authenticate, authenticateOptional } from "../auth.ts";
import { boundedSearchTerm, jsonBody, optBool, optInt, optString, reqString, type JsonObject } from "../params.ts";
import { intQuery, queryOf, roomIdParam, strQuery } from "./query-params.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const PREFIXES = ["/_matrix/client/v3"];


function aliasParam(v: string | undefined): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", "Room alias invalid");
  return v;
}

function serverParam(v: string | undefined): string | undefined {
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
  /** /publicRooms needs a token unless [room_directory] public_rooms_without_auth. */
  const publicRoomsAuth = async (request: Request) => {
    if (svc.config.room_directory.public_rooms_without_auth) await authenticateOptional(svc, request);
    else await authenticate(svc, request);
  };

  for (const p of PREFIXES) {
    // ---- aliases
    app.put(`${p}/directory/room/:roomAlias`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const roomId = reqString(jsonBody(body), "room_id");
      await dir().createAlias(who, aliasParam(params.roomAlias), roomId);
      return {};
    });
    app.get(`${p}/directory/room/:roomAlias`, async ({ params }) => dir().resolveAlias(aliasParam(params.roomAlias)));
    app.delete(`${p}/directory/room/:roomAlias`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      await dir().deleteAlias(who, aliasParam(params.roomAlias));
      return {};
    });
    app.get(`${p}/rooms/:roomId/aliases`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return { aliases: await dir().localAliases(who, roomIdParam(params.roomId)) };
    });

    // ---- published rooms
    app.get(`${p}/directory/list/room/:roomId`, async ({ params }) => ({ visibility: await dir().visibility(roomIdParam(params.roomId)) }));
    app.put(`${p}/directory/list/room/:roomId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request, { refuseSuspended: true });
      const b = jsonBody(body);
      const v = optString(b, "visibility") ?? "public";
      if (v !== "public" && v !== "private") throw new MatrixError("M_INVALID_PARAM", "'visibility' must be public or private");
      await dir().setVisibility(who, roomIdParam(params.roomId), v);
      return {};
    });
    app.get(`${p}/publicRooms`, async ({ request }) => {
      await publicRoomsAuth(request);
      const q = queryOf(request);
      const req: PublicRoomsRequest = { limit: intQuery(q, "limit", 0), since: strQuery(q, "since") };
      const instance = strQuery(q, "third_party_instance_id");
      if (instance !== undefined) req.thirdPartyInstanceId = instance;
      return dir().publicRooms(req, serverParam(strQuery(q, "server")), "GET");
    });
    app.post(`${p}/publicRooms`, async ({ request, body }) => {
      await publicRoomsAuth(request);
      const server = serverParam(strQuery(queryOf(request), "server"));
      return dir().publicRooms(publicRoomsBody(jsonBody(body)), server, "POST");
    });

    // ---- users
    app.post(`${p}/user_directory/search`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      const b = jsonBody(body);
      const term = boundedSearchTerm(reqString(b, "search_term"), "search_term");
      const limit = optInt(b, "limit");
      return svc.userDirectory.search(who.userId, term, limit);
    });
  }
}
