// POST /user_directory/search (spec: client-server-api "User Directory", users.yaml).
// The directory holds every user with a joined member event in a room known here (name and avatar
// of their latest join) and local users who set a profile, kept up to date by an events hook and
// the profile hook. A search finds users who share a joined room with the searcher or are joined to
// a room with a public join rule or world-readable history ([user_directory] search_all_users adds
// every local user). Matching is case- and accent-insensitive: every word of the search term must
// appear in the user ID or display name. Ranking: exact match, then prefix of the display name or
// localpart, then prefix of a word, then anywhere; users sharing a room first within a rank; then
// users with a display name and avatar, then by display name and user ID.
import { MatrixError } from "../../protocol/errors.ts";
import type { RoomEvent } from "../../protocol/events.ts";
import type { Queryable } from "../../storage/engines/db.ts";
import type { DirectoryRepo, UserDirectoryRow } from "../../storage/repos/directory.ts";
import { foldText, foldedWords } from "../../util/fold.ts";
import type { RoomEvents } from "../rooms/events.ts";

export interface UserDirectoryResult {
  results: Array<{ user_id: string; display_name?: string; avatar_url?: string }>;
  limited: boolean;
}

export const DEFAULT_USER_SEARCH_LIMIT = 10;
const MAX_LIMIT = 100;
/** Candidates fetched before ranking. */
const MAX_CANDIDATES = 500;

export function directorySearchText(userId: string, displayName: string | null | undefined): string {
  return foldText(`${userId} ${displayName ?? ""}`);
}

export class UserDirectory {
  constructor(
    private readonly d: { repo: DirectoryRepo; events: RoomEvents; serverName: string; searchAllUsers: boolean },
  ) {}

  /**
   * The events hook: a join updates the member's entry; a change of join rules or history
   * visibility updates whether the room's members are findable by everyone.
   */
  readonly onEvent = async (q: Queryable, ev: RoomEvent): Promise<void> => {
    if (ev.type === "m.room.member" && typeof ev.state_key === "string" && ev.content["membership"] === "join") {
      const name = typeof ev.content["displayname"] === "string" ? ev.content["displayname"] : null;
      const avatar = typeof ev.content["avatar_url"] === "string" ? ev.content["avatar_url"] : null;
      await this.d.repo.upsertUser(q, ev.state_key, name, avatar, directorySearchText(ev.state_key, name));
      return;
    }
    if ((ev.type === "m.room.join_rules" || ev.type === "m.room.history_visibility") && ev.state_key === "" && ev.room_id) {
      const st = await this.d.events.currentStateEvents(ev.room_id, [["m.room.join_rules", ""], ["m.room.history_visibility", ""]], q);
      let isPublic = false;
      for (const e of st.values()) {
        if (e.type === "m.room.join_rules" && e.content["join_rule"] === "public") isPublic = true;
        if (e.type === "m.room.history_visibility" && e.content["history_visibility"] === "world_readable") isPublic = true;
      }
      await this.d.repo.setRoomPublicForUsers(q, ev.room_id, isPublic);
    }
  };

  /**
   * The state of a room joined over federation (the stateImported hook): its joined members,
   * remote users included, enter the directory, and the room's join rules and history visibility
   * decide whether they are findable by everyone.
   */
  readonly onStateImported = async (q: Queryable, roomId: string, stateEventIds: readonly string[]): Promise<void> => {
    const events = await this.d.events.loadEvents(stateEventIds, q);
    let rulesEvent: RoomEvent | undefined;
    for (const ev of events.values()) {
      if (ev.room_id !== undefined && ev.room_id !== roomId) continue;
      if (ev.type === "m.room.member") await this.onEvent(q, ev);
      else if ((ev.type === "m.room.join_rules" || ev.type === "m.room.history_visibility") && ev.state_key === "") rulesEvent = ev;
    }
    if (rulesEvent) await this.onEvent(q, { ...rulesEvent, room_id: roomId });
  };

  /** A local user's profile changed (the profile hook). */
  async profileChanged(q: Queryable, userId: string, profile: { displayname?: unknown; avatar_url?: unknown }): Promise<void> {
    const name = typeof profile.displayname === "string" ? profile.displayname : null;
    const avatar = typeof profile.avatar_url === "string" ? profile.avatar_url : null;
    await this.d.repo.upsertUser(q, userId, name, avatar, directorySearchText(userId, name));
  }

  async search(searcher: string, searchTerm: string, limit = DEFAULT_USER_SEARCH_LIMIT): Promise<UserDirectoryResult> {
    if (!Number.isInteger(limit) || limit < 0) throw new MatrixError("M_INVALID_PARAM", "'limit' must be a non-negative integer");
    limit = Math.min(limit, MAX_LIMIT);
    const words = foldedWords(searchTerm);
    if (words.length === 0 || limit === 0) return { results: [], limited: false };
    const rows = await this.d.repo.searchUsers(searcher, words, { allLocal: this.d.searchAllUsers, serverName: this.d.serverName, max: MAX_CANDIDATES });
    const whole = foldText(searchTerm.trim());
    const ranked = rows
      .map((r) => ({ r, rank: rankOf(r, whole, words) }))
      .sort((a, b) => a.rank - b.rank || b.r.shared - a.r.shared || completeness(b.r) - completeness(a.r) || label(a.r).localeCompare(label(b.r)) || (a.r.user_id < b.r.user_id ? -1 : 1));
    const results = ranked.slice(0, limit).map(({ r }) => {
      const out: { user_id: string; display_name?: string; avatar_url?: string } = { user_id: r.user_id };
      if (r.display_name) out.display_name = r.display_name;
      if (r.avatar_url) out.avatar_url = r.avatar_url;
      return out;
    });
    return { results, limited: rows.length > limit };
  }
}

/** The localpart of a user ID (never throws: stored IDs may use historical grammar). */
function localpartOf(userId: string): string {
  const i = userId.indexOf(":");
  return userId.slice(1, i < 0 ? undefined : i);
}

/** 0 exact, 1 prefix of name or localpart, 2 prefix of a word, 3 anywhere. */
function rankOf(r: UserDirectoryRow, whole: string, words: string[]): number {
  const local = foldText(localpartOf(r.user_id));
  const name = foldText(r.display_name ?? "");
  const id = foldText(r.user_id);
  if (whole === local || whole === name || whole === id || whole === `@${local}`) return 0;
  if (local.startsWith(whole) || name.startsWith(whole) || id.startsWith(`@${whole}`)) return 1;
  const haystack = new Set([...foldedWords(r.display_name ?? ""), ...foldedWords(localpartOf(r.user_id))]);
  if (words.every((w) => [...haystack].some((h) => h.startsWith(w)))) return 2;
  return 3;
}

const completeness = (r: UserDirectoryRow) => (r.display_name ? 2 : 0) + (r.avatar_url ? 1 : 0);
const label = (r: UserDirectoryRow) => foldText(r.display_name ?? localpartOf(r.user_id));
