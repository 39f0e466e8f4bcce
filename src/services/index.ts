// The service layer: the rules of the homeserver, independent of HTTP. The composition root
// (src/homeserver.ts) builds one Services object; route modules receive it and call one method per
// request. Services never see Elysia's context or a Request.
import type { Config } from "../config/schema.ts";
import type { Db } from "../storage/engines/db.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { ServerSigningKey } from "./signing-key-file.ts";
import { createAccountServices, type AccountServices } from "./account-services.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { createRepositories } from "../storage/repos/index.ts";
import { instrumentDb } from "../storage/engines/instrumented.ts";
import { Notifier } from "./notifier.ts";
import { StreamAllocator } from "./streams.ts";
import { createClusterBus, type ClusterBus } from "./cluster/bus.ts";
import { ClusterRepo } from "../storage/repos/cluster.ts";
import { shareCaches } from "./cluster/caches.ts";
import { RoomEvents } from "./rooms/events.ts";
import { Rooms } from "./rooms/rooms.ts";
import { createSyncServices, type SyncServices } from "./sync-services.ts";
import { createFederationServices, type FederationServices } from "./federation/transport.ts";
import { createRoomFederation, type RoomFederation } from "./federation/room-federation.ts";
import { PushRulesService } from "./push-rules.ts";
import { createDirectoryServices, type DirectoryServices } from "./directory-services.ts";
import { createMediaServices, type MediaServices } from "./media/index.ts";
import { createE2eeServices, type E2eeServices } from "./e2ee/index.ts";
import { createRoomExtraServices, type RoomExtraServices } from "./room-extra-services.ts";
import { GuestAccess } from "./rooms/guest-access.ts";
import { createAdminServices, type AdminServices } from "./admin-services.ts";
import { HsMetrics } from "./metrics.ts";
import { TurnService } from "./turn.ts";
import { OpenIdTokens } from "./openid.ts";
import { connectAliases, createAppservices, type Appservices } from "./appservices/index.ts";
import { Pushers } from "./pushers.ts";
import { BackgroundDuty, ProcessLeases, WorkerRoles } from "./workers.ts";
import { logger } from "../util/log.ts";

import { ProcessLeasesRepo } from "../storage/repos/process-leases.ts";
import { PushersRepo } from "../storage/repos/pushers.ts";
import { createSlidingSync, type SlidingSync } from "./sliding-sync/index.ts";
import { OutboundHttp } from "./federation/outbound-http.ts";
import { RemoteProfiles } from "./federation/remote-profiles.ts";
import { httpClientTrust } from "./http-client-trust.ts";
import { IpRangeSet } from "../util/ip-range.ts";

const log = logger("hs");

/** Account services (auth, accounts, registration, profiles, uia, ...) come from account-services.ts. */
export interface Services extends AccountServices, SyncServices, AdminServices, RoomExtraServices, DirectoryServices {
  readonly config: Config;
  readonly signingKey: ServerSigningKey;
  /** [worker] roles, the leases this process holds and the background work (services/workers.ts). */
  readonly roles: WorkerRoles;
  readonly leases: ProcessLeases;
  readonly background: BackgroundDuty;
  /** Called on shutdown: end long-polls, flush queues. */
  readonly shutdownHooks: Array<() => void | Promise<void>>;
  /** The global stream /sync reads (events, account data, receipts, memberships). */
  readonly streams: StreamAllocator;
  /** Wakes /sync long-polls. */
  readonly notifier: Notifier;
  /** Messages between the hs processes sharing the database (services/cluster/bus.ts; in-process on SQLite). */
  readonly cluster: ClusterBus;
  readonly roomsRepo: RoomsRepo;
  /** Building, authorising, persisting and loading room events. */
  readonly events: RoomEvents;
  /** Room operations for local users. */
  readonly rooms: Rooms;
  /** Federation transport: our keys, KeyRing, discovery, signed client, notary, server ACLs. */
  readonly federation: FederationServices;
  /** Rooms across servers: receiving and sending events, joins, invites, history for other servers. */
  readonly roomFederation: RoomFederation;
  /** Prometheus metrics (/_hs/metrics). */
  readonly metrics: HsMetrics;
  /** TURN credentials for calls ([voip]). */
  readonly turn: TurnService;
  /** The push rules API. */
  readonly pushRules: PushRulesService;
  /** The media repository (media) and URL previews (urlPreviews): services/media/. */
  readonly media: MediaServices["media"];
  readonly urlPreviews: MediaServices["urlPreviews"];
  /** End-to-end encryption: keys, cross-signing, device lists, to-device messages, key backups. */
  readonly e2ee: E2eeServices;
  /** OpenID tokens for third parties (integration managers). */
  readonly openId: OpenIdTokens;
  /** Application services (bridges): as_token clients, transactions, queries, third-party lookups. */
  readonly appservices: Appservices;
  /** Pushers and delivery to push gateways. */
  readonly pushers: Pushers;
  /** Simplified sliding sync (MSC4186), for Element X. */
  readonly slidingSync: SlidingSync;
}

export async function createServices(config: Config, rawDb: Db, signingKey: ServerSigningKey): Promise<Services> {
  const serverName = config.server_name;
  // Every database call is timed (hs_db_query_duration_seconds).
  const metrics = new HsMetrics();
  const db = instrumentDb(rawDb, metrics.observeQuery);
  const repos = createRepositories(db);
  const cluster = createClusterBus(rawDb.pubsub);
  await cluster.start();
  const roomsRepo = repos.rooms;
  await roomsRepo.init();
  const e2eeRepo = repos.e2ee;
  const streams = new StreamAllocator(Math.max(await roomsRepo.maxStreamPosition(), await e2eeRepo.maxStreamPosition()));
  const notifier = new Notifier(config.ratelimit.max_sync_waiters);
  const clusterRepo = new ClusterRepo(db);
  if (cluster.shared) {
    // Several processes on one PostgreSQL database (docs/SCALING.md).
    await streams.share(clusterRepo, cluster);
    notifier.share(cluster, streams);
  }
  // Group-commit lanes for local sends: SQLite has one writer; on PostgreSQL up to 8 batches at
  // once, leaving two of the pool's connections to everything else.
  const commitLanes = db.dialect === "postgres" ? Math.max(1, Math.min(8, (config.database.max_connections ?? 10) - 2)) : 1;
  const events = new RoomEvents({ transaction: repos.transaction, repo: roomsRepo, serverName, signingKey, streams, notifier, cluster: clusterRepo, commitLanes });
  metrics.attach({ outbox: repos.federationOutbox, notifier, events, serverName });
  const profiles = repos.profiles;
  const accountsStore = repos.accounts;
  let appservicesRef: Appservices | undefined;
  const rooms = new Rooms({
    directory: repos.directory,
    repo: roomsRepo,
    events,
    serverName,
    defaultRoomVersion: config.default_room_version,
    profile: async (userId) => {
      const p = await profiles.getProfile(userId);
      return {
        displayname: typeof p.displayname === "string" ? p.displayname : undefined,
        avatar_url: typeof p.avatar_url === "string" ? p.avatar_url : undefined,
      };
    },
    // An unknown user in an application service's namespace is asked about first (spec: GET /users/{userId}).
    userExists: async (userId) =>
      (await accountsStore.findUser(userId)) !== undefined ||
      ((await appservicesRef?.queryUser(userId)) === true && (await accountsStore.findUser(userId)) !== undefined),
  });
  // Guests join only rooms whose m.room.guest_access is can_join, and leave when that changes.
  const inviteStates = repos.sync;
  const guestAccess = new GuestAccess({
    events,
    isGuest: async (userId) => (await accountsStore.findUser(userId))?.isGuest === true,
    joinedMembers: async (roomId) => (await roomsRepo.currentMembers(roomId, "join")).map((m) => m.user_id),
    inviteState: (roomId, userId) => inviteStates.remoteInviteState(roomId, userId),
    hasRoom: (roomId) => rooms.isResident(roomId),
    leave: (userId, roomId) => rooms.leave(userId, roomId),
  });
  rooms.joinChecks.push(guestAccess.checkJoin);
  events.effects.set("afterPersist", "guestAccess.revoke", guestAccess.onEvent);
  const shutdownHooks: Array<() => void | Promise<void>> = [() => notifier.close(), () => streams.stop(), () => cluster.close()];
  // Several processes on one PostgreSQL database: roles and leases (docs/SCALING.md).
  const roles = new WorkerRoles(config.worker.roles);
  const leases = new ProcessLeases(new ProcessLeasesRepo(db), {
    shared: cluster.shared,
    instanceName: config.worker.instance_name,
    ttlMs: config.worker.lease_seconds * 1000,
  });
  leases.start();
  const background = new BackgroundDuty(leases, roles.has("background"));
  // Several processes: how often the one doing the background work looks for what others queued.
  const pollMs = leases.shared ? 2000 : undefined;
  const accountServices = createAccountServices(config, repos);
  // Profile changes propagate into the user's member events; deactivation leaves every room.
  accountServices.profiles.onProfileChange.push(async (userId, field) => {
    if (field === "displayname" || field === "avatar_url") await rooms.propagateProfile(userId);
  });
  accountServices.accounts.onDeactivated.push(async (userId) => {
    await rooms.leaveAll(userId);
  });
  const syncServices = createSyncServices({ repos, serverName, roomsRepo, streams, notifier, events, rooms, shutdownHooks });
  const federation = createFederationServices(config, repos, signingKey, {
    aclContent: async (roomId) => (await events.currentStateEvent(roomId, "m.room.server_acl", ""))?.content,
  });
  const roomFederation = await createRoomFederation({
    repos,
    serverName,
    signingKey,
    roomsRepo,
    events,
    rooms,
    typing: syncServices.typing,
    keys: federation.keyRing,
    fed: federation.client,
    enabled: federation.enabled,
    minBackoffMs: config.federation.retry_min_interval_ms,
    maxConcurrentTransactions: config.federation.max_concurrent_inbound_transactions,
    acls: federation.acls,
    shutdownHooks,
    leases,
    sends: roles.has("federation_sender"),
    queued: cluster.channel<{ destinations: string[] }>("federation.queued"),
  });
  // Remote users' profiles come over federation (cached).
  const remoteProfiles = new RemoteProfiles(federation.client);
  accountServices.profiles.remoteLookup = remoteProfiles.lookup;
  // A remote user's new member event may carry a new name: ask again on the next read.
  events.effects.set("afterPersist", "remoteProfiles.invalidate", (ev) => {
    if (ev.type === "m.room.member" && typeof ev.state_key === "string" && !ev.state_key.endsWith(`:${serverName}`)) remoteProfiles.invalidate(ev.state_key);
  });
  accountServices.profiles.assertWired();
  // A server that contacts us is up: deliveries queued for it resume at once.
  federation.inboundHooks.push((origin) => void roomFederation.sender.markUp(origin));
  const e2ee = createE2eeServices({
    transaction: repos.transaction,
    repo: e2eeRepo,
    serverName,
    streams,
    notifier,
    accounts: accountServices.accounts,
    events,
    sync: syncServices.sync,
    fed: federation.client,
    sender: roomFederation.sender,
    edus: roomFederation.serve.edus,
    serversInRoom: roomFederation.serversInRoom,
    shareDisplayNames: config.federation.allow_device_name_lookup_over_federation,
    shutdownHooks,
    background,
  });
  const pushRules = new PushRulesService(syncServices.accountData);
  const mediaServices = createMediaServices(config, repos, { federationClient: federation.client, shutdownHooks, background });
  // Clients read m.push_rules (GET and /sync) as the effective ruleset, defaults included.
  syncServices.accountData.views.set("m.push_rules", async (userId) => ({ global: (await pushRules.ruleset(userId)) as unknown as JsonObject }));
  const adminServices = await createAdminServices({
    repos,
    config,
    startedTs: Date.now(),
    resetFederationConnection: (destination) => roomFederation.sender.resetConnection(destination),
    serverName,
    accounts: accountServices,
    roomsRepo,
    events,
    rooms,
    shutdownHooks,
    requestDurations: metrics.httpDuration,
    background,
  });
  // Relations, threads, ignored users, upgrades, reports, server notices... (issue 9, part B).
  const roomExtraServices = createRoomExtraServices({
    config,
    repos,
    roomsRepo,
    events,
    rooms,
    accountData: syncServices.accountData,
    push: syncServices.push,
    streams,
    notifier,
    userExists: async (userId) => (await accountsStore.findUser(userId)) !== undefined,
    shutdownHooks,
  });
  // Aliases and the room directory, user directory, spaces, presence, search (issue 9, part A).
  const directoryServices = await createDirectoryServices({
    config,
    repos,
    roomsRepo,
    events,
    rooms,
    streams,
    notifier,
    sync: syncServices.sync,
    receipts: syncServices.receipts,
    profiles: accountServices.profiles,
    federation,
    roomFederation,
    shutdownHooks,
  });
  roomExtraServices.roomPreviews.presence = (userId, among) => directoryServices.presence.initialSyncPresence(userId, among);
  // Application services (issue 12): registration files, as_token clients, transactions.
  const appservices = (appservicesRef = await createAppservices({
    config,
    repos,
    accounts: accountServices,
    events,
    streams,
    typing: syncServices.typing,
    receipts: syncServices.receipts,
    e2ee,
    shutdownHooks,
    background,
    pollMs,
  }));
  connectAliases(appservices, serverName, {
    rooms: rooms as never,
    roomDirectory: directoryServices.roomDirectory as never,
    roomSummary: async (roomId) => (await directoryServices.roomSummaries.facts(roomId))?.summary,
  });
  // Pushers (issue 12): delivery of the push actions written by syncServices.push.
  const pushers = new Pushers({
    repo: repos.pushers,
    streams,
    events,
    push: syncServices.push,
    joinedRooms: (userId) => rooms.joinedRooms(userId),
    http: new OutboundHttp({ denylist: new IpRangeSet(config.http_client.ip_range_denylist), ...httpClientTrust(config) }),
    config: config.push,
  });
  background.onChange(
    () => pushers.start(),
    () => pushers.close(),
  );
  if (pollMs) {
    const poll = setInterval(() => void pushers.refresh().catch((e) => log.warn("pushers: refresh failed", { error: (e as Error).message })), pollMs);
    poll.unref?.();
    shutdownHooks.push(() => clearInterval(poll));
  }
  events.effects.set("afterPersist", "pushers.deliver", (ev, stream) => pushers.eventPersisted(ev.event_id, stream));
  syncServices.receipts.hooks.push((r) => {
    if (pushers.hasPushers(r.userId)) void pushers.updateBadge(r.userId).catch(() => undefined);
  });
  accountServices.accounts.onDevicesDeleted.push((userId, deviceIds) => pushers.devicesDeleted(userId, deviceIds));
  accountServices.accounts.onDeactivated.push((userId) => pushers.userDeactivated(userId));
  shutdownHooks.push(() => pushers.close());
  // Simplified sliding sync (issue 13): room lists by recency, per-connection state, extensions.
  const slidingSync = createSlidingSync({
    repos,
    repo: roomsRepo,
    events,
    visibility: rooms.visibility,
    accountDataViews: syncServices.accountData.views,
    push: syncServices.push,
    typing: syncServices.typing,
    streams,
    notifier,
    e2ee,
    syncing: (userId, setPresence) => directoryServices.presence.syncing(userId, setPresence),
  });
  accountServices.accounts.onDevicesDeleted.push(async (userId, deviceIds) => {
    for (const id of deviceIds) await slidingSync.forgetDevice(userId, id);
  });
  shutdownHooks.push(() => slidingSync.close());
  const openId = new OpenIdTokens(serverName);
  // Several processes on one database: their caches are kept right over the bus (cluster/caches.ts).
  if (cluster.shared) {
    shareCaches({
      bus: cluster,
      serverName,
      effects: events.effects,
      auth: accountServices.auth,
      accountDataHooks: syncServices.accountData.onChange,
      events,
      push: syncServices.push,
      roomDirectory: directoryServices.roomDirectory,
      slidingSync,
      remoteProfiles,
      roomFederation,
      typing: syncServices.typing,
      openId,
    });
    slidingSync.shareConnections();
  } else events.effects.set("afterPersist", "cluster.announce", null);
  // Last: leases go once the work they guard has stopped, so other processes take it over at once.
  shutdownHooks.push(() => background.stop());
  shutdownHooks.push(() => leases.stop());
  // Pushers, application-service senders and the periodic jobs start here (SQLite) or once this
  // process gets the background lease (PostgreSQL).
  await background.start();
  // Every declared effect of persisting an event (services/event-effects.ts) has been set.
  events.effects.assertComplete(events);
  // Every declared EDU type (services/edus.ts) has its handler.
  roomFederation.serve.edus.assertComplete();
  return {
    config,
    signingKey,
    roles,
    leases,
    background,
    shutdownHooks,
    streams,
    notifier,
    cluster,
    roomsRepo,
    events,
    rooms,
    federation,
    roomFederation,
    pushRules,
    ...mediaServices,
    e2ee,
    openId,
    appservices,
    pushers,
    slidingSync,
    ...accountServices,
    ...syncServices,
    ...adminServices,
    metrics,
    turn: new TurnService(config.voip),
    ...roomExtraServices,
    ...directoryServices,
  };
}
