// Builds the application service module and plugs it into the rest of the server: the as_token
// resolver (AuthService), m.login.application_service (login), M_EXCLUSIVE user IDs
// (registration), user queries before invites of unknown users, alias queries and exclusive
// aliases (rooms), transactions on every stream advance, typing and receipts as ephemeral data,
// to-device messages (MSC2409) and device lists and key counts (MSC3202) from the e2ee services.
import type { Config } from "../../config/schema.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import { logger } from "../../util/log.ts";
import type { AccountServices } from "../account-services.ts";
import type { E2eeServices } from "../e2ee/index.ts";
import type { Receipts, StoredReceipt } from "../receipts.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { StreamAllocator } from "../streams.ts";
import type { Typing } from "../typing.ts";
import { Appservices, LOGIN_TYPE_APPLICATION_SERVICE } from "./appservices.ts";
import { httpClientTrust } from "../http-client-trust.ts";
import { AppserviceHttp } from "./http.ts";
import { loadRegistrations } from "./registration.ts";
import { AppserviceSender, Interest, type SenderE2ee } from "./sender.ts";
import { senderId, type Sender } from "../rooms/sending-policy.ts";

const log = logger("appservices");

export { Appservices, LOGIN_TYPE_APPLICATION_SERVICE };

export interface AppserviceDeps {
  config: Config;
  repos: Repositories;
  accounts: AccountServices;
  events: RoomEvents;
  streams: StreamAllocator;
  typing: Typing;
  receipts: Receipts;
  /** To-device messages (MSC2409) and device lists, one-time key counts (MSC3202) for transactions. */
  e2ee?: Pick<E2eeServices, "repo" | "keys" | "toDevice">;
  shutdownHooks: Array<() => void | Promise<void>>;
  fetch?: typeof fetch;
  /**
   * The background work's holder among processes (services/workers.ts): transactions go out from
   * that process only. Absent: from this process, from start-up on.
   */
  background?: { onChange(gain: () => void | Promise<void>, lose: () => void | Promise<void>): void };
  /** Several processes share the database: look for events they persisted this often (ms). */
  pollMs?: number;
}

/** Reads the registration files (throws ConfigError naming the file and field). */
export function readAppserviceRegistrations(config: Config) {
  return loadRegistrations(config.appservices.config_files, config.config_dir, config.server_name);
}

export async function createAppservices(d: AppserviceDeps): Promise<Appservices> {
  const services = readAppserviceRegistrations(d.config);
  const repo = d.repos.appservices;
  const http = new AppserviceHttp(d.fetch, httpClientTrust(d.config));
  const { auth, accounts, registration } = d.accounts;
  const appservices = new Appservices({ serverName: d.config.server_name, services, repo, accounts, registration, http, transaction: d.repos.transaction });
  if (services.length === 0) {
    // No application services: nothing to forget.
    d.events.effects.set("afterPersist", "appservices.forgetInterest", null);
    return appservices;
  }

  auth.tokenResolvers.push(appservices.tokenResolver);
  accounts.loginTypes.set(LOGIN_TYPE_APPLICATION_SERVICE, { handler: appservices.login });
  registration.exclusiveUserIdChecks.push(appservices.isExclusiveUser);
  await appservices.ensureSenderUsers();

  const interest = new Interest(repo, d.config.server_name);
  const e2ee = d.e2ee;
  const senderE2ee: SenderE2ee | undefined = e2ee && {
    usersWithDeviceListChanges: (from, to) => e2ee.repo.usersChangedBetween(from, to),
    joinedRooms: (userId) => e2ee.repo.joinedRooms(userId),
    oneTimeKeyCounts: (userId, deviceId) => e2ee.keys.oneTimeKeyCounts(userId, deviceId),
    unusedFallbackKeyTypes: (userId, deviceId) => e2ee.keys.unusedFallbackKeyTypes(userId, deviceId),
  };
  // Hooked before the senders start, so that the inbox scan at start-up and the hook cover every message.
  if (e2ee) {
    e2ee.toDevice.onStored.push((pos, userIds) => {
      for (const s of appservices.senders.values()) s.toDeviceStored(pos, userIds);
    });
    e2ee.keys.onOneTimeKeysChanged.push((userId, deviceId) => {
      for (const s of appservices.senders.values()) s.keysChanged(userId, deviceId);
    });
  }
  // The senders run in the process doing the background work (one at a time across processes:
  // each resumes from the position persisted by the previous one).
  const startSenders = async () => {
    for (const as of services) {
      if (as.url === null || appservices.senders.has(as.id)) continue;
      const sender = new AppserviceSender(as, {
        repo,
        streams: d.streams,
        events: d.events,
        interest,
        http,
        minBackoffMs: d.config.appservices.retry_min_interval_ms,
        e2ee: senderE2ee,
      });
      appservices.senders.set(as.id, sender);
      await sender.start();
    }
  };
  const stopSenders = async () => {
    const all = [...appservices.senders.values()];
    appservices.senders.clear();
    await Promise.all(all.map((s) => s.close()));
  };
  if (d.background) d.background.onChange(startSenders, stopSenders);
  else await startSenders();
  const kickAll = () => {
    for (const s of appservices.senders.values()) s.kick();
  };
  const offAdvance = d.streams.onAdvance(kickAll);
  // Other processes: their events advance the shared stream, but their to-device messages reach
  // this process's senders only through the database: look for them regularly.
  const poll = d.pollMs
    ? setInterval(() => {
        for (const s of appservices.senders.values()) {
          void s
            .rescanInbox()
            .then(() => s.kick())
            .catch((e) => log.warn("appservice inbox rescan failed", { error: (e as Error).message }));
        }
      }, d.pollMs)
    : undefined;
  (poll as { unref?: () => void } | undefined)?.unref?.();
  d.events.effects.set("afterPersist", "appservices.forgetInterest", (ev) => {
    if (ev.type === "m.room.member" && ev.room_id) interest.forgetRoom(ev.room_id);
  });

  // Ephemeral data (receive_ephemeral): typing and receipts in rooms a service is interested in.
  const ephemeral = async (roomId: string, item: (as: (typeof services)[number]) => Record<string, unknown> | undefined) => {
    for (const sender of appservices.senders.values()) {
      if (!sender.as.receiveEphemeral) continue;
      if (!(await interest.roomInterests(sender.as, roomId))) continue;
      const it = item(sender.as);
      if (it) sender.addEphemeral(it as never);
    }
  };
  const fail = (e: unknown) => log.warn("appservice ephemeral data failed", { error: (e as Error).message });
  // Local changes and those from other servers alike.
  const onTyping = (c: { roomId: string }) => {
    void ephemeral(c.roomId, () => ({ type: "m.typing", room_id: c.roomId, content: { user_ids: d.typing.typingUsers(c.roomId) } })).catch(fail);
  };
  d.typing.hooks.push(onTyping);
  d.typing.remoteHooks.push(onTyping);
  const onReceipt = (r: StoredReceipt) => {
    void ephemeral(r.roomId, (as) => {
      // Private receipts go only to the services of the user who sent them.
      if (r.type === "m.read.private" && !as.isInterestedInUser(r.userId)) return undefined;
      const data: Record<string, unknown> = { ts: r.ts };
      if (r.threadId !== undefined) data.thread_id = r.threadId;
      return { type: "m.receipt", room_id: r.roomId, content: { [r.eventId]: { [r.type]: { [r.userId]: data } } } };
    }).catch(fail);
  };
  d.receipts.hooks.push(onReceipt);
  d.receipts.remoteHooks.push(onReceipt);

  d.shutdownHooks.push(async () => {
    offAdvance();
    if (poll) clearInterval(poll);
    await stopSenders();
  });
  return appservices;
}

/** What the alias and directory wiring needs of the rooms and directory services. */
export interface AliasHosts {
  rooms: {
    resolveRoomAndServers(roomIdOrAlias: string, via?: string[]): Promise<{ roomId: string; servers: string[] }>;
    createRoom(creator: Sender, req: { room_alias_name?: string } & Record<string, unknown>): Promise<string>;
  };
  roomDirectory: {
    resolveAlias(alias: string): Promise<{ room_id: string; servers: string[] }>;
    createAlias(actor: { userId: string; isAdmin: boolean; appserviceId?: string; aliasNamespaceOwner?: boolean }, alias: string, roomId: string): Promise<void>;
    localPublicRooms(req: { thirdPartyInstanceId?: string; limit?: number } & Record<string, unknown>): Promise<{ chunk: unknown[]; total_room_count_estimate?: number }>;
    /** Rooms of every third-party network, for include_all_networks. */
    networkRooms?: () => Promise<string[]>;
  };
  /** A published room's directory entry (undefined when the room is unknown here). */
  roomSummary: (roomId: string) => Promise<unknown | undefined>;
}

/**
 * Connects application services to aliases and the room directory, around the rooms and
 * directory services (which know nothing of application services):
 *  - an unknown local alias in a service's aliases namespace is queried (GET /rooms/{alias}) and
 *    resolved again when the service says it now exists (joins by alias, GET /directory/room);
 *  - aliases in an exclusive namespace can only be created by that service's users (M_EXCLUSIVE),
 *    with createRoom's room_alias_name or PUT /directory/room;
 *  - /publicRooms with third_party_instance_id lists the rooms the service published for that
 *    network (PUT /directory/list/appservice/{networkId}/{roomId}); with include_all_networks,
 *    the main list and every service's.
 */
export function connectAliases(appservices: Appservices, serverName: string, hosts: AliasHosts): void {
  if (appservices.list.length === 0) return;
  const { rooms, roomDirectory } = hosts;
  const isLocalAlias = (a: string) => a.startsWith("#") && a.endsWith(`:${serverName}`);
  const retryAfterQuery = async <T>(alias: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (e) {
      if (!(e instanceof MatrixError && e.errcode === "M_NOT_FOUND") || !isLocalAlias(alias)) throw e;
      if (!(await appservices.queryAlias(alias))) throw e;
      return run();
    }
  };
  const resolveRoomAndServers = rooms.resolveRoomAndServers.bind(rooms);
  rooms.resolveRoomAndServers = (target, via) => retryAfterQuery(target, () => resolveRoomAndServers(target, via));
  const resolveAlias = roomDirectory.resolveAlias.bind(roomDirectory);
  roomDirectory.resolveAlias = (alias) => retryAfterQuery(alias, () => resolveAlias(alias));

  const createRoom = rooms.createRoom.bind(rooms);
  rooms.createRoom = async (creator, req) => {
    if (typeof req.room_alias_name === "string") appservices.checkAliasCreation(`#${req.room_alias_name}:${serverName}`, senderId(creator));
    return createRoom(creator, req);
  };
  const createAlias = roomDirectory.createAlias.bind(roomDirectory);
  roomDirectory.createAlias = async (actor, alias, roomId) => {
    appservices.checkAliasCreation(alias, actor.userId);
    // A service (its as_token) needs no membership for an alias in its own namespace.
    const service = actor.appserviceId !== undefined ? appservices.find(actor.appserviceId) : undefined;
    return createAlias(service?.isAliasInNamespace(alias) ? { ...actor, aliasNamespaceOwner: true } : actor, alias, roomId);
  };

  roomDirectory.networkRooms = () => appservices.publishedRooms();
  const localPublicRooms = roomDirectory.localPublicRooms.bind(roomDirectory);
  roomDirectory.localPublicRooms = async (req) => {
    if (req.thirdPartyInstanceId === undefined) return localPublicRooms(req);
    const chunk: unknown[] = [];
    for (const roomId of await appservices.publishedRooms(req.thirdPartyInstanceId)) {
      const s = await hosts.roomSummary(roomId);
      if (s !== undefined) chunk.push(s);
    }
    const limit = req.limit === undefined || req.limit === 0 ? chunk.length : req.limit;
    return { chunk: chunk.slice(0, limit), total_room_count_estimate: chunk.length };
  };
}
