// Builds the server administration services (Synapse's admin API for users and rooms) and wires
// them into the rest: blocked rooms refuse joins, running room deletions finish before shutdown,
// deletions interrupted by a restart are marked failed, and users deactivated on the database
// (hs admin users deactivate) lose their devices and leave their rooms (at start-up, then every
// minute). src/services/index.ts spreads the result into Services.
import type { Repositories } from "../storage/repos/index.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { logger } from "../util/log.ts";
import type { AccountServices } from "./account-services.ts";
import type { Config } from "../config/schema.ts";
import { AdminFederation } from "./admin/federation.ts";
import { AdminRooms } from "./admin/rooms.ts";
import { AdminServer } from "./admin/server.ts";
import { ServerStats } from "./admin/stats.ts";
import type { Histogram } from "../util/metrics.ts";
import { ErasedUsers } from "./admin/erased-users.ts";
import { AdminUsers } from "./admin/users.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { Rooms } from "./rooms/rooms.ts";

const log = logger("admin");

export interface AdminServices {
  /** Synapse's user admin API. */
  readonly adminUsers: AdminUsers;
  /** Synapse's room admin API (list, details, block, delete, make room admin). */
  readonly adminRooms: AdminRooms;
  /** Synapse's federation admin API (destinations, their health, reset_connection). */
  readonly adminFederation: AdminFederation;
  /** The admin console's server overview and risky settings. */
  readonly adminServer: AdminServer;
  /** The admin console's time series (sampled every few minutes). */
  readonly adminStats: ServerStats;
}

export interface AdminDeps {
  repos: Repositories;
  config: Config;
  /** When this server started (uptime). */
  startedTs: number;
  /** Ends a federation destination's back-off and retries its queue (false: it was not backed off). */
  resetFederationConnection: (destination: string) => Promise<boolean>;
  serverName: string;
  accounts: AccountServices;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  shutdownHooks: Array<() => void | Promise<void>>;
  /** How often deactivations made offline are finished (default one minute). */
  sweepIntervalMs?: number;
  /** The HTTP request duration histogram (the time series' request rate and latency). */
  requestDurations: Histogram;
  /** The background work's holder among processes (services/workers.ts); absent: always this process. */
  background?: { readonly active: boolean; onChange(gain: () => void | Promise<void>, lose: () => void | Promise<void>): void };
}

export async function createAdminServices(d: AdminDeps): Promise<AdminServices> {
  // GDPR erasure: erased users' events are redacted for those who were not in the room then.
  const erasedUsers = new ErasedUsers(d.repos.admin);
  d.events.erasedSenders = (senders) => erasedUsers.among(senders);
  const adminUsers = new AdminUsers({
    repos: d.repos,
    serverName: d.serverName,
    accounts: d.accounts.accounts,
    auth: d.accounts.auth,
    profiles: d.accounts.profiles,
    registration: d.accounts.registration,
    joinedRooms: (userId) => d.rooms.joinedRooms(userId),
    onErasedChanged: () => erasedUsers.invalidate(),
  });
  // POST /account/deactivate with erase: true (account_deactivation.yaml) erases as the admin API does.
  d.accounts.accounts.onDeactivated.push(async (userId, opts) => {
    if (!opts.erase) return;
    await adminUsers.store.setErased(userId, true, Date.now());
    erasedUsers.invalidate();
  });
  const adminRooms = new AdminRooms({ repos: d.repos, serverName: d.serverName, repo: d.roomsRepo, events: d.events, rooms: d.rooms });
  await adminRooms.init();
  d.rooms.membershipChecks.push((roomId) => adminRooms.checkNotBlocked(roomId));
  d.shutdownHooks.push(() => adminRooms.drain());
  // Accounts deactivated offline (hs admin users deactivate) still have devices and memberships:
  // the server removes the devices (with their keys and tokens) and leaves the rooms, at start-up
  // and then every minute.
  let sweeping: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async () => {
    const devices = await adminUsers.store.deactivatedWithDevices();
    const rooms = await adminUsers.store.deactivatedWithMemberships();
    for (const userId of devices) {
      if (stopped) return;
      await d.accounts.accounts.deleteDevices(userId);
      d.accounts.auth.forgetUser(userId);
    }
    for (const userId of rooms) {
      if (stopped) return;
      try {
        await d.rooms.leaveAll(userId);
      } catch (e) {
        log.warn("could not remove a deactivated user from their rooms", { user_id: userId, error: (e as Error).message });
      }
    }
    if (devices.length + rooms.length > 0) log.info("finished deactivations made offline", { users_with_devices: devices.length, users_with_rooms: rooms.length });
  };
  const runSweep = () => {
    // Once across processes: only the holder of the background work sweeps.
    if (d.background && !d.background.active) return;
    sweeping = sweeping.then(sweep).catch((e) => log.warn("deactivation sweep failed", { error: (e as Error).message }));
  };
  // At start-up (or when this process takes the background work over), then every minute.
  if (d.background) d.background.onChange(runSweep, () => undefined);
  else runSweep();
  const timer = setInterval(runSweep, d.sweepIntervalMs ?? 60_000);
  timer.unref?.();
  d.shutdownHooks.push(async () => {
    stopped = true;
    clearInterval(timer);
    await sweeping;
  });
  const adminFederation = new AdminFederation({ destinations: d.repos.federationDestinations, resetConnection: d.resetFederationConnection });
  const adminServer = new AdminServer({ repos: d.repos, config: d.config, startedTs: d.startedTs });
  const adminStats = new ServerStats({ repo: d.repos.serverStats, databaseSizeBytes: d.repos.stats.databaseSizeBytes, config: d.config, requests: d.requestDurations });
  d.shutdownHooks.push(adminStats.start());
  return { adminUsers, adminRooms, adminFederation, adminServer, adminStats };
}
