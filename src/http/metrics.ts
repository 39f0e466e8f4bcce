// GET /_hs/metrics (and /metrics, Prometheus' default path): Prometheus metrics in the text exposition format. Served only by listeners
// with the `metrics` resource (src/homeserver.ts resourceOf), without authentication, as
// Synapse's metrics listener: bind that listener to a private address.
import type { Services } from "../services/index.ts";
import { METRICS_CONTENT_TYPE } from "../util/metrics.ts";
import type { App } from "./app.ts";
import { routes } from "./endpoint.ts";

export function metricsRoutes(app: App, svc: Pick<Services, "metrics">): void {
  const route = routes(app, svc);
  const render = async () => new Response(await svc.metrics.registry.render(), { headers: { "Content-Type": METRICS_CONTENT_TYPE } });
  route({ method: "GET", path: "/_hs/metrics", api: "hs", access: "none" }, render);
  // Prometheus' default metrics_path.
  route({ method: "GET", path: "/metrics", api: "hs", access: "none" }, render);
}
