// GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}.
// Spec: data/api/client-server/profile.yaml; client-server-api "Profiles".
import { missingParam } from "../../protocol/errors.ts";
import type { AccountServices } from "../../services/account-services.ts";
import { checkProfileKey } from "../../services/profiles.ts";
import type { App } from "../app.ts";
import { authenticate, authenticateOptional } from "../auth.ts";
import { jsonBody } from "../params.ts";

export type ProfileDeps = Pick<AccountServices, "auth" | "profiles">;

export function profileRoutes(app: App, deps: ProfileDeps): void {
  app.get("/_matrix/client/v3/profile/:userId", async ({ request, params }) => {
    // Profiles are public here; a token, when given, must still be valid.
    await authenticateOptional(deps, request);
    return deps.profiles.getProfile(params.userId);
  });

  app.get("/_matrix/client/v3/profile/:userId/:keyName", async ({ request, params }) => {
    await authenticateOptional(deps, request);
    return { [params.keyName]: await deps.profiles.getField(params.userId, params.keyName) };
  });

  app.put("/_matrix/client/v3/profile/:userId/:keyName", async ({ request, params, body: raw }) => {
    const r = await authenticate(deps, request, { refuseSuspended: true });
    checkProfileKey(params.keyName);
    const body = jsonBody(raw);
    if (!(params.keyName in body)) throw missingParam(`Missing '${params.keyName}'`);
    await deps.profiles.setField(r, params.userId, params.keyName, body[params.keyName]);
    return {};
  });

  app.delete("/_matrix/client/v3/profile/:userId/:keyName", async ({ request, params }) => {
    const r = await authenticate(deps, request, { refuseSuspended: true });
    await deps.profiles.deleteField(r, params.userId, params.keyName);
    return {};
  });
}
