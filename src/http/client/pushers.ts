// GET /_matrix/client/v3/pushers, POST /_matrix/client/v3/pushers/set (data/api/client-server/pusher.yaml).
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { body } from "../schema.ts";

export function pushersRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/_matrix/client/v3/pushers", api: "client-server", access: "user" }, async ({ who }) => ({ pushers: await svc.pushers.list(who.userId) }));
  route({ method: "POST", path: "/_matrix/client/v3/pushers/set", api: "client-server", access: "user", body: body.object }, async ({ who, body }) => {
    await svc.pushers.set(who, body);
    return {};
  });
}
