// Builds the end-to-end encryption services and connects them to the rest of hs:
//   - /sync: to_device events, device_lists (incremental syncs), one-time key counts and unused
//     fallback key types, through Sync.extensions;
//   - accounts: deleted devices lose their keys and inbox, new and renamed devices are announced,
//     deactivated accounts lose their cross-signing keys and backups;
//   - federation: m.device_list_update, m.signing_key_update and m.direct_to_device EDUs in and out;
//   - rooms: membership changes drop remote device list caches nobody here needs any more.
import type { Transaction } from "../../storage/engines/db.ts";
import { E2eeRepo } from "../../storage/repos/e2ee.ts";
import { logger } from "../../util/log.ts";
import type { AccountsService } from "../accounts.ts";
import type { FederationRequester } from "../federation/ports.ts";
import type { FederationSender } from "../federation/sender.ts";
import type { EduTable } from "../edus.ts";
import type { Notifier } from "../notifier.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { StreamAllocator } from "../streams.ts";
import type { Sync } from "../sync.ts";
import { KeyBackup } from "./backup.ts";
import { DehydratedDevices } from "./dehydrated-devices.ts";
import { DeviceLists } from "./device-lists.ts";
import { E2eeKeys } from "./keys.ts";
import { ToDevice } from "./to-device.ts";

const log = logger("e2ee");

export interface E2eeServices {
  readonly repo: E2eeRepo;
  /** /keys/upload, /keys/query, /keys/claim, cross-signing, and their federation counterparts. */
  readonly keys: E2eeKeys;
  /** Device list changes: /sync device_lists, /keys/changes, device list EDUs, the remote cache. */
  readonly deviceLists: DeviceLists;
  /** /sendToDevice and the to-device inbox. */
  readonly toDevice: ToDevice;
  /** /room_keys: server-side key backups. */
  readonly backup: KeyBackup;
  /** Dehydrated devices (MSC3814). */
  readonly dehydrated: DehydratedDevices;
}

export interface E2eeServicesDeps {
  transaction: Transaction;
  repo: E2eeRepo;
  serverName: string;
  streams: StreamAllocator;
  notifier: Notifier;
  accounts: AccountsService;
  events: RoomEvents;
  sync: Sync;
  fed: FederationRequester;
  sender: Pick<FederationSender, "sendEdu">;
  edus: EduTable;
  serversInRoom: (roomId: string) => Promise<string[]>;
  /** [federation] allow_device_name_lookup_over_federation. */
  shareDisplayNames: boolean;
  /** Where the hourly housekeeping timer is stopped. */
  shutdownHooks?: Array<() => void | Promise<void>>;
  /** The background work's holder among processes (services/workers.ts); absent: always this process. */
  background?: { readonly active: boolean; onChange(gain: () => void | Promise<void>, lose: () => void | Promise<void>): void };
}

/** How often superseded device list changes are pruned. */
const PRUNE_INTERVAL_MS = 3_600_000;

export function createE2eeServices(d: E2eeServicesDeps): E2eeServices {
  const { transaction, repo, serverName } = d;
  const deviceIds = async (userId: string) => (await d.accounts.listDevices(userId)).map((dev) => dev.deviceId);
  const sendEdu = (type: string, content: Record<string, unknown>, destinations: string[]) => d.sender.sendEdu(type, content, destinations);
  // DeviceLists and E2eeKeys need each other: the lists ask the keys how devices look to other servers.
  let keys: E2eeKeys | undefined;
  const deviceLists = new DeviceLists({
    transaction,
    repo,
    streams: d.streams,
    notifier: d.notifier,
    serverName,
    fed: d.fed,
    sendEdu,
    serversInRoom: d.serversInRoom,
    shareDisplayNames: d.shareDisplayNames,
    localDeviceForFederation: (u, dev) => keys!.localDeviceForFederation(u, dev),
    localCrossSigningForFederation: (u) => keys!.localCrossSigningForFederation(u),
  });
  keys = new E2eeKeys({ transaction, repo, serverName, deviceLists, fed: d.fed, deviceIds, shareDisplayNames: d.shareDisplayNames });
  const toDevice = new ToDevice({ transaction, repo, streams: d.streams, notifier: d.notifier, serverName, deviceIds, sendEdu });
  const backup = new KeyBackup(transaction, repo);
  const k = keys;
  const dehydrated = new DehydratedDevices({ transaction, repo, accounts: d.accounts, keys: k });

  d.sync.extensions.push(async (ctx, body) => {
    let news = false;
    if (ctx.deviceId !== null) {
      // Only room events in the range: no new to-device message (each takes a stream position);
      // the inbox is read again unless this request found it empty already (ctx.inboxRead).
      const events = ctx.quiet && ctx.inboxRead ? [] : await toDevice.forSync(ctx.userId, ctx.deviceId, ctx.since, ctx.to);
      if (events.length) {
        body.to_device.events.push(...events);
        news = true;
      }
      if (ctx.quiet && (!ctx.newsOnly || news)) {
        // The fan-out path: read with the other devices woken at the same time.
        const c = await k.keyCountsBatched(ctx.userId, ctx.deviceId);
        body.device_one_time_keys_count = c.counts;
        body.device_unused_fallback_key_types = c.fallback;
      } else if (!ctx.newsOnly || news) {
        body.device_one_time_keys_count = await k.oneTimeKeyCounts(ctx.userId, ctx.deviceId);
        body.device_unused_fallback_key_types = await k.unusedFallbackKeyTypes(ctx.userId, ctx.deviceId);
    }
    }
    // Only room events in the range: no device-list or membership change (they take positions).
    if (ctx.since !== undefined && !ctx.quiet) {
      const lists = await deviceLists.changesFor(ctx.userId, ctx.since, ctx.to);
      body.device_lists = lists;
      if (lists.changed.length || lists.left.length) news = true;
    }
    return news;
  });

  if (d.shutdownHooks) {
    // Each run prunes what was superseded before the previous run (so at least an hour ago).
    let horizon = d.streams.current();
    const timer = setInterval(() => {
      const h = horizon;
      horizon = d.streams.current();
      // Once across processes: only the holder of the background work prunes.
      if (d.background && !d.background.active) return;
      deviceLists.prune(h).catch((e) => log.warn("pruning device list changes failed", { error: (e as Error).message }));
    }, PRUNE_INTERVAL_MS);
    timer.unref?.();
    d.shutdownHooks.push(() => clearInterval(timer));
  }

  d.accounts.onDevicesDeleted.push((userId, ids) => k.devicesDeleted(userId, ids));
  d.accounts.onDevicesDeleted.push((userId, ids) => dehydrated.devicesDeleted(userId, ids));
  d.accounts.onDeviceRenamed.push((userId, deviceId) => k.deviceRenamed(userId, deviceId));
  d.accounts.onDeviceCreated.push((userId, deviceId) => k.deviceCreated(userId, deviceId));
  d.accounts.onDeactivated.push((userId) => k.deactivated(userId));

  // Applied in the background: a resync (an outbound request) must not hold up the inbound
  // transaction; updates of one user still apply in arrival order (DeviceLists queues them per user).
  d.edus.set("m.device_list_update", (origin, c) => {
    deviceLists.receiveDeviceListUpdate(origin, c).catch((e) => log.info("device list update failed", { origin, error: (e as Error).message }));
  });
  d.edus.set("m.signing_key_update", (origin, c) => deviceLists.receiveSigningKeyUpdate(origin, c));
  d.edus.set("m.direct_to_device", (origin, c) => toDevice.receive(origin, c));

  d.events.effects.set("afterPersist", "deviceLists.membership", (ev) => {
    if (ev.type !== "m.room.member" || typeof ev.state_key !== "string" || !ev.room_id) return;
    const membership = ev.content["membership"];
    if (typeof membership !== "string") return;
    void deviceLists.membershipChanged(ev.room_id, ev.state_key, membership).catch(() => undefined);
  });

  return { repo, keys: k, deviceLists, toDevice, backup, dehydrated };
}
