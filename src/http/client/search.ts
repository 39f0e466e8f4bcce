// POST /search (search.yaml; client-server-api modules/search.md): the room_events category.
import { MatrixError } from "../../protocol/errors.ts";
import type { Services } from "../../services/index.ts";
import { parseRoomEventFilter } from "../../services/rooms/filters.ts";
import { SEARCH_KEYS, type SearchCriteria, type SearchKey } from "../../services/search.ts";
import type { App } from "../app.ts";
import { boundedSearchTerm, optBool, optInt, type JsonObject } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, query } from "../schema.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";


function parseCriteria(c: unknown): SearchCriteria {
  if (!isObject(c)) throw new MatrixError("M_BAD_JSON", "'search_categories.room_events' must be an object");
  if (c.search_term === undefined || c.search_term === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'search_term'");
  if (typeof c.search_term !== "string") throw new MatrixError("M_BAD_JSON", "'search_term' must be a string");
  const criteria: SearchCriteria = { searchTerm: boundedSearchTerm(c.search_term, "search_term"), orderBy: "rank", includeState: false, groupBy: [] };
  if (c.keys !== undefined && c.keys !== null) {
    if (!Array.isArray(c.keys) || c.keys.some((k) => typeof k !== "string")) throw new MatrixError("M_BAD_JSON", "'keys' must be a list of strings");
    for (const k of c.keys) if (!SEARCH_KEYS.includes(k as SearchKey)) throw new MatrixError("M_INVALID_PARAM", `Unknown search key ${JSON.stringify(k)}`);
    if (c.keys.length) criteria.keys = c.keys as SearchKey[];
  }
  if (c.filter !== undefined && c.filter !== null) criteria.filter = parseRoomEventFilter(c.filter, "filter");
  if (c.order_by !== undefined && c.order_by !== null) {
    if (c.order_by !== "rank" && c.order_by !== "recent") throw new MatrixError("M_INVALID_PARAM", "'order_by' must be rank or recent");
    criteria.orderBy = c.order_by;
  }
  if (c.event_context !== undefined && c.event_context !== null) {
    if (!isObject(c.event_context)) throw new MatrixError("M_BAD_JSON", "'event_context' must be an object");
    const before = optInt(c.event_context, "before_limit") ?? 5;
    const after = optInt(c.event_context, "after_limit") ?? 5;
    if (before < 0 || after < 0) throw new MatrixError("M_INVALID_PARAM", "Context limits must not be negative");
    criteria.eventContext = { beforeLimit: before, afterLimit: after, includeProfile: optBool(c.event_context, "include_profile") ?? false };
  }
  criteria.includeState = optBool(c, "include_state") ?? false;
  if (c.groupings !== undefined && c.groupings !== null) {
    if (!isObject(c.groupings)) throw new MatrixError("M_BAD_JSON", "'groupings' must be an object");
    const groupBy = c.groupings.group_by ?? [];
    if (!Array.isArray(groupBy)) throw new MatrixError("M_BAD_JSON", "'groupings.group_by' must be a list");
    for (const g of groupBy) {
      if (!isObject(g) || (g.key !== "room_id" && g.key !== "sender")) throw new MatrixError("M_INVALID_PARAM", "Group keys must be room_id or sender");
      if (!criteria.groupBy.includes(g.key)) criteria.groupBy.push(g.key);
    }
  }
  return criteria;
}

export function searchRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route(
    { method: "POST", path: "/_matrix/client/v3/search", api: "client-server", access: "user", query: { next_batch: query.str }, body: body.object },
    async ({ who, query, body: b }) => {
      if (b.search_categories === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'search_categories'");
      if (!isObject(b.search_categories)) throw new MatrixError("M_BAD_JSON", "'search_categories' must be an object");
      const categories: JsonObject = {};
      if (b.search_categories.room_events !== undefined) {
        const criteria = parseCriteria(b.search_categories.room_events);
        categories.room_events = (await svc.search.searchRoomEvents({ userId: who.userId, deviceId: who.deviceId ?? undefined }, criteria, query.next_batch)) as unknown as JsonObject;
      }
      return { search_categories: categories };
    },
  );
}
