// GET /_matrix/client/v3/admin/whois/{userId} (spec: admin.yaml, Server Administration module) and
// Synapse's GET /_synapse/admin/v1/whois/{userId}: a user's devices and the IP addresses and user
// agents each was used from. Users may look themselves up; anyone else needs a server admin.
import { MatrixError } from "../../protocol/errors.ts";
import { parseUserId } from "../../protocol/ids.ts";
import type { AccountServices } from "../../services/account-services.ts";
import type { App } from "../app.ts";
import { authenticate, requireAdmin } from "../auth.ts";

export function whoisRoutes(app: App, deps: Pick<AccountServices, "auth" | "accounts">): void {
  const whois = async (request: Request, userId: string) => {
    const r = await authenticate(deps, request);
    if (userId !== r.userId) requireAdmin(r);
    if (parseUserId(userId)?.serverName !== deps.accounts.serverName) {
      throw new MatrixError("M_INVALID_PARAM", "Can only whois a local user");
    }
    return deps.accounts.whois(userId);
  };
  app.get("/_matrix/client/v3/admin/whois/:userId", ({ request, params }) => whois(request, params.userId));
  app.get("/_synapse/admin/v1/whois/:userId", ({ request, params }) => whois(request, params.userId));
}
