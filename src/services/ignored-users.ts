// Ignored users (spec: client-server-api modules/ignore_users.md): a user's `m.ignored_user_list`
// global account data names the users whose events and invites they no longer get. This service
// reads and caches that list; the filtering itself happens in Visibility (events; invites through
// hiddenInvites, for /sync, sliding sync and /initialSync), PushActions (notifications) and the
// relations bundler (aggregations).
import type { JsonObject } from "../protocol/events.ts";
import { Lru } from "../util/lru.ts";
import type { AccountData } from "./account-data.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

export const IGNORED_USER_LIST = "m.ignored_user_list";

const EMPTY: ReadonlySet<string> = new Set();

/** The ignored user IDs of an m.ignored_user_list content (anything malformed ignores nobody). */
export function ignoredUserIds(content: JsonObject | undefined): ReadonlySet<string> {
  const users = content?.ignored_users;
  if (!isObject(users)) return EMPTY;
  const ids = Object.keys(users).filter((u) => u.startsWith("@"));
  return ids.length ? new Set(ids) : EMPTY;
}

export class IgnoredUsers {
  private readonly cache = new Lru<string, ReadonlySet<string>>(10000, "ignored_users");
  /** Bumped on every change: a read that raced with a change is not cached. */
  private generation = 0;

  constructor(
    private readonly accountData: AccountData,
    /** The stored m.ignored_user_list of several users at once. */
    private readonly loadMany: (userIds: readonly string[]) => Promise<Map<string, JsonObject>>,
  ) {
    accountData.onChange.push((userId, roomId, type) => {
      if (roomId === "" && type === IGNORED_USER_LIST) {
        this.generation++;
        this.cache.delete(userId);
      }
    });
  }

  /** The users `userId` ignores (never themselves). */
  readonly of = async (userId: string): Promise<ReadonlySet<string>> => {
    const hit = this.cache.get(userId);
    if (hit) return hit;
    const gen = this.generation;
    let set = ignoredUserIds(await this.accountData.get(userId, "", IGNORED_USER_LIST));
    if (set.has(userId)) set = new Set([...set].filter((u) => u !== userId));
    if (gen === this.generation) this.cache.set(userId, set);
    return set;
  };

  /** Which of `userIds` ignore `sender` (cached lists; the others read in one query). */
  readonly ignoring = async (userIds: readonly string[], sender: string): Promise<ReadonlySet<string>> => {
    const out = new Set<string>();
    const missing: string[] = [];
    for (const u of userIds) {
      const hit = this.cache.get(u);
      if (hit === undefined) missing.push(u);
      else if (hit.has(sender)) out.add(u);
    }
    if (missing.length) {
      const gen = this.generation;
      const stored = await this.loadMany(missing);
      for (const u of missing) {
        let set = ignoredUserIds(stored.get(u));
        if (set.has(u)) set = new Set([...set].filter((x) => x !== u));
        if (gen === this.generation) this.cache.set(u, set);
        if (set.has(sender)) out.add(u);
      }
    }
    return out;
  };
}
