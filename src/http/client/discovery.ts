// GET /_matrix/client/versions, /.well-known/matrix/client, /.well-known/matrix/server, /health.
// Spec: data/api/client-server/versions.yaml, wellknown.yaml; server-server-api.md "Server discovery".
import type { Config } from "../../config/schema.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { SPEC_VERSIONS } from "../../protocol/versions.ts";
import type { App } from "../app.ts";

export interface DiscoveryDeps {
  config: Config;
  /** Extra unstable features other modules advertise. */
  unstableFeatures: () => Record<string, boolean>;
}

export function discoveryRoutes(app: App, deps: DiscoveryDeps): void {
  const { config } = deps;
  app.get("/_matrix/client/versions", () => ({
    versions: [...SPEC_VERSIONS],
    unstable_features: deps.unstableFeatures(),
  }));
  app.get("/.well-known/matrix/client", () => ({
    "m.homeserver": { base_url: config.well_known.client.replace(/\/$/, "") },
  }));
  app.get("/.well-known/matrix/server", () => {
    if (!config.well_known.server) throw new MatrixError("M_NOT_FOUND", "No server delegation configured");
    return { "m.server": config.well_known.server };
  });
  app.get("/health", () => new Response("OK", { headers: { "Content-Type": "text/plain" } }));
}
