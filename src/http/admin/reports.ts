// Reports for server admins, in Synapse's shapes (Synapse docs admin_api/event_reports.md):
//   GET    /_synapse/admin/v1/event_reports?from&limit&dir&user_id&room_id&sender_user_id
//   GET    /_synapse/admin/v1/event_reports/{report_id}
//   DELETE /_synapse/admin/v1/event_reports/{report_id}
// and, the same way, room_reports (room_id, user_id filters) and user_reports (user_id,
// target_user_id filters) for the room and user reports of spec v1.13/v1.14.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import type { ReportKind } from "../../services/reports.ts";
import type { App } from "../app.ts";
import { queryInt, type Query } from "./query.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

function reportId(v: string | undefined): number {
  if (!v || !/^[0-9]{1,15}$/.test(v) || Number(v) < 1) {
    throw new MatrixError("M_INVALID_PARAM", "The report_id parameter must be a string representing a positive integer.");
  }
  return Number(v);
}

export function reportAdminRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  for (const kind of ["event", "room", "user"] as ReportKind[]) {
    const base = `/_synapse/admin/v1/${kind}_reports`;
    route({ method: "GET", path: base, api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
      const q = query as Query;
      const dir = q.dir ?? "b";
      if (dir !== "b" && dir !== "f") throw new MatrixError("M_INVALID_PARAM", "Unknown direction: " + dir);
      return svc.reports.list(kind, {
        offset: queryInt(q, "from") ?? 0,
        limit: queryInt(q, "limit", { max: 1000 }) ?? 100,
        dir,
        userId: q.user_id || undefined,
        roomId: q.room_id || undefined,
        targetUserId: (kind === "event" ? q.sender_user_id : kind === "user" ? q.target_user_id : undefined) || undefined,
      });
    });
    route({ method: "GET", path: `${base}/:reportId`, api: "synapse-admin", access: "admin", params: { reportId: param.raw } }, async ({ request, params }) => {
      return svc.reports.get(kind, reportId(params.reportId));
    });
    route({ method: "DELETE", path: `${base}/:reportId`, api: "synapse-admin", access: "admin", params: { reportId: param.raw } }, async ({ request, params }) => {
      await svc.reports.delete(kind, reportId(params.reportId));
      return {};
    });
  }
}
