// GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}.
// Spec: data/api/client-server/profile.yaml; client-server-api "Profiles".
import { missingParam } from "../../protocol/errors.ts";
import type { AccountServices } from "../../services/account-services.ts";
import { checkProfileKey } from "../../services/profiles.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { body, param } from "../schema.ts";

export type ProfileDeps = Pick<AccountServices, "auth" | "profiles">;

const CS = "client-server" as const;

export function profileRoutes(app: App, deps: ProfileDeps): void {
  const route = routes(app, deps);
  // Profiles are public here; a token, when given, must still be valid.
  route({ method: "GET", path: "/_matrix/client/v3/profile/:userId", api: CS, access: "optional", params: { userId: param.raw } }, ({ params }) =>
    deps.profiles.getProfile(params.userId),
  );
  route(
    { method: "GET", path: "/_matrix/client/v3/profile/:userId/:keyName", api: CS, access: "optional", params: { userId: param.raw, keyName: param.raw } },
    async ({ params }) => ({ [params.keyName]: await deps.profiles.getField(params.userId, params.keyName) }),
  );

  // Guests may change their display name only (the Guest Access list names it; the profile service
  // refuses them other fields too).
  for (const [keyPath, access] of [
    ["displayname", "guest"],
    [":keyName", "user"],
  ] as const) {
    const keyOf = (p: { keyName?: string }) => p.keyName ?? "displayname";
    route(
      {
        method: "PUT", path: `/_matrix/client/v3/profile/:userId/${keyPath}`, api: CS, access, suspended: "refuse",
        params: { userId: param.raw, keyName: param.optional }, body: body.any,
      },
      async ({ who, params, body: raw }) => {
        const key = keyOf(params);
        checkProfileKey(key);
        const b = body.object(raw);
        if (!(key in b)) throw missingParam(`Missing '${key}'`);
        await deps.profiles.setField(who, params.userId, key, b[key]);
        return {};
      },
    );
    route(
      {
        method: "DELETE", path: `/_matrix/client/v3/profile/:userId/${keyPath}`, api: CS, access, suspended: "refuse",
        params: { userId: param.raw, keyName: param.optional },
      },
      async ({ who, params }) => {
        await deps.profiles.deleteField(who, params.userId, keyOf(params));
        return {};
      },
    );
  }
}
