// Account data and room tags.
//   PUT/GET /user/{userId}/account_data/{type}
//   PUT/GET /user/{userId}/rooms/{roomId}/account_data/{type}
//   GET /user/{userId}/rooms/{roomId}/tags, PUT/DELETE /user/{userId}/rooms/{roomId}/tags/{tag}
// Spec: data/api/client-server/account-data.yaml, tags.yaml; modules/account_data.md, tags.md.
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";

const PREFIXES = ["/_matrix/client/v3"];

export function accountDataRoutes(app: App, svc: Services): void {
  const ad = svc.accountData;
  for (const p of PREFIXES) {
    app.put(`${p}/user/:userId/account_data/:type`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await ad.setByClient(who.userId, params.userId, undefined, params.type, body);
      return {};
    });
    app.get(`${p}/user/:userId/account_data/:type`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return ad.getByClient(who.userId, params.userId, undefined, params.type);
    });
    app.put(`${p}/user/:userId/rooms/:roomId/account_data/:type`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await ad.setByClient(who.userId, params.userId, params.roomId, params.type, body);
      return {};
    });
    app.get(`${p}/user/:userId/rooms/:roomId/account_data/:type`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return ad.getByClient(who.userId, params.userId, params.roomId, params.type);
    });

    app.get(`${p}/user/:userId/rooms/:roomId/tags`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return ad.getTags(who.userId, params.userId, params.roomId);
    });
    app.put(`${p}/user/:userId/rooms/:roomId/tags/:tag`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await ad.putTag(who.userId, params.userId, params.roomId, params.tag, body ?? {});
      return {};
    });
    app.delete(`${p}/user/:userId/rooms/:roomId/tags/:tag`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      await ad.deleteTag(who.userId, params.userId, params.roomId, params.tag);
      return {};
    });
  }
}
