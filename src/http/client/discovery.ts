// GET /_matrix/client/versions, /.well-known/matrix/client, /.well-known/matrix/server, /health.
// Spec: data/api/client-server/versions.yaml, wellknown.yaml; server-server-api.md "Server discovery".
import type { Config } from "../../config/schema.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { SPEC_VERSIONS } from "../../protocol/versions.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export interface DiscoveryDeps {
  config: Config;
  /** Extra unstable features other modules advertise. */
  unstableFeatures: () => Record<string, boolean>;
}

export function discoveryRoutes(app: App, deps: DiscoveryDeps): void {
  const route = routes(app, deps);
  const { config } = deps;
  route(
    {
      method: "GET", path: "/_matrix/client/versions", api: "client-server", access: "none",
      accessDiffers: "the spec lets a token change the answer (per-user features); hs answers everyone alike",
    },
    () => ({
    versions: [...SPEC_VERSIONS],
    unstable_features: deps.unstableFeatures(),
  }));
  route({ method: "GET", path: "/.well-known/matrix/client", api: "client-server", access: "none" }, () => ({
    "m.homeserver": { base_url: config.well_known.client.replace(/\/$/, "") },
  }));
  route({ method: "GET", path: "/.well-known/matrix/server", api: "server-server", access: "none" }, () => {
    if (!config.well_known.server) throw new MatrixError("M_NOT_FOUND", "No server delegation configured");
    return { "m.server": config.well_known.server };
  });
  route({ method: "GET", path: "/health", api: "hs", access: "none" }, () => new Response("OK", { headers: { "Content-Type": "text/plain" } }));
}
