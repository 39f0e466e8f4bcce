// Stored filters (spec: client-server-api "Filtering", filter.yaml): upload, download, and the
// `filter` parameter of /sync (an ID, or inline JSON when it starts with "{").
import { MatrixError } from "../protocol/errors.ts";
import type { FiltersRepo } from "../storage/repos/filters.ts";
import { Lru } from "../util/lru.ts";
import { parseSyncFilter, type SyncFilter } from "./rooms/filters.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";


export class SyncFilters {
  /** Parsed stored filters (they never change once uploaded). */
  private readonly cache = new Lru<string, SyncFilter>(5000, "sync_filters");

  constructor(private readonly repo: FiltersRepo) {}

  /** POST /user/{userId}/filter → the new filter's ID. */
  async upload(requesterId: string, userId: string, body: unknown): Promise<string> {
    if (requesterId !== userId) throw new MatrixError("M_FORBIDDEN", "Cannot create filters for other users");
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object");
    parseSyncFilter(body);
    return String(await this.repo.insert(userId, JSON.stringify(body)));
  }

  /** GET /user/{userId}/filter/{filterId}. */
  async download(requesterId: string, userId: string, filterId: string): Promise<unknown> {
    if (requesterId !== userId) throw new MatrixError("M_FORBIDDEN", "Cannot get filters for other users");
    const id = this.parseId(filterId);
    const json = id === undefined ? undefined : await this.repo.find(userId, id);
    if (json === undefined) throw new MatrixError("M_NOT_FOUND", "No such filter");
    return JSON.parse(json);
  }

  private parseId(filterId: string): number | undefined {
    if (!/^\d{1,15}$/.test(filterId)) return undefined;
    return Number(filterId);
  }

  /** The /sync `filter` parameter: a stored filter's ID or inline JSON; {} when absent. */
  async resolve(userId: string, param: string | null | undefined): Promise<SyncFilter> {
    if (param === null || param === undefined || param === "") return {};
    if (param.trimStart().startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(param);
      } catch {
        throw new MatrixError("M_INVALID_PARAM", "The filter is not valid JSON");
      }
      return parseSyncFilter(parsed);
    }
    const key = `${userId}\u0000${param}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const id = this.parseId(param);
    if (id === undefined) throw new MatrixError("M_INVALID_PARAM", "Invalid filter ID");
    const json = await this.repo.find(userId, id);
    if (json === undefined) throw new MatrixError("M_NOT_FOUND", "No such filter");
    const f = parseSyncFilter(JSON.parse(json));
    this.cache.set(key, f);
    return f;
  }
}
