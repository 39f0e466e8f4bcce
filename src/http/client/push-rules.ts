// GET/PUT/DELETE /pushrules/... (data/api/client-server/pushrules.yaml), with the paths Synapse also
// serves and clients still use: GET /pushrules/global/{kind}/ (the rules of one kind). The path is
// parsed here rather than by the router so that malformed paths get a clear 400 (a scope without its
// trailing slash, an unknown scope, kind or attribute, a missing or empty rule ID), as in Synapse;
// GET /pushrules without the trailing slash is not an endpoint (404).
import { MatrixError } from "../../protocol/errors.ts";
import type { JsonObject } from "../../protocol/events.ts";
import type { Services } from "../../services/index.ts";
import { parseKind } from "../../services/push-rules.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";
import { body as bodyOf } from "../schema.ts";

const P = "/_matrix/client/v3/pushrules/";

const invalid = (msg: string) => new MatrixError("M_INVALID_PARAM", msg);

/** The path segments after /pushrules/, percent-decoded ("" for a trailing slash). */
function segments(request: Request): string[] {
  const raw = new URL(request.url).pathname.slice(P.length).split("/");
  try {
    return raw.map(decodeURIComponent);
  } catch {
    throw invalid("Invalid percent-encoding in the push rule path");
  }
}

function scope(s: string | undefined): void {
  if (!s) throw invalid("Missing push rule scope");
  if (s !== "global") throw invalid(`Unknown push rule scope ${JSON.stringify(s)}: only 'global' exists`);
}

function ruleIdOf(s: string | undefined): string {
  if (s === undefined) throw invalid("Missing rule ID");
  if (s === "") throw invalid("Empty rule ID");
  return s;
}

type Attr = "enabled" | "actions";
function attrOf(s: string | undefined): Attr | undefined {
  if (s === undefined) return undefined;
  if (s === "enabled" || s === "actions") return s;
  throw invalid(`Unknown push rule attribute ${JSON.stringify(s)}`);
}

export function pushRulesRoutes(app: App, svc: Services): void {
  const rules = svc.pushRules;
  const route = routes(app, svc);
  // One wildcard route per method; the spec's endpoints it stands for are named by specPath.
  route({ method: "GET", path: `${P}*`, specPath: `${P}`, api: "client-server", access: "user" }, async ({ who, request }) => {
    const [sc, kindSeg, rid, attrSeg, ...rest] = segments(request);
    if (sc === "" && kindSeg === undefined) return { global: await rules.ruleset(who.userId) };
    scope(sc);
    if (kindSeg === undefined) throw invalid("A scope ends with '/' (GET /pushrules/global/)");
    if (kindSeg === "" && rid === undefined) return rules.ruleset(who.userId);
    const kind = parseKind(kindSeg);
    if (rid === undefined) throw invalid("A kind ends with '/' (GET /pushrules/global/{kind}/)");
    if (rid === "" && attrSeg === undefined) return (await rules.ruleset(who.userId))[kind];
    if (rest.length > 0) throw invalid("Unknown push rule path");
    const rule = await rules.rule(who.userId, kind, ruleIdOf(rid));
    const attr = attrOf(attrSeg);
    if (attr === "enabled") return { enabled: rule.enabled };
    if (attr === "actions") return { actions: rule.actions };
    return rule;
  });
  route({ method: "PUT", path: `${P}*`, specPath: `${P}global/{kind}/{ruleId}`, api: "client-server", access: "user" }, async ({ who, request, body }) => {
    const [sc, kindSeg, rid, attrSeg, ...rest] = segments(request);
    scope(sc);
    const kind = parseKind(kindSeg);
    const ruleId = ruleIdOf(rid);
    if (rest.length > 0) throw invalid("Unknown push rule path");
    const attr = attrOf(attrSeg);
    const b = bodyOf.object(body);
    if (attr === "enabled") {
      if (typeof b.enabled !== "boolean") throw new MatrixError("M_MISSING_PARAM", "Missing boolean 'enabled'");
      await rules.setEnabled(who.userId, kind, ruleId, b.enabled);
    } else if (attr === "actions") {
      await rules.setActions(who.userId, kind, ruleId, b.actions);
    } else {
      const q = new URL(request.url).searchParams;
      await rules.putRule(who.userId, kind, ruleId, b as JsonObject, q.get("before") ?? undefined, q.get("after") ?? undefined);
    }
    return {};
  });
  route({ method: "DELETE", path: `${P}*`, specPath: `${P}global/{kind}/{ruleId}`, api: "client-server", access: "user" }, async ({ who, request }) => {
    const [sc, kindSeg, rid, ...rest] = segments(request);
    scope(sc);
    const kind = parseKind(kindSeg);
    const ruleId = ruleIdOf(rid);
    if (rest.length > 0) throw invalid("Unknown push rule path");
    await rules.deleteRule(who.userId, kind, ruleId);
    return {};
  });
}
