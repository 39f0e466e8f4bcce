// Device list tracking (spec: client-server-api end_to_end_encryption.md "Tracking the device list
// for a user", "Extensions to /sync"; server-server-api.md "Device Management").
//
// Every change of a user's devices or cross-signing keys takes a position in the global stream
// (device_list_changes). /sync `device_lists` and /keys/changes report, for a range (since, to]:
//   changed — users sharing a joined room with the syncing user (or the user themself) whose devices
//             changed in the range, and users who newly share a room (they joined one of the user's
//             rooms, or the user joined theirs);
//   left    — users who shared a room but share none any more (someone left, or the user left).
//
// Local changes go to every server sharing a room with the user as m.device_list_update EDUs,
// numbered per user (stream_id from a per-user counter, prev_id = the previous EDU's), and
// cross-signing changes as m.signing_key_update. Remote users' device lists are cached
// (remote_device_lists/remote_devices) while they share a room with a local user: EDUs update the
// cache in order, and a gap in prev_id (or an unknown user) triggers a resync from
// GET /_matrix/federation/v1/user/devices/{userId}. A cache that cannot be kept up to date is dropped,
// so /keys/query asks the remote server instead.
import { isJsonRecord, type JsonRecord } from "../../core/e2ee-keys.ts";
import { findServerNameOf, isValidUserId } from "../../protocol/ids.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import type { E2eeRepo } from "../../storage/repos/e2ee.ts";
import { logger } from "../../util/log.ts";
import { KeyedMutex } from "../../util/mutex.ts";
import type { FederationRequester } from "../federation/ports.ts";
import type { Notifier } from "../notifier.ts";
import type { StreamAllocator } from "../streams.ts";

const log = logger("e2ee");

export interface DeviceListsDeps {
  transaction: Transaction;
  repo: E2eeRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  serverName: string;
  fed: FederationRequester;
  /** Queues an EDU to other servers (the federation sender). */
  sendEdu: (type: string, content: Record<string, unknown>, destinations: string[]) => Promise<void>;
  /** The servers with joined users in a room. */
  serversInRoom: (roomId: string) => Promise<string[]>;
  /** [federation] allow_device_name_lookup_over_federation. */
  shareDisplayNames: boolean;
  /** A local device as other servers see it: its keys (owner signatures merged) and display name. */
  localDeviceForFederation: (userId: string, deviceId: string) => Promise<{ keys?: JsonRecord; displayName?: string } | undefined>;
  /** A local user's master and self-signing keys as other servers see them. */
  localCrossSigningForFederation: (userId: string) => Promise<{ master_key?: JsonRecord; self_signing_key?: JsonRecord }>;
}

export interface DeviceListChanges {
  changed: string[];
  left: string[];
}

/** How long a resync of a remote user's device list may take. */
const RESYNC_TIMEOUT_MS = 10_000;

export class DeviceLists {
  private readonly userLocks = new KeyedMutex();
  private readonly resyncing = new Map<string, Promise<boolean>>();

  constructor(private readonly d: DeviceListsDeps) {}

  private isLocal(userId: string): boolean {
    return findServerNameOf(userId) === this.d.serverName;
  }

  /**
   * Housekeeping (hourly): device_list_changes keeps each user's latest change, and older ones
   * only for an hour (`horizon`: the stream position at the previous run), so that a sync whose
   * range was computed before a newer change still sees the older one.
   */
  async prune(horizon: number): Promise<number> {
    return this.d.repo.pruneDeviceListChanges(horizon);
  }

  // ------------------------------------------------------------------ recording changes

  /** Records that these users' device lists changed and wakes the /sync of everyone sharing a room. */
  async recordChange(userIds: readonly string[]): Promise<number> {
    const pos = await this.d.streams.with(async (p) => {
      await this.d.transaction((tx) => this.d.repo.insertDeviceListChange(tx, p, userIds));
      return p;
    });
    for (const u of new Set(userIds)) {
      if (this.isLocal(u)) this.d.notifier.notifyUser(u);
      for (const room of await this.d.repo.joinedRooms(u)) this.d.notifier.notifyRoom(room);
    }
    return pos;
  }

  /**
   * A local user's devices changed (keys uploaded or re-signed, renamed, deleted): records the change
   * and sends one m.device_list_update per device to the servers sharing a room with the user.
   */
  async localDevicesChanged(userId: string, deviceIds: readonly string[], deleted = false): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.userLocks.run(`out\u0000${userId}`, async () => {
      await this.recordChange([userId]);
      const destinations = await this.destinationsFor(userId);
      // One EDU per device, numbered by a per-user counter, each pointing at the one before.
      let prev = await this.d.repo.lastOutboundStreamId(userId);
      const edus: Array<Record<string, unknown>> = [];
      let streamId = (prev ?? 0) + 1;
      for (const deviceId of deviceIds) {
        const content: Record<string, unknown> = { user_id: userId, device_id: deviceId, stream_id: streamId, prev_id: prev === undefined ? [] : [prev] };
        if (deleted) content.deleted = true;
        else {
          const dev = await this.d.localDeviceForFederation(userId, deviceId);
          if (!dev) content.deleted = true;
          else {
            if (dev.keys) content.keys = dev.keys;
            if (dev.displayName !== undefined && this.d.shareDisplayNames) content.device_display_name = dev.displayName;
          }
        }
        edus.push(content);
        prev = streamId;
        streamId++;
      }
      await this.d.transaction((tx) => this.d.repo.setOutboundStreamId(tx, userId, prev!));
      if (destinations.length) for (const e of edus) await this.d.sendEdu("m.device_list_update", e, destinations);
    });
  }

  /** A local user's cross-signing keys changed: records it and sends m.signing_key_update. */
  async localCrossSigningChanged(userId: string, federate: boolean): Promise<void> {
    await this.recordChange([userId]);
    if (!federate) return;
    const destinations = await this.destinationsFor(userId);
    if (destinations.length === 0) return;
    const keys = await this.d.localCrossSigningForFederation(userId);
    await this.d.sendEdu("m.signing_key_update", { user_id: userId, ...keys }, destinations);
  }

  /** The stream_id for GET /user/devices: the last m.device_list_update sent for the user. */
  async outboundStreamId(userId: string): Promise<number> {
    return (await this.d.repo.lastOutboundStreamId(userId)) ?? 0;
  }

  private async destinationsFor(userId: string): Promise<string[]> {
    const out = new Set<string>();
    for (const room of await this.d.repo.joinedRooms(userId)) for (const s of await this.d.serversInRoom(room)) out.add(s);
    out.delete(this.d.serverName);
    return [...out];
  }

  // ------------------------------------------------------------------ what a user sees

  /** device_lists for (from, to] as seen by `userId` (/sync and /keys/changes). */
  async changesFor(userId: string, fromExclusive: number, toInclusive: number): Promise<DeviceListChanges> {
    if (toInclusive <= fromExclusive) return { changed: [], left: [] };
    const changed = new Set<string>();
    const leftCandidates = new Set<string>();

    // Devices that changed, of users the user shares a room with (and the user's own).
    const updated = await this.d.repo.usersChangedBetween(fromExclusive, toInclusive);
    if (updated.length) {
      if (updated.includes(userId)) changed.add(userId);
      for (const u of await this.d.repo.sharingJoinedRoom(userId, updated.filter((u) => u !== userId))) changed.add(u);
    }

    // Membership changes in the range, in rooms the user is or was in.
    const memberships = await this.d.repo.localMemberships(userId);
    const joinedNow = new Set(memberships.filter((m) => m.membership === "join").map((m) => m.room_id));
    const leftInRange = memberships.filter((m) => m.membership !== "join" && m.stream_ordering > fromExclusive && m.stream_ordering <= toInclusive).map((m) => m.room_id);
    const events = await this.d.repo.memberEventsBetween(userId, fromExclusive, toInclusive);
    const byRoom = new Map<string, Set<string>>();
    for (const e of events) {
      if (!joinedNow.has(e.room_id)) continue;
      let s = byRoom.get(e.room_id);
      if (!s) byRoom.set(e.room_id, (s = new Set()));
      s.add(e.state_key);
    }
    const newlyShared = new Set<string>();
    for (const [roomId, members] of byRoom) {
      if (members.has(userId)) {
        // The user joined (or rejoined) this room: everyone in it may be new to them.
        for (const m of await this.d.repo.joinedMembers(roomId)) newlyShared.add(m);
        continue;
      }
      const now = await this.d.repo.memberships(roomId, [...members]);
      for (const m of members) {
        if (now.get(m) === "join") newlyShared.add(m);
        else leftCandidates.add(m);
      }
    }
    for (const roomId of leftInRange) for (const m of await this.d.repo.joinedMembers(roomId)) leftCandidates.add(m);

    newlyShared.delete(userId);
    leftCandidates.delete(userId);
    for (const u of newlyShared) changed.add(u);
    // Left: those who share no room with the user any more.
    const stillShared = leftCandidates.size ? await this.d.repo.sharingJoinedRoom(userId, [...leftCandidates]) : new Set<string>();
    const left = [...leftCandidates].filter((u) => !stillShared.has(u));
    for (const u of left) changed.delete(u);
    // A user reported as changed must still share a room (or be the user).
    if (changed.size) {
      const others = [...changed].filter((u) => u !== userId);
      const sharing = others.length ? await this.d.repo.sharingJoinedRoom(userId, others) : new Set<string>();
      for (const u of others) if (!sharing.has(u)) changed.delete(u);
    }
    return { changed: [...changed].sort(), left: left.sort() };
  }

  // ------------------------------------------------------------------ remote users

  /** Whether the cached device list of a remote user can answer /keys/query (kept up to date by EDUs). */
  async cacheUsable(userId: string): Promise<boolean> {
    if ((await this.d.repo.remoteListStreamId(userId)) === undefined) return false;
    if (await this.d.repo.sharesRoomWithLocalUser(userId)) return true;
    // Nobody here shares a room with them: their server stops sending updates.
    await this.d.transaction((tx) => this.d.repo.dropRemoteList(tx, userId));
    return false;
  }

  /**
   * For /keys/query of a remote user whose list is not cached: when a local user shares a room
   * with them, fetches the list (GET /user/devices) and caches it. Whether the cache can answer now.
   */
  async trackNow(userId: string): Promise<boolean> {
    if (!(await this.d.repo.sharesRoomWithLocalUser(userId))) return false;
    return this.resync(userId);
  }

  /** Starts caching a remote user's device list when a local user shares a room with them. */
  maybeStartTracking(userId: string): void {
    void (async () => {
      if ((await this.d.repo.remoteListStreamId(userId)) !== undefined) return;
      if (!(await this.d.repo.sharesRoomWithLocalUser(userId))) return;
      await this.resync(userId);
    })().catch(() => undefined);
  }

  /**
   * Fetches a remote user's whole device list (GET /user/devices) into the cache. Returns false
   * (and drops the cache) when the server cannot be reached or answers nonsense.
   */
  resync(userId: string): Promise<boolean> {
    let p = this.resyncing.get(userId);
    if (p) return p;
    p = this.doResync(userId).finally(() => this.resyncing.delete(userId));
    this.resyncing.set(userId, p);
    return p;
  }

  private async doResync(userId: string): Promise<boolean> {
    const server = findServerNameOf(userId);
    if (!server || server === this.d.serverName) return false;
    try {
      const body = await this.d.fed.request<unknown>({
        destination: server,
        method: "GET",
        path: `/_matrix/federation/v1/user/devices/${encodeURIComponent(userId)}`,
        timeoutMs: RESYNC_TIMEOUT_MS,
      });
      if (!isJsonRecord(body) || body.user_id !== userId || typeof body.stream_id !== "number" || !Number.isSafeInteger(body.stream_id) || !Array.isArray(body.devices)) {
        throw new Error("malformed /user/devices answer");
      }
      const devices: Array<{ deviceId: string; displayName: string | null; keysJson: string | null }> = [];
      for (const dev of body.devices) {
        if (!isJsonRecord(dev) || typeof dev.device_id !== "string") continue;
        const keys = isJsonRecord(dev.keys) && dev.keys.user_id === userId && dev.keys.device_id === dev.device_id ? JSON.stringify(dev.keys) : null;
        devices.push({ deviceId: dev.device_id, displayName: typeof dev.device_display_name === "string" ? dev.device_display_name : null, keysJson: keys });
      }
      const crossSigning = remoteCrossSigningKeys(userId, { master_key: body.master_key, self_signing_key: body.self_signing_key });
      await this.d.transaction((tx) => this.d.repo.replaceRemoteList(tx, userId, body.stream_id as number, devices, crossSigning));
      return true;
    } catch (e) {
      log.info("device list resync failed", { user_id: userId, error: (e as Error).message });
      await this.d.transaction((tx) => this.d.repo.dropRemoteList(tx, userId));
      return false;
    }
  }

  /** m.device_list_update from `origin`. */
  async receiveDeviceListUpdate(origin: string, c: Record<string, unknown>): Promise<void> {
    const userId = c.user_id;
    if (typeof userId !== "string" || !isValidUserId(userId) || findServerNameOf(userId) !== origin) return;
    if (typeof c.device_id !== "string" || typeof c.stream_id !== "number" || !Number.isSafeInteger(c.stream_id)) return;
    const prevIds = Array.isArray(c.prev_id) ? c.prev_id : [];
    const deviceId = c.device_id;
    const streamId = c.stream_id;
    const changed = await this.userLocks.run(`in\u0000${userId}`, async () => {
      const cached = await this.d.repo.remoteListStreamId(userId);
      if (cached === undefined) {
        // Not tracked yet: start if a local user shares a room with them; either way local clients re-query.
        if (await this.d.repo.sharesRoomWithLocalUser(userId)) await this.resync(userId);
        return true;
      }
      if (streamId <= cached) return false; // already applied
      const known = prevIds.every((p) => typeof p === "number" && p <= cached);
      const keys = c.keys;
      const keysOk = keys === undefined || (isJsonRecord(keys) && keys.user_id === userId && keys.device_id === deviceId);
      if (!known || !keysOk) {
        await this.resync(userId);
        return true;
      }
      await this.d.transaction(async (tx) => {
        if (c.deleted === true) await this.d.repo.deleteRemoteDevice(tx, userId, deviceId);
        else {
          const name = typeof c.device_display_name === "string" ? c.device_display_name : null;
          await this.d.repo.upsertRemoteDevice(tx, userId, deviceId, name, keys === undefined ? null : JSON.stringify(keys));
        }
        await this.d.repo.setRemoteListStreamId(tx, userId, streamId);
      });
      return true;
    });
    if (changed) await this.recordChange([userId]);
  }

  /** m.signing_key_update from `origin`. */
  async receiveSigningKeyUpdate(origin: string, c: Record<string, unknown>): Promise<void> {
    const userId = c.user_id;
    if (typeof userId !== "string" || !isValidUserId(userId) || findServerNameOf(userId) !== origin) return;
    await this.userLocks.run(`in\u0000${userId}`, async () => {
      if ((await this.d.repo.remoteListStreamId(userId)) === undefined) return;
      const keys = remoteCrossSigningKeys(userId, { master_key: c.master_key, self_signing_key: c.self_signing_key });
      await this.d.transaction(async (tx) => {
        // An update without keys: the user has none any more (a deactivated account).
        if (c.master_key === undefined && c.self_signing_key === undefined) await this.d.repo.deleteCrossSigningKeys(tx, userId);
        for (const k of keys) await this.d.repo.upsertCrossSigningKey(tx, userId, k.type, k.publicKey, k.json);
      });
    });
    await this.recordChange([userId]);
  }

  /**
   * After a membership change: remote users who no longer share a room with any local user lose
   * their cached device list (their server stops sending us updates).
   */
  async membershipChanged(roomId: string, member: string, membership: string): Promise<void> {
    if (membership === "join") return;
    const candidates = this.isLocal(member) ? (await this.d.repo.joinedMembers(roomId)).filter((u) => !this.isLocal(u)) : [member];
    if (candidates.length === 0) return;
    for (const u of await this.d.repo.cachedRemoteUsers(candidates)) {
      if (!(await this.d.repo.sharesRoomWithLocalUser(u))) await this.d.transaction((tx) => this.d.repo.dropRemoteList(tx, u));
    }
  }
}

/** The master and self-signing keys of a remote user from a federation answer or EDU (well-formed ones only). */
export function remoteCrossSigningKeys(userId: string, keys: { master_key?: unknown; self_signing_key?: unknown }): Array<{ type: string; publicKey: string; json: string }> {
  const out: Array<{ type: string; publicKey: string; json: string }> = [];
  for (const [type, v] of [
    ["master", keys.master_key],
    ["self_signing", keys.self_signing_key],
  ] as const) {
    if (!isJsonRecord(v) || v.user_id !== userId || !isJsonRecord(v.keys)) continue;
    const values = Object.values(v.keys);
    if (values.length !== 1 || typeof values[0] !== "string") continue;
    out.push({ type, publicKey: values[0], json: JSON.stringify(v) });
  }
  return out;
}
