// GET /_matrix/client/v3/sync, and stored filters: POST /user/{userId}/filter,
// GET /user/{userId}/filter/{filterId}.
// Spec: data/api/client-server/sync.yaml, filter.yaml; client-server-api "Syncing", "Filtering".
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";

const PREFIXES = ["/_matrix/client/v3"];
const PRESENCE = new Set(["online", "offline", "unavailable"]);

function boolParam(v: string | null, name: string): boolean | undefined {
  if (v === null || v === "") return undefined;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new MatrixError("M_INVALID_PARAM", `'${name}' must be true or false`);
}

function timeoutParam(v: string | null): number {
  if (v === null || v === "") return 0;
  if (!/^\d{1,15}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", "'timeout' must be a non-negative integer");
  return Number(v);
}

/** Renames each room's `state_after` to MSC4222's unstable `org.matrix.msc4222.state_after`. */
function unstableStateAfter(rooms: { join: Record<string, object>; leave: Record<string, object> }): void {
  for (const room of [...Object.values(rooms.join), ...Object.values(rooms.leave)] as Array<Record<string, unknown>>) {
    if (!("state_after" in room)) continue;
    room["org.matrix.msc4222.state_after"] = room.state_after;
    delete room.state_after;
  }
}

export function syncRoutes(app: App, svc: Services): void {
  for (const p of PREFIXES) {
    app.get(`${p}/sync`, async ({ request }) => {
      const who = await authenticate(svc, request);
      const q = new URL(request.url).searchParams;
      const presence = q.get("set_presence");
      if (presence !== null && !PRESENCE.has(presence)) {
        throw new MatrixError("M_INVALID_PARAM", "'set_presence' must be one of online, offline, unavailable");
      }
      const fullState = boolParam(q.get("full_state"), "full_state") ?? false;
      const timeoutMs = timeoutParam(q.get("timeout"));
      const useStateAfter = boolParam(q.get("use_state_after") ?? q.get("org.matrix.msc4222.use_state_after"), "use_state_after") ?? false;
      const filter = await svc.syncFilters.resolve(who.userId, q.get("filter"));
      const body = await svc.sync.sync({
        userId: who.userId,
        deviceId: who.deviceId,
        since: q.get("since") || undefined,
        filter,
        fullState,
        timeoutMs,
        useStateAfter,
        setPresence: presence ?? undefined,
        signal: request.signal,
      });
      // Clients asking with MSC4222's unstable parameter (matrix-js-sdk) read the unstable field name.
      if (useStateAfter && q.get("use_state_after") === null) unstableStateAfter(body.rooms);
      return body;
    });

    app.post(`${p}/user/:userId/filter`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      return { filter_id: await svc.syncFilters.upload(who.userId, params.userId, body) };
    });
    app.get(`${p}/user/:userId/filter/:filterId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return svc.syncFilters.download(who.userId, params.userId, params.filterId);
    });
  }
}
