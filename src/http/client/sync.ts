// GET /_matrix/client/v3/sync, and stored filters: POST /user/{userId}/filter,
// GET /user/{userId}/filter/{filterId}.
// Spec: data/api/client-server/sync.yaml, filter.yaml; client-server-api "Syncing", "Filtering".
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes, type QueryParser } from "../endpoint.ts";
import { param, query } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const PRESENCE = new Set(["online", "offline", "unavailable"]);

/** A boolean ("" counts as absent). */
function boolParam(v: string | null, name: string): boolean | undefined {
  if (v === null || v === "") return undefined;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new MatrixError("M_INVALID_PARAM", `'${name}' must be true or false`);
}

const timeoutQuery: QueryParser<number> = (q) => {
  const v = q.get("timeout");
  if (v === null || v === "") return 0;
  if (!/^\d{1,15}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", "'timeout' must be a non-negative integer");
  return Number(v);
};

const presenceQuery: QueryParser<string | undefined> = (q, name) => {
  const presence = q.get(name);
  if (presence !== null && !PRESENCE.has(presence)) {
    throw new MatrixError("M_INVALID_PARAM", "'set_presence' must be one of online, offline, unavailable");
  }
  return presence ?? undefined;
};

/** Renames each room's `state_after` to MSC4222's unstable `org.matrix.msc4222.state_after`. */
function unstableStateAfter(rooms: { join: Record<string, object>; leave: Record<string, object> }): void {
  for (const room of [...Object.values(rooms.join), ...Object.values(rooms.leave)] as Array<Record<string, unknown>>) {
    if (!("state_after" in room)) continue;
    room["org.matrix.msc4222.state_after"] = room.state_after;
    delete room.state_after;
  }
}

const fullStateQuery: QueryParser<boolean> = (q, n) => boolParam(q.get(n), n) ?? false;
const useStateAfterQuery: QueryParser<boolean> = (q, n) => boolParam(q.get(n) ?? q.get("org.matrix.msc4222.use_state_after"), n) ?? false;
const filterQuery: QueryParser<string | null> = (q, n) => q.get(n);

export function syncRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    {
      method: "GET", path: `${V3}/sync`, api: "client-server", access: "guest",
      query: {
        set_presence: presenceQuery,
        full_state: fullStateQuery,
        timeout: timeoutQuery,
        use_state_after: useStateAfterQuery,
        filter: filterQuery,
        since: query.str,
      },
    },
    async ({ who, query, request }) => {
      const filter = await svc.syncFilters.resolve(who.userId, query.filter);
      const body = await svc.sync.sync({
        userId: who.userId,
        deviceId: who.deviceId,
        since: query.since,
        filter,
        fullState: query.full_state,
        timeoutMs: query.timeout,
        useStateAfter: query.use_state_after,
        setPresence: query.set_presence,
        signal: request.signal,
      });
      // Clients asking with MSC4222's unstable parameter (matrix-js-sdk) read the unstable field name.
      if (query.use_state_after && new URL(request.url).searchParams.get("use_state_after") === null) unstableStateAfter(body.rooms);
      return body;
    },
  );

  route({ method: "POST", path: `${V3}/user/:userId/filter`, api: "client-server", access: "user", params: { userId: param.raw } }, async ({ who, params, body }) => ({
    filter_id: await svc.syncFilters.upload(who.userId, params.userId, body),
  }));
  route(
    { method: "GET", path: `${V3}/user/:userId/filter/:filterId`, api: "client-server", access: "user", params: { userId: param.raw, filterId: param.raw } },
    ({ who, params }) => svc.syncFilters.download(who.userId, params.userId, params.filterId),
  );
}
