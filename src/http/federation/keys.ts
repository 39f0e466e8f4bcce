// GET /_matrix/key/v2/server (and the deprecated /_matrix/key/v2/server/{keyId}),
// GET /_matrix/key/v2/query/{serverName} (and the deprecated /{keyId} form), POST /_matrix/key/v2/query.
// Spec: server-server-api.md "Retrieving server keys"; data/api/server-server/keys_server.yaml,
// keys_query.yaml.
import { MatrixError } from "../../protocol/errors.ts";
import { parseServerName } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { NotaryCriteria } from "../../services/federation/notary.ts";
import type { App } from "../app.ts";
import { requireFederationEnabled } from "./auth.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

/** Most servers one POST /_matrix/key/v2/query may ask about. */
export const MAX_NOTARY_SERVERS = 1000;

type KeysDeps = Pick<Services, "federation">;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseMinimum(v: unknown, where: string, now: number): number {
  if (v === undefined || v === null) return now;
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "string" && /^-?\d{1,16}$/.test(v)) return Number(v);
  throw new MatrixError("M_INVALID_PARAM", `${where}: minimum_valid_until_ts must be an integer`);
}

export function keysRoutes(app: App, svc: KeysDeps): void {
  const route = routes(app, svc);
  const ownKeys = () => svc.federation.ownKeys.response();
  route({ method: "GET", path: "/_matrix/key/v2/server", api: "server-server", access: "none" }, ownKeys);
  route({ method: "GET", path: "/_matrix/key/v2/server/:keyId", api: "legacy", access: "none", params: { keyId: param.raw } }, ownKeys);

  const queryOne = async (request: Request, serverName: string, keyIds: string[]) => {
    requireFederationEnabled(svc);
    if (parseServerName(serverName) === null) throw new MatrixError("M_INVALID_PARAM", "Invalid server name");
    const q = new URL(request.url).searchParams.get("minimum_valid_until_ts") ?? undefined;
    const min = parseMinimum(q, "query", Date.now());
    return svc.federation.notary.query([{ serverName, keyIds, minimumValidUntilTs: min }]);
  };
  route({ method: "GET", path: "/_matrix/key/v2/query/:serverName", api: "server-server", access: "none", params: { serverName: param.raw } }, ({ params, request }) => queryOne(request, params.serverName, []));
  // The deprecated form naming one key ID (removed from the spec in v1.1; Synapse and SyTest still use it).
  route({ method: "GET", path: "/_matrix/key/v2/query/:serverName/:keyId", api: "legacy", access: "none", params: { serverName: param.raw, keyId: param.raw } }, ({ params, request }) => queryOne(request, params.serverName, [params.keyId]));

  route({ method: "POST", path: "/_matrix/key/v2/query", api: "server-server", access: "none" }, async ({ body }) => {
    requireFederationEnabled(svc);
    if (!isRecord(body) || !isRecord(body.server_keys)) throw new MatrixError("M_BAD_JSON", "server_keys must be an object");
    const entries = Object.entries(body.server_keys);
    if (entries.length > MAX_NOTARY_SERVERS) throw new MatrixError("M_BAD_JSON", `At most ${MAX_NOTARY_SERVERS} servers per query`);
    const now = Date.now();
    const criteria: NotaryCriteria[] = [];
    for (const [serverName, keys] of entries) {
      if (!isRecord(keys)) throw new MatrixError("M_BAD_JSON", `server_keys.${serverName} must be an object`);
      if (parseServerName(serverName) === null) continue;
      const keyIds = Object.keys(keys);
      let min = keyIds.length === 0 ? now : -Infinity;
      for (const [keyId, c] of Object.entries(keys)) {
        if (c !== undefined && c !== null && !isRecord(c)) throw new MatrixError("M_BAD_JSON", `server_keys.${serverName}.${keyId} must be an object`);
        min = Math.max(min, parseMinimum(isRecord(c) ? c.minimum_valid_until_ts : undefined, `server_keys.${serverName}.${keyId}`, now));
      }
      criteria.push({ serverName, keyIds, minimumValidUntilTs: min });
    }
    return svc.federation.notary.query(criteria);
  });
}
