// Send-to-device messaging (spec: client-server-api modules/send_to_device.md, to_device.yaml;
// server-server-api.md "Send-to-device messaging", m.direct_to_device).
//
// PUT /sendToDevice/{type}/{txnId} stores one message per local target device (`*`: every device
// of the user) in device_inbox under one new stream position, and queues one m.direct_to_device EDU
// per remote server; a repeated transaction ID of the same device changes nothing. /sync delivers a
// device's messages in order, at most MAX_PER_SYNC per response, and stamps each with the
// response's position (delivered_at); the next /sync whose `since` is at or past that position
// acknowledges them, and they are deleted. A response that leaves messages behind advances the
// stream, so that the next response has a later position than the one acknowledging this one.
// Application services with receive_ephemeral also get the messages of their users in transactions
// (MSC2409, appservices/sender.ts reads them from device_inbox; onStored tells it where to look).
import { isJsonRecord, type JsonRecord } from "../../core/e2ee-keys.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { findServerNameOf, isValidUserId } from "../../protocol/ids.ts";
import type { Queryable, Transaction } from "../../storage/engines/db.ts";
import type { E2eeRepo, NewInboxMessage } from "../../storage/repos/e2ee.ts";
import { randomString } from "../../util/random.ts";
import type { Notifier } from "../notifier.ts";
import type { StreamAllocator } from "../streams.ts";

/** Messages per /sync response (the spec recommends 100). */
export const MAX_PER_SYNC = 100;
/** How long transaction and federation message IDs are remembered. */
const ID_LIFETIME_MS = 24 * 60 * 60_000;
const CLEANUP_INTERVAL_MS = 10 * 60_000;

export interface ToDeviceDeps {
  transaction: Transaction;
  repo: E2eeRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  serverName: string;
  /** A local user's device IDs (for `*`); empty for unknown users. */
  deviceIds: (userId: string) => Promise<string[]>;
  sendEdu: (type: string, content: Record<string, unknown>, destinations: string[]) => Promise<void>;
  now?: () => number;
}

export type ToDeviceEvent = {
  sender: string;
  type: string;
  content: JsonRecord;
};

export class ToDevice {
  private readonly now: () => number;
  private lastCleanup = 0;
  /**
   * Called once messages are committed to device_inbox at stream position `pos` for these local
   * users, before `pos` becomes visible (application services push them in transactions, MSC2409).
   * Must not throw.
   */
  readonly onStored: Array<(pos: number, userIds: readonly string[]) => void> = [];

  constructor(private readonly d: ToDeviceDeps) {
    this.now = d.now ?? Date.now;
  }

  /** PUT /sendToDevice/{eventType}/{txnId}. */
  async send(sender: string, senderDevice: string | null, type: string, txnId: string, body: JsonRecord): Promise<void> {
    const messages = parseMessages(body.messages);
    await this.cleanup();
    const local: Array<[string, JsonRecord]> = [];
    const remote = new Map<string, Record<string, JsonRecord>>();
    for (const [userId, byDevice] of messages) {
      const server = findServerNameOf(userId)!;
      if (server === this.d.serverName) local.push([userId, byDevice]);
      else (remote.get(server) ?? remote.set(server, {}).get(server)!)[userId] = byDevice;
    }
    const inbox = await this.expandLocal(sender, type, local);
    const fresh = await this.store(inbox, (tx) => this.d.repo.insertTxnId(tx, sender, senderDevice ?? "", txnId, this.now()));
    if (!fresh) return;
    for (const [server, msgs] of remote) {
      await this.d.sendEdu("m.direct_to_device", { sender, type, message_id: randomString(16), messages: msgs }, [server]);
    }
  }

  /** m.direct_to_device from another server: delivered once per message_id. */
  async receive(origin: string, c: Record<string, unknown>): Promise<void> {
    const sender = c.sender;
    if (typeof sender !== "string" || findServerNameOf(sender) !== origin) return;
    if (typeof c.type !== "string" || typeof c.message_id !== "string") return;
    let messages: Map<string, JsonRecord>;
    try {
      messages = parseMessages(c.messages);
    } catch {
      return;
    }
    const local = [...messages].filter(([u]) => findServerNameOf(u) === this.d.serverName);
    const inbox = await this.expandLocal(sender, c.type, local);
    const messageId = c.message_id;
    await this.store(inbox, (tx) => this.d.repo.insertFederationMessageId(tx, origin, messageId, this.now()));
  }

  /** One inbox row per target device; an explicit device wins over `*` for the same device. */
  private async expandLocal(sender: string, type: string, local: Array<[string, JsonRecord]>): Promise<NewInboxMessage[]> {
    const out = new Map<string, NewInboxMessage>();
    for (const [userId, byDevice] of local) {
      const known = new Set(await this.d.deviceIds(userId));
      if (known.size === 0) continue;
      const star = byDevice["*"];
      if (isJsonRecord(star)) for (const dev of known) out.set(`${userId}\u0000${dev}`, { userId, deviceId: dev, sender, type, content: JSON.stringify(star) });
      for (const [dev, content] of Object.entries(byDevice)) {
        if (dev === "*" || !known.has(dev)) continue;
        out.set(`${userId}\u0000${dev}`, { userId, deviceId: dev, sender, type, content: JSON.stringify(content) });
      }
    }
    return [...out.values()];
  }

  /**
   * Stores messages under a new stream position if `claim` (recording the transaction or message
   * ID) succeeds in the same transaction; wakes the recipients. False for a repeat.
   */
  private async store(inbox: NewInboxMessage[], claim: (tx: Queryable) => Promise<boolean>): Promise<boolean> {
    const users = [...new Set(inbox.map((m) => m.userId))];
    const fresh = await this.d.streams.with(async (pos) => {
      const ok = await this.d.transaction(async (tx) => {
        if (!(await claim(tx))) return false;
        await this.d.repo.insertInbox(tx, pos, inbox);
        return true;
      });
      // Committed, and `pos` not visible yet: whoever reads up to a visible position knows of it.
      if (ok && users.length) for (const h of this.onStored) h(pos, users);
      return ok;
    });
    if (fresh) for (const u of users) this.d.notifier.notifyUser(u);
    return fresh;
  }

  /**
   * The to_device events of a /sync response covering up to `to` for one device: acknowledges what
   * earlier responses up to `since` carried, then returns the oldest pending messages.
   */
  async forSync(userId: string, deviceId: string, since: number | undefined, to: number): Promise<ToDeviceEvent[]> {
    // Only a sync after a delivery writes (most syncs just find an empty inbox).
    if (since !== undefined && (await this.d.repo.hasAcknowledged(userId, deviceId, since))) await this.d.repo.ackInbox(userId, deviceId, since);
    const rows = await this.d.repo.pendingInbox(userId, deviceId, MAX_PER_SYNC + 1);
    const batch = rows.slice(0, MAX_PER_SYNC);
    if (batch.length === 0) return [];
    await this.d.repo.markDelivered(userId, deviceId, batch.map((r) => r.stream_id), to);
    // More are waiting: the next response must be at a later position than this one.
    if (rows.length > MAX_PER_SYNC && this.d.streams.current() <= to) await this.d.streams.with(async () => undefined);
    return batch.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonRecord }));
  }

  private async cleanup(): Promise<void> {
    const now = this.now();
    if (now - this.lastCleanup < CLEANUP_INTERVAL_MS) return;
    this.lastCleanup = now;
    await this.d.repo.expireIds(now - ID_LIFETIME_MS);
  }
}

/** `messages`: user ID → device ID (or `*`) → content object. */
function parseMessages(v: unknown): Map<string, JsonRecord> {
  if (v === undefined || v === null) throw new MatrixError("M_MISSING_PARAM", "Missing 'messages'");
  if (!isJsonRecord(v)) throw new MatrixError("M_BAD_JSON", "'messages' must be an object");
  const out = new Map<string, JsonRecord>();
  for (const [userId, byDevice] of Object.entries(v)) {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", `Invalid user ID ${JSON.stringify(userId.slice(0, 100))}`);
    if (!isJsonRecord(byDevice)) throw new MatrixError("M_BAD_JSON", `'messages.${userId}' must map device IDs to contents`);
    for (const [dev, content] of Object.entries(byDevice)) {
      if (!isJsonRecord(content)) throw new MatrixError("M_BAD_JSON", `'messages.${userId}.${dev}' must be an object`);
    }
    out.set(userId, byDevice);
  }
  return out;
}
