// Account data, global and per room (spec: client-server-api modules/account_data.md "Client
// Config", account-data.yaml), and room tags stored as room account data `m.tag` (modules/tags.md,
// tags.yaml). Each write takes a position in the global stream and wakes the user's /sync.
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import { isValidRoomId, utf8ByteLength } from "../protocol/ids.ts";
import type { AccountDataRepo } from "../storage/repos/account-data.ts";
import type { Queryable, Transaction } from "../storage/engines/db.ts";
import { KeyedMutex } from "../util/mutex.ts";
import type { Notifier } from "./notifier.ts";
import type { StreamAllocator } from "./streams.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

/** Types the server manages: clients get 405 M_BAD_JSON when setting them (spec v1.10). */
export const SERVER_MANAGED_TYPES: ReadonlySet<string> = new Set(["m.fully_read", "m.push_rules"]);
export const MAX_TAG_BYTES = 255;

/** Called after account data changed (roomId '' for global). */
export type AccountDataHook = (userId: string, roomId: string, type: string) => void;

export interface AccountDataDeps {
  transaction: Transaction;
  repo: AccountDataRepo;
  streams: StreamAllocator;
  notifier: Notifier;
}


function checkOwner(requesterId: string, userId: string, verb: "add" | "get"): void {
  if (requesterId !== userId) {
    throw new MatrixError("M_FORBIDDEN", verb === "add" ? "Cannot add account data for other users." : "Cannot get account data for other users.");
  }
}

function checkRoomId(roomId: string): void {
  if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", `${JSON.stringify(roomId.slice(0, 100))} is not a valid room ID.`);
}

function checkType(type: string): void {
  if (!type) throw new MatrixError("M_INVALID_PARAM", "Missing account data type");
  if (utf8ByteLength(type) > 255) throw new MatrixError("M_INVALID_PARAM", "Account data type too long");
}

/**
 * How a server-managed global type is shown to clients (GET and /sync): computed from what is
 * stored (undefined when nothing is). E.g. m.push_rules → the effective ruleset, defaults included.
 */
export type AccountDataView = (userId: string, stored: JsonObject | undefined) => Promise<JsonObject | undefined>;

export class AccountData {
  /** Subscribers to changes (e.g. the push rules cache). */
  readonly onChange: AccountDataHook[] = [];
  /** Server-managed global types shown as the server computes them; listed in every initial /sync. */
  readonly views = new Map<string, AccountDataView>();

  constructor(private readonly d: AccountDataDeps) {}

  // ------------------------------------------------------------------ client API

  /** PUT /user/{userId}/account_data/{type} and the per-room form (roomId given). */
  async setByClient(requesterId: string, userId: string, roomId: string | undefined, type: string, content: unknown): Promise<void> {
    checkOwner(requesterId, userId, "add");
    if (roomId !== undefined) checkRoomId(roomId);
    checkType(type);
    if (!isObject(content)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object.");
    if (SERVER_MANAGED_TYPES.has(type)) {
      throw new MatrixError("M_BAD_JSON", `Cannot set ${type} through this API.`, {}, 405);
    }
    await this.set(userId, roomId ?? "", type, content);
  }

  /** GET /user/{userId}/account_data/{type} and the per-room form. */
  async getByClient(requesterId: string, userId: string, roomId: string | undefined, type: string): Promise<JsonObject> {
    checkOwner(requesterId, userId, "get");
    if (roomId !== undefined) checkRoomId(roomId);
    let content = await this.get(userId, roomId ?? "", type);
    const view = roomId === undefined ? this.views.get(type) : undefined;
    if (view) content = await view(userId, content);
    if (!content) throw new MatrixError("M_NOT_FOUND", roomId === undefined ? "Account data not found." : "Room account data not found.");
    return content;
  }

  // ------------------------------------------------------------------ tags

  async getTags(requesterId: string, userId: string, roomId: string): Promise<{ tags: JsonObject }> {
    checkOwner(requesterId, userId, "get");
    checkRoomId(roomId);
    const content = await this.get(userId, roomId, "m.tag");
    return { tags: isObject(content?.tags) ? (content.tags as JsonObject) : {} };
  }

  async putTag(requesterId: string, userId: string, roomId: string, tag: string, body: unknown): Promise<void> {
    checkOwner(requesterId, userId, "add");
    checkRoomId(roomId);
    if (!tag) throw new MatrixError("M_INVALID_PARAM", "Missing tag");
    if (utf8ByteLength(tag) > MAX_TAG_BYTES) throw new MatrixError("M_INVALID_PARAM", "Tag names must not exceed 255 bytes");
    if (!isObject(body)) throw new MatrixError("M_NOT_JSON", "Content must be a JSON object.");
    if (body.order !== undefined) {
      if (typeof body.order !== "number" || !Number.isFinite(body.order)) throw new MatrixError("M_INVALID_PARAM", "'order' must be a number");
      if (body.order < 0 || body.order > 1) throw new MatrixError("M_INVALID_PARAM", "'order' must be between 0 and 1");
    }
    await this.update(userId, roomId, "m.tag", (cur) => {
      const tags = isObject(cur?.tags) ? { ...(cur.tags as JsonObject) } : {};
      tags[tag] = body;
      return { ...(cur ?? {}), tags };
    });
  }

  async deleteTag(requesterId: string, userId: string, roomId: string, tag: string): Promise<void> {
    checkOwner(requesterId, userId, "add");
    checkRoomId(roomId);
    await this.update(userId, roomId, "m.tag", (cur) => {
      const tags = isObject(cur?.tags) ? { ...(cur.tags as JsonObject) } : {};
      if (!(tag in tags) && cur) return undefined;
      delete tags[tag];
      return { ...(cur ?? {}), tags };
    });
  }

  // ------------------------------------------------------------------ server side

  async get(userId: string, roomId: string, type: string, q?: Queryable): Promise<JsonObject | undefined> {
    const raw = await this.d.repo.find(userId, roomId, type, q);
    return raw === undefined ? undefined : (JSON.parse(raw) as JsonObject);
  }

  /** A user's account data changed in (from, to], oldest first (room_id "" for global). */
  async changes(userId: string, fromExclusive: number, toInclusive: number): Promise<Array<{ roomId: string; type: string; content: JsonObject }>> {
    const rows = await this.d.repo.list(userId, fromExclusive, toInclusive);
    return rows.map((r) => ({ roomId: r.room_id, type: r.type, content: JSON.parse(r.content) as JsonObject }));
  }

  /** Writes account data of any type (server-managed ones included), delivered by the next /sync. */
  async set(userId: string, roomId: string, type: string, content: JsonObject): Promise<void> {
    await this.d.streams.with((pos) => this.d.transaction((tx) => this.d.repo.upsert(tx, userId, roomId, type, JSON.stringify(content), pos)));
    this.changed(userId, roomId, type);
  }

  /** Read-modify-write of one entry; `fn` returning undefined leaves it unchanged. */
  private readonly locks = new KeyedMutex();
  private async update(userId: string, roomId: string, type: string, fn: (cur: JsonObject | undefined) => JsonObject | undefined): Promise<void> {
    await this.locks.run(`${userId}\u0000${roomId}\u0000${type}`, async () => {
      const next = fn(await this.get(userId, roomId, type));
      if (next !== undefined) await this.set(userId, roomId, type, next);
    });
  }

  private changed(userId: string, roomId: string, type: string): void {
    this.d.notifier.notifyUser(userId);
    for (const h of this.onChange) h(userId, roomId, type);
  }
}
