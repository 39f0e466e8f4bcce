// Application service extensions of the Client-Server API and third-party lookups:
// POST /_matrix/client/v1/appservice/{appserviceId}/ping (appservice_ping.yaml),
// PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId} (appservice_room_directory.yaml),
// GET /_matrix/client/v3/thirdparty/protocols, /protocol/{protocol}, /location[/{protocol}],
// /user[/{protocol}] (third_party_lookup.yaml), answered by the application services.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody } from "../params.ts";

const PREFIXES = ["/_matrix/client/v3"];

function pathParam(v: string | undefined, what: string): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
  return v;
}

export function appserviceRoutes(app: App, svc: Services): void {
  const as = svc.appservices;
  const query = (request: Request) => new URL(request.url).searchParams;

  app.post("/_matrix/client/v1/appservice/:appserviceId/ping", async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    const b = jsonBody(body);
    if (b.transaction_id !== undefined && typeof b.transaction_id !== "string") throw new MatrixError("M_BAD_JSON", "'transaction_id' must be a string");
    return as.ping(who, pathParam(params.appserviceId, "appservice ID"), b.transaction_id as string | undefined);
  });

  for (const p of PREFIXES) {
    app.put(`${p}/directory/list/appservice/:networkId/:roomId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await as.setRoomListed(who, pathParam(params.networkId, "network ID"), pathParam(params.roomId, "room ID"), jsonBody(body).visibility);
      return {};
    });
    // Unpublishing with DELETE (as Synapse serves it; the spec's way is PUT with visibility private).
    app.delete(`${p}/directory/list/appservice/:networkId/:roomId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      await as.setRoomListed(who, pathParam(params.networkId, "network ID"), pathParam(params.roomId, "room ID"), "private");
      return {};
    });

    app.get(`${p}/thirdparty/protocols`, async ({ request }) => {
      await authenticate(svc, request);
      return as.protocols();
    });
    app.get(`${p}/thirdparty/protocol/:protocol`, async ({ request, params }) => {
      await authenticate(svc, request);
      return as.protocol(pathParam(params.protocol, "protocol"));
    });
    for (const kind of ["location", "user"] as const) {
      app.get(`${p}/thirdparty/${kind}/:protocol`, async ({ request, params }) => {
        await authenticate(svc, request);
        return as.lookupByProtocol(kind, pathParam(params.protocol, "protocol"), query(request));
      });
      app.get(`${p}/thirdparty/${kind}`, async ({ request }) => {
        await authenticate(svc, request);
        return as.reverseLookup(kind, query(request));
      });
    }
  }
}
