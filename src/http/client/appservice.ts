// Application service extensions of the Client-Server API and third-party lookups:
// POST /_matrix/client/v1/appservice/{appserviceId}/ping (appservice_ping.yaml),
// PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId} (appservice_room_directory.yaml),
// GET /_matrix/client/v3/thirdparty/protocols, /protocol/{protocol}, /location[/{protocol}],
// /user[/{protocol}] (third_party_lookup.yaml), answered by the application services.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { jsonBody } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const V3 = "/_matrix/client/v3";

function pathParam(v: string | undefined, what: string): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
  return v;
}

export function appserviceRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const as = svc.appservices;
  const query = (request: Request) => new URL(request.url).searchParams;

  route({ method: "POST", path: "/_matrix/client/v1/appservice/:appserviceId/ping", api: "client-server", access: "appservice", params: { appserviceId: param.raw } }, async ({ who, request, params, body }) => {
    const b = jsonBody(body);
    if (b.transaction_id !== undefined && typeof b.transaction_id !== "string") throw new MatrixError("M_BAD_JSON", "'transaction_id' must be a string");
    return as.ping(who, pathParam(params.appserviceId, "appservice ID"), b.transaction_id as string | undefined);
  });

  route({ method: "PUT", path: `${V3}/directory/list/appservice/:networkId/:roomId`, api: "client-server", access: "appservice", params: { networkId: param.raw, roomId: param.raw } }, async ({ who, request, params, body }) => {
    await as.setRoomListed(who, pathParam(params.networkId, "network ID"), pathParam(params.roomId, "room ID"), jsonBody(body).visibility);
    return {};
  });
  // Unpublishing with DELETE (as Synapse serves it; the spec's way is PUT with visibility private).
  route({ method: "DELETE", path: `${V3}/directory/list/appservice/:networkId/:roomId`, api: "legacy", access: "appservice", params: { networkId: param.raw, roomId: param.raw } }, async ({ who, request, params }) => {
    await as.setRoomListed(who, pathParam(params.networkId, "network ID"), pathParam(params.roomId, "room ID"), "private");
    return {};
  });

  route({ method: "GET", path: `${V3}/thirdparty/protocols`, api: "client-server", access: "user" }, async ({ request }) => {
    return as.protocols();
  });
  route({ method: "GET", path: `${V3}/thirdparty/protocol/:protocol`, api: "client-server", access: "user", params: { protocol: param.raw } }, async ({ request, params }) => {
    return as.protocol(pathParam(params.protocol, "protocol"));
  });
  for (const kind of ["location", "user"] as const) {
    route({ method: "GET", path: `${V3}/thirdparty/${kind}/:protocol`, api: "client-server", access: "user", params: { protocol: param.raw } }, async ({ request, params }) => {
      return as.lookupByProtocol(kind, pathParam(params.protocol, "protocol"), query(request));
    });
    route({ method: "GET", path: `${V3}/thirdparty/${kind}`, api: "client-server", access: "user" }, async ({ request }) => {
      return as.reverseLookup(kind, query(request));
    });
  }
}
