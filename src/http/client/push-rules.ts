// GET/PUT/DELETE /pushrules/... (data/api/client-server/pushrules.yaml).
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import type { Services } from "../../services/index.ts";
import { parseKind } from "../../services/push-rules.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { jsonBody } from "../params.ts";

const P = "/_matrix/client/v3/pushrules";

function scope(s: string | undefined): void {
  if (s !== "global") throw new MatrixError("M_NOT_FOUND", "Only the 'global' scope exists");
}

export function pushRulesRoutes(app: App, svc: Services): void {
  const rules = svc.pushRules;
  app.get(`${P}/`, async ({ request }) => {
    const who = await authenticate(svc, request);
    return { global: await rules.ruleset(who.userId) };
  });
  app.get(`${P}/:scope/`, async ({ request, params }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    return rules.ruleset(who.userId);
  });
  app.get(`${P}/:scope/:kind/:ruleId`, async ({ request, params }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    return rules.rule(who.userId, parseKind(params.kind), params.ruleId ?? "");
  });
  app.delete(`${P}/:scope/:kind/:ruleId`, async ({ request, params }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    await rules.deleteRule(who.userId, parseKind(params.kind), params.ruleId ?? "");
    return {};
  });
  app.put(`${P}/:scope/:kind/:ruleId`, async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    const q = new URL(request.url).searchParams;
    await rules.putRule(who.userId, parseKind(params.kind), params.ruleId ?? "", jsonBody(body) as JsonObject, q.get("before") ?? undefined, q.get("after") ?? undefined);
    return {};
  });
  app.get(`${P}/:scope/:kind/:ruleId/enabled`, async ({ request, params }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    return { enabled: (await rules.rule(who.userId, parseKind(params.kind), params.ruleId ?? "")).enabled };
  });
  app.put(`${P}/:scope/:kind/:ruleId/enabled`, async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    const b = jsonBody(body);
    if (typeof b.enabled !== "boolean") throw new MatrixError("M_MISSING_PARAM", "Missing boolean 'enabled'");
    await rules.setEnabled(who.userId, parseKind(params.kind), params.ruleId ?? "", b.enabled);
    return {};
  });
  app.get(`${P}/:scope/:kind/:ruleId/actions`, async ({ request, params }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    return { actions: (await rules.rule(who.userId, parseKind(params.kind), params.ruleId ?? "")).actions };
  });
  app.put(`${P}/:scope/:kind/:ruleId/actions`, async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    scope(params.scope);
    await rules.setActions(who.userId, parseKind(params.kind), params.ruleId ?? "", jsonBody(body).actions);
    return {};
  });
}
