// Account data and room tags.
//   PUT/GET /user/{userId}/account_data/{type}
//   PUT/GET /user/{userId}/rooms/{roomId}/account_data/{type}
//   GET /user/{userId}/rooms/{roomId}/tags, PUT/DELETE /user/{userId}/rooms/{roomId}/tags/{tag}
// Spec: data/api/client-server/account-data.yaml, tags.yaml; modules/account_data.md, tags.md.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const CS = "client-server" as const;

export function accountDataRoutes(app: App, svc: Services): void {
  const ad = svc.accountData;
  const route = routes(app, svc);
  const global = { userId: param.raw, type: param.raw };
  const inRoom = { userId: param.raw, roomId: param.raw, type: param.raw };
  const tag = { userId: param.raw, roomId: param.raw, tag: param.raw };
  route({ method: "PUT", path: `${V3}/user/:userId/account_data/:type`, api: CS, access: "user", params: global }, async ({ who, params, body }) => {
    await ad.setByClient(who.userId, params.userId, undefined, params.type, body);
    return {};
  });
  route({ method: "GET", path: `${V3}/user/:userId/account_data/:type`, api: CS, access: "user", params: global }, ({ who, params }) =>
    ad.getByClient(who.userId, params.userId, undefined, params.type),
  );
  route({ method: "PUT", path: `${V3}/user/:userId/rooms/:roomId/account_data/:type`, api: CS, access: "user", params: inRoom }, async ({ who, params, body }) => {
    await ad.setByClient(who.userId, params.userId, params.roomId, params.type, body);
    return {};
  });
  route({ method: "GET", path: `${V3}/user/:userId/rooms/:roomId/account_data/:type`, api: CS, access: "user", params: inRoom }, ({ who, params }) =>
    ad.getByClient(who.userId, params.userId, params.roomId, params.type),
  );

  route({ method: "GET", path: `${V3}/user/:userId/rooms/:roomId/tags`, api: CS, access: "user", params: { userId: param.raw, roomId: param.raw } }, ({ who, params }) =>
    ad.getTags(who.userId, params.userId, params.roomId),
  );
  route({ method: "PUT", path: `${V3}/user/:userId/rooms/:roomId/tags/:tag`, api: CS, access: "user", params: tag }, async ({ who, params, body }) => {
    await ad.putTag(who.userId, params.userId, params.roomId, params.tag, body ?? {});
    return {};
  });
  route({ method: "DELETE", path: `${V3}/user/:userId/rooms/:roomId/tags/:tag`, api: CS, access: "user", params: tag }, async ({ who, params }) => {
    await ad.deleteTag(who.userId, params.userId, params.roomId, params.tag);
    return {};
  });
}
