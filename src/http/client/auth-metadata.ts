// GET /_matrix/client/v1/auth_metadata (spec v1.15+, data/api/client-server/oauth_server_metadata.yaml)
// and its MSC2965 unstable forms. hs has no OAuth 2.0 authorisation server yet (docs/OAUTH.md is
// the plan), so it answers as the spec says a homeserver using legacy authentication does:
// 404 M_UNRECOGNIZED. Clients (Element X) then fall back to GET/POST /login.
import { MatrixError } from "../../protocol/errors.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

const LEGACY = () => new MatrixError("M_UNRECOGNIZED", "Legacy authentication is in use on this homeserver.", {}, 404);

export function authMetadataRoutes(app: App): void {
  const route = routes(app, {});
  route({ method: "GET", path: "/_matrix/client/v1/auth_metadata", api: "client-server", access: "none" }, () => {
    throw LEGACY();
  });
  route({ method: "GET", path: "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata", api: "unstable", access: "none" }, () => {
    throw LEGACY();
  });
  // The older MSC2965 discovery of the issuer alone.
  route({ method: "GET", path: "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer", api: "unstable", access: "none" }, () => {
    throw LEGACY();
  });
}
