// Builds the server administration services (Synapse's admin API for users and rooms) and wires
// them into the rest: blocked rooms refuse joins, running room deletions finish before shutdown,
// deletions interrupted by a restart are marked failed, and users deactivated while the server was
// down (hs admin users deactivate) leave their rooms at start-up. src/services/index.ts spreads the
// result into Services.
import type { Db } from "../storage/db.ts";
import type { RoomsRepo } from "../storage/rooms-repo.ts";
import { log } from "../util/log.ts";
import type { AccountServices } from "./account-services.ts";
import { AdminRooms } from "./admin/rooms.ts";
import { AdminUsers } from "./admin/users.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { Rooms } from "./rooms/rooms.ts";

export interface AdminServices {
  /** Synapse's user admin API. */
  readonly adminUsers: AdminUsers;
  /** Synapse's room admin API (list, details, block, delete, make room admin). */
  readonly adminRooms: AdminRooms;
}

export interface AdminDeps {
  db: Db;
  serverName: string;
  accounts: AccountServices;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  shutdownHooks: Array<() => void | Promise<void>>;
}

export async function createAdminServices(d: AdminDeps): Promise<AdminServices> {
  const adminUsers = new AdminUsers({
    db: d.db,
    serverName: d.serverName,
    accounts: d.accounts.accounts,
    auth: d.accounts.auth,
    profiles: d.accounts.profiles,
    registration: d.accounts.registration,
    joinedRooms: (userId) => d.rooms.joinedRooms(userId),
  });
  const adminRooms = new AdminRooms({ db: d.db, serverName: d.serverName, repo: d.roomsRepo, events: d.events, rooms: d.rooms });
  await adminRooms.init();
  d.rooms.membershipChecks.push((roomId) => adminRooms.checkNotBlocked(roomId));
  d.shutdownHooks.push(() => adminRooms.drain());
  // Accounts deactivated offline still have memberships: leave those rooms now (in the background).
  const pending = await adminUsers.store.deactivatedWithMemberships();
  if (pending.length > 0) {
    const task = (async () => {
      for (const userId of pending) {
        try {
          await d.rooms.leaveAll(userId);
        } catch (e) {
          log.warn("could not remove a deactivated user from their rooms", { user_id: userId, error: (e as Error).message });
        }
      }
      log.info("deactivated users removed from their rooms", { users: pending.length });
    })();
    d.shutdownHooks.push(() => task);
  }
  return { adminUsers, adminRooms };
}
