// The storage services receive: every repository (one instance each) and `transaction`, built from
// the Db by the composition root (src/services/index.ts). Services never see the Db itself: they
// read and write through repository methods, and pass the Queryable of a transaction to them.
import type { Db, Transaction } from "../engines/db.ts";
import { databaseSizeBytes, hasLoginUsers, serverCounts } from "../engines/db-size.ts";
import { AccountDataRepo } from "./account-data.ts";
import { AccountsRepo } from "./accounts.ts";
import { AdminRepo } from "./admin.ts";
import { AppservicesRepo } from "./appservices.ts";
import { DirectoryRepo } from "./directory.ts";
import { E2eeRepo } from "./e2ee.ts";
import { FederationDestinationsRepo } from "./federation-destinations.ts";
import { FederationOutboxRepo } from "./federation-outbox.ts";
import { FederationReceivedTxnsRepo } from "./federation-received-txns.ts";
import { FiltersRepo } from "./filters.ts";
import { MediaRepo } from "./media.ts";
import { PresenceRepo } from "./presence.ts";
import { ProfilesRepo } from "./profiles.ts";
import { PushActionsRepo } from "./push-actions.ts";
import { PushersRepo } from "./pushers.ts";
import { ReceiptsRepo } from "./receipts.ts";
import { RegistrationTokensRepo } from "./registration-tokens.ts";
import { RelationsRepo } from "./relations.ts";
import { ReportsRepo } from "./reports.ts";
import { RoomExtrasRepo } from "./room-extras.ts";
import { purgeRoom, type PurgeResult } from "./room-purge.ts";
import { RoomUpgradesRepo } from "./room-upgrades.ts";
import { RoomsRepo } from "./rooms.ts";
import { SearchRepo } from "./search.ts";
import { ServerKeysRepo } from "./server-keys.ts";
import { ServerNoticesRepo } from "./server-notices.ts";
import { ServerStatsRepo } from "./server-stats.ts";
import { SlidingSyncRepo } from "./sliding-sync.ts";
import { SyncRepo } from "./sync.ts";
import { TokensRepo } from "./tokens.ts";
import { UiaSessionsRepo } from "./uia-sessions.ts";

export function createRepositories(db: Db) {
  return {
    /** Runs fn in one transaction (committed when it resolves, rolled back when it throws). */
    transaction: ((fn) => db.transaction(fn)) as Transaction,
    dialect: db.dialect,
    accountData: new AccountDataRepo(db),
    accounts: new AccountsRepo(db),
    admin: new AdminRepo(db),
    appservices: new AppservicesRepo(db),
    directory: new DirectoryRepo(db),
    e2ee: new E2eeRepo(db),
    federationDestinations: new FederationDestinationsRepo(db),
    federationOutbox: new FederationOutboxRepo(db),
    federationReceivedTxns: new FederationReceivedTxnsRepo(db),
    filters: new FiltersRepo(db),
    media: new MediaRepo(db),
    presence: new PresenceRepo(db),
    profiles: new ProfilesRepo(db),
    pushActions: new PushActionsRepo(db),
    pushers: new PushersRepo(db),
    receipts: new ReceiptsRepo(db),
    registrationTokens: new RegistrationTokensRepo(db),
    relations: new RelationsRepo(db),
    reports: new ReportsRepo(db),
    roomExtras: new RoomExtrasRepo(db),
    roomUpgrades: new RoomUpgradesRepo(db),
    rooms: new RoomsRepo(db),
    search: new SearchRepo(db),
    serverKeys: new ServerKeysRepo(db),
    serverNotices: new ServerNoticesRepo(db),
    serverStats: new ServerStatsRepo(db),
    slidingSync: new SlidingSyncRepo(db),
    sync: new SyncRepo(db),
    tokens: new TokensRepo(db),
    uiaSessions: new UiaSessionsRepo(db),
    /** Deletes every row of a room, in one transaction. */
    purgeRoom: (roomId: string): Promise<PurgeResult> => purgeRoom(db, roomId),
    /** Sizes and counts for the admin overview and the first start's "next steps". */
    stats: {
      databaseSizeBytes: (sqlitePath: string) => databaseSizeBytes(db, sqlitePath),
      hasLoginUsers: () => hasLoginUsers(db),
      serverCounts: (serverName: string) => serverCounts(db, serverName),
    },
  };
}

/** What services receive instead of the Db: the repositories and `transaction`. */
export type Repositories = ReturnType<typeof createRepositories>;
