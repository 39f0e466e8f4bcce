// One room as the client knows it: state, timeline, local echoes, receipts, typing, unread counts,
// and the derived views (name, avatar, power levels, edits and reactions of the loaded timeline).
import { arr, num, obj, str, type JsonObject } from "./api.ts";

export interface MEvent {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
  state_key?: string;
  redacts?: string;
  unsigned?: JsonObject;
  room_id?: string;
  /**
   * Set on events that came encrypted (m.room.encrypted). Once decrypted, `type` and `content` are
   * the cleartext and `wire` keeps what the server sent.
   */
  e2e?: E2eState;
}

export interface E2eState {
  state: "decrypting" | "waiting" | "failed" | "ok";
  /** Why it is not decrypted (waiting or failed). */
  reason?: string;
  sessionId?: string;
  wire?: { type: string; content: JsonObject };
}

export type SendStatus = "sending" | "failed";

/** An event this client is sending (local echo), shown until the server's copy arrives in /sync. */
export interface PendingEvent {
  txnId: string;
  type: string;
  content: JsonObject;
  status: SendStatus;
  error?: string;
  /** A local preview of an image being uploaded (object URL). */
  previewUrl?: string;
  /** The file to upload first (m.image / m.file), kept for retries until uploaded. */
  file?: File;
  ts: number;
  /** Set once the server accepted the event. */
  eventId?: string;
}

export type Membership = "join" | "invite" | "leave" | "ban" | "knock";

export interface Reaction {
  key: string;
  count: number;
  senders: string[];
  /** The event ID of my own reaction with this key, to take it back. */
  mine?: string;
}

const stateKey = (type: string, key: string) => `${type}\u0000${key}`;

export class Room {
  membership: Membership = "join";
  readonly state = new Map<string, MEvent>();
  timeline: MEvent[] = [];
  pending: PendingEvent[] = [];
  /** Token to paginate backwards from the start of `timeline`; null once history is exhausted. */
  prevBatch: string | null = null;
  loadingHistory = false;
  unread = 0;
  highlights = 0;
  typing: string[] = [];
  /** userId → the event they last read. */
  readonly receipts = new Map<string, { eventId: string; ts: number }>();
  /** Stripped state of an invite. */
  inviteState: MEvent[] = [];
  heroes: string[] = [];
  joinedCount = 0;
  invitedCount = 0;
  tags: Record<string, unknown> = {};
  /** The event we last sent a read receipt for. */
  sentReceipt?: string;
  /** Unread notifications per thread root (the server's `unread_thread_notifications`); `unread` and
   * `highlights` are then the main timeline's. */
  threadUnread = new Map<string, { notifications: number; highlights: number }>();
  /** Thread root → the event we last sent a threaded read receipt for. */
  readonly threadReceipts = new Map<string, string>();
  /** Bumped on every change (components compare it to skip work). */
  version = 0;

  constructor(
    readonly id: string,
    private readonly myUserId: string,
  ) {}

  /** Unread notifications in the whole room: the main timeline and every thread. */
  totalUnread(): { notifications: number; highlights: number } {
    let notifications = this.unread;
    let highlights = this.highlights;
    for (const c of this.threadUnread.values()) {
      notifications += c.notifications;
      highlights += c.highlights;
    }
    return { notifications, highlights };
  }

  /** The thread an event is in (its root's ID), or undefined for the main timeline: an m.thread
   * relation, or a relation (reaction, edit) to an event in a thread — as the server counts it. */
  threadOf(ev: { content: JsonObject }): string | undefined {
    const rel = obj(ev.content["m.relates_to"]);
    if (rel.rel_type === "m.thread") return str(rel.event_id);
    const target = str(rel.event_id);
    if (!target) return undefined;
    const parent = this.timeline.find((e) => e.event_id === target);
    const prel = parent ? obj(parent.content["m.relates_to"]) : {};
    return prel.rel_type === "m.thread" ? str(prel.event_id) : undefined;
  }

  /** Whether an event is surely in the main timeline (a relation to an event not loaded here is not sure). */
  inMainTimeline(ev: { content: JsonObject }): boolean {
    const rel = obj(ev.content["m.relates_to"]);
    const target = str(rel.event_id);
    if (typeof rel.rel_type !== "string" || !target) return true;
    if (rel.rel_type === "m.thread") return false;
    const parent = this.timeline.find((e) => e.event_id === target);
    return parent !== undefined && this.threadOf(parent) === undefined;
  }

  getState(type: string, key = ""): MEvent | undefined {
    return this.state.get(stateKey(type, key));
  }

  setState(ev: MEvent): void {
    if (ev.state_key === undefined) return;
    this.state.set(stateKey(ev.type, ev.state_key), ev);
  }

  stateOfType(type: string): MEvent[] {
    const out: MEvent[] = [];
    for (const ev of this.state.values()) if (ev.type === type) out.push(ev);
    return out;
  }

  /** Stripped state for invites, full state otherwise. */
  private strippedOr(type: string, key = ""): MEvent | undefined {
    return this.getState(type, key) ?? this.inviteState.find((e) => e.type === type && (e.state_key ?? "") === key);
  }

  member(userId: string): MEvent | undefined {
    return this.strippedOr("m.room.member", userId);
  }

  membershipOf(userId: string): string | undefined {
    return str(this.member(userId)?.content.membership);
  }

  displayName(userId: string): string {
    const n = str(this.member(userId)?.content.displayname);
    if (!n) return userId;
    // Disambiguate display names shared by several members.
    let dup = 0;
    for (const m of this.stateOfType("m.room.member")) {
      if (str(m.content.displayname) === n && m.content.membership === "join") dup++;
    }
    return dup > 1 ? `${n} (${userId})` : n;
  }

  avatarOf(userId: string): string | undefined {
    return str(this.member(userId)?.content.avatar_url);
  }

  get members(): Array<{ userId: string; membership: string; name: string; avatar?: string; power: number }> {
    return this.stateOfType("m.room.member")
      .map((m) => ({
        userId: m.state_key!,
        membership: str(m.content.membership) ?? "leave",
        name: str(m.content.displayname) ?? m.state_key!,
        avatar: str(m.content.avatar_url),
        power: this.powerOf(m.state_key!),
      }))
      .filter((m) => m.membership === "join" || m.membership === "invite" || m.membership === "ban")
      .sort((a, b) => b.power - a.power || a.name.localeCompare(b.name));
  }

  /** The room's name, computed as the spec says (name, alias, heroes). */
  get name(): string {
    const n = str(this.strippedOr("m.room.name")?.content.name);
    if (n) return n;
    const alias = str(this.strippedOr("m.room.canonical_alias")?.content.alias);
    if (alias) return alias;
    const heroes = this.heroes.length > 0 ? this.heroes : this.otherMembers().slice(0, 5);
    if (this.membership === "invite" && heroes.length === 0) {
      const inviter = this.inviter;
      if (inviter) return this.displayName(inviter);
    }
    if (heroes.length === 0) return "Empty room";
    const names = heroes.map((h) => this.displayName(h));
    const total = Math.max(this.joinedCount + this.invitedCount - 1, heroes.length);
    return total > names.length ? `${names.join(", ")} and ${total - names.length} others` : names.join(", ");
  }

  otherMembers(): string[] {
    return this.stateOfType("m.room.member")
      .filter((m) => m.state_key !== this.myUserId && (m.content.membership === "join" || m.content.membership === "invite"))
      .map((m) => m.state_key!);
  }

  get topic(): string {
    return str(this.strippedOr("m.room.topic")?.content.topic) ?? "";
  }

  get avatarUrl(): string | undefined {
    const a = str(this.strippedOr("m.room.avatar")?.content.url);
    if (a) return a;
    const others = this.otherMembers();
    return others.length === 1 ? this.avatarOf(others[0]!) : undefined;
  }

  /** A space (m.room.create's type is m.space): shown in the space switcher, not as a chat. */
  get isSpace(): boolean {
    return str((this.getState("m.room.create") ?? this.inviteState.find((e) => e.type === "m.room.create"))?.content.type) === "m.space";
  }

  /** A space's children (m.space.child with a non-empty via), room IDs. */
  get spaceChildren(): string[] {
    return this.stateOfType("m.space.child")
      .filter((e) => Array.isArray(e.content.via) && e.content.via.length > 0)
      .map((e) => e.state_key!);
  }

  get encrypted(): boolean {
    return !!this.strippedOr("m.room.encryption");
  }

  get joinRule(): string {
    return str(this.strippedOr("m.room.join_rules")?.content.join_rule) ?? "invite";
  }

  get inviter(): string | undefined {
    const m = this.member(this.myUserId);
    return m && m.content.membership === "invite" ? m.sender : undefined;
  }

  /** True when my invite says the room is a direct chat. */
  get invitedAsDirect(): boolean {
    return this.member(this.myUserId)?.content.is_direct === true;
  }

  // ---- power levels

  private get powerLevels(): JsonObject {
    return this.getState("m.room.power_levels")?.content ?? {};
  }

  powerOf(userId: string): number {
    const pl = this.getState("m.room.power_levels");
    if (!pl) {
      const create = this.getState("m.room.create");
      return create?.sender === userId ? 100 : 0;
    }
    const users = obj(pl.content.users);
    // Room version 12: creators have infinite power.
    const create = this.getState("m.room.create");
    if (create && (create.sender === userId || arr(create.content.additional_creators).includes(userId)) && /^(12|org\.matrix\.hydra\.11)$/.test(str(create.content.room_version) ?? "")) return Infinity;
    return num(users[userId]) ?? num(pl.content.users_default) ?? 0;
  }

  private level(key: string, def: number): number {
    return num(this.powerLevels[key]) ?? def;
  }

  canDo(action: "invite" | "kick" | "ban" | "redact"): boolean {
    const def = action === "invite" ? 0 : 50;
    return this.powerOf(this.myUserId) >= this.level(action, def);
  }

  canSendState(type: string): boolean {
    const events = obj(this.powerLevels.events);
    const need = num(events[type]) ?? (this.getState("m.room.power_levels") ? this.level("state_default", 50) : 0);
    return this.powerOf(this.myUserId) >= need;
  }

  canSendMessage(): boolean {
    const events = obj(this.powerLevels.events);
    const need = num(events["m.room.message"]) ?? this.level("events_default", 0);
    return this.powerOf(this.myUserId) >= need;
  }

  /** May I kick/ban this member (their power is lower than mine)? */
  outranks(userId: string): boolean {
    return this.powerOf(this.myUserId) > this.powerOf(userId);
  }

  // ---- timeline views

  /** Edits (m.replace) and reactions (m.annotation) found in the loaded timeline, by target. */
  relations(): { edits: Map<string, MEvent>; reactions: Map<string, Reaction[]>; redacted: Set<string> } {
    const edits = new Map<string, MEvent>();
    const byTarget = new Map<string, Map<string, Reaction>>();
    const redacted = new Set<string>();
    for (const ev of this.timeline) {
      if (ev.type === "m.room.redaction") {
        const target = ev.redacts ?? str(ev.content.redacts);
        if (target) redacted.add(target);
      }
    }
    for (const ev of this.timeline) {
      if (redacted.has(ev.event_id) || isRedacted(ev)) continue;
      const rel = obj(ev.content["m.relates_to"]);
      const target = str(rel.event_id);
      if (!target) continue;
      if (rel.rel_type === "m.replace" && ev.type === "m.room.message") {
        const prev = edits.get(target);
        if (!prev || prev.origin_server_ts <= ev.origin_server_ts) edits.set(target, ev);
      } else if (rel.rel_type === "m.annotation" && ev.type === "m.reaction") {
        const key = str(rel.key);
        if (!key) continue;
        let m = byTarget.get(target);
        if (!m) byTarget.set(target, (m = new Map()));
        let r = m.get(key);
        if (!r) m.set(key, (r = { key, count: 0, senders: [] }));
        if (r.senders.includes(ev.sender)) continue;
        r.count++;
        r.senders.push(ev.sender);
        if (ev.sender === this.myUserId) r.mine = ev.event_id;
      }
    }
    const reactions = new Map<string, Reaction[]>();
    for (const [t, m] of byTarget) reactions.set(t, [...m.values()]);
    return { edits, reactions, redacted };
  }

  /** The latest event worth showing in the room list. */
  get lastMessage(): MEvent | undefined {
    for (let i = this.timeline.length - 1; i >= 0; i--) {
      const ev = this.timeline[i]!;
      if (ev.type === "m.room.message" || ev.type === "m.room.encrypted") {
        if (obj(ev.content["m.relates_to"]).rel_type === "m.replace") continue;
        return ev;
      }
    }
    return undefined;
  }

  get lastActivity(): number {
    const last = this.timeline[this.timeline.length - 1];
    return last?.origin_server_ts ?? this.getState("m.room.create")?.origin_server_ts ?? 0;
  }

  /** userId → event ID of their read receipt, for users other than me. */
  readersAt(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [user, r] of this.receipts) {
      if (user === this.myUserId) continue;
      let l = out.get(r.eventId);
      if (!l) out.set(r.eventId, (l = []));
      l.push(user);
    }
    return out;
  }

  touch(): void {
    this.version++;
  }
}

export function isRedacted(ev: MEvent): boolean {
  return !!ev.unsigned?.redacted_because || (ev.type === "m.room.message" && Object.keys(ev.content).length === 0);
}

export function isStateEvent(ev: MEvent): boolean {
  return ev.state_key !== undefined;
}
