// Builds the services of the rest of the room experience (issue 9, part B) — relations and threads,
// ignored users, invite permission, room upgrades, reports, server notices, /notifications, mutual
// rooms, room previews (initialSync, /events) — and hooks them into the room events, /sync and push
// pipelines; src/services/index.ts spreads the result into Services.
import type { Config } from "../config/schema.ts";
import type { Repositories } from "../storage/repos/index.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { log } from "../util/log.ts";
import type { AccountData } from "./account-data.ts";
import { IGNORED_USER_LIST, IgnoredUsers } from "./ignored-users.ts";
import { InvitePermission } from "./invite-permission.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { PushActions } from "./push.ts";
import type { RoomEvents } from "./rooms/events.ts";
import { Relations } from "./rooms/relations.ts";
import type { Rooms } from "./rooms/rooms.ts";
import { RoomUpgrades } from "./rooms/upgrade.ts";
import { Reports } from "./reports.ts";
import { ServerNotices } from "./server-notices.ts";
import { Notifications } from "./notifications.ts";
import { MutualRooms } from "./mutual-rooms.ts";
import { RoomPreviews } from "./rooms/previews.ts";
import { ThirdPartyInvites } from "./rooms/third-party-invites.ts";
import type { Notifier } from "./notifier.ts";
import type { StreamAllocator } from "./streams.ts";

export interface RoomExtraServices {
  /** Relations index, bundled aggregations, /relations and /threads. */
  readonly relations: Relations;
  /** m.ignored_user_list, cached. */
  readonly ignoredUsers: IgnoredUsers;
  /** m.invite_permission_config, cached: invites refused and hidden while a user blocks them. */
  readonly invitePermission: InvitePermission;
  /** POST /rooms/{roomId}/upgrade. */
  readonly roomUpgrades: RoomUpgrades;
  /** Event, room and user reports; the reports admin API. */
  readonly reports: Reports;
  /** [server_notices]: the notices user and each user's notices room. */
  readonly serverNotices: ServerNotices;
  /** GET /notifications. */
  readonly notifications: Notifications;
  /** GET /mutual_rooms. */
  readonly mutualRooms: MutualRooms;
  /** Room previews: /rooms/{roomId}/initialSync, /events; the deprecated /initialSync and /events/{eventId}. */
  readonly roomPreviews: RoomPreviews;
  /** POST /rooms/{roomId}/invite with a third-party identifier (refused: no identity server). */
  readonly thirdPartyInvites: ThirdPartyInvites;
}

export interface RoomExtraDeps {
  config: Config;
  repos: Repositories;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  accountData: AccountData;
  push: PushActions;
  streams: StreamAllocator;
  notifier: Notifier;
  /** Whether a local user has an account. */
  userExists: (userId: string) => Promise<boolean>;
  shutdownHooks: Array<() => void | Promise<void>>;
}

export function createRoomExtraServices(d: RoomExtraDeps): RoomExtraServices {
  const { repos, events, rooms } = d;
  const extrasRepo = repos.roomExtras;
  const ignoredUsers = new IgnoredUsers(d.accountData, async (userIds) => (await extrasRepo.globalAccountData(IGNORED_USER_LIST, userIds)) as Map<string, JsonObject>);
  rooms.visibility.setIgnoredUsers(ignoredUsers.of);
  d.push.setIgnoredUsers(ignoredUsers.ignoring);
  const invitePermission = new InvitePermission(d.accountData);
  // Server notices reach users who block invites (once: their notices room keeps the invite).
  rooms.inviteChecks.push((invitee, inviter) => (inviter === serverNotices.systemUserId ? Promise.resolve() : invitePermission.check(invitee)));
  rooms.visibility.setInvitesBlocked(invitePermission.blocked);

  const relations = new Relations({ transaction: repos.transaction, repo: repos.relations, roomsRepo: d.roomsRepo, events, rooms, visibility: rooms.visibility });
  events.effects.set("inTransaction", "relations.index", relations.hook);
  events.effects.set("backfilled", "relations.index", relations.hook);
  events.effects.set("beforeLocal", "relations.localRules", relations.checkLocal);
  events.bundleAggregations = relations.bundle;
  // Events stored before relations were indexed: once, in the background.
  const indexing = relations.indexExisting().catch((e) => log.error("indexing relations failed", { error: e instanceof Error ? e.message : String(e) }));
  d.shutdownHooks.push(async () => {
    relations.stop();
    await indexing;
  });

  const roomUpgrades = new RoomUpgrades({
    events,
    roomsRepo: d.roomsRepo,
    repo: repos.roomUpgrades,
    accountData: d.accountData,
    serverName: d.config.server_name,
  });
  events.effects.set("afterPersist", "roomUpgrades.carryOverOnJoin", roomUpgrades.carryOverOnJoin);

  const reports = new Reports({
    repo: repos.reports,
    roomsRepo: d.roomsRepo,
    events,
    visibility: rooms.visibility,
    serverName: d.config.server_name,
  });

  const noticesRepo = repos.serverNotices;
  const serverNotices = new ServerNotices({
    config: d.config,
    repo: noticesRepo,
    rooms,
    events,
    accountData: d.accountData,
    userExists: d.userExists,
  });
  events.effects.set("beforeLocal", "serverNotices.guardLeave", serverNotices.guardLeave);

  const notifications = new Notifications({ repo: extrasRepo, roomsRepo: d.roomsRepo, receipts: repos.receipts, events, visibility: rooms.visibility });
  const mutualRooms = new MutualRooms(extrasRepo);
  const roomPreviews = new RoomPreviews({
    rooms,
    roomsRepo: d.roomsRepo,
    events,
    visibility: rooms.visibility,
    repo: extrasRepo,
    streams: d.streams,
    notifier: d.notifier,
    receipts: repos.receipts,
    accountData: d.accountData,
  });
  d.shutdownHooks.push(() => roomPreviews.close());

  return {
    relations,
    ignoredUsers,
    invitePermission,
    roomUpgrades,
    reports,
    serverNotices,
    notifications,
    mutualRooms,
    roomPreviews,
    thirdPartyInvites: new ThirdPartyInvites(events),
  };
}
