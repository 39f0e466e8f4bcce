// Sliding sync connections: what each connection (user, device, conn_id) has been sent, per `pos`.
//
// A connection keeps one confirmed state (`base`: what the client has, as of the `pos` it sent
// last) and the responses minted from it that the client has not confirmed yet (`pending`: each a
// set of changes over `base`). A request with a pending `pos` confirms it: its changes are applied
// to `base` and every other pending response is dropped (the client processed that one and no
// other). A request with the base `pos` again (a retry) drops the pending ones. Anything else is
// an unknown position (400 M_UNKNOWN_POS) and the client starts over. Applying a response costs
// what it changed, never the size of the room list.
//
// Connections live in memory: a restart, a long idle time or more than the capacity of connections
// (scaled by [caches] memory_target_mb) expires them, which clients handle by starting a new
// connection (MSC4186 "Connections"). Memory-pressure trimming of caches leaves them alone.
// Several processes on one PostgreSQL database (docs/SCALING.md) also store each connection after
// every response (serialize/deserialize), so that any process continues it.
import { randomString } from "../../util/random.ts";
import { Lru } from "../../util/lru.ts";
import type { StatePair } from "../../core/required-state.ts";

/** What a connection has sent of one room. */
export interface RoomSent {
  /** Room data (timeline, state) was sent up to this stream position. */
  sentUpTo: number;
  /** The user's membership as last sent. */
  membership: string;
  /** The room config it was last sent with. */
  timelineLimit: number;
  required: readonly StatePair[];
  requiredSig: string;
  bumpStamp?: number;
  isDm?: boolean;
  /** Members whose membership event the client has (lazy loading). */
  lazyMembers?: ReadonlySet<string>;
  /** Unread counts as last sent. */
  notificationCount?: number;
  highlightCount?: number;
  /** Extensions: receipts and room account data were sent up to these positions. */
  receiptsUpTo?: number;
  accountDataUpTo?: number;
}

export interface ConnectionState {
  /** Stream and typing positions of the response (the `from` of the next request). */
  stream: number;
  typing: number;
  /** The one-time key counts last sent (e2ee), to notice a change. */
  otkSignature?: string;
}

interface Pending extends ConnectionState {
  rooms: Map<string, RoomSent>;
}

/** The state a request starts from: base rooms and positions (undefined for a new connection). */
export interface ConnectionView {
  readonly state: ConnectionState | undefined;
  room(roomId: string): RoomSent | undefined;
  /** Rooms the connection has sent (for extensions tracking rooms out of range). */
  sentRooms(): IterableIterator<[string, RoomSent]>;
}

/** How long an unused connection is kept. */
export const CONNECTION_IDLE_MS = 60 * 60_000;
/** Unconfirmed responses kept per connection (one normally; more when requests are retried). */
const MAX_PENDING = 8;

/** A RoomSent as JSON (lazyMembers as an array). */
type RoomSentJson = Omit<RoomSent, "lazyMembers"> & { lazyMembers?: string[] };
const roomToJson = (r: RoomSent): RoomSentJson => ({ ...r, lazyMembers: r.lazyMembers ? [...r.lazyMembers] : undefined });
const roomFromJson = (r: RoomSentJson): RoomSent => ({ ...r, lazyMembers: r.lazyMembers ? new Set(r.lazyMembers) : undefined });

interface ConnectionJson {
  n: string;
  ns: number;
  bs: number;
  b: ConnectionState | null;
  br: Array<[string, RoomSentJson]>;
  p: Array<[number, ConnectionState & { rooms: Array<[string, RoomSentJson]> }]>;
}

export class Connection {
  readonly nonce: string;
  private nextSeq = 1;
  private baseSeq = 0;
  private base: ConnectionState | undefined;
  private readonly baseRooms = new Map<string, RoomSent>();
  private readonly pending = new Map<number, Pending>();
  lastUsed = Date.now();

  constructor(nonce = randomString(8)) {
    this.nonce = nonce;
  }

  /** The whole connection as JSON (several processes share it through the database). */
  serialize(): string {
    const j: ConnectionJson = {
      n: this.nonce,
      ns: this.nextSeq,
      bs: this.baseSeq,
      b: this.base ?? null,
      br: [...this.baseRooms].map(([k, r]) => [k, roomToJson(r)]),
      p: [...this.pending].map(([seq, p]) => [seq, { ...p, rooms: [...p.rooms].map(([k, r]) => [k, roomToJson(r)] as [string, RoomSentJson]) }]),
    };
    return JSON.stringify(j);
  }

  static deserialize(text: string): Connection {
    const j = JSON.parse(text) as ConnectionJson;
    const c = new Connection(j.n);
    c.nextSeq = j.ns;
    c.baseSeq = j.bs;
    c.base = j.b ?? undefined;
    for (const [k, r] of j.br) c.baseRooms.set(k, roomFromJson(r));
    for (const [seq, p] of j.p) c.pending.set(seq, { ...p, rooms: new Map(p.rooms.map(([k, r]) => [k, roomFromJson(r)])) });
    return c;
  }

  /** Resolves a request's `pos` ("<nonce>_<seq>"); undefined when unknown. */
  resolve(seq: number): ConnectionView | undefined {
    if (seq === this.baseSeq && seq !== 0) {
      this.pending.clear();
    } else {
      const p = this.pending.get(seq);
      if (!p) return undefined;
      for (const [id, r] of p.rooms) this.baseRooms.set(id, r);
      this.base = { stream: p.stream, typing: p.typing, otkSignature: p.otkSignature };
      this.baseSeq = seq;
      this.pending.clear();
    }
    return this.view();
  }

  /** The view of a brand-new connection. */
  fresh(): ConnectionView {
    return this.view();
  }

  private view(): ConnectionView {
    const rooms = this.baseRooms;
    return { state: this.base, room: (id) => rooms.get(id), sentRooms: () => rooms.entries() };
  }

  /** Records a response: its state and the rooms it changed. Returns its `pos`. */
  mint(state: ConnectionState, rooms: Map<string, RoomSent>): string {
    const seq = this.nextSeq++;
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as number);
    this.pending.set(seq, { ...state, rooms });
    return `${this.nonce}_${seq}`;
  }

  get roomCount(): number {
    return this.baseRooms.size;
  }
}

export class Connections {
  // Session state, not a cache: trimming it under memory pressure would make every client start over.
  private readonly conns = new Lru<string, Connection>(2000, "sliding_sync_connections", { trim: false });

  constructor(private readonly now: () => number = Date.now) {}

  private key(userId: string, deviceId: string | null, connId: string): string {
    return `${userId}\u0000${deviceId ?? ""}\u0000${connId}`;
  }

  /** A request without `pos`: a new connection replaces any previous one with the same key. */
  start(userId: string, deviceId: string | null, connId: string): { conn: Connection; view: ConnectionView } {
    const conn = new Connection();
    conn.lastUsed = this.now();
    this.conns.set(this.key(userId, deviceId, connId), conn);
    return { conn, view: conn.fresh() };
  }

  /** Puts a connection loaded from the database (another process served it last). */
  adopt(userId: string, deviceId: string | null, connId: string, conn: Connection): void {
    conn.lastUsed = this.now();
    this.conns.set(this.key(userId, deviceId, connId), conn);
  }

  /** A request with `pos`; undefined when the position is unknown or expired. */
  resume(userId: string, deviceId: string | null, connId: string, pos: string): { conn: Connection; view: ConnectionView } | undefined {
    const m = /^([A-Za-z0-9]{1,32})_(\d{1,15})$/.exec(pos);
    if (!m) return undefined;
    const k = this.key(userId, deviceId, connId);
    const conn = this.conns.get(k);
    if (!conn || conn.nonce !== m[1]) return undefined;
    const now = this.now();
    if (now - conn.lastUsed > CONNECTION_IDLE_MS) {
      this.conns.delete(k);
      return undefined;
    }
    const view = conn.resolve(Number(m[2]));
    if (!view) return undefined;
    conn.lastUsed = now;
    return { conn, view };
  }

  /** Drops every connection of a device (logged out) or of a user. */
  forget(userId: string, deviceId?: string): void {
    for (const [k] of [...this.conns.entries()]) {
      const [u, d] = k.split("\u0000");
      if (u === userId && (deviceId === undefined || d === deviceId)) this.conns.delete(k);
    }
  }

  get size(): number {
    return this.conns.size;
  }
}
