// GET/POST /_matrix/client/v3/login, POST /refresh, POST /logout, POST /logout/all,
// POST /_matrix/client/v1/login/get_token.
// Spec: data/api/client-server/login.yaml, refresh.yaml, logout.yaml, login_token.yaml.
import type { Config } from "../../config/schema.ts";
import { MatrixError, forbidden, missingParam } from "../../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD } from "../../protocol/uia.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { accessTokenOf, connectionOf } from "../auth.ts";
import { jsonBody, optBool, optString, reqString } from "../params.ts";
import { routes } from "../endpoint.ts";

export type LoginDeps = Pick<AccountServices, "auth" | "accounts" | "uia" | "ratelimits"> & { config: Config };

export function loginRoutes(app: App, deps: LoginDeps): void {
  const route = routes(app, deps);
  route({ method: "GET", path: "/_matrix/client/v3/login", api: "client-server", access: "none" }, () => ({ flows: deps.accounts.loginFlows() }));

  route({ method: "POST", path: "/_matrix/client/v3/login", api: "client-server", access: "none" }, async ({ request, body: raw }) => {
    const body = jsonBody(raw);
    if (body.type === undefined) throw missingParam("Missing 'type'");
    if (typeof body.type !== "string") throw new MatrixError("M_BAD_JSON", "'type' must be a string");
    const opts = {
      deviceId: optString(body, "device_id"),
      initialDeviceDisplayName: optString(body, "initial_device_display_name"),
      refresh: optBool(body, "refresh_token") ?? false,
    };
    let accessToken: string | undefined;
    try {
      accessToken = accessTokenOf(request);
    } catch {
      accessToken = undefined;
    }
    return deps.accounts.login(body.type, body, opts, { ip: connectionOf(request).ip, accessToken });
  });

  route({ method: "POST", path: "/_matrix/client/v3/refresh", api: "client-server", access: "none" }, async ({ body }) => {
    const refreshToken = reqString(jsonBody(body), "refresh_token");
    const t = await deps.auth.refresh(refreshToken);
    const out: Record<string, unknown> = { access_token: t.accessToken };
    if (t.refreshToken !== undefined) out.refresh_token = t.refreshToken;
    if (t.expiresInMs !== undefined) out.expires_in_ms = t.expiresInMs;
    return out;
  });

  route({ method: "POST", path: "/_matrix/client/v3/logout", api: "client-server", access: "user", token: { allowExpired: true, allowLocked: true } }, async ({ who: r, request }) => {
    await deps.accounts.logout(r);
    return {};
  });

  route({ method: "POST", path: "/_matrix/client/v3/logout/all", api: "client-server", access: "user", token: { allowExpired: true, allowLocked: true } }, async ({ who: r, request }) => {
    await deps.accounts.logoutAll(r.userId);
    return {};
  });

  const GET_TOKEN_URI = "/_matrix/client/v1/login/get_token";
  route({ method: "POST", path: GET_TOKEN_URI, api: "client-server", access: "user" }, async ({ who: r, request, body: raw }) => {
    if (!deps.config.auth.login_via_existing_session) throw forbidden("Generating login tokens is disabled on this server");
    const body = jsonBody(raw);
    const outcome = await deps.uia.authenticate(body.auth, {
      flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
      method: "POST",
      uri: GET_TOKEN_URI,
      userId: r.userId,
      clientDict: {},
      ip: connectionOf(request).ip,
    });
    deps.ratelimits.loginToken.consume(`user:${r.userId}`);
    // The spec requires a fresh verification for every token: the session ends here.
    await deps.uia.finish(outcome.sessionId);
    const t = await deps.auth.createLoginToken(r.userId);
    return { login_token: t.token, expires_in_ms: t.expiresInMs };
  });
}
