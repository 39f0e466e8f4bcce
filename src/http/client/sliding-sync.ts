// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync — simplified sliding sync
// (MSC4186) as Synapse serves it: `pos`, `timeout` and `set_presence` in the query string, lists,
// room subscriptions and extensions in the body. Unknown or expired `pos` → 400 M_UNKNOWN_POS.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import { parseSlidingSyncBody } from "../../services/sliding-sync/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export const SLIDING_SYNC_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
/** The flag clients (Element X) look for in /versions. */
export const SLIDING_SYNC_FEATURE = "org.matrix.simplified_msc3575";

function timeoutParam(v: string | null): number | undefined {
  if (v === null || v === "") return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new MatrixError("M_INVALID_PARAM", "'timeout' must be a non-negative integer");
  return Number(v);
}

export function slidingSyncRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "POST", path: SLIDING_SYNC_PATH, api: "unstable", access: "user" }, async ({ who, request, body }) => {
    const q = new URL(request.url).searchParams;
    const parsed = parseSlidingSyncBody(body);
    return svc.slidingSync.sync({
      userId: who.userId,
      deviceId: who.deviceId,
      body: parsed,
      pos: q.get("pos") || undefined,
      timeoutMs: timeoutParam(q.get("timeout")),
      setPresence: q.get("set_presence") ?? undefined,
      signal: request.signal,
    });
  });
}
