// Pushers and delivery to push gateways (spec: client-server-api modules/push.md "Client
// behaviour", pusher.yaml; push-gateway-api.md, push_notifier.yaml).
//
// Push rules are evaluated once per event and recipient, when the event is persisted
// (src/services/push.ts writes event_push_actions with the matched actions). Pushers deliver from
// there: each pusher has a position in the stream and sends its user's notifying push actions
// after it, oldest first, one POST /_matrix/push/v1/notify each. A failed delivery is retried
// with exponential back-off (from [push] retry_min_interval_ms up to an hour); a notification that
// still fails after a day is dropped. Pushkeys the gateway reports as `rejected` lose their pusher.
// Read receipts send a badge-only update when the badge count changed.
// Push gateway URLs come from clients: requests go through OutboundHttp with
// [http_client] ip_range_denylist.
import type { Config } from "../config/schema.ts";
import { stateMapKey } from "../core/state-map.ts";
import { MatrixError, missingParam } from "../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../protocol/events.ts";
import type { PendingPush, PusherRow, PushersRepo } from "../storage/repos/pushers.ts";
import { logger } from "../util/log.ts";
import type { Requester } from "./auth.ts";
import type { OutboundHttp } from "./federation/outbound-http.ts";
import type { PushActions } from "./push.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { StreamAllocator } from "./streams.ts";
import { isJsonObject as isObject } from "../protocol/events.ts";

const log = logger("push");

export const NOTIFY_PATH = "/_matrix/push/v1/notify";
const MAX_BACKOFF_MS = 60 * 60_000;
const GIVE_UP_AFTER_MS = 24 * 60 * 60_000;
const PUSH_TIMEOUT_MS = 30_000;
const BATCH = 20;


/** A pusher as GET /pushers shows it. */
export interface PusherView {
  pushkey: string;
  kind: string;
  app_id: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag?: string;
  lang: string;
  data: JsonObject;
}

export interface PushersDeps {
  repo: PushersRepo;
  streams: StreamAllocator;
  events: RoomEvents;
  push: PushActions;
  /** The rooms a user is joined to (for the badge count). */
  joinedRooms: (userId: string) => Promise<string[]>;
  http: OutboundHttp;
  config: Config["push"];
  now?: () => number;
}

/** The tweaks of a push rule's actions (spec: push.md "Actions"). */
export function tweaksOf(actions: readonly unknown[]): Record<string, unknown> {
  const tweaks: Record<string, unknown> = {};
  for (const a of actions) {
    if (!isObject(a) || typeof a.set_tweak !== "string") continue;
    tweaks[a.set_tweak] = a.set_tweak === "highlight" ? (a.value === undefined ? true : a.value) : a.value;
  }
  if (tweaks.highlight === false) delete tweaks.highlight;
  return tweaks;
}

/** Runs one pusher: its position, retries, back-off. */
class PusherWorker {
  private running = false;
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 0;
  lastBadge: number | undefined;
  removed = false;
  /** Pushers.refresh() runs before this worker was added. */
  generation = 0;

  constructor(
    public row: PusherRow,
    private readonly owner: Pushers,
  ) {}

  get key(): string {
    return `${this.row.app_id}\u0000${this.row.pushkey}`;
  }

  kick(): void {
    if (this.removed || this.timer !== undefined) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        if (await this.step()) this.again = true;
      } while (this.again && !this.removed && this.timer === undefined);
    } catch (e) {
      log.error("pusher failed", { user_id: this.row.user_id, app_id: this.row.app_id, error: (e as Error).message });
      this.retryLater();
    } finally {
      this.running = false;
    }
  }

  /** Delivers pending notifications; true when there may be more. */
  private async step(): Promise<boolean> {
    const upTo = this.owner.streams.current();
    if (upTo <= this.row.last_stream_ordering) return false;
    const pending = await this.owner.repo.pendingFor(this.row.user_id, this.row.last_stream_ordering, upTo, BATCH);
    if (pending.length === 0) {
      this.row.last_stream_ordering = upTo;
      return false;
    }
    for (const p of pending) {
      if (this.removed) return false;
      const result = await this.owner.deliver(this.row, p);
      if (result === "removed") {
        this.removed = true;
        return false;
      }
      const now = this.owner.now();
      if (result === "failed") {
        if (this.row.failing_since_ts === null) this.row.failing_since_ts = now;
        if (now - this.row.failing_since_ts < GIVE_UP_AFTER_MS) {
          await this.owner.repo.setProgress(this.row.user_id, this.row.app_id, this.row.pushkey, this.row.last_stream_ordering, this.row.failing_since_ts);
          this.retryLater();
          return false;
        }
        log.warn("push gateway failing for a day: dropping a notification", { user_id: this.row.user_id, app_id: this.row.app_id, event_id: p.event_id });
      }
      this.backoffMs = 0;
      this.row.failing_since_ts = null;
      this.row.last_stream_ordering = p.stream_ordering;
      await this.owner.repo.setProgress(this.row.user_id, this.row.app_id, this.row.pushkey, p.stream_ordering, null);
    }
    return pending.length === BATCH;
  }

  private retryLater(): void {
    if (this.removed) return;
    this.backoffMs = this.backoffMs === 0 ? this.owner.config.retry_min_interval_ms : Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.backoffMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    this.removed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class Pushers {
  /** user ID → (app_id \0 pushkey → worker). */
  private readonly workers = new Map<string, Map<string, PusherWorker>>();
  readonly now: () => number;

  constructor(private readonly d: PushersDeps) {
    this.now = d.now ?? Date.now;
  }

  get repo(): PushersRepo {
    return this.d.repo;
  }
  get streams(): StreamAllocator {
    return this.d.streams;
  }
  get config(): Config["push"] {
    return this.d.config;
  }

  /** Whether this process delivers (the holder of the background work; services/workers.ts). */
  private running = false;
  /** Counts refresh() runs; each worker remembers the count when it was added. */
  private generation = 0;

  async start(): Promise<void> {
    this.running = true;
    for (const row of await this.d.repo.listAll()) this.addWorker(row)?.kick();
  }

  /**
   * Several processes (docs/SCALING.md): pushers set or removed through other processes, and
   * events they persisted, reach the delivering process here (it runs this every few seconds).
   */
  async refresh(): Promise<void> {
    if (!this.running) return;
    // Workers added while the list was read (pushers/set on this process) are not in it: kept.
    const generation = ++this.generation;
    const rows = await this.d.repo.listAll();
    const keep = new Set(rows.map((r) => `${r.user_id}\u0000${r.app_id}\u0000${r.pushkey}`));
    for (const [userId, m] of [...this.workers]) {
      for (const w of [...m.values()]) if (w.generation < generation && !keep.has(`${userId}\u0000${w.key}`)) this.dropWorker(userId, w.row.app_id, w.row.pushkey);
    }
    for (const row of rows) {
      const w = this.workers.get(row.user_id)?.get(`${row.app_id}\u0000${row.pushkey}`) ?? this.addWorker(row);
      w?.kick();
    }
  }

  private addWorker(row: PusherRow): PusherWorker | undefined {
    if (!this.running) return undefined;
    let m = this.workers.get(row.user_id);
    if (!m) this.workers.set(row.user_id, (m = new Map()));
    const w = new PusherWorker(row, this);
    w.generation = this.generation;
    m.get(w.key)?.stop();
    m.set(w.key, w);
    return w;
  }

  private dropWorker(userId: string, appId: string, pushkey: string): void {
    const m = this.workers.get(userId);
    const key = `${appId}\u0000${pushkey}`;
    m?.get(key)?.stop();
    m?.delete(key);
    if (m && m.size === 0) this.workers.delete(userId);
  }

  /** Whether a user has any pusher (cheap: in memory). */
  hasPushers(userId: string): boolean {
    return this.workers.has(userId);
  }

  get anyPushers(): boolean {
    return this.workers.size > 0;
  }

  /** RoomEvents effect afterPersist (services/event-effects.ts): the event's notified users with pushers deliver it. */
  eventPersisted(eventId: string, stream: number): void {
    if (!this.anyPushers) return;
    void this.d.repo
      .notifiedUsers(eventId)
      .then((users) => this.notified(users.filter((u) => this.hasPushers(u)), stream))
      .catch((e) => log.warn("pushers: cannot read notified users", { error: (e as Error).message }));
  }

  /** New push actions for these users are stored at `stream`: deliver once it is visible. */
  notified(userIds: readonly string[], stream: number): void {
    const ws = userIds.flatMap((u) => [...(this.workers.get(u)?.values() ?? [])]);
    if (ws.length === 0) return;
    void this.d.streams.waitUntil(stream, 30_000).then(() => {
      for (const w of ws) w.kick();
    });
  }

  // ------------------------------------------------------------------ API

  /** GET /pushers. */
  async list(userId: string): Promise<PusherView[]> {
    return (await this.d.repo.listForUser(userId)).map((r) => {
      const v: PusherView = {
        pushkey: r.pushkey,
        kind: r.kind,
        app_id: r.app_id,
        app_display_name: r.app_display_name,
        device_display_name: r.device_display_name,
        lang: r.lang,
        data: JSON.parse(r.data) as JsonObject,
      };
      if (r.profile_tag !== null) v.profile_tag = r.profile_tag;
      return v;
    });
  }

  /** POST /pushers/set: creates, updates or (kind null) deletes a pusher. */
  async set(r: Requester, body: Record<string, unknown>): Promise<void> {
    for (const k of ["kind", "app_id", "pushkey"]) if (!(k in body)) throw missingParam(`Missing '${k}'`);
    const { app_id: appId, pushkey, kind } = body;
    if (typeof appId !== "string" || appId === "" || appId.length > 64) throw new MatrixError("M_INVALID_PARAM", "'app_id' must be a string of 1 to 64 characters");
    if (typeof pushkey !== "string" || pushkey === "" || Buffer.byteLength(pushkey, "utf8") > 512) {
      throw new MatrixError("M_INVALID_PARAM", "'pushkey' must be a string of 1 to 512 bytes");
    }
    if (kind === null) {
      await this.d.repo.delete(r.userId, appId, pushkey);
      this.dropWorker(r.userId, appId, pushkey);
      return;
    }
    if (typeof kind !== "string") throw new MatrixError("M_INVALID_PARAM", "'kind' must be a string or null");
    const missing = ["app_display_name", "device_display_name", "lang", "data"].filter((k) => body[k] === undefined);
    if (missing.length) throw missingParam(`Missing parameters: ${missing.join(", ")}`);
    if (kind === "email") {
      throw new MatrixError("M_INVALID_PARAM", "Email pushers need an SMTP server, which this homeserver does not have configured");
    }
    if (kind !== "http") throw new MatrixError("M_INVALID_PARAM", `Unknown pusher kind ${JSON.stringify(kind)}`);
    for (const k of ["app_display_name", "device_display_name", "lang"]) {
      if (typeof body[k] !== "string") throw new MatrixError("M_INVALID_PARAM", `'${k}' must be a string`);
    }
    if (body.profile_tag !== undefined && typeof body.profile_tag !== "string") throw new MatrixError("M_INVALID_PARAM", "'profile_tag' must be a string");
    if (body.append !== undefined && typeof body.append !== "boolean") throw new MatrixError("M_INVALID_PARAM", "'append' must be a boolean");
    const data = body.data;
    if (!isObject(data)) throw new MatrixError("M_INVALID_PARAM", "'data' must be an object");
    if (data.url === undefined) throw missingParam("'url' required in data for HTTP pusher");
    checkGatewayUrl(data.url);
    if (data.format !== undefined && typeof data.format !== "string") throw new MatrixError("M_INVALID_PARAM", "'data.format' must be a string");

    const row: PusherRow = {
      user_id: r.userId,
      app_id: appId,
      pushkey,
      kind,
      app_display_name: body.app_display_name as string,
      device_display_name: body.device_display_name as string,
      profile_tag: (body.profile_tag as string | undefined) ?? null,
      lang: body.lang as string,
      data: JSON.stringify(data),
      device_id: r.deviceId,
      pushkey_ts: this.now(),
      last_stream_ordering: this.d.streams.current(),
      failing_since_ts: null,
    };
    const existing = await this.d.repo.find(r.userId, appId, pushkey);
    const removedUsers = await this.d.repo.upsert(row, body.append === true);
    for (const u of removedUsers) this.dropWorker(u, appId, pushkey);
    // An update keeps its place in the stream.
    if (existing) row.last_stream_ordering = existing.last_stream_ordering;
    this.addWorker(row);
  }

  /** A device was deleted (logout, DELETE /devices): its pushers go. */
  async devicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.d.repo.deleteForUser(userId, deviceIds);
    for (const w of [...(this.workers.get(userId)?.values() ?? [])]) {
      if (w.row.device_id !== null && deviceIds.includes(w.row.device_id)) this.dropWorker(userId, w.row.app_id, w.row.pushkey);
    }
  }

  /** An account was deactivated: every pusher of it goes. */
  async userDeactivated(userId: string): Promise<void> {
    await this.d.repo.deleteForUser(userId);
    for (const w of this.workers.get(userId)?.values() ?? []) w.stop();
    this.workers.delete(userId);
  }

  // ------------------------------------------------------------------ delivery

  /** The badge: rooms with unread notifications (or the notifications, per [push]). */
  async badgeCount(userId: string): Promise<number> {
    const rooms = await this.d.joinedRooms(userId);
    const counts = await this.d.push.unreadCounts(userId, rooms);
    let n = 0;
    for (const c of counts.values()) {
      if (this.d.config.group_unread_count_by_room) n += c.total.notification_count > 0 ? 1 : 0;
      else n += c.total.notification_count;
    }
    return n;
  }

  private device(p: PusherRow, tweaks: Record<string, unknown>): JsonObject {
    const data = JSON.parse(p.data) as JsonObject;
    delete data.url;
    return { app_id: p.app_id, pushkey: p.pushkey, pushkey_ts: Math.floor(p.pushkey_ts / 1000), data, tweaks: tweaks as JsonObject };
  }

  /** The /notify body for one event (spec: push_notifier.yaml), per the pusher's format. */
  async notification(p: PusherRow, pending: PendingPush, ev: RoomEvent, badge: number): Promise<JsonObject> {
    let actions: unknown[] = ["notify"];
    if (pending.actions) {
      try {
        const parsed = JSON.parse(pending.actions) as unknown;
        if (Array.isArray(parsed)) actions = parsed;
      } catch {
        // keep the default
      }
    } else if (pending.highlight) actions = ["notify", { set_tweak: "highlight" }];
    const tweaks = tweaksOf(actions);
    const prio = ev.type === "m.room.encrypted" || tweaks.highlight === true || tweaks.sound !== undefined ? "high" : "low";
    const counts: JsonObject = badge > 0 ? { unread: badge } : {};
    const devices = [this.device(p, tweaks)];
    const format = (JSON.parse(p.data) as JsonObject).format;
    if (format === "event_id_only") {
      return { notification: { event_id: ev.event_id, room_id: pending.room_id, counts, prio, devices } };
    }
    // `id` too: what Synapse sends in this format, and gateways written against it read.
    const n: JsonObject = { event_id: ev.event_id, id: ev.event_id, room_id: pending.room_id, type: ev.type, sender: ev.sender, prio, counts, devices };
    const state = await this.d.events.currentStateEvents(pending.room_id, [
      ["m.room.member", ev.sender],
      ["m.room.name", ""],
      ["m.room.canonical_alias", ""],
    ]);
    const get = (t: string, k: string) => state.get(stateMapKey(t, k));
    const member = get("m.room.member", ev.sender);
    if (typeof member?.content["displayname"] === "string" && member.content["displayname"] !== "") n.sender_display_name = member.content["displayname"];
    const name = get("m.room.name", "");
    if (typeof name?.content["name"] === "string" && name.content["name"] !== "") n.room_name = name.content["name"];
    const alias = get("m.room.canonical_alias", "");
    if (typeof alias?.content["alias"] === "string") {
      n.room_alias = alias.content["alias"];
      // The room's display name (client-server-api "Calculating the display name for a room"):
      // without a name, its canonical alias (as Synapse sends it).
      if (n.room_name === undefined && alias.content["alias"] !== "") n.room_name = alias.content["alias"];
    }
    if (ev.type === "m.room.member" && typeof ev.state_key === "string") {
      n.user_is_target = ev.state_key === p.user_id;
      if (typeof ev.content["membership"] === "string") n.membership = ev.content["membership"];
    }
    if (this.d.config.include_content && Object.keys(ev.content ?? {}).length > 0) n.content = ev.content;
    return { notification: n };
  }

  /** POSTs a body to the pusher's gateway: its rejected pushkeys, or undefined on failure. */
  private async post(p: PusherRow, body: JsonObject): Promise<string[] | undefined> {
    const url = new URL((JSON.parse(p.data) as JsonObject).url as string);
    const https = url.protocol === "https:";
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    try {
      const res = await this.d.http.request({
        targets: [{ host, port: url.port ? Number(url.port) : https ? 443 : 80 }],
        hostHeader: url.host,
        tlsName: host,
        scheme: https ? "https" : "http",
        method: "POST",
        pathAndQuery: `${url.pathname}${url.search}`,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        timeoutMs: PUSH_TIMEOUT_MS,
        maxResponseBytes: 65536,
      });
      if (res.status < 200 || res.status >= 300) {
        log.warn("push gateway refused a notification", { user_id: p.user_id, app_id: p.app_id, status: res.status });
        return undefined;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(res.body));
      } catch {
        parsed = {};
      }
      const rejected = isObject(parsed) && Array.isArray(parsed.rejected) ? parsed.rejected.filter((x): x is string => typeof x === "string") : [];
      return rejected;
    } catch (e) {
      log.warn("push gateway unreachable", { user_id: p.user_id, app_id: p.app_id, error: (e as Error).message });
      return undefined;
    }
  }

  /** Removes the pusher when the gateway rejected its pushkey. */
  private async handleRejected(p: PusherRow, rejected: readonly string[]): Promise<boolean> {
    if (!rejected.includes(p.pushkey)) return false;
    log.info("push gateway rejected a pushkey: removing the pusher", { user_id: p.user_id, app_id: p.app_id });
    await this.d.repo.delete(p.user_id, p.app_id, p.pushkey);
    this.dropWorker(p.user_id, p.app_id, p.pushkey);
    return true;
  }

  /** Sends one notification. */
  async deliver(p: PusherRow, pending: PendingPush): Promise<"sent" | "failed" | "removed"> {
    const ev = await this.d.events.loadEvent(pending.event_id);
    if (!ev) return "sent"; // purged meanwhile: nothing to say
    const badge = await this.badgeCount(p.user_id);
    const body = await this.notification(p, pending, ev, badge);
    const rejected = await this.post(p, body);
    if (rejected === undefined) return "failed";
    const w = this.workers.get(p.user_id)?.get(`${p.app_id}\u0000${p.pushkey}`);
    if (w) w.lastBadge = badge;
    return (await this.handleRejected(p, rejected)) ? "removed" : "sent";
  }

  /** After a read receipt: badge-only updates to the user's pushers whose badge changed. */
  async updateBadge(userId: string): Promise<void> {
    const ws = [...(this.workers.get(userId)?.values() ?? [])];
    if (ws.length === 0) return;
    const badge = await this.badgeCount(userId);
    for (const w of ws) {
      if (w.lastBadge === badge) continue;
      w.lastBadge = badge;
      const rejected = await this.post(w.row, { notification: { counts: { unread: badge }, devices: [this.device(w.row, {})] } });
      if (rejected) await this.handleRejected(w.row, rejected);
    }
  }

  close(): void {
    this.running = false;
    for (const m of this.workers.values()) for (const w of m.values()) w.stop();
    this.workers.clear();
  }
}

/** The push gateway URL of an http pusher: http(s), path /_matrix/push/v1/notify. */
export function checkGatewayUrl(url: unknown): void {
  if (typeof url !== "string") throw new MatrixError("M_INVALID_PARAM", "'data.url' must be a string");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MatrixError("M_INVALID_PARAM", "'data.url' is not a valid URL");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new MatrixError("M_INVALID_PARAM", "'data.url' must be an https URL");
  if (u.pathname !== NOTIFY_PATH) throw new MatrixError("M_INVALID_PARAM", `'data.url' must have the path ${NOTIFY_PATH}`);
  if (u.username || u.password) throw new MatrixError("M_INVALID_PARAM", "'data.url' must not contain credentials");
}
