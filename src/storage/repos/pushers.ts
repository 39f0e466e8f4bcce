// Pushers (POST /pushers/set) and the push actions they deliver.
import type { Db, Queryable } from "../engines/db.ts";
import { chunks } from "./rooms.ts";

export interface PusherRow {
  user_id: string;
  app_id: string;
  pushkey: string;
  kind: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag: string | null;
  lang: string;
  /** JSON object. */
  data: string;
  device_id: string | null;
  pushkey_ts: number;
  last_stream_ordering: number;
  failing_since_ts: number | null;
}

/** A notifying push action waiting for delivery. */
export interface PendingPush {
  room_id: string;
  event_id: string;
  stream_ordering: number;
  highlight: number;
  /** The matching rule's actions (JSON), when recorded. */
  actions: string | null;
}

const COLS =
  "user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, device_id, pushkey_ts, last_stream_ordering, failing_since_ts";

function norm(r: PusherRow): PusherRow {
  r.pushkey_ts = Number(r.pushkey_ts);
  r.last_stream_ordering = Number(r.last_stream_ordering);
  r.failing_since_ts = r.failing_since_ts === null ? null : Number(r.failing_since_ts);
  return r;
}

export class PushersRepo {
  constructor(private readonly db: Db) {}

  async listForUser(userId: string): Promise<PusherRow[]> {
    return (await this.db.all<PusherRow>(`SELECT ${COLS} FROM pushers WHERE user_id = ? ORDER BY app_id, pushkey`, [userId])).map(norm);
  }

  async listAll(): Promise<PusherRow[]> {
    return (await this.db.all<PusherRow>(`SELECT ${COLS} FROM pushers`)).map(norm);
  }

  async find(userId: string, appId: string, pushkey: string): Promise<PusherRow | undefined> {
    const r = await this.db.get<PusherRow>(`SELECT ${COLS} FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?`, [userId, appId, pushkey]);
    return r ? norm(r) : undefined;
  }

  /**
   * Creates or replaces a pusher. Without `append`, pushers of other users with the same app ID
   * and pushkey are deleted (spec: POST /pushers/set `append`). Returns the users whose pushers went.
   */
  async upsert(p: PusherRow, append: boolean): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      let removed: string[] = [];
      if (!append) {
        const others = await tx.all<{ user_id: string }>("SELECT user_id FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ?", [p.app_id, p.pushkey, p.user_id]);
        removed = others.map((o) => o.user_id);
        await tx.run("DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ?", [p.app_id, p.pushkey, p.user_id]);
      }
      await tx.run(
        `INSERT INTO pushers (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = excluded.kind, app_display_name = excluded.app_display_name,
           device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag, lang = excluded.lang,
           data = excluded.data, device_id = excluded.device_id, pushkey_ts = excluded.pushkey_ts, failing_since_ts = NULL`,
        [
          p.user_id,
          p.app_id,
          p.pushkey,
          p.kind,
          p.app_display_name,
          p.device_display_name,
          p.profile_tag,
          p.lang,
          p.data,
          p.device_id,
          p.pushkey_ts,
          p.last_stream_ordering,
          null,
        ],
      );
      return removed;
    });
  }

  async delete(userId: string, appId: string, pushkey: string): Promise<boolean> {
    return (await this.db.run("DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?", [userId, appId, pushkey])) > 0;
  }

  /** Deletes a user's pushers (of some devices only, when given). */
  async deleteForUser(userId: string, deviceIds?: readonly string[]): Promise<void> {
    if (deviceIds === undefined) {
      await this.db.run("DELETE FROM pushers WHERE user_id = ?", [userId]);
      return;
    }
    for (const part of chunks(deviceIds, 200)) {
      await this.db.run(`DELETE FROM pushers WHERE user_id = ? AND device_id IN (${part.map(() => "?").join(", ")})`, [userId, ...part]);
    }
  }

  async setProgress(userId: string, appId: string, pushkey: string, lastStream: number, failingSince: number | null): Promise<void> {
    await this.db.run("UPDATE pushers SET last_stream_ordering = ?, failing_since_ts = ? WHERE user_id = ? AND app_id = ? AND pushkey = ?", [
      lastStream,
      failingSince,
      userId,
      appId,
      pushkey,
    ]);
  }

  /** The users an event notified. */
  async notifiedUsers(eventId: string): Promise<string[]> {
    const rows = await this.db.all<{ user_id: string }>("SELECT user_id FROM event_push_actions WHERE event_id = ? AND notify = 1", [eventId]);
    return rows.map((r) => r.user_id);
  }

  /**
   * Notifying push actions of a user after a stream position, up to another, oldest first.
   * `withActions` reads the recorded rule actions (event_push_actions.actions).
   */
  async pendingFor(userId: string, after: number, upTo: number, limit: number, q: Queryable = this.db): Promise<PendingPush[]> {
    const rows = await q.all<PendingPush>(
      `SELECT room_id, event_id, stream_ordering, highlight, actions FROM event_push_actions
       WHERE user_id = ? AND stream_ordering > ? AND stream_ordering <= ? AND notify = 1 ORDER BY stream_ordering LIMIT ?`,
      [userId, after, upTo, limit],
    );
    for (const r of rows) {
      r.stream_ordering = Number(r.stream_ordering);
      r.highlight = Number(r.highlight);
    }
    return rows;
  }
}
