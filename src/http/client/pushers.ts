// GET /_matrix/client/v3/pushers, POST /_matrix/client/v3/pushers/set (data/api/client-server/pusher.yaml).
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody } from "../params.ts";

const PREFIXES = ["/_matrix/client/v3"];

export function pushersRoutes(app: App, svc: Services): void {
  for (const p of PREFIXES) {
    app.get(`${p}/pushers`, async ({ request }) => {
      const who = await authenticate(svc, request);
      return { pushers: await svc.pushers.list(who.userId) };
    });
    app.post(`${p}/pushers/set`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      await svc.pushers.set(who, jsonBody(body));
      return {};
    });
  }
}
