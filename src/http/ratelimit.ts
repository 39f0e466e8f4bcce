// Adds the Retry-After header (spec: "Rate limiting": servers SHOULD send it with every 429) to
// M_LIMIT_EXCEEDED answers, computed from their retry_after_ms. Installed once on the app, before
// the routes it should cover are mounted.
import type { App } from "./app.ts";

export function installRetryAfter(app: App): void {
  app.mapResponse(async ({ response }) => {
    if (!(response instanceof Response) || response.status !== 429 || response.headers.has("Retry-After")) return;
    try {
      const body = (await response.clone().json()) as { retry_after_ms?: unknown };
      const ms = typeof body.retry_after_ms === "number" ? body.retry_after_ms : 1000;
      response.headers.set("Retry-After", String(Math.max(1, Math.ceil(ms / 1000))));
    } catch {
      response.headers.set("Retry-After", "1");
    }
  });
}
