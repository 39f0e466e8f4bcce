// GET /_matrix/client/v3/admin/whois/{userId} (spec: admin.yaml, Server Administration module) and
// Synapse's GET /_synapse/admin/v1/whois/{userId}: a user's devices and the IP addresses and user
// agents each was used from. Users may look themselves up; anyone else needs a server admin.
import { MatrixError } from "../../protocol/errors.ts";
import { parseUserId } from "../../protocol/ids.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { requireAdmin, type Requester } from "../auth.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

export function whoisRoutes(app: App, deps: Pick<AccountServices, "auth" | "accounts">): void {
  const route = routes(app, deps);
  const whois = async (r: Requester, userId: string) => {
    if (userId !== r.userId) requireAdmin(r);
    if (parseUserId(userId)?.serverName !== deps.accounts.serverName) {
      throw new MatrixError("M_INVALID_PARAM", "Can only whois a local user");
    }
    return deps.accounts.whois(userId);
  };
  // Users may look themselves up; anyone else needs a server admin (checked by whois).
  route({ method: "GET", path: "/_matrix/client/v3/admin/whois/:userId", api: "client-server", access: "user", params: { userId: param.raw } }, ({ who, params }) =>
    whois(who, params.userId),
  );
  route({ method: "GET", path: "/_synapse/admin/v1/whois/:userId", api: "synapse-admin", access: "user", params: { userId: param.raw } }, ({ who, params }) =>
    whois(who, params.userId),
  );
}
