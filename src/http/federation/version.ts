// GET /_matrix/federation/v1/version. Spec: server-server-api.md "Server implementation",
// data/api/server-server/version.yaml. Not authenticated. With federation disabled: 404, like every
// federation endpoint this server does not serve.
import { MatrixError } from "../../protocol/errors.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../protocol/versions.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export function versionRoutes(app: App, svc: Pick<Services, "federation">): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/_matrix/federation/v1/version", api: "server-server", access: "none" }, () => {
    if (!svc.federation.enabled) throw new MatrixError("M_UNRECOGNIZED", "Federation is disabled on this server", {}, 404);
    return { server: { name: SERVER_NAME, version: SERVER_VERSION } };
  });
}
