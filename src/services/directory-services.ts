// Builds the discovery and presence services — room aliases and the published room directory,
// the user directory, spaces and room summaries, presence, server-side search — and wires them
// to the rest: events hooks (search index, user directory), the /sync extension (presence),
// receipts and presence over federation (m.receipt and m.presence EDUs both ways).
// src/services/index.ts spreads the result into Services.
import type { Config } from "../config/schema.ts";
import type { Repositories } from "../storage/repos/index.ts";
import type { RoomsRepo } from "../storage/repos/rooms.ts";
import { RoomDirectory } from "./directory/room-directory.ts";
import { Spaces } from "./directory/spaces.ts";
import { RoomSummaries } from "./directory/summaries.ts";
import { UserDirectory } from "./directory/user-directory.ts";
import type { FederationServices } from "./federation/transport.ts";
import type { RoomFederation } from "./federation/room-federation.ts";
import type { Notifier } from "./notifier.ts";
import { Presence, type FederationPort } from "./presence.ts";
import type { ProfileService } from "./profiles.ts";
import type { Receipts } from "./receipts.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { Rooms } from "./rooms/rooms.ts";
import { Search } from "./search.ts";
import type { StreamAllocator } from "./streams.ts";
import type { Sync } from "./sync.ts";

export interface DirectoryServices {
  /** Room aliases, directory visibility, /publicRooms (local and remote). */
  readonly roomDirectory: RoomDirectory;
  /** Room summaries (public rooms chunks, hierarchy entries, /room_summary). */
  readonly roomSummaries: RoomSummaries;
  /** POST /user_directory/search. */
  readonly userDirectory: UserDirectory;
  /** /hierarchy (client and federation) and /room_summary. */
  readonly spaces: Spaces;
  /** Presence (hooks: local changes, for federation). */
  readonly presence: Presence;
  /** POST /search. */
  readonly search: Search;
}

export interface DirectoryServicesDeps {
  config: Config;
  repos: Repositories;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  streams: StreamAllocator;
  notifier: Notifier;
  sync: Sync;
  receipts: Receipts;
  profiles: ProfileService;
  federation: FederationServices;
  roomFederation: RoomFederation;
  shutdownHooks: Array<() => void | Promise<void>>;
}


export async function createDirectoryServices(d: DirectoryServicesDeps): Promise<DirectoryServices> {
  const { config, repos, roomsRepo, events, rooms, roomFederation } = d;
  const serverName = config.server_name;
  const fed = d.federation.enabled ? d.federation.client : undefined;
  const directoryRepo = repos.directory;
  const roomSummaries = new RoomSummaries({ repo: roomsRepo, events, serverName });
  const serversInRoom = (roomId: string) => roomFederation.serversInRoom(roomId);

  const roomDirectory = new RoomDirectory({
    serverName,
    repo: directoryRepo,
    summaries: roomSummaries,
    rooms,
    events,
    fed,
    serversInRoom,
    publicationAllowed: config.room_directory.publication_allowed,
  });
  events.effects.set("afterPersist", "roomDirectory.invalidate", (ev) => {
    if (ev.state_key !== undefined && ev.room_id) roomDirectory.invalidate(ev.room_id);
  });
  rooms.createChecks.push(async (creator, req) => {
    if (req.visibility === "public") await roomDirectory.checkPublishOnCreate(creator);
  });

  const userDirectory = new UserDirectory({ repo: directoryRepo, events, serverName, searchAllUsers: config.user_directory.search_all_users });
  events.effects.set("inTransaction", "userDirectory.index", (q, ev) => userDirectory.onEvent(q, ev));
  events.effects.set("stateImported", "userDirectory.importState", userDirectory.onStateImported);
  d.profiles.onProfileChange.push(async (userId, field) => {
    if (field !== "displayname" && field !== "avatar_url") return;
    const profile = await d.profiles.store.getProfile(userId);
    await repos.transaction((tx) => userDirectory.profileChanged(tx, userId, profile));
  });

  const spaces = new Spaces({ serverName, repo: roomsRepo, events, rooms, summaries: roomSummaries, fed });

  const search = new Search({ repo: repos.search, roomsRepo, events, rooms });
  events.effects.set("inTransaction", "search.index", search.onEvent);
  // History fetched from other servers is searchable too.
  events.effects.set("backfilled", "search.index", search.onEvent);

  // ---- presence
  const presence = new Presence({
    repo: repos.presence,
    streams: d.streams,
    notifier: d.notifier,
    serverName,
    enabled: config.presence.enabled,
    idleTimeoutMs: config.presence.idle_timeout_ms,
    offlineTimeoutMs: config.presence.offline_timeout_ms,
  });
  d.sync.extensions.push(presence.syncExtension);
  d.sync.beforeSync.push(presence.beforeSync);
  await presence.start();
  d.shutdownHooks.push(() => presence.stop());
  // Sending an event or a receipt is activity (membership changes are not: the server makes some).
  events.effects.set("afterPersist", "presence.activeOnSend", (ev) => {
    if (ev.type !== "m.room.member" && events.isLocalUser(ev.sender)) void presence.userActive(ev.sender).catch(() => undefined);
  });
  d.receipts.hooks.push((r) => void presence.userActive(r.userId).catch(() => undefined));

  if (!d.federation.enabled) {
    events.effects.set("afterPersist", "presence.federateOnJoin", null);
    roomFederation.serve.edus.set("m.presence", null);
    roomFederation.serve.edus.set("m.receipt", null);
  }
  else wireFederation({ serverName, events, roomFederation, presence, receipts: d.receipts, federation: d.federation, roomsRepo: d.roomsRepo });

  return { roomDirectory, roomSummaries, userDirectory, spaces, presence, search };
}

/** m.presence and m.receipt EDUs, both ways: the rules are Presence's and Receipts'; this wires them to federation. */
function wireFederation(d: {
  serverName: string;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  roomFederation: RoomFederation;
  presence: Presence;
  receipts: Receipts;
  federation: FederationServices;
}): void {
  const { serverName, roomFederation, presence } = d;
  const port: FederationPort = {
    otherServers: async (roomIds) => {
      const out = new Set<string>();
      for (const r of roomIds) for (const s of await roomFederation.serversInRoom(r)) if (s !== serverName) out.add(s);
      return [...out];
    },
    sendEdu: (type, content, dests) => roomFederation.sender.sendEdu(type, content, dests),
    joinedRoomIds: (userId) => d.roomsRepo.joinedRoomIds(userId),
  };
  d.events.effects.set("afterPersist", "presence.federateOnJoin", presence.federate(port));
  roomFederation.serve.edus.set("m.presence", (origin, content) => presence.receiveEdu(origin, content));
  d.receipts.federate(port);
  roomFederation.serve.edus.set("m.receipt", (origin, content) =>
    d.receipts.receiveEdu(origin, content, {
      // Receipts of servers denied by the room's ACL, or not in the room, are ignored.
      roomAccepts: async (roomId, server) => (await d.federation.acls.isAllowed(roomId, server)) && (await roomFederation.membership.serverInRoom(server, roomId)),
    }),
  );
}
