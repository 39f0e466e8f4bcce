// GET /.well-known/matrix/support (support.yaml, spec v1.10): the admins' contacts and a help page
// from [well_known] support_contacts and support_page; 404 when neither is configured.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { routes } from "../endpoint.ts";

export function supportRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/.well-known/matrix/support", api: "client-server", access: "none" }, () => {
    const { support_contacts, support_page } = svc.config.well_known;
    if (support_contacts.length === 0 && !support_page) throw new MatrixError("M_NOT_FOUND", "No support information for this server");
    const out: Record<string, unknown> = {};
    if (support_contacts.length) {
      out.contacts = support_contacts.map((entry) => {
        const [role, ...contacts] = entry.trim().split(/\s+/);
        const c: Record<string, string> = { role: role! };
        for (const x of contacts) c[x.startsWith("@") ? "matrix_id" : "email_address"] = x;
        return c;
      });
    }
    if (support_page) out.support_page = support_page;
    return out;
  });
}
