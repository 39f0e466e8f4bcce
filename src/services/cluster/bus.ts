// The cluster bus: small typed messages between the hs processes that share one database.
// On PostgreSQL it is LISTEN/NOTIFY on one channel ("hs_cluster") over one dedicated connection
// that reconnects; on SQLite (one process) the same interface delivers in-process only.
// Payloads are JSON {"i": instance, "b": [[channel, message], ...]}: messages published while a
// NOTIFY is on its way are sent together in the next one.
//
//   const wake = bus.channel<{ room: string; pos: number }>("wake");
//   wake.subscribe((msg, origin) => ...);   // runs in every process, this one included
//   wake.publish({ room, pos });            // fire-and-forget, delivered at most once per process
//
// A message published here reaches this process's subscribers at once (synchronously, origin
// "local") and every other process's through PostgreSQL (origin "remote"), in publish order; a
// process drops the echo of its own messages. Messages published while the listening connection is down are lost
// for the processes concerned: after a reconnection `onResync` handlers run, so that whatever
// a subscriber keeps (caches, stream positions) can be rebuilt from the database.
import type { DbPubSub } from "../../storage/engines/db.ts";
import { logger } from "../../util/log.ts";
import { randomString } from "../../util/random.ts";

const log = logger("cluster");

/** The PostgreSQL channel every message travels on. */
export const BUS_CHANNEL = "hs_cluster";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD = 7900;

export type BusOrigin = "local" | "remote";

export interface BusChannel<T> {
  readonly name: string;
  /** Delivers msg (JSON-serialisable) to the subscribers of every process. Never throws. */
  publish(msg: T): void;
  /** Returns the function that unsubscribes. */
  subscribe(fn: (msg: T, origin: BusOrigin) => void): () => void;
}

export interface ClusterBus {
  /** This process's identity on the bus (random per start). */
  readonly instanceId: string;
  /** True when other processes may share the database (PostgreSQL). */
  readonly shared: boolean;
  channel<T>(name: string): BusChannel<T>;
  /** Runs fn after the listening connection came back: messages may have been missed. */
  onResync(fn: () => void): () => void;
  /** Starts listening (PostgreSQL); resolves once LISTEN is in place. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A NOTIFY payload: the sending instance and its messages in order, each [channel, message]. */
interface Envelope {
  i: string;
  b: Array<[string, unknown]>;
}

class Bus implements ClusterBus {
  readonly instanceId = randomString(12);
  private readonly subs = new Map<string, Set<(msg: unknown, origin: BusOrigin) => void>>();
  private readonly resync = new Set<() => void>();
  private stopListening?: () => Promise<void>;
  private connections = 0;
  private readonly queue: string[] = [];
  private sending = false;
  /** Every payload this process sends starts so (its own are dropped unparsed). */
  private readonly prefix = `{"i":${JSON.stringify(this.instanceId)},"b":[`;
  private closed = false;

  constructor(private readonly pubsub: DbPubSub | undefined) {}

  get shared(): boolean {
    return this.pubsub !== undefined;
  }

  channel<T>(name: string): BusChannel<T> {
    return {
      name,
      publish: (msg: T) => this.publish(name, msg),
      subscribe: (fn) => {
        let set = this.subs.get(name);
        if (!set) this.subs.set(name, (set = new Set()));
        const f = fn as (msg: unknown, origin: BusOrigin) => void;
        set.add(f);
        return () => set.delete(f);
      },
    };
  }

  onResync(fn: () => void): () => void {
    this.resync.add(fn);
    return () => this.resync.delete(fn);
  }

  private deliver(name: string, msg: unknown, origin: BusOrigin): void {
    for (const fn of this.subs.get(name) ?? []) {
      try {
        fn(msg, origin);
      } catch (e) {
        log.error("bus subscriber failed", { channel: name, error: String(e) });
      }
    }
  }

  private publish(name: string, msg: unknown): void {
    this.deliver(name, msg, "local");
    if (!this.pubsub || this.closed) return;
    const item = JSON.stringify([name, msg]);
    if (item.length + this.prefix.length + 2 > MAX_PAYLOAD) {
      log.error("bus message too large, not sent to other processes", { channel: name, bytes: item.length });
      return;
    }
    this.queue.push(item);
    if (!this.sending) void this.drain();
  }

  /**
   * One NOTIFY at a time, so that the other processes receive this process's messages in publish
   * order; messages queued meanwhile travel together in the next one (as many as fit).
   */
  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        let payload = this.prefix;
        let n = 0;
        while (n < this.queue.length && payload.length + this.queue[n]!.length + 2 <= MAX_PAYLOAD) payload += (n ? "," : "") + this.queue[n++];
        this.queue.splice(0, n);
        try {
          await this.pubsub!.notify(BUS_CHANNEL, payload + "]}");
        } catch (e) {
          if (!this.closed) log.warn("bus publish failed", { messages: n, error: String(e) });
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private receive(payload: string): void {
    // Own messages come back too: recognised without parsing them.
    if (payload.startsWith(this.prefix)) return;
    let env: Envelope;
    try {
      env = JSON.parse(payload) as Envelope;
    } catch {
      return;
    }
    if (env.i === this.instanceId || !Array.isArray(env.b)) return;
    for (const item of env.b) if (Array.isArray(item) && typeof item[0] === "string") this.deliver(item[0], item[1], "remote");
  }

  async start(): Promise<void> {
    if (!this.pubsub || this.stopListening) return;
    this.stopListening = await this.pubsub.listen(
      BUS_CHANNEL,
      (p) => this.receive(p),
      () => {
        // The first call is the initial LISTEN; later ones follow a reconnection.
        if (this.connections++ === 0 || this.closed) return;
        log.warn("cluster bus reconnected; resynchronising");
        for (const fn of this.resync) {
          try {
            fn();
          } catch (e) {
            log.error("bus resync handler failed", { error: String(e) });
          }
        }
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopListening?.();
  }
}

/** The bus for processes sharing a database: its PostgreSQL LISTEN/NOTIFY (Db.pubsub), or in-process on SQLite (none). */
export function createClusterBus(pubsub: DbPubSub | undefined): ClusterBus {
  return new Bus(pubsub);
}
