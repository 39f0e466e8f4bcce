// Builds what /sync delivers beyond room events — account data, typing, receipts, push actions and
// unread counts, stored filters — and the Sync service itself; src/services/index.ts spreads the
// result into Services.
import type { Repositories } from "../storage/repos/index.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { AccountData } from "./account-data.ts";
import type { Notifier } from "./notifier.ts";
import { PushActions } from "./push.ts";
import { Receipts } from "./receipts.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { Rooms } from "./rooms/rooms.ts";
import type { StreamAllocator } from "./streams.ts";
import { Sync } from "./sync.ts";
import { SyncFilters } from "./sync-filters.ts";
import { Typing } from "./typing.ts";

export interface SyncServices {
  /** Global and per-room account data, tags. */
  readonly accountData: AccountData;
  /** In-memory typing notifications (hooks: local changes, for federation). */
  readonly typing: Typing;
  /** Read receipts and read markers (hooks: stored receipts, for federation). */
  readonly receipts: Receipts;
  /** Push rule evaluation on persist and unread counts. */
  readonly push: PushActions;
  /** Stored /sync filters. */
  readonly syncFilters: SyncFilters;
  /** GET /sync (extensions: E2EE, to-device, presence fill their parts). */
  readonly sync: Sync;
}

export interface SyncServicesDeps {
  repos: Repositories;
  serverName: string;
  roomsRepo: RoomsRepo;
  streams: StreamAllocator;
  notifier: Notifier;
  events: RoomEvents;
  rooms: Rooms;
  shutdownHooks: Array<() => void | Promise<void>>;
}

export function createSyncServices(d: SyncServicesDeps): SyncServices {
  const { repos, roomsRepo, streams, notifier, events } = d;
  const accountDataRepo = repos.accountData;
  const receiptsRepo = repos.receipts;
  const accountData = new AccountData({ transaction: repos.transaction, repo: accountDataRepo, streams, notifier });
  const push = new PushActions({ repo: repos.pushActions, receipts: receiptsRepo, events, accountData, relations: repos.relations, serverName: d.serverName });
  events.effects.set("inTransaction", "push.actions", push.hook);
  const typing = new Typing({
    notifier,
    isJoined: async (userId, roomId) => (await roomsRepo.localMembership(userId, roomId))?.membership === "join",
  });
  // Whoever leaves a room stops typing in it.
  events.effects.set("afterPersist", "typing.stopOnLeave", (ev) => {
    if (ev.type === "m.room.member" && typeof ev.state_key === "string" && ev.content["membership"] !== "join" && ev.room_id) {
      typing.stop(ev.room_id, ev.state_key);
    }
  });
  const receipts = new Receipts({ transaction: repos.transaction, repo: receiptsRepo, roomsRepo, streams, notifier, accountData, push });
  const syncFilters = new SyncFilters(repos.filters);
  const sync = new Sync({
    repo: roomsRepo,
    syncRepo: repos.sync,
    events,
    visibility: d.rooms.visibility,
    accountData: accountDataRepo,
    accountDataViews: accountData.views,
    receipts: receiptsRepo,
    push,
    typing,
    streams,
    notifier,
  });
  d.shutdownHooks.push(() => {
    sync.close();
    typing.close();
  });
  return { accountData, typing, receipts, push, syncFilters, sync };
}
